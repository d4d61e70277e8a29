/* emu_cublas.c - the cuBLAS calls the plugin makes, as column-major GEMMs on
 * the CPU BLAS.  Prototypes from NVIDIA's cublas_v2.h; the argument rules are
 * those of the cuBLAS Library documentation (CUDA 13), sections
 * "cublas<t>gemm()", "cublas<t>gemmStridedBatched()", "cublasGemmEx()" and
 * "cublasGemmStridedBatchedEx()":
 *   CUBLAS_STATUS_NOT_INITIALIZED  the handle was not created by cublasCreate;
 *   CUBLAS_STATUS_INVALID_VALUE    m, n or k < 0, an unknown transa/transb,
 *                                  lda < max(1, m) for transa == N and
 *                                  lda < max(1, k) otherwise, ldb < max(1, k)
 *                                  for transb == N and ldb < max(1, n)
 *                                  otherwise, ldc < max(1, m), alpha or beta
 *                                  NULL, batchCount < 0;
 *   CUBLAS_STATUS_NOT_SUPPORTED    a type / compute-type combination outside
 *                                  the "cublasGemmEx() supported combinations"
 *                                  table (here: the 32F and 64F rows).
 * With beta == 0, C is not read (it may hold NaN), as the documentation
 * says.  A matrix that leaves device memory is an illegal address
 * (emu_runtime.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>

#include "emu_internal.h"
#include "seq_cblas.h"

struct cublasContext {
  unsigned magic;
};
#define HANDLE_MAGIC 0xb1a5u

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
  struct cublasContext *h = calloc(1, sizeof *h);
  if (!h) return CUBLAS_STATUS_ALLOC_FAILED;
  h->magic = HANDLE_MAGIC;
  *handle = h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (!handle || handle->magic != HANDLE_MAGIC) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->magic = 0;
  free(handle);
  return CUBLAS_STATUS_SUCCESS;
}

typedef struct gemm_call {
  const char *name;
  cublasOperation_t ta, tb;
  int m, n, k;
  const void *alpha, *beta;
  const void *A, *B;
  void *C;
  int lda, ldb, ldc;
  long long sa, sb, sc;
  int batch;
  bool f64;
  bool tf32; /* CUBLAS_COMPUTE_32F_FAST_TF32: inputs rounded to TF32 */
} gemm_call;

static bool op_ok(cublasOperation_t op) {
  return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

/* bytes spanned by a column-major rows x cols matrix with leading dim ld */
static size_t span(int rows, int cols, int ld, size_t es) {
  if (rows == 0 || cols == 0) return 0;
  return ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * es;
}

/* TF32 keeps 10 mantissa bits: round to nearest, ties to even. */
static float to_tf32(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) {
    uint32_t lsb = (u >> 13) & 1u;
    u = (u + 0x0fffu + lsb) & ~0x1fffu;
  }
  memcpy(&x, &u, 4);
  return x;
}

static float *tf32_copy(const float *p, int rows, int cols, int ld) {
  size_t n = span(rows, cols, ld, 1);
  float *q = malloc((n ? n : 1) * sizeof *q);
  if (!q) return NULL;
  for (int c = 0; c < cols; c++)
    for (int r = 0; r < rows; r++) q[(size_t)c * ld + r] = to_tf32(p[(size_t)c * ld + r]);
  return q;
}

static cublasStatus_t run_gemm(cublasHandle_t h, const gemm_call *g) {
  if (!h || h->magic != HANDLE_MAGIC) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!op_ok(g->ta) || !op_ok(g->tb) || g->m < 0 || g->n < 0 || g->k < 0 || g->batch < 0 ||
      !g->alpha || !g->beta)
    return CUBLAS_STATUS_INVALID_VALUE;
  const bool na = g->ta == CUBLAS_OP_N, nb = g->tb == CUBLAS_OP_N;
  const int max1m = g->m > 1 ? g->m : 1, max1k = g->k > 1 ? g->k : 1, max1n = g->n > 1 ? g->n : 1;
  if (g->lda < (na ? max1m : max1k) || g->ldb < (nb ? max1k : max1n) || g->ldc < max1m)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (g->m == 0 || g->n == 0 || g->batch == 0) return CUBLAS_STATUS_SUCCESS;
  const size_t es = g->f64 ? 8 : 4;
  /* A is stored (na ? m x k : k x m), B (nb ? k x n : n x k), C m x n */
  const int ar = na ? g->m : g->k, ac = na ? g->k : g->m;
  const int br = nb ? g->k : g->n, bc = nb ? g->n : g->k;
  for (int i = 0; i < g->batch; i++) {
    const char *A = (const char *)g->A + (size_t)((long long)i * g->sa) * es;
    const char *B = (const char *)g->B + (size_t)((long long)i * g->sb) * es;
    char *C = (char *)g->C + (size_t)((long long)i * g->sc) * es;
    if (!seq_emu_check_device(g->name, "C", C, span(g->m, g->n, g->ldc, es)) ||
        (g->k > 0 && (!seq_emu_check_device(g->name, "A", A, span(ar, ac, g->lda, es)) ||
                      !seq_emu_check_device(g->name, "B", B, span(br, bc, g->ldb, es)))))
      return CUBLAS_STATUS_SUCCESS; /* the fault surfaces at the next synchronisation */
  }
  const enum CBLAS_TRANSPOSE ta = na ? CblasNoTrans : CblasTrans, tb = nb ? CblasNoTrans : CblasTrans;
  for (int i = 0; i < g->batch; i++) {
    const char *A = (const char *)g->A + (size_t)((long long)i * g->sa) * es;
    const char *B = (const char *)g->B + (size_t)((long long)i * g->sb) * es;
    char *C = (char *)g->C + (size_t)((long long)i * g->sc) * es;
    if (g->f64) {
      cblas_dgemm(CblasColMajor, ta, tb, g->m, g->n, g->k, *(const double *)g->alpha,
                  (const double *)A, g->lda, (const double *)B, g->ldb, *(const double *)g->beta,
                  (double *)C, g->ldc);
    } else {
      const float *Ap = (const float *)A, *Bp = (const float *)B;
      float *ta32 = NULL, *tb32 = NULL;
      if (g->tf32 && g->k > 0) {
        ta32 = tf32_copy(Ap, ar, ac, g->lda);
        tb32 = tf32_copy(Bp, br, bc, g->ldb);
        if (!ta32 || !tb32) {
          free(ta32);
          free(tb32);
          return CUBLAS_STATUS_ALLOC_FAILED;
        }
        Ap = ta32;
        Bp = tb32;
      }
      cblas_sgemm(CblasColMajor, ta, tb, g->m, g->n, g->k, *(const float *)g->alpha, Ap, g->lda,
                  Bp, g->ldb, *(const float *)g->beta, (float *)C, g->ldc);
      free(ta32);
      free(tb32);
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}

/* cublasGemmEx: the 32F rows (A/B/C CUDA_R_32F with CUBLAS_COMPUTE_32F,
 * _PEDANTIC or _FAST_TF32) and the 64F row (CUDA_R_64F, CUBLAS_COMPUTE_64F). */
static cublasStatus_t ex_types(cudaDataType at, cudaDataType bt, cudaDataType ct,
                               cublasComputeType_t comp, cublasGemmAlgo_t algo, gemm_call *g) {
  if (algo != CUBLAS_GEMM_DEFAULT && !(algo >= CUBLAS_GEMM_ALGO0 && algo <= CUBLAS_GEMM_ALGO23) &&
      algo != CUBLAS_GEMM_DEFAULT_TENSOR_OP)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (at == CUDA_R_32F && bt == CUDA_R_32F && ct == CUDA_R_32F &&
      (comp == CUBLAS_COMPUTE_32F || comp == CUBLAS_COMPUTE_32F_PEDANTIC ||
       comp == CUBLAS_COMPUTE_32F_FAST_TF32)) {
    g->f64 = false;
    g->tf32 = comp == CUBLAS_COMPUTE_32F_FAST_TF32;
    return CUBLAS_STATUS_SUCCESS;
  }
  if (at == CUDA_R_64F && bt == CUDA_R_64F && ct == CUDA_R_64F &&
      (comp == CUBLAS_COMPUTE_64F || comp == CUBLAS_COMPUTE_64F_PEDANTIC)) {
    g->f64 = true;
    g->tf32 = false;
    return CUBLAS_STATUS_SUCCESS;
  }
  return CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void *alpha,
                            const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo) {
  gemm_call g = {"cublasGemmEx", transa, transb, m, n, k, alpha, beta, A, B, C, lda, ldb, ldc,
                 0, 0, 0, 1, false, false};
  cublasStatus_t s = ex_types(Atype, Btype, Ctype, computeType, algo, &g);
  return s != CUBLAS_STATUS_SUCCESS ? s : run_gemm(handle, &g);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                          cublasOperation_t transb, int m, int n, int k,
                                          const void *alpha, const void *A, cudaDataType Atype,
                                          int lda, long long int strideA, const void *B,
                                          cudaDataType Btype, int ldb, long long int strideB,
                                          const void *beta, void *C, cudaDataType Ctype, int ldc,
                                          long long int strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  gemm_call g = {"cublasGemmStridedBatchedEx", transa, transb, m, n, k, alpha, beta, A, B, C,
                 lda, ldb, ldc, strideA, strideB, strideC, batchCount, false, false};
  cublasStatus_t s = ex_types(Atype, Btype, Ctype, computeType, algo, &g);
  return s != CUBLAS_STATUS_SUCCESS ? s : run_gemm(handle, &g);
}

cublasStatus_t cublasDgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const double *alpha,
                           const double *A, int lda, const double *B, int ldb, const double *beta,
                           double *C, int ldc) {
  gemm_call g = {"cublasDgemm", transa, transb, m, n, k, alpha, beta, A, B, C, lda, ldb, ldc,
                 0, 0, 0, 1, true, false};
  return run_gemm(handle, &g);
}

cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k,
                                         const double *alpha, const double *A, int lda,
                                         long long int strideA, const double *B, int ldb,
                                         long long int strideB, const double *beta, double *C,
                                         int ldc, long long int strideC, int batchCount) {
  gemm_call g = {"cublasDgemmStridedBatched", transa, transb, m, n, k, alpha, beta, A, B, C,
                 lda, ldb, ldc, strideA, strideB, strideC, batchCount, true, false};
  return run_gemm(handle, &g);
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
  gemm_call g = {"cublasSgemm", transa, transb, m, n, k, alpha, beta, A, B, C, lda, ldb, ldc,
                 0, 0, 0, 1, false, false};
  return run_gemm(handle, &g);
}
