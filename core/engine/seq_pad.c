/* seq_pad.c - keras.utils.pad_sequences in C (see seq_pad.h).
 *
 * The hot case (i32 ids -> i32 rows, 25,000 x 500) is one fill and one
 * memcpy per row; mixed dtypes go through double, which is exact for every
 * id and label we meet (|x| < 2^53). */
#include "seq_pad.h"

#include <math.h>
#include <string.h>

#include "seq_checked.h"

bool seq_pad_side_from_name(const char *name, seq_pad_side *out) {
  if (name && strcmp(name, "pre") == 0) {
    *out = SEQ_PAD_PRE;
    return true;
  }
  if (name && strcmp(name, "post") == 0) {
    *out = SEQ_PAD_POST;
    return true;
  }
  return false;
}

seq_status seq_pad_check_offsets(const char *op, const int64_t *offsets, int64_t n, int64_t nvalues) {
  if (n < 0) return seq_fail(SEQ_EARG, "%s: negative number of sequences (%lld)", op, (long long)n);
  if (offsets[0] < 0 || offsets[0] > nvalues)
    return seq_fail(SEQ_EARG, "%s: offsets[1] = %lld is outside the %lld values", op,
                    (long long)offsets[0], (long long)nvalues);
  for (int64_t i = 0; i < n; i++) {
    if (offsets[i + 1] < offsets[i])
      return seq_fail(SEQ_EARG, "%s: offsets decrease at position %lld (%lld then %lld)", op,
                      (long long)(i + 2), (long long)offsets[i], (long long)offsets[i + 1]);
    if (offsets[i + 1] > nvalues)
      return seq_fail(SEQ_EARG, "%s: offsets[%lld] = %lld is past the %lld values", op,
                      (long long)(i + 2), (long long)offsets[i + 1], (long long)nvalues);
  }
  return SEQ_OK;
}

int64_t seq_pad_longest(const int64_t *offsets, int64_t n) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (offsets[i + 1] - offsets[i] > m) m = offsets[i + 1] - offsets[i];
  return m;
}

static double load(const void *p, seq_dtype d, int64_t i) {
  switch (d) {
  case SEQ_F32: return ((const float *)p)[i];
  case SEQ_F64: return ((const double *)p)[i];
  case SEQ_I32: return ((const int32_t *)p)[i];
  case SEQ_I64: return (double)((const int64_t *)p)[i];
  case SEQ_U8: return ((const uint8_t *)p)[i];
  default: return 0;
  }
}

/* Whether x converts to integer dtype d without overflow (after truncation). */
static bool fits(double x, seq_dtype d) {
  if (d == SEQ_F32 || d == SEQ_F64) return true;
  if (!isfinite(x)) return false;
  double t = trunc(x);
  switch (d) {
  case SEQ_I32: return t >= -2147483648.0 && t <= 2147483647.0;
  case SEQ_I64: return t >= -9223372036854775808.0 && t < 9223372036854775808.0;
  case SEQ_U8: return t >= 0 && t <= 255;
  default: return false;
  }
}

static void store(void *p, seq_dtype d, int64_t i, double x) {
  switch (d) {
  case SEQ_F32: ((float *)p)[i] = (float)x; break;
  case SEQ_F64: ((double *)p)[i] = x; break;
  case SEQ_I32: ((int32_t *)p)[i] = (int32_t)x; break;
  case SEQ_I64: ((int64_t *)p)[i] = (int64_t)x; break;
  case SEQ_U8: ((uint8_t *)p)[i] = (uint8_t)x; break;
  default: break;
  }
}

seq_status seq_pad_ragged_rows_raw(const void *values, seq_dtype vdtype, int64_t nsteps, int64_t row,
                                   const int64_t *offsets, int64_t n, int64_t maxlen,
                                   seq_pad_side padding, seq_pad_side truncating, double value,
                                   seq_dtype odtype, void *out) {
  const char *op = "pad_sequences";
  if (maxlen < 1)
    return seq_fail(SEQ_EARG, "%s: maxlen must be a positive integer (got %lld)", op, (long long)maxlen);
  if (row < 1)
    return seq_fail(SEQ_EARG, "%s: a time step must hold at least one element (got %lld)", op, (long long)row);
  if (vdtype >= SEQ_NDTYPES || odtype >= SEQ_NDTYPES)
    return seq_fail(SEQ_EDTYPE, "%s: unknown dtype", op);
  if (!fits(value, odtype))
    return seq_fail(SEQ_EARG, "%s: padding value %g does not fit dtype %s", op, value,
                    seq_dtype_name(odtype));
  SEQ_TRY(seq_pad_check_offsets(op, offsets, n, nsteps));
  int64_t first, end;
  if (!seq_mul_i64(offsets[0], row, &first) || !seq_mul_i64(offsets[n], row, &end))
    return seq_fail(SEQ_EARG, "%s: %lld steps of %lld elements do not fit", op, (long long)nsteps,
                    (long long)row);
  size_t osz = seq_dtype_size(odtype);
  size_t step_bytes = (size_t)row * osz;
  bool same = vdtype == odtype;
  if (!same)
    for (int64_t k = first; k < end; k++) {
      double x = load(values, vdtype, k);
      if (!fits(x, odtype))
        return seq_fail(SEQ_EARG, "%s: value %g (item %lld of the flat values) does not fit dtype %s",
                        op, x, (long long)(k + 1), seq_dtype_name(odtype));
    }
  /* The padding element once, as bytes: zero padding (the usual case)
   * becomes memset. */
  unsigned char pat[8];
  store(pat, odtype, 0, value);
  bool zero = true;
  for (size_t b = 0; b < osz; b++) zero = zero && pat[b] == 0;
  char *o = out;
  for (int64_t i = 0; i < n; i++) {
    char *r = o + (size_t)i * (size_t)maxlen * step_bytes;
    int64_t len = offsets[i + 1] - offsets[i];
    int64_t start = offsets[i], take = len;
    if (take > maxlen) {
      take = maxlen;
      if (truncating == SEQ_PAD_PRE) start = offsets[i + 1] - maxlen; /* keep the end */
    }
    int64_t dst = padding == SEQ_PAD_PRE ? maxlen - take : 0;
    /* padding: steps [0, dst) and [dst + take, maxlen) */
    int64_t pads[2][2] = {{0, dst}, {dst + take, maxlen}};
    for (int p = 0; p < 2; p++) {
      if (pads[p][1] <= pads[p][0]) continue;
      int64_t a = pads[p][0] * row, b = pads[p][1] * row;
      if (zero) {
        memset(r + (size_t)a * osz, 0, (size_t)(b - a) * osz);
      } else {
        for (int64_t j = a; j < b; j++) memcpy(r + (size_t)j * osz, pat, osz);
      }
    }
    if (same) {
      memcpy(r + (size_t)dst * step_bytes, (const char *)values + (size_t)start * step_bytes,
             (size_t)take * step_bytes);
    } else {
      for (int64_t k = 0; k < take * row; k++)
        store(r, odtype, dst * row + k, load(values, vdtype, start * row + k));
    }
  }
  return SEQ_OK;
}

seq_status seq_pad_ragged_raw(const void *values, seq_dtype vdtype, int64_t nvalues,
                              const int64_t *offsets, int64_t n, int64_t maxlen,
                              seq_pad_side padding, seq_pad_side truncating, double value,
                              seq_dtype odtype, void *out) {
  return seq_pad_ragged_rows_raw(values, vdtype, nvalues, 1, offsets, n, maxlen, padding, truncating,
                                 value, odtype, out);
}

seq_status seq_pad_sequences(seq_tensor **out, const seq_tensor *values, const seq_tensor *offsets,
                             int64_t maxlen, seq_pad_side padding, seq_pad_side truncating,
                             double value, seq_dtype dtype) {
  const char *op = "pad_sequences";
  *out = NULL;
  if (values->device != SEQ_CPU || offsets->device != SEQ_CPU)
    return seq_fail(SEQ_EDEVICE, "%s: sequences must be on the cpu (values on %s, offsets on %s)", op,
                    seq_device_name(values->device), seq_device_name(offsets->device));
  if (values->ndim < 1 || values->ndim > SEQ_MAX_DIM - 1 || !seq_tensor_is_contiguous(values))
    return seq_fail(SEQ_ESHAPE,
                    "%s: values must be a contiguous tensor of 1 to %d dims (steps, then each step's "
                    "shape), got %s",
                    op, SEQ_MAX_DIM - 1, seq_tshape(values));
  if (offsets->dtype != SEQ_I64 || offsets->ndim != 1 || offsets->numel < 1 ||
      !seq_tensor_is_contiguous(offsets))
    return seq_fail(SEQ_ESHAPE, "%s: offsets must be a contiguous 1-D i64 tensor of n+1 entries, got %s %s",
                    op, seq_dtype_name(offsets->dtype), seq_tshape(offsets));
  const int64_t *off = seq_tensor_data(offsets);
  int64_t n = offsets->numel - 1;
  int64_t nsteps = values->shape[0];
  SEQ_TRY(seq_pad_check_offsets(op, off, n, nsteps));
  if (maxlen == 0)
    return seq_fail(SEQ_EARG, "%s: maxlen must be a positive integer or nil (got 0)", op);
  bool empty = false;
  if (maxlen < 0) {
    maxlen = seq_pad_longest(off, n);
    empty = maxlen == 0; /* no sequences, or all empty: a [n, 0] result */
  }
  /* [n, maxlen, step shape...]: a step of feature vectors pads as a whole */
  int64_t shape[SEQ_MAX_DIM] = {n, maxlen};
  int64_t row = 1;
  for (int d = 1; d < values->ndim; d++) {
    shape[d + 1] = values->shape[d];
    row *= values->shape[d]; /* a factor of values->numel, which fits */
  }
  seq_tensor *t;
  SEQ_TRY(seq_tensor_empty(&t, dtype, SEQ_CPU, values->ndim + 1, shape));
  if (!empty && n > 0 && row > 0) {
    seq_status st = seq_pad_ragged_rows_raw(seq_tensor_data(values), values->dtype, nsteps, row, off, n,
                                            maxlen, padding, truncating, value, dtype, seq_tensor_data(t));
    if (st != SEQ_OK) {
      seq_tensor_release(t);
      return st;
    }
  } else if (!fits(value, dtype)) {
    seq_tensor_release(t);
    return seq_fail(SEQ_EARG, "%s: padding value %g does not fit dtype %s", op, value, seq_dtype_name(dtype));
  }
  *out = t;
  return SEQ_OK;
}
