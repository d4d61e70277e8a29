/* seq_tensor.c - tensor headers, storage lifetime, views, element access. */
#include "seq_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_autograd.h"
#include "seq_backend.h"
#include "seq_checked.h"
#include "seq_convert.h"

static const struct {
  const char *name;
  size_t size;
} dtype_info[SEQ_NDTYPES] = {
    [SEQ_F32] = {"f32", 4}, [SEQ_F64] = {"f64", 8}, [SEQ_I32] = {"i32", 4},
    [SEQ_I64] = {"i64", 8}, [SEQ_U8] = {"u8", 1},
};

size_t seq_dtype_size(seq_dtype d) { return d < SEQ_NDTYPES ? dtype_info[d].size : 0; }
const char *seq_dtype_name(seq_dtype d) { return d < SEQ_NDTYPES ? dtype_info[d].name : "?"; }
bool seq_dtype_is_float(seq_dtype d) { return d == SEQ_F32 || d == SEQ_F64; }

bool seq_dtype_from_name(const char *name, seq_dtype *out) {
  static const struct {
    const char *alias;
    seq_dtype d;
  } aliases[] = {{"f32", SEQ_F32},     {"float32", SEQ_F32}, {"float", SEQ_F32},
                 {"f64", SEQ_F64},     {"float64", SEQ_F64}, {"double", SEQ_F64},
                 {"i32", SEQ_I32},     {"int32", SEQ_I32},   {"int", SEQ_I32},
                 {"i64", SEQ_I64},     {"int64", SEQ_I64},   {"long", SEQ_I64},
                 {"u8", SEQ_U8},       {"uint8", SEQ_U8},    {"byte", SEQ_U8},
                 {"bool", SEQ_U8}};
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcmp(name, aliases[i].alias) == 0) {
      *out = aliases[i].d;
      return true;
    }
  return false;
}

const char *seq_device_name(seq_device d) {
  return d == SEQ_CPU ? "cpu" : d == SEQ_CUDA ? "cuda" : "?";
}

bool seq_device_from_name(const char *name, seq_device *out) {
  if (strcmp(name, "cpu") == 0) *out = SEQ_CPU;
  else if (strcmp(name, "cuda") == 0 || strcmp(name, "gpu") == 0 || strncmp(name, "cuda:", 5) == 0)
    *out = SEQ_CUDA;
  else return false;
  return true;
}

const char *seq_shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
  size_t used = 0;
  used += (size_t)snprintf(buf + used, len - used, "[");
  for (int i = 0; i < ndim && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, i ? ",%lld" : "%lld", (long long)shape[i]);
  if (used < len) snprintf(buf + used, len - used, "]");
  return buf;
}

const char *seq_tshape(const seq_tensor *t) {
  static _Thread_local char bufs[4][96];
  static _Thread_local int next;
  char *b = bufs[next++ & 3];
  return seq_shape_str(b, sizeof bufs[0], t->ndim, t->shape);
}

int64_t seq_shape_numel(int ndim, const int64_t *shape) {
  int64_t n;
  return seq_dims_product(ndim, shape, &n) ? n : -1;
}

/* ---- storage ---- */

static size_t live_bytes[SEQ_NDEVICES];

size_t seq_storage_live_bytes(seq_device dev) { return dev < SEQ_NDEVICES ? live_bytes[dev] : 0; }

static seq_status storage_new(seq_storage **out, seq_device dev, size_t nbytes) {
  const seq_backend *be = seq_backend_get(dev);
  if (!be) return SEQ_EDEVICE;
  seq_storage *s = malloc(sizeof *s);
  if (!s) return seq_fail(SEQ_ENOMEM, "out of memory allocating a tensor header");
  s->data = NULL;
  s->nbytes = nbytes;
  s->refs = 1;
  s->device = dev;
  /* Always allocate at least one byte so 0-element tensors have a pointer. */
  seq_status st = be->alloc(&s->data, nbytes ? nbytes : 1);
  if (st != SEQ_OK) {
    free(s);
    return st;
  }
  live_bytes[dev] += nbytes;
  *out = s;
  return SEQ_OK;
}

static void storage_release(seq_storage *s) {
  if (!s || --s->refs > 0) return;
  const seq_backend *be = seq_backend_get(s->device);
  if (be) be->free(s->data, s->nbytes ? s->nbytes : 1);
  live_bytes[s->device] -= s->nbytes;
  free(s);
}

/* ---- headers ---- */

static seq_status header_new(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                             const int64_t *shape) {
  if (ndim < 0 || ndim > SEQ_MAX_DIM)
    return seq_fail(SEQ_EARG, "tensors have at most %d dims, got %d", SEQ_MAX_DIM, ndim);
  if (dtype >= SEQ_NDTYPES) return seq_fail(SEQ_EDTYPE, "unknown dtype %d", (int)dtype);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) {
      char b[96];
      return seq_fail(SEQ_EARG, "negative size in shape %s", seq_shape_str(b, sizeof b, ndim, shape));
    }
  /* Also bounds every contiguous stride below, zero dims or not. */
  int64_t numel = seq_shape_numel(ndim, shape);
  if (numel < 0) {
    char b[96];
    return seq_fail(SEQ_ENOMEM, "tensor of shape %s is too large", seq_shape_str(b, sizeof b, ndim, shape));
  }
  seq_tensor *t = calloc(1, sizeof *t);
  if (!t) return seq_fail(SEQ_ENOMEM, "out of memory allocating a tensor header");
  t->refs = 1;
  t->dtype = dtype;
  t->device = dev;
  t->ndim = ndim;
  int64_t stride = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    t->shape[i] = shape[i];
    t->stride[i] = stride;
    stride *= shape[i] ? shape[i] : 1;
  }
  t->numel = numel;
  *out = t;
  return SEQ_OK;
}

seq_status seq_tensor_empty(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                            const int64_t *shape) {
  seq_tensor *t = NULL;
  SEQ_TRY(header_new(&t, dtype, dev, ndim, shape));
  const int64_t max_bytes = (int64_t)1 << 46;
  int64_t nbytes;
  if (!seq_mul_i64(t->numel, (int64_t)seq_dtype_size(dtype), &nbytes) || nbytes > max_bytes) {
    free(t);
    char b[96];
    return seq_fail(SEQ_ENOMEM, "tensor of shape %s is too large",
                    seq_shape_str(b, sizeof b, ndim, shape));
  }
  seq_status st = storage_new(&t->storage, dev, (size_t)nbytes);
  if (st != SEQ_OK) {
    free(t);
    return st;
  }
  *out = t;
  return SEQ_OK;
}

seq_status seq_tensor_zeros(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                            const int64_t *shape) {
  SEQ_TRY(seq_tensor_empty(out, dtype, dev, ndim, shape));
  const seq_backend *be = seq_backend_get(dev);
  seq_status st = be->memset_zero((*out)->storage->data, (*out)->storage->nbytes);
  if (st != SEQ_OK) {
    seq_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

seq_status seq_tensor_full(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                           const int64_t *shape, double value) {
  SEQ_TRY(seq_tensor_empty(out, dtype, dev, ndim, shape));
  seq_status st = seq_backend_get(dev)->fill(*out, value);
  if (st != SEQ_OK) {
    seq_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

seq_status seq_tensor_empty_like(seq_tensor **out, const seq_tensor *like) {
  return seq_tensor_empty(out, like->dtype, like->device, like->ndim, like->shape);
}

seq_status seq_tensor_zeros_like(seq_tensor **out, const seq_tensor *like) {
  return seq_tensor_zeros(out, like->dtype, like->device, like->ndim, like->shape);
}

seq_status seq_tensor_from_host(seq_tensor **out, seq_dtype dtype, int ndim, const int64_t *shape,
                                const void *host, size_t nbytes) {
  seq_tensor *t;
  SEQ_TRY(seq_tensor_empty(&t, dtype, SEQ_CPU, ndim, shape));
  if (nbytes != t->storage->nbytes) {
    /* the message reads t, so it is built before t is released */
    seq_status st = seq_fail(SEQ_ESHAPE, "from_host: %zu bytes given for a %s %s tensor (%zu bytes)", nbytes,
                             seq_dtype_name(dtype), seq_tshape(t), t->storage->nbytes);
    seq_tensor_release(t);
    return st;
  }
  if (nbytes) memcpy(t->storage->data, host, nbytes);
  *out = t;
  return SEQ_OK;
}

seq_tensor *seq_tensor_retain(seq_tensor *t) {
  if (t) t->refs++;
  return t;
}

void seq_tensor_release(seq_tensor *t) {
  if (!t || --t->refs > 0) return;
  storage_release(t->storage);
  seq_tensor_release(t->grad);
  if (t->grad_fn) seq_node_release(t->grad_fn);
  free(t);
}

/* ---- layout ---- */

bool seq_tensor_is_contiguous(const seq_tensor *t) {
  if (t->numel == 0) return true;
  int64_t expected = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->stride[i] != expected) return false;
    expected *= t->shape[i];
  }
  return true;
}

bool seq_shape_equal(const seq_tensor *a, const seq_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

seq_status seq_check_dim(const char *op, const seq_tensor *t, int64_t dim, int *out) {
  int64_t d = dim < 0 ? dim + t->ndim : dim;
  if (d < 0 || d >= t->ndim)
    /* dims are numbered from 1 in messages, as in the Lua API */
    return seq_fail(SEQ_EARG, "%s: dim %lld out of range for a tensor of shape %s (dims 1 to %d, or -%d to -1)", op,
                    (long long)(dim >= 0 ? dim + 1 : dim), seq_tshape(t), t->ndim, t->ndim);
  *out = (int)d;
  return SEQ_OK;
}

/* A header sharing `t`'s storage; the caller fills shape/stride/offset. */
static seq_status view_header(seq_tensor **out, seq_tensor *t) {
  seq_tensor *v = calloc(1, sizeof *v);
  if (!v) return seq_fail(SEQ_ENOMEM, "out of memory allocating a view");
  v->refs = 1;
  v->dtype = t->dtype;
  v->device = t->device;
  v->storage = t->storage;
  v->storage->refs++;
  v->offset = t->offset;
  v->backend_aux = t->backend_aux;
  *out = v;
  return SEQ_OK;
}

seq_status seq_view_raw(seq_tensor **out, seq_tensor *t, int ndim, const int64_t *shape) {
  if (ndim > SEQ_MAX_DIM) return seq_fail(SEQ_EARG, "view: too many dims (%d)", ndim);
  if (!seq_tensor_is_contiguous(t))
    return seq_fail(SEQ_EARG, "view: tensor of shape %s is not contiguous", seq_tshape(t));
  int64_t n = seq_shape_numel(ndim, shape); /* -1 (never a match) when invalid */
  if (n != t->numel) {
    char b[96];
    return seq_fail(SEQ_ESHAPE, "view: cannot view shape %s (%lld elements) as %s", seq_tshape(t),
                    (long long)t->numel, seq_shape_str(b, sizeof b, ndim, shape));
  }
  seq_tensor *v = NULL;
  SEQ_TRY(view_header(&v, t));
  v->ndim = ndim;
  int64_t stride = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    v->shape[i] = shape[i];
    v->stride[i] = stride;
    stride *= shape[i] ? shape[i] : 1;
  }
  v->numel = n;
  *out = v;
  return SEQ_OK;
}

seq_status seq_narrow_raw(seq_tensor **out, seq_tensor *t, int dim, int64_t start, int64_t len) {
  if (dim < 0 || dim >= t->ndim)
    return seq_fail(SEQ_EARG, "narrow: dim %d out of range for shape %s", dim + 1, seq_tshape(t));
  /* start + len is never formed: it may not fit in int64 */
  if (start < 0 || len < 0 || start > t->shape[dim] || len > t->shape[dim] - start) {
    long long first = start < INT64_MAX ? (long long)start + 1 : (long long)start; /* 1-based */
    return seq_fail(SEQ_EARG, "narrow: %lld elements from position %lld out of bounds for dim %d of shape %s",
                    (long long)len, first, dim + 1, seq_tshape(t));
  }
  seq_tensor *v = NULL;
  SEQ_TRY(view_header(&v, t));
  v->ndim = t->ndim;
  memcpy(v->shape, t->shape, sizeof t->shape);
  memcpy(v->stride, t->stride, sizeof t->stride);
  v->shape[dim] = len;
  v->offset = t->offset + start * t->stride[dim];
  v->numel = seq_shape_numel(v->ndim, v->shape);
  *out = v;
  return SEQ_OK;
}

seq_status seq_window_raw(seq_tensor **out, seq_tensor *t, int dim, int64_t size, int64_t step,
                          int64_t dilation) {
  if (dim < 0 || dim >= t->ndim)
    return seq_fail(SEQ_EARG, "window: dim %d out of range for shape %s", dim + 1, seq_tshape(t));
  if (t->ndim >= SEQ_MAX_DIM) return seq_fail(SEQ_EARG, "window: too many dims (%d)", t->ndim + 1);
  if (size < 1 || step < 1 || dilation < 1)
    return seq_fail(SEQ_EARG, "window: size, step and dilation must be positive (got %lld, %lld, %lld)",
                    (long long)size, (long long)step, (long long)dilation);
  int64_t span, n = 0;
  if (!seq_mul_i64(dilation, size - 1, &span) || !seq_add_i64(span, 1, &span))
    return seq_fail(SEQ_EARG, "window: size %lld with dilation %lld is too large", (long long)size,
                    (long long)dilation);
  if (t->shape[dim] >= span) n = (t->shape[dim] - span) / step + 1;
  seq_tensor *v = NULL;
  SEQ_TRY(view_header(&v, t));
  v->ndim = t->ndim + 1;
  for (int i = 0, j = 0; i < t->ndim; i++, j++) {
    v->shape[j] = t->shape[i];
    v->stride[j] = t->stride[i];
    if (i == dim) {
      v->shape[j] = n;
      /* the products are formed only where the view spans them inside t */
      v->stride[j] = n > 1 ? t->stride[i] * step : t->stride[i];
      j++;
      v->shape[j] = size;
      v->stride[j] = n > 0 && size > 1 ? t->stride[i] * dilation : t->stride[i];
    }
  }
  v->numel = seq_shape_numel(v->ndim, v->shape);
  *out = v;
  return SEQ_OK;
}

seq_status seq_select_raw(seq_tensor **out, seq_tensor *t, int dim, int64_t index) {
  if (dim < 0 || dim >= t->ndim)
    return seq_fail(SEQ_EARG, "select: dim %d out of range for shape %s", dim + 1, seq_tshape(t));
  if (index < 0 || index >= t->shape[dim])
    return seq_fail(SEQ_EARG, "select: index %lld out of range for dim %d of shape %s",
                    (long long)index + 1, dim + 1, seq_tshape(t));
  seq_tensor *v = NULL;
  SEQ_TRY(view_header(&v, t));
  v->ndim = t->ndim - 1;
  for (int i = 0, j = 0; i < t->ndim; i++) {
    if (i == dim) continue;
    v->shape[j] = t->shape[i];
    v->stride[j] = t->stride[i];
    j++;
  }
  v->offset = t->offset + index * t->stride[dim];
  v->numel = seq_shape_numel(v->ndim, v->shape);
  *out = v;
  return SEQ_OK;
}

seq_status seq_permute_raw(seq_tensor **out, seq_tensor *t, const int *perm) {
  bool seen[SEQ_MAX_DIM] = {false};
  for (int i = 0; i < t->ndim; i++) {
    if (perm[i] < 0 || perm[i] >= t->ndim || seen[perm[i]])
      return seq_fail(SEQ_EARG, "permute: invalid permutation for shape %s", seq_tshape(t));
    seen[perm[i]] = true;
  }
  seq_tensor *v = NULL;
  SEQ_TRY(view_header(&v, t));
  v->ndim = t->ndim;
  for (int i = 0; i < t->ndim; i++) {
    v->shape[i] = t->shape[perm[i]];
    v->stride[i] = t->stride[perm[i]];
  }
  v->numel = t->numel;
  *out = v;
  return SEQ_OK;
}

/* ---- element access ---- */

static double load_elem(const void *p, seq_dtype d) {
  switch (d) {
    case SEQ_F32: return *(const float *)p;
    case SEQ_F64: return *(const double *)p;
    case SEQ_I32: return *(const int32_t *)p;
    case SEQ_I64: return (double)*(const int64_t *)p;
    case SEQ_U8: return *(const uint8_t *)p;
    default: return NAN;
  }
}

static void store_elem(void *p, seq_dtype d, double v) {
  switch (d) {
    case SEQ_F32: *(float *)p = (float)v; break;
    case SEQ_F64: *(double *)p = v; break;
    case SEQ_I32: *(int32_t *)p = seq_f2i32(v); break;
    case SEQ_I64: *(int64_t *)p = seq_f2i64(v); break;
    case SEQ_U8: *(uint8_t *)p = seq_f2u8(v); break;
    default: break;
  }
}

/* An integer is stored exactly, wrapping to narrower integer types as every
 * integer conversion does (two's complement). */
static void store_elem_int(void *p, seq_dtype d, int64_t v) {
  switch (d) {
    case SEQ_I32: *(int32_t *)p = (int32_t)(uint32_t)(uint64_t)v; break;
    case SEQ_I64: *(int64_t *)p = v; break;
    case SEQ_U8: *(uint8_t *)p = (uint8_t)(uint64_t)v; break;
    default: store_elem(p, d, (double)v); break;
  }
}

static seq_status elem_offset(const seq_tensor *t, const int64_t *index, int64_t *off) {
  int64_t o = t->offset;
  for (int i = 0; i < t->ndim; i++) {
    if (index[i] < 0 || index[i] >= t->shape[i])
      return seq_fail(SEQ_EARG, "index %lld out of range for dim %d of shape %s",
                      (long long)index[i] + 1, i + 1, seq_tshape(t));
    o += index[i] * t->stride[i];
  }
  *off = o;
  return SEQ_OK;
}

seq_status seq_tensor_get(const seq_tensor *t, const int64_t *index, double *value) {
  int64_t off = 0;
  SEQ_TRY(elem_offset(t, index, &off));
  size_t es = seq_dtype_size(t->dtype);
  const char *src = (const char *)t->storage->data + off * (int64_t)es;
  if (t->device == SEQ_CPU) {
    *value = load_elem(src, t->dtype);
    return SEQ_OK;
  }
  char tmp[8];
  SEQ_TRY(seq_backend_get(t->device)->download(tmp, src, es));
  *value = load_elem(tmp, t->dtype);
  return SEQ_OK;
}

seq_status seq_tensor_get_int(const seq_tensor *t, const int64_t *index, int64_t *value) {
  if (seq_dtype_is_float(t->dtype))
    return seq_fail(SEQ_EDTYPE, "get_int: the tensor is %s, not an integer type", seq_dtype_name(t->dtype));
  int64_t off = 0;
  SEQ_TRY(elem_offset(t, index, &off));
  size_t es = seq_dtype_size(t->dtype);
  const char *src = (const char *)t->storage->data + off * (int64_t)es;
  char tmp[8];
  if (t->device != SEQ_CPU) {
    SEQ_TRY(seq_backend_get(t->device)->download(tmp, src, es));
    src = tmp;
  }
  switch (t->dtype) {
    case SEQ_I32: *value = *(const int32_t *)src; break;
    case SEQ_I64: *value = *(const int64_t *)src; break;
    default: *value = *(const uint8_t *)src; break;
  }
  return SEQ_OK;
}

seq_status seq_tensor_set(seq_tensor *t, const int64_t *index, double value) {
  int64_t off = 0;
  SEQ_TRY(elem_offset(t, index, &off));
  size_t es = seq_dtype_size(t->dtype);
  char *dst = (char *)t->storage->data + off * (int64_t)es;
  if (t->device == SEQ_CPU) {
    store_elem(dst, t->dtype, value);
    return SEQ_OK;
  }
  char tmp[8];
  store_elem(tmp, t->dtype, value);
  return seq_backend_get(t->device)->upload(dst, tmp, es);
}

seq_status seq_tensor_set_int(seq_tensor *t, const int64_t *index, int64_t value) {
  int64_t off = 0;
  SEQ_TRY(elem_offset(t, index, &off));
  size_t es = seq_dtype_size(t->dtype);
  char *dst = (char *)t->storage->data + off * (int64_t)es;
  if (t->device == SEQ_CPU) {
    store_elem_int(dst, t->dtype, value);
    return SEQ_OK;
  }
  char tmp[8];
  store_elem_int(tmp, t->dtype, value);
  return seq_backend_get(t->device)->upload(dst, tmp, es);
}

seq_status seq_tensor_read_flat(const seq_tensor *t, int64_t flat, double *value) {
  int64_t index[SEQ_MAX_DIM];
  for (int i = t->ndim - 1; i >= 0; i--) {
    index[i] = t->shape[i] ? flat % t->shape[i] : 0;
    flat = t->shape[i] ? flat / t->shape[i] : 0;
  }
  return seq_tensor_get(t, index, value);
}

double seq_tensor_get_flat(const seq_tensor *t, int64_t flat) {
  double v = NAN;
  if (seq_tensor_read_flat(t, flat, &v) != SEQ_OK) return NAN;
  return v;
}
