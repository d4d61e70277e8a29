/* cpu_recurrent.h - what the fused recurrent kernels (cpu_lstm.c, cpu_rnn.c)
 * share: the big-workspace cache, parking the BLAS's threads, row-major
 * GEMM for f32/f64, the f32 GEMM panels (AVX-512 or AVX2+FMA) over a
 * packed right operand (see cpu_lstm.c for why they beat the BLAS per
 * step), batch slices per thread, and the check of class-id input.
 * Header-only static functions so each kernel file is compiled with them
 * inline, as when they lived in cpu_lstm.c; a file need not use all of
 * them. */
#ifndef SEQ_CPU_RECURRENT_H
#define SEQ_CPU_RECURRENT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

#include "seq_cblas.h" /* cblas.h without <complex.h>'s macro I */
#ifdef SEQ_BLAS_BLIS
#include <blis.h>
#undef I
#endif

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

/* ---------------------------------------------------------------- helpers */

/* The gate workspace is large (B*T*4H floats: 51 MB for the IMDB shape) and
 * above glibc's mmap threshold, so a fresh allocation per batch would cost a
 * page fault per 4 KiB.  Up to two released blocks (two stacked layers) are
 * kept for later calls that need at least half of one.  A block's usable
 * size is stored in its first 64 bytes. */
#define REC_CACHE_SLOTS 2
static void *rec_cache[REC_CACHE_SLOTS]; /* swapped atomically */

static void *rec_alloc_big(size_t nbytes) {
  size_t rounded = (nbytes + 63) & ~(size_t)63;
  for (int i = 0; i < REC_CACHE_SLOTS; i++) {
    char *c = __atomic_exchange_n(&rec_cache[i], NULL, __ATOMIC_ACQ_REL);
    if (!c) continue;
    size_t have;
    memcpy(&have, c, sizeof have);
    if (have >= rounded && have / 2 <= rounded) return c + 64;
    void *expected = NULL; /* not for us: put it back for another layer */
    if (!__atomic_compare_exchange_n(&rec_cache[i], &expected, c, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
      free(c);
  }
  char *c = aligned_alloc(64, rounded + 64);
  if (!c) return NULL;
  memcpy(c, &rounded, sizeof rounded);
  return c + 64;
}

static void rec_release_big(void *p) {
  if (!p) return;
  char *c = (char *)p - 64;
  for (int i = 0; i < REC_CACHE_SLOTS && c; i++)
    c = __atomic_exchange_n(&rec_cache[i], c, __ATOMIC_ACQ_REL); /* oldest falls out */
  free(c);
}

static void *rec_alloc(size_t nbytes) {
  size_t rounded = (nbytes + 63) & ~(size_t)63;
  return aligned_alloc(64, rounded ? rounded : 64);
}

/* Park the BLAS's threads while our own team calls it from every thread. */
static int rec_blas_single_begin(void) {
#if defined(SEQ_BLAS_OPENBLAS)
  int n = openblas_get_num_threads();
  if (n != 1) openblas_set_num_threads(1);
  return n;
#elif defined(SEQ_BLAS_BLIS)
  int n = (int)bli_thread_get_num_threads();
  if (n != 1) bli_thread_set_num_threads(1);
  return n;
#else
  return 1;
#endif
}

static void rec_blas_single_end(int n) {
#if defined(SEQ_BLAS_OPENBLAS)
  if (n != 1) openblas_set_num_threads(n);
#elif defined(SEQ_BLAS_BLIS)
  if (n != 1) bli_thread_set_num_threads(n);
#else
  (void)n;
#endif
}

/* Row-major GEMM for our two float types (beta 0 or 1). */
static void rec_gemm(seq_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                      const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
                      void *c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) { /* C = beta*C with an empty sum */
    if (beta == 0.0) {
      size_t es = seq_dtype_size(dt);
      for (int64_t r = 0; r < m; r++) memset((char *)c + (size_t)(r * ldc) * es, 0, (size_t)n * es);
    }
    return;
  }
  const enum CBLAS_TRANSPOSE cta = ta ? CblasTrans : CblasNoTrans;
  const enum CBLAS_TRANSPOSE ctb = tb ? CblasTrans : CblasNoTrans;
  if (dt == SEQ_F32)
    cblas_sgemm(CblasRowMajor, cta, ctb, (int)m, (int)n, (int)k, 1.0f, (const float *)a, (int)lda,
                (const float *)b, (int)ldb, (float)beta, (float *)c, (int)ldc);
  else
    cblas_dgemm(CblasRowMajor, cta, ctb, (int)m, (int)n, (int)k, 1.0, (const double *)a, (int)lda,
                (const double *)b, (int)ldb, beta, (double *)c, (int)ldc);
}

/* ------------------------------------------- f32 per-step GEMM, packed
 * The per-step products are small (32 x 400 x 100 per thread for the IMDB
 * shape) and the BLAS re-packs the whole recurrent matrix on every call,
 * which costs about as much as the arithmetic.  The recurrent matrix is the
 * same for all T steps, so we pack it once per call into panels of 32
 * columns and run a register-blocked kernel that reads the left operand in
 * place (strided rows of y or dG): 8 rows x 32 columns on AVX-512, 6 rows x
 * 16 columns (each panel as two halves) on AVX2+FMA.  Both are chosen by
 * CPU feature at run time.  Measured at that shape: ~2x the BLAS per step
 * with AVX-512 (an older BLAS); 5-30% over BLIS's zen3 kernels with AVX2.
 * Other CPUs and f64 use the BLAS. */
#define REC_NR 32
#define REC_MR 8
#define REC_PACK_MIN_T 4

enum rec_isa { REC_ISA_BLAS = 0, REC_ISA_AVX2 = 1, REC_ISA_AVX512 = 2 };

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define REC_HAVE_PACKED 1
/* Left unspecialised, rec_big_gemm keeps one kernel variant per B layout
 * (in place, packed); a clone for the backward's shared arguments merged
 * them into one less unrolled kernel. */
#define REC_NOCLONE __attribute__((noclone))
typedef float rec_v16 __attribute__((vector_size(64), aligned(64)));
typedef float rec_v8 __attribute__((vector_size(32), aligned(32)));

/* Which kernel runs the f32 products.  SEQLUA_LSTM_BLAS_STEP=1 forces the
 * BLAS and SEQLUA_LSTM_PANELS=avx2 the AVX2 kernel on an AVX-512 CPU (for
 * comparisons and tests); read once per process. */
static enum rec_isa rec_packed_isa(void) {
  static int isa = -1;
  if (isa < 0) {
    __builtin_cpu_init();
    const char *blas = getenv("SEQLUA_LSTM_BLAS_STEP");
    const char *panels = getenv("SEQLUA_LSTM_PANELS");
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (blas && *blas && *blas != '0') isa = REC_ISA_BLAS;
    else if (__builtin_cpu_supports("avx512f") && !(panels && strcmp(panels, "avx2") == 0))
      isa = REC_ISA_AVX512;
    else isa = avx2 ? REC_ISA_AVX2 : REC_ISA_BLAS;
  }
  return (enum rec_isa)isa;
}

static bool rec_packed_ok(void) { return rec_packed_isa() != REC_ISA_BLAS; }

static size_t rec_packed_floats(int64_t K, int64_t N) {
  return (size_t)((N + REC_NR - 1) / REC_NR) * REC_NR * (size_t)K;
}

/* bp <- op(B) [K,N] in panels: bp[(p*K + k)*NR + c] = op(B)[k, p*NR + c],
 * zero-padded; op(B)[k,n] = trans ? b[n*ldb + k] : b[k*ldb + n]. */
static void rec_pack_f32(const float *b, int64_t ldb, bool trans, int64_t K, int64_t N,
                          float *bp) {
  const int64_t np = (N + REC_NR - 1) / REC_NR;
  if (!trans) { /* rows of B are contiguous: block copies */
    for (int64_t k = 0; k < K; k++) {
      const float *src = b + k * ldb;
      for (int64_t p = 0; p < np; p++) {
        float *dst = bp + (p * K + k) * REC_NR;
        int64_t n0 = p * REC_NR, nv = N - n0 < REC_NR ? N - n0 : REC_NR;
        if (nv == REC_NR) { /* constant size: inlined moves, not a libc call */
          memcpy(dst, src + n0, REC_NR * sizeof(float));
          continue;
        }
        memcpy(dst, src + n0, (size_t)nv * sizeof(float));
        memset(dst + nv, 0, (size_t)(REC_NR - nv) * sizeof(float));
      }
    }
    return;
  }
  for (int64_t p = 0; p < np; p++)
    for (int64_t k = 0; k < K; k++) {
      float *dst = bp + (p * K + k) * REC_NR;
      for (int64_t c = 0; c < REC_NR; c++) {
        int64_t n = p * REC_NR + c;
        dst[c] = n < N ? b[n * ldb + k] : 0.0f;
      }
    }
}

/* C[M,N] (+)= A[M,K] . B in panels of 32 columns, where A[m,k] =
 * A[m*ars + k*acs] (so A may be a transposed view: the weight gradients read
 * x^T and y^T) and row k of panel p is at bp + p*pstride + k*bld: packed
 * (pstride = K*32, bld = 32) or read in place from a row-major matrix
 * whose N is a multiple of 32 (pstride = 32, bld = ldb). */
__attribute__((target("avx512f,fma"), optimize("O3")))
static void rec_sgemm_panels_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                              int64_t acs, const float *bp, int64_t pstride, int64_t bld,
                              bool accumulate, float *C, int64_t ldc) {
  const int64_t np = (N + REC_NR - 1) / REC_NR;
  for (int64_t p = 0; p < np; p++) {
    const float *bpp = bp + p * pstride;
    const int64_t n0 = p * REC_NR, nv = N - n0 < REC_NR ? N - n0 : REC_NR;
    int64_t r = 0;
    for (; r + REC_MR <= M; r += REC_MR) {
      rec_v16 a0[REC_MR], a1[REC_MR];
#pragma GCC unroll 8
      for (int i = 0; i < REC_MR; i++) a0[i] = a1[i] = (rec_v16){0};
      const float *Ar = A + r * ars;
      for (int64_t k = 0; k < K; k++) {
        rec_v16 b0, b1;
        memcpy(&b0, bpp + k * bld, 64); /* unaligned when read in place */
        memcpy(&b1, bpp + k * bld + 16, 64);
        const float *Ak = Ar + k * acs;
#pragma GCC unroll 8
        for (int i = 0; i < REC_MR; i++) {
          float a = Ak[i * ars];
          a0[i] += a * b0;
          a1[i] += a * b1;
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < REC_MR; i++) {
        float *c = C + (r + i) * ldc + n0;
        if (nv == REC_NR) {
          if (accumulate) {
            rec_v16 c0, c1;
            memcpy(&c0, c, 64);
            memcpy(&c1, c + 16, 64);
            a0[i] += c0;
            a1[i] += c1;
          }
          memcpy(c, &a0[i], 64);
          memcpy(c + 16, &a1[i], 64);
        } else {
          float tmp[REC_NR] __attribute__((aligned(64)));
          memcpy(tmp, &a0[i], 64);
          memcpy(tmp + 16, &a1[i], 64);
          for (int64_t j = 0; j < nv; j++) c[j] = accumulate ? c[j] + tmp[j] : tmp[j];
        }
      }
    }
    for (; r < M; r++) {
      rec_v16 a0 = {0}, a1 = {0};
      const float *Ar = A + r * ars;
      for (int64_t k = 0; k < K; k++) {
        float a = Ar[k * acs];
        rec_v16 b0, b1;
        memcpy(&b0, bpp + k * bld, 64);
        memcpy(&b1, bpp + k * bld + 16, 64);
        a0 += a * b0;
        a1 += a * b1;
      }
      float tmp[REC_NR] __attribute__((aligned(64)));
      memcpy(tmp, &a0, 64);
      memcpy(tmp + 16, &a1, 64);
      float *c = C + r * ldc + n0;
      for (int64_t j = 0; j < nv; j++) c[j] = accumulate ? c[j] + tmp[j] : tmp[j];
    }
  }
}

/* One tile for AVX2: C[MR rows, nv <= 16 columns] (+)= A . b, rows of b at
 * b + k*bld.  MR is a constant at each call (the switch below), so the
 * 2*MR accumulators stay in registers (12 of the 16 for MR = 6). */
__attribute__((target("avx2,fma"), optimize("O3"), always_inline))
static inline void rec_tile_avx2(const int MR, int64_t K, const float *A, int64_t ars,
                                 int64_t acs, const float *b, int64_t bld, int64_t nv,
                                 bool accumulate, float *C, int64_t ldc) {
  rec_v8 c0[6], c1[6];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    c0[i] = c1[i] = (rec_v8){0};
    /* C is cold when accumulated into (the forward's gate rows, written by
     * x . kernel over all steps): fetch it while the k loop runs, not after */
    if (accumulate) {
      __builtin_prefetch(C + i * ldc, 1);
      __builtin_prefetch(C + i * ldc + nv - 1, 1);
    }
  }
  for (int64_t k = 0; k < K; k++, A += acs, b += bld) {
    rec_v8 b0, b1;
    memcpy(&b0, b, 32); /* unaligned when read in place */
    memcpy(&b1, b + 8, 32);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      const float a = A[i * ars];
      c0[i] += a * b0;
      c1[i] += a * b1;
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    float *c = C + i * ldc;
    if (nv == 16) {
      if (accumulate) {
        rec_v8 o0, o1;
        memcpy(&o0, c, 32);
        memcpy(&o1, c + 8, 32);
        c0[i] += o0;
        c1[i] += o1;
      }
      memcpy(c, &c0[i], 32);
      memcpy(c + 8, &c1[i], 32);
    } else {
      float tmp[16] __attribute__((aligned(32)));
      memcpy(tmp, &c0[i], 32);
      memcpy(tmp + 8, &c1[i], 32);
      for (int64_t j = 0; j < nv; j++) c[j] = accumulate ? c[j] + tmp[j] : tmp[j];
    }
  }
}

#define REC_AVX2_MB 96

/* Rows of C per block on AVX2: each block of A stays in cache while every
 * half panel runs over it, so a tall A (x . kernel over all steps' rows) is
 * read from memory once, not once per half. */
#define REC_AVX2_MB 96

/* rec_sgemm_panels for AVX2+FMA: each 32-column panel as two 16-column
 * halves (a half of padding only is skipped), rows in tiles of 6.  A
 * remainder of 1-3 rows would leave too few independent FMA chains to hide
 * their latency, so it shares the last two tiles evenly (32 = 4x6 + 4 + 4,
 * 64 = 10x6 + 4). */
__attribute__((target("avx2,fma"), optimize("O3")))
static void rec_sgemm_panels_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                                  int64_t acs, const float *bp, int64_t pstride, int64_t bld,
                                  bool accumulate, float *C, int64_t ldc) {
  int64_t nfull = M / 6, rest = M % 6;
  if (rest > 0 && rest < 4 && nfull > 0) {
    nfull--;
    rest += 6;
  }
  const int64_t split = nfull * 6; /* rows >= split: the last one or two tiles */
  const int last_a = rest > 6 ? (int)(rest + 1) / 2 : (int)rest;
  for (int64_t m0 = 0, m1; m0 < M; m0 = m1) {
    m1 = m0 + REC_AVX2_MB < split ? m0 + REC_AVX2_MB : M;
#define REC_TILE_ROWS(r) ((r) < split ? 6 : (r) == split ? last_a : (int)(M - (r)))
    for (int64_t h0 = 0; h0 < N; h0 += 16) {
      const float *b = bp + h0 / REC_NR * pstride + h0 % REC_NR;
      const int64_t nv = N - h0 < 16 ? N - h0 : 16;
      for (int64_t r = m0, mr; r < m1; r += mr) {
        mr = REC_TILE_ROWS(r);
        const float *Ar = A + r * ars;
        float *Cr = C + r * ldc + h0;
        switch (mr) {
        case 6: rec_tile_avx2(6, K, Ar, ars, acs, b, bld, nv, accumulate, Cr, ldc); break;
        case 5: rec_tile_avx2(5, K, Ar, ars, acs, b, bld, nv, accumulate, Cr, ldc); break;
        case 4: rec_tile_avx2(4, K, Ar, ars, acs, b, bld, nv, accumulate, Cr, ldc); break;
        case 3: rec_tile_avx2(3, K, Ar, ars, acs, b, bld, nv, accumulate, Cr, ldc); break;
        case 2: rec_tile_avx2(2, K, Ar, ars, acs, b, bld, nv, accumulate, Cr, ldc); break;
        default: rec_tile_avx2(1, K, Ar, ars, acs, b, bld, nv, accumulate, Cr, ldc); break;
        }
      }
    }
#undef REC_TILE_ROWS
  }
}

/* C[M,N] (+)= A . B over panels (see rec_sgemm_panels_avx512), by the
 * kernel rec_packed_isa picked. */
static void rec_sgemm_panels(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                             int64_t acs, const float *bp, int64_t pstride, int64_t bld,
                             bool accumulate, float *C, int64_t ldc) {
  if (rec_packed_isa() == REC_ISA_AVX512)
    rec_sgemm_panels_avx512(M, N, K, A, ars, acs, bp, pstride, bld, accumulate, C, ldc);
  else
    rec_sgemm_panels_avx2(M, N, K, A, ars, acs, bp, pstride, bld, accumulate, C, ldc);
}

/* Rows of B packed per round of the big products: 256 x 416 floats stay in
 * L2 while every row block of A runs over them. */
#define REC_KC 256

/* C (+)= A . op(B) for the big products (all steps at once), packing B in
 * chunks of REC_KC rows into `buf` (REC_KC * roundup(N, 32) floats). */
static void rec_sgemm_big(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                           int64_t acs, const float *B, int64_t ldb, bool trans_b,
                           bool accumulate, float *C, int64_t ldc, float *buf) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 && !accumulate)
    for (int64_t r = 0; r < M; r++) memset(C + r * ldc, 0, (size_t)N * sizeof(float));
  /* A row-major B is read in place for its whole panels (the packing would
   * be one more pass over all of dG, which is memory-bound); only the
   * ragged last panel, or a transposed B, is packed. */
  const int64_t nfull = trans_b ? 0 : N / REC_NR * REC_NR;
  for (int64_t k0 = 0; k0 < K; k0 += REC_KC) {
    const int64_t kc = K - k0 < REC_KC ? K - k0 : REC_KC;
    const bool acc = accumulate || k0 > 0;
    if (nfull > 0)
      rec_sgemm_panels(M, nfull, kc, A + k0 * acs, ars, acs, B + k0 * ldb, REC_NR, ldb, acc, C,
                        ldc);
    if (nfull < N) {
      const float *bk = trans_b ? B + k0 : B + k0 * ldb + nfull; /* trans: nfull = 0 */
      rec_pack_f32(bk, ldb, trans_b, kc, N - nfull, buf);
      rec_sgemm_panels(M, N - nfull, kc, A + k0 * acs, ars, acs, buf, kc * REC_NR, REC_NR, acc,
                        C + nfull, ldc);
    }
  }
}
#else
#define REC_HAVE_PACKED 0
#define REC_NOCLONE
static enum rec_isa rec_packed_isa(void) { return REC_ISA_BLAS; }
static bool rec_packed_ok(void) { return false; }
static size_t rec_packed_floats(int64_t K, int64_t N) { (void)K; (void)N; return 0; }
#endif

/* The products over all steps: C (+)= A . op(B) with A[m,k] at
 * A[m*ars + k*acs] (one of ars, acs must be 1).  With `buf` (REC_KC *
 * roundup(N,32) floats, from rec_big_buf) our panels; otherwise the BLAS. */
REC_NOCLONE static void rec_big_gemm(seq_dtype dt, float *buf, int64_t m, int64_t n, int64_t k,
                          const void *a, int64_t ars, int64_t acs, const void *b, int64_t ldb,
                          bool trans_b, bool accumulate, void *c, int64_t ldc) {
#if REC_HAVE_PACKED
  if (buf) {
    rec_sgemm_big(m, n, k, a, ars, acs, b, ldb, trans_b, accumulate, c, ldc, buf);
    return;
  }
#else
  (void)buf;
#endif
  /* a BLAS wants lda >= the row length it walks: with ars == acs == 1 (one
   * row, or one column) only one reading is legal */
  if (acs == 1 && ars >= (k > 1 ? k : 1))
    rec_gemm(dt, false, trans_b, m, n, k, a, ars, b, ldb, accumulate ? 1.0 : 0.0, c, ldc);
  else
    rec_gemm(dt, true, trans_b, m, n, k, a, acs, b, ldb, accumulate ? 1.0 : 0.0, c, ldc);
}

/* Per-thread pack buffer for rec_big_gemm with up to `n` columns, or NULL
 * when the BLAS runs these products.  The backward's (dx, dkernel,
 * drecurrent: a dG of B*T rows streamed from memory) stay with the BLAS on
 * AVX2: our 6x16 tiles measured 15-45% slower there than BLIS's zen3
 * kernels, which pack both operands (test/bench/RESULTS.md, 2026-12-02
 * 11:10); the forward's x . kernel gains. */
static float *rec_big_buf(seq_dtype dt, int64_t n, bool backward) {
#if REC_HAVE_PACKED
  if (dt == SEQ_F32 && n > 0 &&
      (backward ? rec_packed_isa() == REC_ISA_AVX512 : rec_packed_ok()))
    return rec_alloc(rec_packed_floats(REC_KC, n) * sizeof(float));
#else
  (void)dt;
  (void)n;
  (void)backward;
#endif
  return NULL;
}

/* One recurrent step product: C (+)= A . op(B), through the packed kernel
 * when `bp` is set, else the BLAS. */
static void rec_step_gemm(seq_dtype dt, const float *bp, int64_t m, int64_t n, int64_t k,
                           const void *a, int64_t lda, bool trans_b, const void *b, int64_t ldb,
                           bool accumulate, void *c, int64_t ldc) {
#if REC_HAVE_PACKED
  if (bp) {
    rec_sgemm_panels(m, n, k, a, lda, 1, bp, k * REC_NR, REC_NR, accumulate, c, ldc);
    return;
  }
#else
  (void)bp;
#endif
  rec_gemm(dt, false, trans_b, m, n, k, a, lda, b, ldb, accumulate ? 1.0 : 0.0, c, ldc);
}

#ifndef NDEBUG
static bool rec_is(const seq_tensor *t, seq_dtype dt, int ndim, const int64_t *shape) {
  if (!t || t->device != SEQ_CPU || t->dtype != dt || t->ndim != ndim ||
      !seq_tensor_is_contiguous(t))
    return false;
  for (int d = 0; d < ndim; d++)
    if (t->shape[d] != shape[d]) return false;
  return true;
}
#endif

/* The ids' values are the one thing the op layer does not read: each must
 * pick a row of the kernel. */
static seq_status rec_check_ids(const char *op, const seq_tensor *x, int64_t n, int64_t I) {
  if (x->dtype == SEQ_I32) {
    const int32_t *id = seq_tensor_data(x);
    for (int64_t r = 0; r < n; r++)
      if (id[r] < 0 || id[r] >= I)
        return seq_fail(SEQ_EARG,
                        "%s: input id %d at position %lld is out of range [0,%lld) "
                        "(kernel has %lld rows)",
                        op, (int)id[r], (long long)r, (long long)I, (long long)I);
  } else {
    const int64_t *id = seq_tensor_data(x);
    for (int64_t r = 0; r < n; r++)
      if (id[r] < 0 || id[r] >= I)
        return seq_fail(SEQ_EARG,
                        "%s: input id %lld at position %lld is out of range [0,%lld) "
                        "(kernel has %lld rows)",
                        op, (long long)id[r], (long long)r, (long long)I, (long long)I);
  }
  return SEQ_OK;
}

static inline int64_t rec_id(const seq_tensor *x, const void *ids, int64_t r) {
  return x->dtype == SEQ_I32 ? (int64_t)((const int32_t *)ids)[r] : ((const int64_t *)ids)[r];
}

/* Batch slice [b0,b1) owned by thread `tid` of `nt`. */
static void rec_slice(int64_t B, int tid, int nt, int64_t *b0, int64_t *b1) {
  *b0 = B * tid / nt;
  *b1 = B * (tid + 1) / nt;
}

static int rec_team_size(int64_t B) {
  int nt = seq_cpu_get_threads();
  if (nt < 1) nt = 1;
  if (nt > B) nt = (int)B;
  return nt;
}

#pragma GCC diagnostic pop

#endif
