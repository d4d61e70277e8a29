/* cpu_blas.c - GEMM through the system BLAS, and the CPU thread count.
 *
 * One knob sets both the BLAS's threads and our OpenMP loops so the two never
 * oversubscribe the cores (they do not run at the same time). */
#include "seq_cblas.h"
#include <omp.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "cpu_kernels.h"

#ifdef SEQ_BLAS_BLIS
#include <blis.h>
#endif

static int cpu_threads = 0;

/* Flush denormal floats to zero (FTZ) and treat denormal inputs as zero
 * (DAZ) inside the heavy kernels.  LSTM gradients that fade over 500 steps
 * become denormals, which x86 handles in microcode at ~100x the cost of a
 * normal operation: an IMDB epoch ran 5-8x slower without this (TensorFlow
 * sets the same mode in its own threads).  The calling (Lua) thread gets its
 * mode back on leave, so Lua's own arithmetic keeps IEEE denormals; OpenMP
 * worker threads run only our kernels and may keep the mode. */
unsigned seq_cpu_ftz_enter(void) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040); /* FTZ (bit 15) | DAZ (bit 6) */
  return saved;
#else
  return 0;
#endif
}

void seq_cpu_ftz_leave(unsigned saved) {
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr(saved);
#else
  (void)saved;
#endif
}

void seq_cpu_set_threads(int n) {
  if (n < 1) n = 1;
  cpu_threads = n;
  omp_set_num_threads(n);
#if defined(SEQ_BLAS_OPENBLAS)
  openblas_set_num_threads(n);
#elif defined(SEQ_BLAS_BLIS)
  bli_thread_set_num_threads(n);
#endif
}

int seq_cpu_get_threads(void) {
  if (cpu_threads == 0) cpu_threads = omp_get_max_threads();
  return cpu_threads;
}

seq_status seq_cpu_gemm(seq_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                        int64_t k, double alpha, const void *a, int64_t lda, int64_t stride_a,
                        const void *b, int64_t ldb, int64_t stride_b, double beta, void *c,
                        int64_t ldc, int64_t stride_c, int64_t batch) {
  if (m == 0 || n == 0) return SEQ_OK;
  const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  for (int64_t i = 0; i < batch; i++) {
    if (dtype == SEQ_F32) {
      cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, (float)alpha,
                  (const float *)a + i * stride_a, (int)lda, (const float *)b + i * stride_b,
                  (int)ldb, (float)beta, (float *)c + i * stride_c, (int)ldc);
    } else if (dtype == SEQ_F64) {
      cblas_dgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha,
                  (const double *)a + i * stride_a, (int)lda, (const double *)b + i * stride_b,
                  (int)ldb, beta, (double *)c + i * stride_c, (int)ldc);
    } else {
      return seq_fail(SEQ_EDTYPE, "matmul: dtype %s is not supported (use f32 or f64)",
                      seq_dtype_name(dtype));
    }
  }
  return SEQ_OK;
}
