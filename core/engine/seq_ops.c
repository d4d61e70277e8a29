/* seq_ops.c - creation, RNG, device moves, casts and copies. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "seq_ops.h"

/* ---- RNG state: one global Philox stream (seed, offset) ---- */

static uint64_t rng_seed = 0x5EC1A5EEDull;
static uint64_t rng_offset = 0;

void seq_manual_seed(uint64_t seed) {
  rng_seed = seed;
  rng_offset = 0;
}
uint64_t seq_rng_seed(void) { return rng_seed; }
uint64_t seq_rng_offset(void) { return rng_offset; }
void seq_rng_set_state(uint64_t seed, uint64_t offset) {
  rng_seed = seed;
  rng_offset = offset;
}
uint64_t seq_rng_reserve(uint64_t n) {
  uint64_t first = rng_offset;
  rng_offset += n;
  return first;
}

seq_status seq_rand_uniform(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                            const int64_t *shape, double lo, double hi) {
  if (!seq_dtype_is_float(dtype))
    return seq_fail(SEQ_EDTYPE, "rand: dtype must be f32 or f64, got %s", seq_dtype_name(dtype));
  SEQ_TRY(seq_tensor_empty(out, dtype, dev, ndim, shape));
  uint64_t off = seq_rng_reserve((uint64_t)(*out)->numel);
  seq_status st = seq_backend_get(dev)->rand_uniform(*out, rng_seed, off, lo, hi);
  if (st != SEQ_OK) {
    seq_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

seq_status seq_rand_normal(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                           const int64_t *shape, double mean, double std) {
  if (!seq_dtype_is_float(dtype))
    return seq_fail(SEQ_EDTYPE, "randn: dtype must be f32 or f64, got %s", seq_dtype_name(dtype));
  SEQ_TRY(seq_tensor_empty(out, dtype, dev, ndim, shape));
  uint64_t off = seq_rng_reserve((uint64_t)(*out)->numel);
  seq_status st = seq_backend_get(dev)->rand_normal(*out, rng_seed, off, mean, std);
  if (st != SEQ_OK) {
    seq_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

seq_status seq_arange(seq_tensor **out, double start, double stop, double step, seq_dtype dtype,
                      seq_device dev) {
  if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(stop))
    return seq_fail(SEQ_EARG, "arange: step must be finite and non-zero");
  double count = ceil((stop - start) / step);
  if (count < 0) count = 0;
  if (count > 1e12) return seq_fail(SEQ_EARG, "arange: too many elements (%g)", count);
  int64_t n = (int64_t)count;
  seq_tensor *host;
  SEQ_TRY(seq_tensor_empty(&host, SEQ_F64, SEQ_CPU, 1, &n));
  double *p = seq_tensor_data(host);
  for (int64_t i = 0; i < n; i++) p[i] = start + (double)i * step;
  seq_tensor *cast;
  seq_status st = seq_cast(&cast, host, dtype);
  seq_tensor_release(host);
  if (st != SEQ_OK) return st;
  st = seq_to_device(out, cast, dev);
  seq_tensor_release(cast);
  return st;
}

/* ---- contiguous / clone / copy ---- */

seq_status seq_contiguous(seq_tensor **out, seq_tensor *t) {
  if (seq_tensor_is_contiguous(t)) {
    *out = seq_tensor_retain(t);
    return SEQ_OK;
  }
  return seq_clone(out, t);
}

static seq_status backward_identity(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  gi[0] = seq_tensor_retain(g[0]);
  return SEQ_OK;
}

seq_status seq_clone(seq_tensor **out, seq_tensor *t) {
  seq_tensor *r;
  SEQ_TRY(seq_tensor_empty_like(&r, t));
  seq_status st = seq_backend_get(t->device)->copy(r, t);
  if (st == SEQ_OK && seq_needs_grad(1, &t))
    st = seq_node_record("clone", backward_identity, 1, &t, 1, &r, NULL);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  *out = r;
  return SEQ_OK;
}

seq_status seq_detach(seq_tensor **out, seq_tensor *t) {
  /* A view sharing storage, without grad history. */
  seq_tensor *v;
  int identity[SEQ_MAX_DIM];
  for (int i = 0; i < SEQ_MAX_DIM; i++) identity[i] = i;
  SEQ_TRY(seq_permute_raw(&v, t, identity));
  v->requires_grad = false;
  *out = v;
  return SEQ_OK;
}

seq_status seq_copy_(seq_tensor *dst, seq_tensor *src) {
  if (dst->device != src->device)
    return seq_fail(SEQ_EDEVICE, "copy: destination on %s, source on %s",
                    seq_device_name(dst->device), seq_device_name(src->device));
  seq_tensor *b = src;
  bool own = false;
  if (!seq_shape_equal(dst, src)) {
    SEQ_TRY(seq_expand(&b, src, dst->ndim, dst->shape));
    own = true;
  }
  seq_status st = seq_backend_get(dst->device)->copy(dst, b);
  if (own) seq_tensor_release(b);
  return st;
}

seq_status seq_fill_(seq_tensor *dst, double value) {
  return seq_backend_get(dst->device)->fill(dst, value);
}

/* Backends fill from a double, exact for integers up to 2^53; beyond that
 * the value goes in as a one-element i64 tensor, cast (wrapping) and
 * expanded into dst. */
seq_status seq_fill_int_(seq_tensor *dst, int64_t value) {
  const int64_t exact = (int64_t)1 << 53;
  if (seq_dtype_is_float(dst->dtype) || (value >= -exact && value <= exact))
    return seq_fill_(dst, (double)value);
  seq_tensor *one = NULL, *cast = NULL, *moved = NULL;
  seq_status st = seq_tensor_from_host(&one, SEQ_I64, 0, NULL, &value, sizeof value);
  if (st == SEQ_OK) st = seq_cast(&cast, one, dst->dtype);
  if (st == SEQ_OK) st = seq_to_device(&moved, cast, dst->device);
  if (st == SEQ_OK) st = seq_copy_(dst, moved);
  seq_tensor_release(one);
  seq_tensor_release(cast);
  seq_tensor_release(moved);
  return st;
}

seq_status seq_full_int(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim, const int64_t *shape,
                        int64_t value) {
  SEQ_TRY(seq_tensor_empty(out, dtype, dev, ndim, shape));
  seq_status st = seq_fill_int_(*out, value);
  if (st != SEQ_OK) {
    seq_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* ---- casts ---- */

static seq_status backward_cast(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  return seq_cast(&gi[0], g[0], n->inputs[0]->dtype);
}

seq_status seq_cast(seq_tensor **out, seq_tensor *t, seq_dtype dtype) {
  if (dtype >= SEQ_NDTYPES) return seq_fail(SEQ_EDTYPE, "cast: unknown dtype");
  if (t->dtype == dtype) {
    *out = seq_tensor_retain(t);
    return SEQ_OK;
  }
  seq_tensor *r;
  SEQ_TRY(seq_tensor_empty(&r, dtype, t->device, t->ndim, t->shape));
  seq_status st = seq_backend_get(t->device)->copy(r, t);
  if (st == SEQ_OK && seq_dtype_is_float(dtype) && seq_dtype_is_float(t->dtype) && seq_needs_grad(1, &t))
    st = seq_node_record("cast", backward_cast, 1, &t, 1, &r, NULL);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  *out = r;
  return SEQ_OK;
}

/* ---- device moves ---- */

static seq_status backward_to_device(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  return seq_to_device(&gi[0], g[0], n->inputs[0]->device);
}

seq_status seq_to_device(seq_tensor **out, seq_tensor *t, seq_device dev) {
  if (t->device == dev) {
    *out = seq_tensor_retain(t);
    return SEQ_OK;
  }
  const seq_backend *dst_be = seq_backend_get(dev);
  if (!dst_be) return SEQ_EDEVICE;
  const seq_backend *src_be = seq_backend_get(t->device);
  if (!src_be) return SEQ_EDEVICE;
  seq_tensor *c;
  SEQ_TRY(seq_contiguous(&c, t));
  seq_tensor *r = NULL;
  seq_status st = seq_tensor_empty(&r, t->dtype, dev, t->ndim, t->shape);
  size_t nbytes = (size_t)t->numel * seq_dtype_size(t->dtype);
  if (st == SEQ_OK && nbytes) {
    if (t->device == SEQ_CPU) st = dst_be->upload(seq_tensor_data(r), seq_tensor_data(c), nbytes);
    else if (dev == SEQ_CPU) st = src_be->download(seq_tensor_data(r), seq_tensor_data(c), nbytes);
    else st = seq_fail(SEQ_EDEVICE, "to: no direct path from %s to %s", seq_device_name(t->device), seq_device_name(dev));
  }
  seq_tensor_release(c);
  if (st == SEQ_OK && seq_needs_grad(1, &t))
    st = seq_node_record("to", backward_to_device, 1, &t, 1, &r, NULL);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  *out = r;
  return SEQ_OK;
}
