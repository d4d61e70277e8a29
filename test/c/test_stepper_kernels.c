/* test_stepper_kernels.c - the generation stepper's row kernel
 * (core/cpu/cpu_stepper.c): the AVX2/FMA kernel (where CPUID has it) and the
 * scalar one against a product summed in long double, for f32 and f64,
 * over a matrix packed by seq_cpu_rowmv_pack: column counts around the
 * 8-vector panel (the padded widths the stepper makes, some with zero
 * columns), k = 0 (bias rows only), with and without the second added row. */
#define _POSIX_C_SOURCE 200112L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "cpu_stepper.h"
#include "seq_error.h"

static double value(int64_t i, int which) { return (double)((i * 7919 + which * 104729) % 2003) / 997.0 - 1.0; }

static void *aligned(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
  return p;
}

#define CHECK_ROWMV(SFX, T, TOL)                                                                   \
  static int check_##SFX(int64_t n, int64_t cols, int64_t k, bool with_b, bool simd) {                           \
    T *x = aligned(sizeof(T) * (size_t)(k ? k : 1)), *W = aligned(sizeof(T) * (size_t)(k * n + 1));  \
    T *a = aligned(sizeof(T) * (size_t)n), *b = aligned(sizeof(T) * (size_t)n);                    \
    T *P = aligned(sizeof(T) * (size_t)(k * n + 1));                                               \
    T *out = aligned(sizeof(T) * (size_t)n);                                                       \
    if (!x || !W || !a || !b || !out || !P) return 1;                                                    \
    for (int64_t i = 0; i < k; i++) x[i] = (T)value(i, 1);                                         \
    for (int64_t i = 0; i < k * n; i++) W[i] = (T)value(i, 2);                                     \
    seq_cpu_rowmv_pack(sizeof(T), k, cols, n, W, P); /* zero columns from cols on */               \
    for (int64_t j = 0; j < n; j++) {                                                              \
      a[j] = (T)value(j, 3);                                                                       \
      b[j] = (T)value(j, 4);                                                                       \
    }                                                                                              \
    seq_cpu_rowmv_##SFX(n, k, x, P, a, with_b ? b : NULL, out, simd);                           \
    int bad = 0;                                                                                   \
    for (int64_t j = 0; j < n; j++) {                                                              \
      long double want = (long double)a[j] + (with_b ? (long double)b[j] : 0);                     \
      long double mag = fabsl(want);                                                               \
      for (int64_t i = 0; i < k && j < cols; i++) {                                                \
        want += (long double)x[i] * W[i * cols + j];                                               \
        mag += fabsl((long double)x[i] * W[i * cols + j]);                                         \
      }                                                                                            \
      if (fabsl((long double)out[j] - want) > (TOL) * (mag + 1)) bad++;                            \
    }                                                                                              \
    CHECKF(bad == 0, #SFX " n=%lld cols=%lld k=%lld b=%d simd=%d: %d columns off", (long long)n,     \
           (long long)cols, (long long)k, (int)with_b, (int)simd, bad);                                                           \
    free(x);                                                                                       \
    free(W);                                                                                       \
    free(a);                                                                                       \
    free(b);                                                                                       \
    free(out);                                                                                     \
    free(P);                                                                                       \
    return 0;                                                                                      \
  }
CHECK_ROWMV(f32, float, 1e-6L)
CHECK_ROWMV(f64, double, 1e-14L)

int main(void) {
  const int64_t ns[] = {8, 16, 56, 64, 72, 136, 384, 512};
  const int64_t ks[] = {0, 1, 7, 128};
  const bool simd = seq_cpu_rowmv_simd_supported();
  if (!simd) printf("no AVX2/FMA on this CPU: the scalar kernel only\n");
  int checked = 0;
  for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
      for (int with_b = 0; with_b < 2; with_b++)
        for (int s = 0; s <= (int)simd; s++) {
          const int64_t n = ns[ni], cols = n - (int64_t)(ni % 3) * 3; /* some zero padding */
          if (check_f32(n, cols, ks[ki], with_b, s) || check_f64(n, cols, ks[ki], with_b, s)) {
            fprintf(stderr, "out of memory\n");
            return 1;
          }
          checked += 2;
        }
  printf("%d row products checked (%s)\n", checked, simd ? "AVX2/FMA and scalar" : "scalar");
  return failures ? 1 : 0;
}
