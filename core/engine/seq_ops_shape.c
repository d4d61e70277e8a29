/* seq_ops_shape.c - differentiable views and shape ops, indexing. */
#include <stdlib.h>
#include <string.h>

#include "seq_checked.h"
#include "seq_ops.h"

typedef struct shape_ctx {
  int dim;
  int64_t a, b;
  int perm[SEQ_MAX_DIM];
  int n;
  int64_t sizes[64]; /* cat: sizes along dim of each input (first 64) */
} shape_ctx;

static seq_status new_ctx(seq_node *n, shape_ctx **out) {
  shape_ctx *c = calloc(1, sizeof *c);
  if (!c) return seq_fail(SEQ_ENOMEM, "out of memory");
  if (n) n->ctx = c;
  else free(c);
  *out = n ? c : NULL;
  return SEQ_OK;
}

/* Records `name` for one input and returns the ctx (NULL when no grad). */
static seq_status record1(const char *name, seq_backward_fn fn, seq_tensor *in, seq_tensor *out,
                          shape_ctx **ctx) {
  *ctx = NULL;
  if (!seq_needs_grad(1, &in)) return SEQ_OK;
  seq_node *n;
  SEQ_TRY(seq_node_record(name, fn, 1, &in, 1, &out, &n));
  return new_ctx(n, ctx);
}

#define FAIL_CLEANUP(st, t)  \
  do {                       \
    if ((st) != SEQ_OK) {    \
      seq_tensor_release(t); \
      return (st);           \
    }                        \
  } while (0)

/* ---- reshape ---- */

static seq_status backward_reshape(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  seq_tensor *in = n->inputs[0];
  return seq_reshape(&gi[0], g[0], in->ndim, in->shape);
}

seq_status seq_reshape(seq_tensor **out, seq_tensor *t, int ndim, const int64_t *shape_in) {
  if (ndim > SEQ_MAX_DIM) return seq_fail(SEQ_EARG, "reshape: at most %d dims", SEQ_MAX_DIM);
  int64_t shape[SEQ_MAX_DIM];
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < ndim; i++) {
    shape[i] = shape_in[i];
    if (shape[i] == -1) {
      if (infer >= 0) return seq_fail(SEQ_EARG, "reshape: only one dim may be -1");
      infer = i;
    } else if (shape[i] < 0) {
      return seq_fail(SEQ_EARG, "reshape: negative size %lld", (long long)shape[i]);
    } else if (!seq_mul_i64(known, shape[i], &known)) {
      char b[96];
      return seq_fail(SEQ_ESHAPE, "reshape: shape %s is too large", seq_shape_str(b, sizeof b, ndim, shape_in));
    }
  }
  if (infer >= 0) {
    if (known == 0 || t->numel % known != 0) {
      char b[96];
      return seq_fail(SEQ_ESHAPE, "reshape: cannot reshape %s into %s", seq_tshape(t),
                      seq_shape_str(b, sizeof b, ndim, shape_in));
    }
    shape[infer] = t->numel / known;
  }
  if (seq_shape_numel(ndim, shape) != t->numel) {
    char b[96];
    return seq_fail(SEQ_ESHAPE, "reshape: cannot reshape %s (%lld elements) into %s", seq_tshape(t),
                    (long long)t->numel, seq_shape_str(b, sizeof b, ndim, shape_in));
  }
  seq_tensor *c, *r;
  bool prev = seq_set_grad_enabled(false);
  seq_status st = seq_contiguous(&c, t);
  seq_set_grad_enabled(prev);
  SEQ_TRY(st);
  st = seq_view_raw(&r, c, ndim, shape);
  seq_tensor_release(c);
  SEQ_TRY(st);
  shape_ctx *ctx;
  st = record1("reshape", backward_reshape, t, r, &ctx);
  FAIL_CLEANUP(st, r);
  *out = r;
  return SEQ_OK;
}

/* ---- permute / transpose ---- */

static seq_status backward_permute(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  shape_ctx *c = n->ctx;
  int inv[SEQ_MAX_DIM];
  for (int i = 0; i < c->n; i++) inv[c->perm[i]] = i;
  return seq_permute(&gi[0], g[0], c->n, inv);
}

seq_status seq_permute(seq_tensor **out, seq_tensor *t, int ndim, const int *perm) {
  if (ndim != t->ndim)
    return seq_fail(SEQ_EARG, "permute: %d dims given for a tensor of shape %s", ndim, seq_tshape(t));
  seq_tensor *r;
  SEQ_TRY(seq_permute_raw(&r, t, perm));
  shape_ctx *ctx;
  seq_status st = record1("permute", backward_permute, t, r, &ctx);
  FAIL_CLEANUP(st, r);
  if (ctx) {
    ctx->n = ndim;
    memcpy(ctx->perm, perm, sizeof(int) * (size_t)ndim);
  }
  *out = r;
  return SEQ_OK;
}

seq_status seq_transpose(seq_tensor **out, seq_tensor *t, int64_t d0, int64_t d1) {
  int a, b;
  SEQ_TRY(seq_check_dim("transpose", t, d0, &a));
  SEQ_TRY(seq_check_dim("transpose", t, d1, &b));
  int perm[SEQ_MAX_DIM];
  for (int i = 0; i < t->ndim; i++) perm[i] = i;
  perm[a] = b;
  perm[b] = a;
  return seq_permute(out, t, t->ndim, perm);
}

/* ---- narrow / select ---- */

static seq_status backward_narrow(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  shape_ctx *c = n->ctx;
  seq_tensor *z, *v;
  SEQ_TRY(seq_tensor_zeros_like(&z, n->inputs[0]));
  seq_status st = c->n == 0 ? seq_narrow_raw(&v, z, c->dim, c->a, c->b) : seq_select_raw(&v, z, c->dim, c->a);
  if (st == SEQ_OK) {
    st = seq_copy_(v, g[0]);
    seq_tensor_release(v);
  }
  FAIL_CLEANUP(st, z);
  gi[0] = z;
  return SEQ_OK;
}

seq_status seq_narrow(seq_tensor **out, seq_tensor *t, int64_t dim, int64_t start, int64_t len) {
  int d;
  SEQ_TRY(seq_check_dim("narrow", t, dim, &d));
  seq_tensor *r;
  SEQ_TRY(seq_narrow_raw(&r, t, d, start, len));
  shape_ctx *ctx;
  seq_status st = record1("narrow", backward_narrow, t, r, &ctx);
  FAIL_CLEANUP(st, r);
  if (ctx) {
    ctx->dim = d;
    ctx->a = start;
    ctx->b = len;
    ctx->n = 0;
  }
  *out = r;
  return SEQ_OK;
}

seq_status seq_select(seq_tensor **out, seq_tensor *t, int64_t dim, int64_t index) {
  int d;
  SEQ_TRY(seq_check_dim("select", t, dim, &d));
  if (index < 0) index += t->shape[d];
  seq_tensor *r;
  SEQ_TRY(seq_select_raw(&r, t, d, index));
  shape_ctx *ctx;
  seq_status st = record1("select", backward_narrow, t, r, &ctx);
  FAIL_CLEANUP(st, r);
  if (ctx) {
    ctx->dim = d;
    ctx->a = index;
    ctx->n = 1;
  }
  *out = r;
  return SEQ_OK;
}

/* ---- squeeze / unsqueeze (reshapes) ---- */

seq_status seq_squeeze(seq_tensor **out, seq_tensor *t, int64_t dim) {
  int64_t shape[SEQ_MAX_DIM];
  int nd = 0;
  if (dim == SEQ_ALL_DIMS) {
    for (int i = 0; i < t->ndim; i++)
      if (t->shape[i] != 1) shape[nd++] = t->shape[i];
  } else {
    int d;
    SEQ_TRY(seq_check_dim("squeeze", t, dim, &d));
    for (int i = 0; i < t->ndim; i++)
      if (i != d || t->shape[i] != 1) shape[nd++] = t->shape[i];
  }
  return seq_reshape(out, t, nd, shape);
}

seq_status seq_unsqueeze(seq_tensor **out, seq_tensor *t, int64_t dim) {
  if (t->ndim >= SEQ_MAX_DIM) return seq_fail(SEQ_EARG, "unsqueeze: too many dims");
  int64_t d = dim < 0 ? dim + t->ndim + 1 : dim;
  if (d < 0 || d > t->ndim)
    return seq_fail(SEQ_EARG, "unsqueeze: dim %lld out of range for shape %s (dims 1 to %d, or -%d to -1)",
                    (long long)(dim >= 0 ? dim + 1 : dim), seq_tshape(t), t->ndim + 1, t->ndim + 1);
  int64_t shape[SEQ_MAX_DIM];
  for (int i = 0, j = 0; i <= t->ndim; i++) shape[i] = (i == d) ? 1 : t->shape[j++];
  return seq_reshape(out, t, t->ndim + 1, shape);
}

/* ---- expand (broadcast view) ---- */

static seq_status backward_expand(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  seq_tensor *in = n->inputs[0];
  return seq_sum_to_shape(&gi[0], g[0], in->ndim, in->shape);
}

seq_status seq_expand(seq_tensor **out, seq_tensor *t, int ndim, const int64_t *shape) {
  if (ndim < t->ndim || ndim > SEQ_MAX_DIM || seq_shape_numel(ndim, shape) < 0) {
    char b[96];
    return seq_fail(SEQ_ESHAPE, "expand: cannot expand %s to %s", seq_tshape(t), seq_shape_str(b, sizeof b, ndim, shape));
  }
  seq_tensor *r;
  int identity[SEQ_MAX_DIM];
  for (int i = 0; i < SEQ_MAX_DIM; i++) identity[i] = i;
  SEQ_TRY(seq_permute_raw(&r, t, identity));
  int off = ndim - t->ndim;
  for (int i = ndim - 1; i >= 0; i--) {
    int j = i - off;
    int64_t src = j >= 0 ? t->shape[j] : 1;
    int64_t sst = j >= 0 ? t->stride[j] : 0;
    if (src == shape[i]) {
      r->shape[i] = src;
      r->stride[i] = sst;
    } else if (src == 1) {
      r->shape[i] = shape[i];
      r->stride[i] = 0;
    } else {
      seq_tensor_release(r);
      char b[96];
      return seq_fail(SEQ_ESHAPE, "expand: cannot expand %s to %s", seq_tshape(t), seq_shape_str(b, sizeof b, ndim, shape));
    }
  }
  r->ndim = ndim;
  r->numel = seq_shape_numel(ndim, shape);
  shape_ctx *ctx;
  seq_status st = record1("expand", backward_expand, t, r, &ctx);
  FAIL_CLEANUP(st, r);
  *out = r;
  return SEQ_OK;
}

/* ---- cat / stack ---- */

static seq_status backward_cat(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  shape_ctx *c = n->ctx;
  int64_t start = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    int64_t len = n->inputs[i]->shape[c->dim];
    if (n->inputs[i]->requires_grad) {
      seq_tensor *v, *cc;
      SEQ_TRY(seq_narrow_raw(&v, g[0], c->dim, start, len));
      seq_status st = seq_contiguous(&cc, v);
      seq_tensor_release(v);
      SEQ_TRY(st);
      gi[i] = cc;
    }
    start += len;
  }
  return SEQ_OK;
}

seq_status seq_cat(seq_tensor **out, int n, seq_tensor *const *ts, int64_t dim) {
  if (n < 1) return seq_fail(SEQ_EARG, "cat: needs at least one tensor");
  if (n > SEQ_NODE_MAX_INPUTS && seq_needs_grad(n, ts))
    return seq_fail(SEQ_EARG, "cat: at most %d tensors when recording gradients", SEQ_NODE_MAX_INPUTS);
  int d;
  SEQ_TRY(seq_check_dim("cat", ts[0], dim, &d));
  int64_t shape[SEQ_MAX_DIM];
  memcpy(shape, ts[0]->shape, sizeof shape);
  shape[d] = 0;
  for (int i = 0; i < n; i++) {
    const seq_tensor *t = ts[i];
    if (t->ndim != ts[0]->ndim || t->dtype != ts[0]->dtype || t->device != ts[0]->device)
      return seq_fail(SEQ_ESHAPE, "cat: tensor %d (%s %s on %s) does not match tensor 1 (%s %s on %s)",
                      i + 1, seq_dtype_name(t->dtype), seq_tshape(t), seq_device_name(t->device),
                      seq_dtype_name(ts[0]->dtype), seq_tshape(ts[0]), seq_device_name(ts[0]->device));
    for (int k = 0; k < t->ndim; k++)
      if (k != d && t->shape[k] != ts[0]->shape[k])
        return seq_fail(SEQ_ESHAPE, "cat: shapes %s and %s differ outside dim %d", seq_tshape(ts[0]),
                        seq_tshape(t), d + 1);
    shape[d] += t->shape[d];
  }
  seq_tensor *r;
  SEQ_TRY(seq_tensor_empty(&r, ts[0]->dtype, ts[0]->device, ts[0]->ndim, shape));
  int64_t start = 0;
  seq_status st = SEQ_OK;
  for (int i = 0; i < n && st == SEQ_OK; i++) {
    seq_tensor *v;
    st = seq_narrow_raw(&v, r, d, start, ts[i]->shape[d]);
    if (st == SEQ_OK) {
      st = seq_backend_get(r->device)->copy(v, ts[i]);
      seq_tensor_release(v);
    }
    start += ts[i]->shape[d];
  }
  if (st == SEQ_OK && seq_needs_grad(n, ts)) {
    seq_node *node;
    st = seq_node_record("cat", backward_cat, n, ts, 1, &r, &node);
    shape_ctx *ctx;
    if (st == SEQ_OK) st = new_ctx(node, &ctx);
    if (st == SEQ_OK && ctx) ctx->dim = d;
  }
  FAIL_CLEANUP(st, r);
  *out = r;
  return SEQ_OK;
}

seq_status seq_stack(seq_tensor **out, int n, seq_tensor *const *ts, int64_t dim) {
  if (n < 1) return seq_fail(SEQ_EARG, "stack: needs at least one tensor");
  if (n > 1024) return seq_fail(SEQ_EARG, "stack: at most 1024 tensors");
  int64_t d = dim < 0 ? dim + ts[0]->ndim + 1 : dim;
  seq_tensor **us = calloc((size_t)n, sizeof *us);
  if (!us) return seq_fail(SEQ_ENOMEM, "stack: out of memory");
  seq_status st = SEQ_OK;
  for (int i = 0; i < n && st == SEQ_OK; i++) {
    if (!seq_shape_equal(ts[i], ts[0]))
      st = seq_fail(SEQ_ESHAPE, "stack: shapes %s and %s differ", seq_tshape(ts[0]), seq_tshape(ts[i]));
    else st = seq_unsqueeze(&us[i], ts[i], d);
  }
  if (st == SEQ_OK) st = seq_cat(out, n, us, d);
  for (int i = 0; i < n; i++) seq_tensor_release(us[i]);
  free(us);
  return st;
}

/* ---- indexing ---- */

static seq_status check_ids_tensor(const char *op, const seq_tensor *t, const seq_tensor *idx) {
  if (idx->dtype != SEQ_I32 && idx->dtype != SEQ_I64)
    return seq_fail(SEQ_EDTYPE, "%s: ids must be i32 or i64, got %s", op, seq_dtype_name(idx->dtype));
  if (idx->device != t->device)
    return seq_fail(SEQ_EDEVICE, "%s: ids on %s, tensor on %s", op, seq_device_name(idx->device),
                    seq_device_name(t->device));
  return SEQ_OK;
}

/* index_select and gather read rows by ids, and their gradients add the
 * incoming gradient back at those ids into zeros (index_add, scatter_add):
 * one body serves both, c->a telling which. */
enum { READ_INDEX_SELECT, READ_GATHER };

static seq_status backward_read_by_ids(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  shape_ctx *c = n->ctx;
  seq_tensor *z, *gc;
  SEQ_TRY(seq_tensor_zeros_like(&z, n->inputs[0]));
  seq_status st = seq_contiguous(&gc, g[0]);
  if (st == SEQ_OK) {
    const seq_backend *be = seq_backend_get(z->device);
    st = c->a == READ_GATHER ? be->scatter_add(z, c->dim, n->saved[0], gc)
                             : be->index_add(z, c->dim, n->saved[0], gc);
    seq_tensor_release(gc);
  }
  FAIL_CLEANUP(st, z);
  gi[0] = z;
  return SEQ_OK;
}

static seq_status read_by_ids(seq_tensor **out, const char *op, int kind, seq_tensor *t, int64_t dim,
                              seq_tensor *idx) {
  int d;
  SEQ_TRY(seq_check_dim(op, t, dim, &d));
  SEQ_TRY(check_ids_tensor(op, t, idx));
  if (kind == READ_INDEX_SELECT && idx->ndim > 1)
    return seq_fail(SEQ_ESHAPE, "%s: ids must be 1-D, got %s", op, seq_tshape(idx));
  seq_tensor *tc, *ic;
  SEQ_TRY(seq_contiguous(&tc, t));
  seq_status st = seq_contiguous(&ic, idx);
  if (st != SEQ_OK) {
    seq_tensor_release(tc);
    return st;
  }
  seq_tensor *r = NULL;
  const seq_backend *be = seq_backend_get(t->device);
  if (kind == READ_GATHER) {
    st = seq_tensor_empty(&r, t->dtype, t->device, idx->ndim, idx->shape);
    if (st == SEQ_OK) st = be->gather(r, tc, d, ic);
  } else {
    int64_t shape[SEQ_MAX_DIM];
    memcpy(shape, t->shape, sizeof shape);
    shape[d] = idx->numel;
    st = seq_tensor_empty(&r, t->dtype, t->device, t->ndim, shape);
    if (st == SEQ_OK) st = be->index_select(r, tc, d, ic);
  }
  if (st == SEQ_OK && seq_needs_grad(1, &t)) {
    seq_node *node;
    shape_ctx *ctx = NULL;
    st = seq_node_record(op, backward_read_by_ids, 1, &t, 1, &r, &node);
    if (st == SEQ_OK) st = new_ctx(node, &ctx);
    if (ctx) {
      ctx->dim = d;
      ctx->a = kind;
      seq_node_save(node, ic);
    }
  }
  seq_tensor_release(tc);
  seq_tensor_release(ic);
  FAIL_CLEANUP(st, r);
  *out = r;
  return SEQ_OK;
}

seq_status seq_index_select(seq_tensor **out, seq_tensor *t, int64_t dim, seq_tensor *idx) {
  return read_by_ids(out, "index_select", READ_INDEX_SELECT, t, dim, idx);
}

seq_status seq_gather(seq_tensor **out, seq_tensor *t, int64_t dim, seq_tensor *idx) {
  return read_by_ids(out, "gather", READ_GATHER, t, dim, idx);
}

static seq_status backward_scatter_add(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  shape_ctx *c = n->ctx;
  if (n->inputs[0]->requires_grad) gi[0] = seq_tensor_retain(g[0]);
  if (n->inputs[1]->requires_grad) SEQ_TRY(seq_gather(&gi[1], g[0], c->dim, n->saved[0]));
  return SEQ_OK;
}

seq_status seq_scatter_add(seq_tensor **out, seq_tensor *t, int64_t dim, seq_tensor *idx,
                           seq_tensor *src) {
  int d;
  SEQ_TRY(seq_check_dim("scatter_add", t, dim, &d));
  SEQ_TRY(check_ids_tensor("scatter_add", t, idx));
  if (src->dtype != t->dtype || src->device != t->device)
    return seq_fail(SEQ_EDTYPE, "scatter_add: source %s on %s, tensor %s on %s", seq_dtype_name(src->dtype),
                    seq_device_name(src->device), seq_dtype_name(t->dtype), seq_device_name(t->device));
  seq_tensor *r, *ic, *sc;
  SEQ_TRY(seq_tensor_empty_like(&r, t));
  seq_status st = seq_backend_get(t->device)->copy(r, t);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  st = seq_contiguous(&ic, idx);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  st = seq_contiguous(&sc, src);
  if (st == SEQ_OK) {
    st = seq_backend_get(t->device)->scatter_add(r, d, ic, sc);
    seq_tensor_release(sc);
  }
  seq_tensor *ins[2] = {t, src};
  if (st == SEQ_OK && seq_needs_grad(2, ins)) {
    seq_node *node;
    shape_ctx *ctx = NULL;
    st = seq_node_record("scatter_add", backward_scatter_add, 2, ins, 1, &r, &node);
    if (st == SEQ_OK) st = new_ctx(node, &ctx);
    if (ctx) {
      ctx->dim = d;
      seq_node_save(node, ic);
    }
  }
  seq_tensor_release(ic);
  FAIL_CLEANUP(st, r);
  *out = r;
  return SEQ_OK;
}
