/* seq_ops_reduce.c - reductions and softmax with their derivatives. */
#include <stdlib.h>
#include <string.h>

#include "seq_ops.h"

static const char *redop_name(seq_redop op) {
  static const char *names[SEQ_NREDOPS] = {"sum", "mean", "max", "min", "argmax", "argmin"};
  return op < SEQ_NREDOPS ? names[op] : "reduce";
}

typedef struct reduce_ctx {
  seq_redop op;
  int dim; /* -1: all */
  bool keepdim;
} reduce_ctx;

/* Gradient of the reduced output, reshaped so it broadcasts over the input. */
static seq_status keepdim_grad(seq_tensor **out, seq_tensor *g, const seq_tensor *x, int dim) {
  int64_t shape[SEQ_MAX_DIM];
  for (int i = 0; i < x->ndim; i++) shape[i] = (dim < 0 || i == dim) ? 1 : x->shape[i];
  return seq_reshape(out, g, x->ndim, shape);
}

static seq_status backward_reduce(seq_node *n, seq_tensor **gout, seq_tensor **gi) {
  reduce_ctx *c = n->ctx;
  seq_tensor *x = n->inputs[0], *gk = NULL, *e = NULL;
  seq_status st = keepdim_grad(&gk, gout[0], x, c->dim);
  if (st != SEQ_OK) return st;
  if (c->op == SEQ_RED_SUM || c->op == SEQ_RED_MEAN) {
    st = seq_expand(&e, gk, x->ndim, x->shape);
    if (st == SEQ_OK && c->op == SEQ_RED_MEAN) {
      int64_t len = c->dim < 0 ? x->numel : x->shape[c->dim];
      st = seq_unary(&gi[0], SEQ_UN_AFFINE, e, len ? 1.0 / (double)len : 0.0, 0.0);
    } else if (st == SEQ_OK) {
      st = seq_contiguous(&gi[0], e);
    }
  } else { /* max/min: the gradient goes to the picked element */
    seq_tensor *idx = n->saved[0], *z = NULL, *xf = NULL;
    st = seq_tensor_zeros_like(&z, x);
    if (st == SEQ_OK && c->dim < 0) {
      int64_t one = x->numel;
      seq_tensor *zf = NULL, *g1 = NULL, *r = NULL;
      st = seq_reshape(&zf, z, 1, &one);
      int64_t k = 1;
      if (st == SEQ_OK) st = seq_reshape(&g1, gk, 1, &k);
      if (st == SEQ_OK) st = seq_scatter_add(&r, zf, 0, idx, g1);
      if (st == SEQ_OK) st = seq_reshape(&gi[0], r, x->ndim, x->shape);
      seq_tensor_release(zf);
      seq_tensor_release(g1);
      seq_tensor_release(r);
    } else if (st == SEQ_OK) {
      st = seq_scatter_add(&gi[0], z, c->dim, idx, gk);
    }
    seq_tensor_release(z);
    seq_tensor_release(xf);
  }
  seq_tensor_release(gk);
  seq_tensor_release(e);
  return st;
}

seq_status seq_reduce(seq_tensor **out, seq_redop op, seq_tensor *t, int64_t dim, bool keepdim) {
  const char *name = redop_name(op);
  if (op >= SEQ_NREDOPS) return seq_fail(SEQ_EARG, "reduce: unknown op");
  int d = -1;
  if (dim != SEQ_ALL_DIMS) {
    if (t->ndim == 0) d = -1;
    else SEQ_TRY(seq_check_dim(name, t, dim, &d));
  }
  int64_t len = d < 0 ? t->numel : t->shape[d];
  if (len == 0 && op != SEQ_RED_SUM && op != SEQ_RED_MEAN)
    return seq_fail(SEQ_ESHAPE, "%s: cannot reduce an empty dim (shape %s)", name, seq_tshape(t));
  seq_dtype odt = t->dtype;
  if (op == SEQ_RED_ARGMAX || op == SEQ_RED_ARGMIN) odt = SEQ_I64;
  else if (op == SEQ_RED_MEAN && !seq_dtype_is_float(odt)) odt = SEQ_F32;
  else if (op == SEQ_RED_SUM && (odt == SEQ_U8 || odt == SEQ_I32)) odt = SEQ_I64;
  int64_t kshape[SEQ_MAX_DIM], oshape[SEQ_MAX_DIM];
  int ond = 0;
  for (int i = 0; i < t->ndim; i++) {
    kshape[i] = (d < 0 || i == d) ? 1 : t->shape[i];
    if (keepdim) oshape[ond++] = kshape[i];
    else if (d >= 0 && i != d) oshape[ond++] = t->shape[i];
  }
  seq_tensor *tc, *r = NULL;
  SEQ_TRY(seq_contiguous(&tc, t));
  seq_status st = seq_tensor_empty(&r, odt, t->device, ond, oshape);
  if (st == SEQ_OK) st = seq_backend_get(t->device)->reduce(op, r, tc, d);
  bool differentiable = op <= SEQ_RED_MIN && seq_dtype_is_float(t->dtype);
  if (st == SEQ_OK && differentiable && seq_needs_grad(1, &t)) {
    seq_tensor *idx = NULL;
    if (op == SEQ_RED_MAX || op == SEQ_RED_MIN) {
      st = seq_tensor_empty(&idx, SEQ_I64, t->device, t->ndim ? t->ndim : 1, t->ndim ? kshape : (int64_t[]){1});
      if (st == SEQ_OK)
        st = seq_backend_get(t->device)->reduce(op == SEQ_RED_MAX ? SEQ_RED_ARGMAX : SEQ_RED_ARGMIN, idx, tc, d);
      if (st == SEQ_OK && d < 0) { /* flat index */
        idx->ndim = 1;
        idx->shape[0] = 1;
        idx->stride[0] = 1;
      }
    }
    seq_node *node = NULL;
    if (st == SEQ_OK) st = seq_node_record(name, backward_reduce, 1, &t, 1, &r, &node);
    if (st == SEQ_OK && node) {
      reduce_ctx *c = malloc(sizeof *c);
      if (!c) st = seq_fail(SEQ_ENOMEM, "%s: out of memory", name);
      else {
        c->op = op;
        c->dim = d;
        c->keepdim = keepdim;
        node->ctx = c;
        if (idx) seq_node_save(node, idx);
      }
    }
    seq_tensor_release(idx);
  }
  seq_tensor_release(tc);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  *out = r;
  return SEQ_OK;
}

/* ---- softmax ---- */

static seq_status backward_softmax(seq_node *n, seq_tensor **gout, seq_tensor **gi) {
  bool log = *(bool *)n->ctx;
  seq_tensor *y = n->saved[0], *gc, *dx;
  SEQ_TRY(seq_contiguous(&gc, gout[0]));
  seq_status st = seq_tensor_empty_like(&dx, y);
  if (st == SEQ_OK) st = seq_backend_get(y->device)->softmax_backward(dx, y, gc, log);
  seq_tensor_release(gc);
  if (st != SEQ_OK) {
    seq_tensor_release(dx);
    return st;
  }
  gi[0] = dx;
  return SEQ_OK;
}

seq_status seq_softmax(seq_tensor **out, seq_tensor *x, bool log) {
  const char *name = log ? "log_softmax" : "softmax";
  if (!seq_dtype_is_float(x->dtype))
    return seq_fail(SEQ_EDTYPE, "%s: needs a float tensor, got %s", name, seq_dtype_name(x->dtype));
  if (x->ndim == 0) return seq_fail(SEQ_ESHAPE, "%s: needs at least one dim", name);
  seq_tensor *xc, *r = NULL;
  SEQ_TRY(seq_contiguous(&xc, x));
  seq_status st = seq_tensor_empty_like(&r, xc);
  if (st == SEQ_OK) st = seq_backend_get(x->device)->softmax(r, xc, log);
  if (st == SEQ_OK && seq_needs_grad(1, &x)) {
    seq_node *node;
    st = seq_node_record(name, backward_softmax, 1, &x, 1, &r, &node);
    if (st == SEQ_OK && node) {
      bool *c = malloc(sizeof *c);
      seq_tensor *alias = NULL;
      if (!c || seq_detach(&alias, r) != SEQ_OK) {
        free(c);
        st = seq_fail(SEQ_ENOMEM, "%s: out of memory", name);
      } else {
        *c = log;
        node->ctx = c;
        seq_node_save(node, alias);
        seq_tensor_release(alias);
      }
    }
  }
  seq_tensor_release(xc);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  *out = r;
  return SEQ_OK;
}
