/* cpu_vmath.h - f32 exp, sigmoid and tanh that the compiler vectorises.
 *
 * glibc's expf/tanhf are scalar calls: a loop over them runs 4-12x slower
 * than the same loop in PyTorch or NumPy, and they dominated the LSTM's
 * gate pass.  These are branch-free (selects, no calls), so a loop of them
 * becomes AVX2/AVX-512 code under SEQ_VMATH_CLONES.
 *
 * seq_vexpf is Cephes's expf polynomial, within 2 ulp of expf on
 * [-87, 88]; outside that range it clamps (e^-87, e^88; NaN stays NaN), which suits gate
 * activations, where such inputs only decide "saturated".  Generic ops that
 * must return inf, 0 or denormals out there fix those elements up with
 * libm afterwards (see cpu_elementwise.c). */
#ifndef SEQ_CPU_VMATH_H
#define SEQ_CPU_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* always_inline, not plain inline: GCC will not inline a function compiled
 * for the default target into a SEQ_VMATH_CLONES clone (the targets differ),
 * and an out-of-line call per element made a gate loop 8x slower (measured).
 * Every helper called from a cloned loop needs this. */
#define SEQ_VMATH_INLINE static inline __attribute__((always_inline))

/* The range where seq_vexpf is exact to ~1 ulp (no clamping). */
#define SEQ_VEXPF_LO (-87.0f)
#define SEQ_VEXPF_HI 88.0f

/* Multi-versioned for AVX-512, AVX2 and the baseline, picked at load time
 * (the build does not assume -march=native).  The clones are named by ISA
 * feature, never by CPU model: GCC resolves an "arch=haswell" clone with
 * __builtin_cpu_is, so every AMD CPU (and any newer Intel model GCC does not
 * list) fell back to the SSE2 baseline (test_executable checks the pick).
 * The AVX2 clone leaves FMA off, so it computes the baseline's exact bits.
 * Not under sanitizers, whose runtimes do not like ifunc resolvers. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(SEQ_SANITIZE_BUILD)
#define SEQ_VMATH_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3", "no-trapping-math")))
#else
#define SEQ_VMATH_CLONES
#endif

SEQ_VMATH_INLINE float seq_vexpf(float x) {
  x = x < SEQ_VEXPF_LO ? SEQ_VEXPF_LO : x;
  x = x > SEQ_VEXPF_HI ? SEQ_VEXPF_HI : x;
  /* n = round(x / ln 2) by the 1.5 * 2^23 trick: adding it leaves n in the
   * low mantissa bits.  No float->int conversion (undefined for a NaN, which
   * passes the clamps above and must come out as NaN) and no floorf call
   * (not inlined without SSE4.1 and fast-math). */
  const float shifter = 12582912.0f; /* 1.5 * 2^23 */
  float t = x * 1.44269504088896341f + shifter;
  float n = t - shifter;
  uint32_t tb, sb;
  memcpy(&tb, &t, sizeof tb);
  memcpy(&sb, &shifter, sizeof sb);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  uint32_t bits = (tb - sb + 127u) << 23; /* 2^n; unsigned, so any bits are defined */
  float s;
  memcpy(&s, &bits, sizeof s);
  return p * s;
}

SEQ_VMATH_INLINE float seq_vsigmoidf(float x) { return 1.0f / (1.0f + seq_vexpf(-x)); }

/* The f64 sigmoid of the gradient-check paths: libm's exact exp, written so
 * that neither branch overflows. */
static inline double seq_sigmoid_f64(double x) {
  return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* Cephes's tanhf: an odd polynomial below 0.625 (where 1 - 2/(e^2x + 1)
 * would cancel), the exp form above; within 2 ulp of tanhf. */
SEQ_VMATH_INLINE float seq_vtanhf(float x) {
  float ax = x < 0.0f ? -x : x;
  float e = seq_vexpf(ax + ax); /* clamps at e^88: the result is exactly 1 there */
  float big = 1.0f - 2.0f / (e + 1.0f);
  float z = ax * ax;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = p * z * ax + ax;
  float t = ax < 0.625f ? small : big;
  return x < 0.0f ? -t : t;
}

#endif
