/* cuda_blas.c - row-major GEMM through cuBLAS, and the TF32 switch.
 *
 * cuBLAS is column-major.  A row-major matrix with leading dimension ld is
 * the transpose of the same bytes read column-major, so the row-major
 * C[m,n] = op(A) op(B) is computed as the column-major
 * C^T[n,m] = op(B)^T op(A)^T: swap the operands and m with n, keep the
 * transpose flags and leading dimensions. */
#include <limits.h>
#include <stdbool.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "seq_cuda.h"

static bool tf32_enabled; /* default off: GPU f32 results then match the CPU */

void seq_cuda_set_tf32(bool on) { tf32_enabled = on; }
bool seq_cuda_get_tf32(void) { return tf32_enabled; }

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

seq_status seq_cuda_gemm(seq_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                         int64_t k, double alpha, const void *a, int64_t lda, int64_t stride_a,
                         const void *b, int64_t ldb, int64_t stride_b, double beta, void *c,
                         int64_t ldc, int64_t stride_c, int64_t batch) {
  if (dtype != SEQ_F32 && dtype != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "matmul: cuda supports f32 and f64, got %s", seq_dtype_name(dtype));
  if (m == 0 || n == 0 || batch == 0) return SEQ_OK;
  if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(lda) || !fits_int(ldb) ||
      !fits_int(ldc) || !fits_int(batch))
    return seq_fail(SEQ_EARG, "matmul: sizes exceed cuBLAS's 32-bit limits");
  SEQ_TRY(seq_cuda_ensure_init());
  cublasHandle_t h = (cublasHandle_t)seq_cuda_cublas_handle();
  cublasOperation_t opa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  /* cuBLAS rejects ld < 1 even for k == 0 or single-row operands. */
  if (lda < 1) lda = 1;
  if (ldb < 1) ldb = 1;
  if (ldc < 1) ldc = 1;
  if (dtype == SEQ_F32) {
    float fa = (float)alpha, fb = (float)beta;
    cublasComputeType_t ct = tf32_enabled ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    if (batch == 1) {
      SEQ_CUBLAS(cublasGemmEx, (h, opb, opa, (int)n, (int)m, (int)k, &fa, b, CUDA_R_32F, (int)ldb,
                                a, CUDA_R_32F, (int)lda, &fb, c, CUDA_R_32F, (int)ldc, ct,
                                CUBLAS_GEMM_DEFAULT));
    } else {
      SEQ_CUBLAS(cublasGemmStridedBatchedEx,
                 (h, opb, opa, (int)n, (int)m, (int)k, &fa, b, CUDA_R_32F, (int)ldb,
                  (long long)stride_b, a, CUDA_R_32F, (int)lda, (long long)stride_a, &fb, c,
                  CUDA_R_32F, (int)ldc, (long long)stride_c, (int)batch, ct, CUBLAS_GEMM_DEFAULT));
    }
  } else {
    if (batch == 1) {
      SEQ_CUBLAS(cublasDgemm, (h, opb, opa, (int)n, (int)m, (int)k, &alpha, (const double *)b,
                               (int)ldb, (const double *)a, (int)lda, &beta, (double *)c,
                               (int)ldc));
    } else {
      SEQ_CUBLAS(cublasDgemmStridedBatched,
                 (h, opb, opa, (int)n, (int)m, (int)k, &alpha, (const double *)b, (int)ldb,
                  (long long)stride_b, (const double *)a, (int)lda, (long long)stride_a, &beta,
                  (double *)c, (int)ldc, (long long)stride_c, (int)batch));
    }
  }
  return SEQ_OK;
}
