/* seq_checked.h - overflow-checked size arithmetic.
 *
 * Every size, stride, offset or byte count computed from numbers that came
 * from outside (shapes from Lua or a file, narrow bounds, image sizes) goes
 * through these helpers: a product or sum that does not fit reports false
 * instead of wrapping into a small, valid-looking size.  Header-only and
 * tensor-free so core/io can use it too. */
#ifndef SEQ_CHECKED_H
#define SEQ_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* *out = a * b; false when the exact product does not fit. */
static inline bool seq_mul_i64(int64_t a, int64_t b, int64_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}

/* *out = a + b; false when the exact sum does not fit. */
static inline bool seq_add_i64(int64_t a, int64_t b, int64_t *out) {
  return !__builtin_add_overflow(a, b, out);
}

static inline bool seq_mul_size(size_t a, size_t b, size_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}

static inline bool seq_add_size(size_t a, size_t b, size_t *out) {
  return !__builtin_add_overflow(a, b, out);
}

/* a * b * c in size_t (image buffers: width * height * channels). */
static inline bool seq_mul3_size(size_t a, size_t b, size_t c, size_t *out) {
  size_t ab;
  return seq_mul_size(a, b, &ab) && seq_mul_size(ab, c, out);
}

/* Product of `n` dims; false when a dim is negative or the product of the
 * non-zero dims overflows (so contiguous strides fit too, even when a zero
 * dim makes the element count 0). */
static inline bool seq_dims_product(int n, const int64_t *dims, int64_t *out) {
  int64_t nonzero = 1;
  bool has_zero = false;
  for (int i = 0; i < n; i++) {
    if (dims[i] < 0) return false;
    if (dims[i] == 0) has_zero = true;
    else if (!seq_mul_i64(nonzero, dims[i], &nonzero)) return false;
  }
  *out = has_zero ? 0 : nonzero;
  return true;
}

#endif
