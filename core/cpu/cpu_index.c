/* cpu_index.c - index_select / index_add (rows picked by ids) and
 * gather / scatter_add (torch semantics).  All operands contiguous; ids are
 * i32 or i64 and are range-checked before any write. */
#include <string.h>

#include "cpu_kernels.h"

static inline int64_t id_at(const seq_tensor *idx, int64_t i) {
  return idx->dtype == SEQ_I32 ? ((const int32_t *)seq_tensor_data(idx))[i]
                               : ((const int64_t *)seq_tensor_data(idx))[i];
}

static seq_status check_ids(const char *op, const seq_tensor *idx, int64_t limit) {
  if (idx->dtype != SEQ_I32 && idx->dtype != SEQ_I64)
    return seq_fail(SEQ_EDTYPE, "%s: ids must be i32 or i64, got %s", op, seq_dtype_name(idx->dtype));
  for (int64_t i = 0; i < idx->numel; i++) {
    int64_t v = id_at(idx, i);
    if (v < 0 || v >= limit)
      return seq_fail(SEQ_EARG, "%s: id %lld out of range [0, %lld)", op, (long long)v, (long long)limit);
  }
  return SEQ_OK;
}

static void split(const seq_tensor *t, int dim, int64_t *outer, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int i = 0; i < dim; i++) *outer *= t->shape[i];
  for (int i = dim + 1; i < t->ndim; i++) *inner *= t->shape[i];
}

seq_status seq_cpu_index_select(seq_tensor *out, const seq_tensor *src, int dim,
                                const seq_tensor *idx) {
  SEQ_TRY(check_ids("index_select", idx, src->shape[dim]));
  int64_t outer, inner;
  split(src, dim, &outer, &inner);
  const int64_t n = idx->numel, len = src->shape[dim];
  const size_t es = seq_dtype_size(src->dtype), row = (size_t)inner * es;
  const char *s = seq_tensor_data(src);
  char *o = seq_tensor_data(out);
#pragma omp parallel for schedule(static) if (outer * n * inner >= 65536)
  for (int64_t oi = 0; oi < outer * n; oi++) {
    int64_t a = oi / n, j = oi % n;
    memcpy(o + (size_t)oi * row, s + ((size_t)a * len + (size_t)id_at(idx, j)) * row, row);
  }
  return SEQ_OK;
}

#define ADD_ROWS(T)                                                                   \
  {                                                                                   \
    T *d = seq_tensor_data(dst);                                                      \
    const T *s = seq_tensor_data(src);                                                \
    for (int64_t a = 0; a < outer; a++)                                               \
      for (int64_t j = 0; j < n; j++) {                                               \
        T *dr = d + (a * len + id_at(idx, j)) * inner;                                \
        const T *sr = s + (a * n + j) * inner;                                        \
        for (int64_t k = 0; k < inner; k++) dr[k] += sr[k];                           \
      }                                                                               \
  }

seq_status seq_cpu_index_add(seq_tensor *dst, int dim, const seq_tensor *idx, const seq_tensor *src) {
  SEQ_TRY(check_ids("index_add", idx, dst->shape[dim]));
  int64_t outer, inner;
  split(dst, dim, &outer, &inner);
  const int64_t n = idx->numel, len = dst->shape[dim];
  switch (dst->dtype) {
    case SEQ_F32: ADD_ROWS(float); break;
    case SEQ_F64: ADD_ROWS(double); break;
    case SEQ_I32: ADD_ROWS(int32_t); break;
    case SEQ_I64: ADD_ROWS(int64_t); break;
    case SEQ_U8: ADD_ROWS(uint8_t); break;
    default: return seq_fail(SEQ_EDTYPE, "index_add: unsupported dtype");
  }
  return SEQ_OK;
}

/* gather/scatter: idx has the same rank as src; out/src positions map by
 * replacing coordinate `dim` with the id. */
#define GATHER(T)                                                                     \
  {                                                                                   \
    T *o = seq_tensor_data(out);                                                      \
    const T *s = seq_tensor_data(src);                                                \
    for (int64_t a = 0; a < outer; a++)                                               \
      for (int64_t j = 0; j < n; j++)                                                 \
        for (int64_t k = 0; k < inner; k++) {                                         \
          int64_t p = (a * n + j) * inner + k;                                        \
          o[p] = s[(a * len + id_at(idx, p)) * sinner + k];                           \
        }                                                                             \
  }

static seq_status check_gather_shapes(const char *op, const seq_tensor *src, int dim,
                                      const seq_tensor *idx) {
  if (idx->ndim != src->ndim)
    return seq_fail(SEQ_ESHAPE, "%s: ids of shape %s and tensor of shape %s differ in rank", op,
                    seq_tshape(idx), seq_tshape(src));
  for (int i = 0; i < src->ndim; i++)
    if (i != dim && idx->shape[i] != src->shape[i])
      return seq_fail(SEQ_ESHAPE, "%s: ids of shape %s must match tensor of shape %s outside dim %d", op,
                      seq_tshape(idx), seq_tshape(src), i + 1);
  return SEQ_OK;
}

seq_status seq_cpu_gather(seq_tensor *out, const seq_tensor *src, int dim, const seq_tensor *idx) {
  SEQ_TRY(check_gather_shapes("gather", src, dim, idx));
  SEQ_TRY(check_ids("gather", idx, src->shape[dim]));
  /* The op layer passes src narrowed to idx's shape outside `dim`. */
  int64_t outer, inner, sinner = 1;
  split(idx, dim, &outer, &inner);
  for (int i = dim + 1; i < src->ndim; i++) sinner *= src->shape[i];
  if (sinner != inner) return seq_fail(SEQ_ESHAPE, "gather: inner dims must match");
  const int64_t n = idx->shape[dim], len = src->shape[dim];
  switch (src->dtype) {
    case SEQ_F32: GATHER(float); break;
    case SEQ_F64: GATHER(double); break;
    case SEQ_I32: GATHER(int32_t); break;
    case SEQ_I64: GATHER(int64_t); break;
    case SEQ_U8: GATHER(uint8_t); break;
    default: return seq_fail(SEQ_EDTYPE, "gather: unsupported dtype");
  }
  return SEQ_OK;
}

#define SCATTER(T)                                                                    \
  {                                                                                   \
    T *d = seq_tensor_data(dst);                                                      \
    const T *s = seq_tensor_data(src);                                                \
    for (int64_t a = 0; a < outer; a++)                                               \
      for (int64_t j = 0; j < n; j++)                                                 \
        for (int64_t k = 0; k < inner; k++) {                                         \
          int64_t p = (a * n + j) * inner + k;                                        \
          d[(a * len + id_at(idx, p)) * inner + k] += s[p];                           \
        }                                                                             \
  }

seq_status seq_cpu_scatter_add(seq_tensor *dst, int dim, const seq_tensor *idx, const seq_tensor *src) {
  SEQ_TRY(check_gather_shapes("scatter_add", dst, dim, idx));
  SEQ_TRY(check_ids("scatter_add", idx, dst->shape[dim]));
  int64_t outer, inner, dinner = 1;
  split(idx, dim, &outer, &inner);
  for (int i = dim + 1; i < dst->ndim; i++) dinner *= dst->shape[i];
  if (dinner != inner || !seq_shape_equal(idx, src))
    return seq_fail(SEQ_ESHAPE, "scatter_add: ids %s and source %s must have the same shape and match %s outside dim %d",
                    seq_tshape(idx), seq_tshape(src), seq_tshape(dst), dim + 1);
  const int64_t n = idx->shape[dim], len = dst->shape[dim];
  switch (dst->dtype) {
    case SEQ_F32: SCATTER(float); break;
    case SEQ_F64: SCATTER(double); break;
    case SEQ_I32: SCATTER(int32_t); break;
    case SEQ_I64: SCATTER(int64_t); break;
    case SEQ_U8: SCATTER(uint8_t); break;
    default: return seq_fail(SEQ_EDTYPE, "scatter_add: unsupported dtype");
  }
  return SEQ_OK;
}
