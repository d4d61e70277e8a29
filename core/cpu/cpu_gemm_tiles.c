/* cpu_gemm_tiles.c - our own register-tiled GEMM for f32/f64 on x86-64 CPUs
 * with AVX2 and FMA, chosen at run time by CPUID (not by CPU model, which a
 * BLAS older than the CPU does not know).
 *
 * The course's products are small and skinny (64x100x400, 128x128x512,
 * 5120x57x512): a general BLAS spends much of such a call packing both
 * operands and waking its threads.  Here only op(B) is packed, into panels of
 * two vectors' width; rows of A are broadcast straight from memory in any
 * layout (A may be a transposed view), and a 6-row x 2-vector tile of C stays
 * in 12 registers over a K chunk.  One OpenMP region per call packs and
 * computes; row blocks are split between the threads. */
#define _POSIX_C_SOURCE 200112L /* posix_memalign */
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define GT_HAVE_KERNEL 1
#else
#define GT_HAVE_KERNEL 0
#endif

#define GT_MR 6           /* rows of C per tile */
#define GT_KC 256         /* rows of op(B) per packed chunk: a panel stays in L1 */
#define GT_NC_BYTES 262144 /* columns per chunk: the packed chunk stays in L2 */
#define GT_PAR_FLOPS 2000000.0 /* below this, a second thread costs more than it saves */

bool seq_cpu_gemm_tiles_supported(void) {
#if GT_HAVE_KERNEL
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

#if GT_HAVE_KERNEL

/* The packing buffer, kept per calling thread and grown on demand: a fresh
 * 256 KiB malloc per call is an mmap, a munmap and page faults, which cost
 * more than a small product itself. */
static void *gt_buffer(size_t nbytes) {
  static _Thread_local void *buf;
  static _Thread_local size_t cap;
  if (nbytes > cap) {
    void *p = NULL;
    if (posix_memalign(&p, 64, nbytes) != 0) return NULL;
    free(buf);
    buf = p;
    cap = nbytes;
  }
  return buf;
}

/* One body for both float types: T the scalar, V a 256-bit vector of L lanes,
 * NR = 2L columns per panel. */
#define GT_DEFINE(SFX, T, V, L)                                                                  \
  typedef T V __attribute__((vector_size(32), aligned(32)));                                     \
  enum { GT_NR_##SFX = 2 * (L) };                                                                \
                                                                                                 \
  /* bp[(p*K + k)*NR + c] = op(B)[k, p*NR + c], zero-padded past N;                              \
   * op(B)[k, n] = b[k*rs + n*cs].  Panels p0 <= p < p1. */                                      \
  static void gt_pack_##SFX(const T *b, int64_t rs, int64_t cs, int64_t K, int64_t N, int64_t p0, \
                            int64_t p1, T *bp) {                                                 \
    const int64_t nr = GT_NR_##SFX;                                                              \
    for (int64_t p = p0; p < p1; p++) {                                                          \
      const int64_t n0 = p * nr, nv = N - n0 < nr ? N - n0 : nr;                                 \
      for (int64_t k = 0; k < K; k++) {                                                          \
        T *dst = bp + (p * K + k) * nr;                                                          \
        const T *src = b + k * rs + n0 * cs;                                                     \
        if (cs == 1 && nv == nr) {                                                               \
          memcpy(dst, src, sizeof(T) * GT_NR_##SFX);                                             \
          continue;                                                                              \
        }                                                                                        \
        int64_t c = 0;                                                                           \
        for (; c < nv; c++) dst[c] = src[c * cs];                                                \
        for (; c < nr; c++) dst[c] = 0;                                                          \
      }                                                                                          \
    }                                                                                            \
  }                                                                                              \
                                                                                                 \
  /* Tile C[mr, nv] = alpha * A[mr, K] . panel + (first ? beta*C : C), where                     \
   * A[i,k] = A[i*ars + k*acs] and row k of the panel is bp + k*bld.  Rows past                  \
   * mr repeat the last row (computed, never stored) so the loop keeps its                       \
   * fixed shape. */                                                                             \
  __attribute__((target("avx2,fma"), optimize("O3"))) static void gt_tile_##SFX(                 \
      int64_t K, const T *A, int64_t ars, int64_t acs, const T *bp, int64_t bld, int mr,         \
      int64_t nv, T alpha, T beta, bool first, T *C, int64_t ldc) {                              \
    V c0[GT_MR], c1[GT_MR];                                                                      \
    int64_t off[GT_MR];                                                                          \
    _Pragma("GCC unroll 6") for (int i = 0; i < GT_MR; i++) {                                    \
      c0[i] = c1[i] = (V){0};                                                                    \
      off[i] = (i < mr ? i : mr - 1) * ars;                                                      \
    }                                                                                            \
    const T *ak = A;                                                                             \
    for (int64_t k = 0; k < K; k++, ak += acs, bp += bld) {                                      \
      V b0, b1;                                                                                  \
      memcpy(&b0, bp, sizeof(V));                                                                \
      memcpy(&b1, bp + (L), sizeof(V));                                                          \
      _Pragma("GCC unroll 6") for (int i = 0; i < GT_MR; i++) {                                  \
        const T a = ak[off[i]];                                                                  \
        c0[i] += a * b0;                                                                         \
        c1[i] += a * b1;                                                                         \
      }                                                                                          \
    }                                                                                            \
    for (int i = 0; i < mr; i++) {                                                               \
      T *c = C + i * ldc;                                                                        \
      V r0 = alpha * c0[i], r1 = alpha * c1[i];                                                  \
      if (nv == GT_NR_##SFX) {                                                                   \
        if (!first || beta != 0) {                                                               \
          V o0, o1;                                                                              \
          memcpy(&o0, c, sizeof(V));                                                             \
          memcpy(&o1, c + (L), sizeof(V));                                                       \
          const T s = first ? beta : (T)1;                                                       \
          r0 += s * o0;                                                                          \
          r1 += s * o1;                                                                          \
        }                                                                                        \
        memcpy(c, &r0, sizeof(V));                                                               \
        memcpy(c + (L), &r1, sizeof(V));                                                         \
      } else {                                                                                   \
        T tmp[GT_NR_##SFX];                                                                      \
        memcpy(tmp, &r0, sizeof(V));                                                             \
        memcpy(tmp + (L), &r1, sizeof(V));                                                       \
        for (int64_t j = 0; j < nv; j++)                                                         \
          c[j] = !first ? c[j] + tmp[j] : beta != 0 ? beta * c[j] + tmp[j] : tmp[j];             \
      }                                                                                          \
    }                                                                                            \
  }                                                                                              \
                                                                                                 \
  /* One row of C against a panel (M = 1, generation; edge blocks of 1-2 rows):                  \
   * even and odd k in separate sums so four FMA chains overlap. */                              \
  __attribute__((target("avx2,fma"), optimize("O3"))) static void gt_row_##SFX(                  \
      int64_t K, const T *A, int64_t acs, const T *bp, int64_t bld, int64_t nv, T alpha, T beta, \
      bool first, T *c) {                                                                        \
    V e0 = {0}, e1 = {0}, o0 = {0}, o1 = {0}, b0, b1;                                            \
    int64_t k = 0;                                                                               \
    for (; k + 1 < K; k += 2) {                                                                  \
      const T a0 = A[k * acs], a1 = A[(k + 1) * acs];                                            \
      memcpy(&b0, bp + k * bld, sizeof(V));                                                      \
      memcpy(&b1, bp + k * bld + (L), sizeof(V));                                                \
      e0 += a0 * b0;                                                                             \
      e1 += a0 * b1;                                                                             \
      memcpy(&b0, bp + (k + 1) * bld, sizeof(V));                                                \
      memcpy(&b1, bp + (k + 1) * bld + (L), sizeof(V));                                          \
      o0 += a1 * b0;                                                                             \
      o1 += a1 * b1;                                                                             \
    }                                                                                            \
    if (k < K) {                                                                                 \
      const T a0 = A[k * acs];                                                                   \
      memcpy(&b0, bp + k * bld, sizeof(V));                                                      \
      memcpy(&b1, bp + k * bld + (L), sizeof(V));                                                \
      e0 += a0 * b0;                                                                             \
      e1 += a0 * b1;                                                                             \
    }                                                                                            \
    T tmp[GT_NR_##SFX];                                                                          \
    V r0 = alpha * (e0 + o0), r1 = alpha * (e1 + o1);                                            \
    memcpy(tmp, &r0, sizeof(V));                                                                 \
    memcpy(tmp + (L), &r1, sizeof(V));                                                           \
    for (int64_t j = 0; j < nv; j++)                                                             \
      c[j] = !first ? c[j] + tmp[j] : beta != 0 ? beta * c[j] + tmp[j] : tmp[j];                 \
  }                                                                                              \
                                                                                                 \
  /* Few rows against a row-major B (generation's M = 1): stream B's rows,                       \
   * eight vectors of C's row in registers; no packing. */                                       \
  __attribute__((target("avx2,fma"), optimize("O3"))) static void gt_rows_##SFX(                 \
      int64_t M, int64_t N, int64_t K, T alpha, const T *a, int64_t ars, int64_t acs,            \
      const T *b, int64_t ldb, T beta, T *C, int64_t ldc) {                                      \
    enum { W = 8 * (L) };                                                                        \
    for (int64_t i = 0; i < M; i++) {                                                            \
      const T *ai = a + i * ars;                                                                 \
      T *c = C + i * ldc;                                                                        \
      int64_t j0 = 0;                                                                            \
      for (; j0 + W <= N; j0 += W) {                                                             \
        V acc[8], bv;                                                                            \
        _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++) acc[v] = (V){0};                     \
        for (int64_t k = 0; k < K; k++) {                                                        \
          const T s = ai[k * acs];                                                               \
          const T *bk = b + k * ldb + j0;                                                        \
          _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++) {                                  \
            memcpy(&bv, bk + v * (L), sizeof(V));                                                \
            acc[v] += s * bv;                                                                    \
          }                                                                                      \
        }                                                                                        \
        _Pragma("GCC unroll 8") for (int v = 0; v < 8; v++) {                                    \
          V r = alpha * acc[v], o;                                                               \
          if (beta != 0) {                                                                       \
            memcpy(&o, c + j0 + v * (L), sizeof(V));                                             \
            r += beta * o;                                                                       \
          }                                                                                      \
          memcpy(c + j0 + v * (L), &r, sizeof(V));                                               \
        }                                                                                        \
      }                                                                                          \
      for (int64_t j = j0; j < N; j++) { /* the ragged end, one column at a time */             \
        T sum = 0;                                                                               \
        for (int64_t k = 0; k < K; k++) sum += ai[k * acs] * b[k * ldb + j];                     \
        c[j] = beta != 0 ? alpha * sum + beta * c[j] : alpha * sum;                              \
      }                                                                                          \
    }                                                                                            \
  }                                                                                              \
                                                                                                 \
  /* C[M,N] = alpha * op(A) . op(B) + beta * C, with op(A)[i,k] = a[i*ars + k*acs]               \
   * and op(B)[k,n] = b[k*brs + n*bcs]; K > 0.  buf holds one packed chunk. */                   \
  static void gt_gemm_##SFX(int64_t M, int64_t N, int64_t K, T alpha, const T *a, int64_t ars,   \
                            int64_t acs, const T *b, int64_t brs, int64_t bcs, T beta, T *C,     \
                            int64_t ldc, T *buf, int64_t nc, bool par) {                         \
    if (M <= 2 && bcs == 1) {                                                                    \
      gt_rows_##SFX(M, N, K, alpha, a, ars, acs, b, brs, beta, C, ldc);                          \
      return;                                                                                    \
    }                                                                                            \
    const int64_t nr = GT_NR_##SFX, nrb = (M + GT_MR - 1) / GT_MR;                               \
    /* Few rows of A: packing B would cost as much as the product, so read a                     \
     * row-major B in place (its whole panels; the ragged one is packed). */                     \
    const bool in_place = bcs == 1 && M <= 2 * GT_MR;                                            \
    _Pragma("omp parallel if (par)") for (int64_t n0 = 0; n0 < N; n0 += nc) {                    \
      const int64_t nw = N - n0 < nc ? N - n0 : nc, np = (nw + nr - 1) / nr;                     \
      const int64_t npacked0 = in_place ? nw / nr : 0;                                           \
      for (int64_t k0 = 0; k0 < K; k0 += GT_KC) {                                                \
        const int64_t kc = K - k0 < GT_KC ? K - k0 : GT_KC;                                      \
        const T *bk = b + k0 * brs + n0 * bcs;                                                   \
        _Pragma("omp for schedule(static)") for (int64_t p = npacked0; p < np; p++)              \
            gt_pack_##SFX(bk, brs, bcs, kc, nw, p, p + 1, buf);                                  \
        _Pragma("omp for schedule(static)") for (int64_t rb = 0; rb < nrb; rb++) {               \
          const int64_t r = rb * GT_MR;                                                          \
          const int mr = M - r < GT_MR ? (int)(M - r) : GT_MR;                                   \
          const T *ar = a + r * ars + k0 * acs;                                                  \
          for (int64_t p = 0; p < np; p++) {                                                     \
            const int64_t nv = nw - p * nr < nr ? nw - p * nr : nr;                              \
            const bool packed = p >= npacked0;                                                   \
            const T *bpp = packed ? buf + p * kc * nr : bk + p * nr;                             \
            const int64_t bld = packed ? nr : brs;                                               \
            T *cp = C + r * ldc + n0 + p * nr;                                                   \
            if (mr > 2)                                                                          \
              gt_tile_##SFX(kc, ar, ars, acs, bpp, bld, mr, nv, alpha, beta, k0 == 0, cp, ldc);  \
            else                                                                                 \
              for (int i = 0; i < mr; i++)                                                       \
                gt_row_##SFX(kc, ar + i * ars, acs, bpp, bld, nv, alpha, beta, k0 == 0,          \
                             cp + i * ldc);                                                      \
          }                                                                                      \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
  }

GT_DEFINE(f32, float, gt_v8f, 8)
GT_DEFINE(f64, double, gt_v4d, 4)

#endif /* GT_HAVE_KERNEL */

seq_status seq_cpu_gemm_tiles(seq_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                              int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                              int64_t ldb, double beta, void *c, int64_t ldc) {
  if (dtype != SEQ_F32 && dtype != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "matmul: dtype %s is not supported (use f32 or f64)",
                    seq_dtype_name(dtype));
  if (m <= 0 || n <= 0) return SEQ_OK;
  const size_t es = seq_dtype_size(dtype);
  if (k <= 0) { /* an empty sum: C = beta*C */
    for (int64_t r = 0; r < m; r++) {
      char *row = (char *)c + (size_t)(r * ldc) * es;
      for (int64_t j = 0; j < n; j++) {
        if (dtype == SEQ_F32) {
          float *x = (float *)row + j;
          *x = beta == 0.0 ? 0.0f : (float)beta * *x;
        } else {
          double *x = (double *)row + j;
          *x = beta == 0.0 ? 0.0 : beta * *x;
        }
      }
    }
    return SEQ_OK;
  }
#if GT_HAVE_KERNEL
  const int64_t ars = trans_a ? 1 : lda, acs = trans_a ? lda : 1;
  const int64_t brs = trans_b ? 1 : ldb, bcs = trans_b ? ldb : 1;
  const int64_t nr = dtype == SEQ_F32 ? GT_NR_f32 : GT_NR_f64;
  int64_t nc = (int64_t)(GT_NC_BYTES / es / GT_KC) / nr * nr;
  if (nc > (n + nr - 1) / nr * nr) nc = (n + nr - 1) / nr * nr;
  void *buf = gt_buffer((size_t)nc * GT_KC * es);
  if (!buf) return seq_fail(SEQ_ENOMEM, "matmul: out of memory for a %lld-column panel", (long long)nc);
  const bool par = seq_cpu_get_threads() > 1 && m > GT_MR &&
                   2.0 * (double)m * (double)n * (double)k >= GT_PAR_FLOPS;
  if (dtype == SEQ_F32)
    gt_gemm_f32(m, n, k, (float)alpha, a, ars, acs, b, brs, bcs, (float)beta, c, ldc, buf, nc, par);
  else
    gt_gemm_f64(m, n, k, alpha, a, ars, acs, b, brs, bcs, beta, c, ldc, buf, nc, par);
  return SEQ_OK;
#else
  (void)trans_a; (void)trans_b; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb;
  return seq_fail(SEQ_EBACKEND, "matmul: the tiled GEMM is not built for this CPU");
#endif
}
