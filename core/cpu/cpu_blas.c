/* cpu_blas.c - GEMM through the system BLAS, and the CPU thread count.
 *
 * One knob sets both the BLAS's threads and our OpenMP loops so the two never
 * oversubscribe the cores (they do not run at the same time). */
#include "seq_cblas.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

static const char *blas_name(void) {
#if defined(SEQ_BLAS_BLIS)
  return "blis";
#elif defined(SEQ_BLAS_OPENBLAS)
  return "openblas";
#else
  return "cblas";
#endif
}

/* The kernel set the BLAS picked for this CPU (it picks by CPU model or by
 * its own feature tables, so a CPU newer than the library gets a generic or
 * SSE-era fallback). */
static const char *blas_kernels(void) {
#if defined(SEQ_BLAS_BLIS)
  return bli_arch_string(bli_arch_query_id());
#elif defined(SEQ_BLAS_OPENBLAS)
  return openblas_get_corename();
#else
  return "unknown";
#endif
}

/* Kernel sets with AVX2/FMA or wider micro-kernels, in BLIS's and OpenBLAS's
 * names.  On these the BLAS measured as fast as our tiles or faster
 * (test/bench/RESULTS.md); on anything else the tiles run. */
static bool blas_kernels_vectorised(const char *k) {
  static const char *const fast[] = {"haswell", "zen", "zen2", "zen3", "zen4", "zen5", "skx",
                                     "knl", "skylakex", "cooperlake", "sapphirerapids"};
  for (size_t i = 0; i < sizeof fast / sizeof *fast; i++)
    if (strcasecmp(k, fast[i]) == 0) return true;
  return false;
}

/* 1: our tiles, 0: the BLAS.  SEQLUA_GEMM=tiles or =blas overrides the
 * choice (for comparisons); tiles need AVX2 and FMA in any case. */
static int gemm_use_tiles = -1;

static bool gemm_tiles_chosen(void) {
  if (gemm_use_tiles < 0) {
    const char *env = getenv("SEQLUA_GEMM");
    bool want = env && strcmp(env, "tiles") == 0   ? true
                : env && strcmp(env, "blas") == 0 ? false
                                                  : !blas_kernels_vectorised(blas_kernels());
    gemm_use_tiles = want && seq_cpu_gemm_tiles_supported();
  }
  return gemm_use_tiles == 1;
}

const char *seq_cpu_gemm_path(void) {
  static char path[128];
  snprintf(path, sizeof path, "%sBLAS %s (%s kernels)",
           gemm_tiles_chosen() ? "seqlua avx2/fma tiles; " : "", blas_name(), blas_kernels());
  return path;
}

seq_status seq_cpu_gemm(seq_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                        int64_t k, double alpha, const void *a, int64_t lda, int64_t stride_a,
                        const void *b, int64_t ldb, int64_t stride_b, double beta, void *c,
                        int64_t ldc, int64_t stride_c, int64_t batch) {
  if (m == 0 || n == 0) return SEQ_OK;
  if (gemm_tiles_chosen() && (dtype == SEQ_F32 || dtype == SEQ_F64)) {
    const size_t es = seq_dtype_size(dtype);
    for (int64_t i = 0; i < batch; i++)
      SEQ_TRY(seq_cpu_gemm_tiles(dtype, trans_a, trans_b, m, n, k, alpha,
                                 (const char *)a + (size_t)(i * stride_a) * es, lda,
                                 (const char *)b + (size_t)(i * stride_b) * es, ldb, beta,
                                 (char *)c + (size_t)(i * stride_c) * es, ldc));
    return SEQ_OK;
  }
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
