/* cpu_stepper.c - the one-row kernels of the generation stepper (see
 * cpu_stepper.h).
 *
 * The recurrent product of one character is a row times a matrix (1x128 by
 * 128x512 for the char-RNN).  A BLAS sgemv at M = 1 pays its dispatch and
 * checks on every call (33 k instructions per character measured); here
 * each block of 8 vectors of output columns stays in 8 accumulators while
 * the k rows of its panel stream past, one broadcast and 8 FMAs per row.
 * The panels (packed once by the stepper) are read front to back, one
 * sequential stream per block for the prefetchers.  At the char-RNN's size
 * the recurrent matrix (256 KB) lives in L2 and its reading bounds a step:
 * ~5.7 us per character here against ~2.6 us with a quarter of the bytes
 * (LSTM(64)), ~21 us once it spills to L3 (LSTM(256), 1 MB).  Picked by CPUID
 * (AVX2 and FMA, as cpu_gemm_tiles.c), with a scalar loop elsewhere. */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"
#include "cpu_stepper.h"
#include "cpu_vmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define ROWMV_HAVE_AVX2 1
#include <immintrin.h>
#else
#define ROWMV_HAVE_AVX2 0
#endif

bool seq_cpu_rowmv_simd_supported(void) { return ROWMV_HAVE_AVX2 && seq_cpu_gemm_tiles_supported(); }

#define ROWMV_BLOCK 8 /* vectors of output columns per block: 8 independent FMA chains */

/* Lanes of a 256-bit vector. */
static int64_t rowmv_lanes(size_t es) { return (int64_t)(32 / es); }

/* Width of the panel starting at column j of n. */
static int64_t rowmv_panel(int64_t j, int64_t n, int64_t lanes) {
  return j + ROWMV_BLOCK * lanes <= n ? ROWMV_BLOCK * lanes : lanes;
}

void seq_cpu_rowmv_pack(size_t es, int64_t k, int64_t cols, int64_t n, const void *src, void *dst) {
  const int64_t L = rowmv_lanes(es);
  const char *s = src;
  char *d = dst;
  for (int64_t j = 0; j < n;) {
    const int64_t w = rowmv_panel(j, n, L);
    const int64_t real = cols - j < w ? (cols - j > 0 ? cols - j : 0) : w;
    for (int64_t i = 0; i < k; i++) {
      char *row = d + (size_t)(j * k + i * w) * es;
      if (real > 0) memcpy(row, s + (size_t)(i * cols + j) * es, (size_t)real * es);
      memset(row + (size_t)real * es, 0, (size_t)(w - real) * es);
    }
    j += w;
  }
}

/* The scalar kernel, for any CPU: the same panels, one column at a time. */
#define ROWMV_SCALAR(SFX, T)                                                                      \
  static void rowmv_scalar_##SFX(int64_t n, int64_t k, const T *x, const T *W, const T *a,        \
                                 const T *b, T *out) {                                            \
    const int64_t L = rowmv_lanes(sizeof(T));                                                     \
    for (int64_t j = 0; j < n; j++) out[j] = b ? a[j] + b[j] : a[j];                              \
    for (int64_t j = 0; j < n;) {                                                                 \
      const int64_t w = rowmv_panel(j, n, L);                                                     \
      const T *p = W + j * k;                                                                     \
      for (int64_t i = 0; i < k; i++, p += w)                                                     \
        for (int64_t c = 0; c < w; c++) out[j + c] += x[i] * p[c];                                \
      j += w;                                                                                     \
    }                                                                                             \
  }
ROWMV_SCALAR(f32, float)
ROWMV_SCALAR(f64, double)
#undef ROWMV_SCALAR

#if ROWMV_HAVE_AVX2
/* V: the 256-bit type, L lanes; LOAD/STORE aligned (the stepper's rows are),
 * SET1 broadcast, ADD, FMA(a, b, c) = a * b + c. */
#define ROWMV_AVX2(SFX, T, V, L, LOAD, STORE, SET1, ADD, FMA)                                    \
  __attribute__((target("avx2,fma"), optimize("O3"))) static void rowmv_avx2_##SFX(               \
      int64_t n, int64_t k, const T *x, const T *W, const T *a, const T *b, T *out) {             \
    int64_t j = 0;                                                                                \
    for (; j + ROWMV_BLOCK * (L) <= n; j += ROWMV_BLOCK * (L)) {                                  \
      V acc[ROWMV_BLOCK];                                                                         \
      _Pragma("GCC unroll 8") for (int q = 0; q < ROWMV_BLOCK; q++) {                             \
        acc[q] = LOAD(a + j + q * (L));                                                           \
        if (b) acc[q] = ADD(acc[q], LOAD(b + j + q * (L)));                                       \
      }                                                                                           \
      const T *w = W + j * k;                                                                     \
      for (int64_t i = 0; i < k; i++, w += ROWMV_BLOCK * (L)) {                                   \
        const V xi = SET1(x[i]);                                                                  \
        _Pragma("GCC unroll 8") for (int q = 0; q < ROWMV_BLOCK; q++) acc[q] =                    \
            FMA(xi, LOAD(w + q * (L)), acc[q]);                                                   \
      }                                                                                           \
      _Pragma("GCC unroll 8") for (int q = 0; q < ROWMV_BLOCK; q++) STORE(out + j + q * (L),      \
                                                                          acc[q]);               \
    }                                                                                             \
    for (; j < n; j += (L)) { /* the last columns, one vector panel at a time */                  \
      V acc = LOAD(a + j);                                                                        \
      if (b) acc = ADD(acc, LOAD(b + j));                                                         \
      const T *w = W + j * k;                                                                     \
      for (int64_t i = 0; i < k; i++, w += (L)) acc = FMA(SET1(x[i]), LOAD(w), acc);              \
      STORE(out + j, acc);                                                                        \
    }                                                                                             \
  }
ROWMV_AVX2(f32, float, __m256, 8, _mm256_load_ps, _mm256_store_ps, _mm256_set1_ps, _mm256_add_ps,
           _mm256_fmadd_ps)
ROWMV_AVX2(f64, double, __m256d, 4, _mm256_load_pd, _mm256_store_pd, _mm256_set1_pd, _mm256_add_pd,
           _mm256_fmadd_pd)
#undef ROWMV_AVX2
#endif

#if ROWMV_HAVE_AVX2
#define ROWMV_SIMD_CALL(SFX)                      \
  if (simd) {                                     \
    rowmv_avx2_##SFX(n, k, x, W, a, b, out);      \
    return;                                       \
  }
#else
#define ROWMV_SIMD_CALL(SFX)
#endif
#define ROWMV_DISPATCH(SFX, T)                                                                     \
  void seq_cpu_rowmv_##SFX(int64_t n, int64_t k, const T *x, const T *W, const T *a, const T *b,   \
                           T *out, bool simd) {                                                    \
    ROWMV_SIMD_CALL(SFX)                                                                           \
    rowmv_scalar_##SFX(n, k, x, W, a, b, out);                                                     \
  }
ROWMV_DISPATCH(f32, float)
ROWMV_DISPATCH(f64, double)
#undef ROWMV_DISPATCH
#undef ROWMV_SIMD_CALL

/* ------------------------------------------------------------ gate rows
 * f32 with cpu_vmath.h's polynomials (the fused kernels' own), f64 with
 * libm, as cpu_lstm.c and cpu_rnn.c do. */

#define STEPPER_ROWS(SFX, T, SIGMOID, TANH, EXP, CLONES)                                          \
  CLONES void seq_cpu_lstm_row_##SFX(int64_t H, const T *z, T *c, T *h) {                         \
    for (int64_t j = 0; j < H; j++) {                                                             \
      T i = SIGMOID(z[j]), f = SIGMOID(z[H + j]), g = TANH(z[2 * H + j]), o = SIGMOID(z[3 * H + j]); \
      T cn = f * c[j] + i * g;                                                                    \
      c[j] = cn;                                                                                  \
      h[j] = o * TANH(cn);                                                                        \
    }                                                                                             \
  }                                                                                               \
                                                                                                  \
  CLONES void seq_cpu_gru_row_##SFX(int64_t H, const T *gx, const T *gh, T *h) {                  \
    const T one = 1;                                                                              \
    for (int64_t j = 0; j < H; j++) {                                                             \
      T zz = SIGMOID(gx[j] + gh[j]), r = SIGMOID(gx[H + j] + gh[H + j]);                          \
      T hh = TANH(gx[2 * H + j] + r * gh[2 * H + j]);                                             \
      h[j] = zz * h[j] + (one - zz) * hh;                                                         \
    }                                                                                             \
  }                                                                                               \
                                                                                                  \
  CLONES void seq_cpu_row_activate_##SFX(seq_cpu_row_act act, int64_t n, T *x) {                  \
    switch (act) {                                                                                \
      case SEQ_CPU_ROW_LINEAR: return;                                                            \
      case SEQ_CPU_ROW_SIGMOID:                                                                   \
        for (int64_t j = 0; j < n; j++) x[j] = SIGMOID(x[j]);                                     \
        return;                                                                                   \
      case SEQ_CPU_ROW_TANH:                                                                      \
        for (int64_t j = 0; j < n; j++) x[j] = TANH(x[j]);                                        \
        return;                                                                                   \
      case SEQ_CPU_ROW_RELU:                                                                      \
        for (int64_t j = 0; j < n; j++) x[j] = x[j] > 0 ? x[j] : 0;                               \
        return;                                                                                   \
      case SEQ_CPU_ROW_SOFTMAX: {                                                                 \
        T top = x[0];                                                                             \
        for (int64_t j = 1; j < n; j++) top = x[j] > top ? x[j] : top;                            \
        double sum = 0;                                                                           \
        for (int64_t j = 0; j < n; j++) {                                                         \
          x[j] = EXP(x[j] - top);                                                                 \
          sum += (double)x[j];                                                                    \
        }                                                                                         \
        const T inv = (T)(1.0 / sum);                                                             \
        for (int64_t j = 0; j < n; j++) x[j] *= inv;                                              \
        return;                                                                                   \
      }                                                                                           \
    }                                                                                             \
  }

STEPPER_ROWS(f32, float, seq_vsigmoidf, seq_vtanhf, seq_vexpf, SEQ_VMATH_CLONES)
STEPPER_ROWS(f64, double, seq_sigmoid_f64, tanh, exp, )
#undef STEPPER_ROWS
