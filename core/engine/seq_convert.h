/* seq_convert.h - float -> integer conversion, defined the same on every
 * backend: truncation toward zero, saturated at the target type's range,
 * NaN -> 0.  (C leaves an out-of-range conversion undefined - x86 gives
 * INT_MIN, a u8 cast wraps - while CUDA's cvt.rzi.sat saturates; this is the
 * saturating rule, written out so both backends compute it.)  Used for
 * casts, fills and every op that rounds a double result into an integer
 * tensor (clamp, affine, pow, reductions).  Integer -> integer conversions
 * keep C's modular wrap-around. */
#ifndef SEQ_CONVERT_H
#define SEQ_CONVERT_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define SEQ_CONVERT_FN static __host__ __device__ inline
#else
#define SEQ_CONVERT_FN static inline
#endif

SEQ_CONVERT_FN int32_t seq_f2i32(double v) {
  if (v != v) return 0;
  if (v <= -2147483648.0) return INT32_MIN;
  if (v >= 2147483647.0) return INT32_MAX;
  return (int32_t)v;
}

SEQ_CONVERT_FN int64_t seq_f2i64(double v) {
  if (v != v) return 0;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  if (v >= 9223372036854775808.0) return INT64_MAX;
  return (int64_t)v;
}

SEQ_CONVERT_FN uint8_t seq_f2u8(double v) {
  if (v != v || v <= 0.0) return 0;
  if (v >= 255.0) return 255;
  return (uint8_t)v;
}

/* Integer x^y wraps like repeated multiplication (computed mod 2^64, then
 * truncated to the element type), on every backend.  A negative y gives
 * 1/x^|y| truncated toward zero: 1 for x = 1, +-1 for x = -1, 0 otherwise
 * (and 0 for x = 0, as x / 0 gives 0). */
SEQ_CONVERT_FN uint64_t seq_ipow_wrap(int64_t x, int64_t y) {
  if (y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) ? UINT64_MAX : 1) : 0;
  uint64_t r = 1, b = (uint64_t)x;
  for (; y; y >>= 1) {
    if (y & 1) r *= b;
    b *= b;
  }
  return r;
}

/* The same for an integral double exponent (a tensor raised to a number).
 * Odd x: x^y depends on y mod 2^62 only (the order of every odd number mod
 * 2^64 divides 2^62); even x: x^y is 0 mod 2^64 from y = 64 on. */
SEQ_CONVERT_FN uint64_t seq_ipow_wrap_d(int64_t x, double y) {
  const double two62 = 4611686018427387904.0;
  if (!(y >= 0)) return seq_ipow_wrap(x, -2); /* negative or NaN powers make the op float */
  if (y < two62) return seq_ipow_wrap(x, (int64_t)y);
  return (x & 1) ? seq_ipow_wrap(x, (int64_t)fmod(y, two62)) : seq_ipow_wrap(x, 64);
}

#ifndef __cplusplus
/* SEQ_CONVERT(TO, x): x converted to type TO; the saturating rule when x is
 * floating and TO an integer type, a plain C conversion otherwise. */
#define SEQ_F2I_(TO, x, f2i) _Generic((x), float: f2i(x), double: f2i(x), default: (TO)(x))
#define SEQ_CONVERT(TO, x)                                                      \
  _Generic((TO)0, int32_t: SEQ_F2I_(TO, x, seq_f2i32), int64_t: SEQ_F2I_(TO, x, seq_f2i64), \
           uint8_t: SEQ_F2I_(TO, x, seq_f2u8), default: (TO)(x))
#endif

#endif
