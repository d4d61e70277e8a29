/* seq_ops_linalg.c - matmul (torch semantics) and linear.
 *
 * The kernel is always a row-major (batched) GEMM.  Operands that are
 * transposed views of contiguous matrices (the usual case in backward,
 * where we multiply by W^T) are passed with a transpose flag instead of
 * being copied. */
#include <string.h>

#include "seq_ops.h"

/* Describes t (>= 2-D) as a GEMM operand: batch count, leading dim, whether
 * it is transposed, and the element stride between batch matrices. */
typedef struct gemm_operand {
  seq_tensor *t; /* owned reference (maybe a contiguous copy) */
  bool trans;
  int64_t ld, batch_stride;
} gemm_operand;

static seq_status gemm_operand_make(gemm_operand *g, seq_tensor *t) {
  int n = t->ndim;
  int64_t rows = t->shape[n - 2], cols = t->shape[n - 1];
  bool batch_ok = true;
  /* Batch dims must be one uniform stride (they were made contiguous). */
  int64_t expect = rows * cols;
  for (int i = n - 3; i >= 0; i--) {
    if (t->shape[i] != 1 && t->stride[i] != expect) batch_ok = false;
    expect *= t->shape[i];
  }
  if (batch_ok && (t->stride[n - 1] == 1 || cols == 1) && (t->stride[n - 2] == cols || rows == 1)) {
    g->t = seq_tensor_retain(t);
    g->trans = false;
    g->ld = cols > 0 ? cols : 1;
  } else if (batch_ok && (t->stride[n - 2] == 1 || rows == 1) && (t->stride[n - 1] == rows || cols == 1)) {
    g->t = seq_tensor_retain(t);
    g->trans = true;
    g->ld = rows > 0 ? rows : 1;
  } else {
    bool prev = seq_set_grad_enabled(false);
    seq_status st = seq_clone(&g->t, t);
    seq_set_grad_enabled(prev);
    SEQ_TRY(st);
    g->trans = false;
    g->ld = cols > 0 ? cols : 1;
  }
  g->batch_stride = rows * cols;
  return SEQ_OK;
}

/* out[b] = a[b] @ b[b] for 3-D a [B,n,k], b [B,k,m] (B may be 1 on either
 * side, then broadcast by a zero batch stride). */
static seq_status gemm3(seq_tensor *out, seq_tensor *a, seq_tensor *b) {
  gemm_operand ga, gb;
  SEQ_TRY(gemm_operand_make(&ga, a));
  seq_status st = gemm_operand_make(&gb, b);
  if (st != SEQ_OK) {
    seq_tensor_release(ga.t);
    return st;
  }
  int64_t batch = out->shape[0], n = out->shape[1], m = out->shape[2], k = a->shape[2];
  if (k == 0) {
    st = seq_fill_(out, 0.0);
  } else {
    st = seq_backend_get(out->device)->gemm(
        out->dtype, ga.trans, gb.trans, n, m, k, 1.0, seq_tensor_data(ga.t), ga.ld,
        a->shape[0] == 1 ? 0 : ga.batch_stride, seq_tensor_data(gb.t), gb.ld,
        b->shape[0] == 1 ? 0 : gb.batch_stride, 0.0, seq_tensor_data(out), m > 0 ? m : 1, n * m,
        batch);
  }
  seq_tensor_release(ga.t);
  seq_tensor_release(gb.t);
  return st;
}

static seq_status backward_matmul(seq_node *node, seq_tensor **gout, seq_tensor **gi) {
  seq_tensor *a = node->inputs[0], *b = node->inputs[1], *g = gout[0];
  seq_status st = SEQ_OK;
  if (a->requires_grad) { /* g @ b^T, summed over broadcast batch dims */
    seq_tensor *bt = NULL, *p = NULL;
    st = seq_transpose(&bt, b, -1, -2);
    if (st == SEQ_OK) st = seq_matmul(&p, g, bt);
    if (st == SEQ_OK) st = seq_sum_to_shape(&gi[0], p, a->ndim, a->shape);
    seq_tensor_release(bt);
    seq_tensor_release(p);
  }
  if (st == SEQ_OK && b->requires_grad) { /* a^T @ g */
    seq_tensor *p = NULL;
    if (b->ndim == 2 && a->ndim > 2) {
      /* Fold batch dims into rows: one GEMM over all of them. */
      int64_t as[2] = {-1, a->shape[a->ndim - 1]}, gs[2] = {-1, g->shape[g->ndim - 1]};
      seq_tensor *a2 = NULL, *g2 = NULL, *a2t = NULL;
      st = seq_reshape(&a2, a, 2, as);
      if (st == SEQ_OK) st = seq_reshape(&g2, g, 2, gs);
      if (st == SEQ_OK) st = seq_transpose(&a2t, a2, 0, 1);
      if (st == SEQ_OK) st = seq_matmul(&gi[1], a2t, g2);
      seq_tensor_release(a2);
      seq_tensor_release(g2);
      seq_tensor_release(a2t);
    } else {
      seq_tensor *at = NULL;
      st = seq_transpose(&at, a, -1, -2);
      if (st == SEQ_OK) st = seq_matmul(&p, at, g);
      if (st == SEQ_OK) st = seq_sum_to_shape(&gi[1], p, b->ndim, b->shape);
      seq_tensor_release(at);
    }
    seq_tensor_release(p);
  }
  return st;
}

static seq_status matmul_nd(seq_tensor **out, seq_tensor *a, seq_tensor *b) {
  /* a [..., n, k], b [..., k, m], both >= 2-D */
  int64_t n = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1];
  int64_t k2 = b->shape[b->ndim - 2], m = b->shape[b->ndim - 1];
  if (k != k2)
    return seq_fail(SEQ_ESHAPE, "matmul: shapes %s and %s do not align", seq_tshape(a), seq_tshape(b));
  /* batch shape = broadcast of the leading dims */
  seq_tensor ta = {0}, tb = {0};
  ta.ndim = a->ndim - 2;
  memcpy(ta.shape, a->shape, sizeof(int64_t) * (size_t)ta.ndim);
  tb.ndim = b->ndim - 2;
  memcpy(tb.shape, b->shape, sizeof(int64_t) * (size_t)tb.ndim);
  int bnd;
  int64_t bshape[SEQ_MAX_DIM];
  if (seq_broadcast_shape("matmul", &ta, &tb, &bnd, bshape) != SEQ_OK)
    return seq_fail(SEQ_ESHAPE, "matmul: batch dims of %s and %s cannot be broadcast", seq_tshape(a), seq_tshape(b));
  if (bnd + 2 > SEQ_MAX_DIM) return seq_fail(SEQ_EARG, "matmul: too many dims");
  int64_t batch = seq_shape_numel(bnd, bshape);
  int64_t oshape[SEQ_MAX_DIM];
  memcpy(oshape, bshape, sizeof(int64_t) * (size_t)bnd);
  oshape[bnd] = n;
  oshape[bnd + 1] = m;
  seq_tensor *r;
  SEQ_TRY(seq_tensor_empty(&r, a->dtype, a->device, bnd + 2, oshape));
  seq_status st = SEQ_OK;
  bool prev = seq_set_grad_enabled(false);
  seq_tensor *a3 = NULL, *b3 = NULL, *r3 = NULL;
  if (b->ndim == 2 && seq_tensor_is_contiguous(a)) {
    /* [..., n, k] @ [k, m]: one GEMM with all batch rows stacked. */
    int64_t as[3] = {1, batch * n, k}, rs[3] = {1, batch * n, m}, bs[3] = {1, k, m};
    st = seq_view_raw(&a3, a, 3, as);
    if (st == SEQ_OK) st = seq_view_raw(&r3, r, 3, rs);
    /* expand keeps b's strides, so a transposed weight stays uncopied */
    if (st == SEQ_OK) st = seq_expand(&b3, b, 3, bs);
  } else {
    /* Expand both to the full batch, and flatten it. */
    int64_t ea[SEQ_MAX_DIM], eb[SEQ_MAX_DIM];
    memcpy(ea, bshape, sizeof(int64_t) * (size_t)bnd);
    memcpy(eb, bshape, sizeof(int64_t) * (size_t)bnd);
    ea[bnd] = n; ea[bnd + 1] = k;
    eb[bnd] = k; eb[bnd + 1] = m;
    bool a_bcast = seq_shape_numel(ta.ndim, ta.shape) != batch;
    bool b_bcast = seq_shape_numel(tb.ndim, tb.shape) != batch;
    seq_tensor *ax = NULL, *bx = NULL;
    int64_t as[3] = {a_bcast ? 1 : batch, n, k}, bs[3] = {b_bcast ? 1 : batch, k, m}, rs[3] = {batch, n, m};
    if (a_bcast && seq_shape_numel(ta.ndim, ta.shape) == 1) st = seq_reshape(&a3, a, 3, as);
    else {
      if (a_bcast) { as[0] = batch; st = seq_expand(&ax, a, bnd + 2, ea); }
      else ax = seq_tensor_retain(a);
      if (st == SEQ_OK) st = seq_reshape(&a3, ax, 3, as);
    }
    if (st == SEQ_OK) {
      if (b_bcast && seq_shape_numel(tb.ndim, tb.shape) == 1) st = seq_reshape(&b3, b, 3, bs);
      else {
        if (b_bcast) { bs[0] = batch; st = seq_expand(&bx, b, bnd + 2, eb); }
        else bx = seq_tensor_retain(b);
        if (st == SEQ_OK) st = seq_reshape(&b3, bx, 3, bs);
      }
    }
    if (st == SEQ_OK) st = seq_view_raw(&r3, r, 3, rs);
    seq_tensor_release(ax);
    seq_tensor_release(bx);
  }
  if (st == SEQ_OK) st = gemm3(r3, a3, b3);
  seq_set_grad_enabled(prev);
  seq_tensor_release(a3);
  seq_tensor_release(b3);
  seq_tensor_release(r3);
  seq_tensor *ins[2] = {a, b};
  if (st == SEQ_OK && seq_needs_grad(2, ins))
    st = seq_node_record("matmul", backward_matmul, 2, ins, 1, &r, NULL);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  *out = r;
  return SEQ_OK;
}

seq_status seq_matmul(seq_tensor **out, seq_tensor *a, seq_tensor *b) {
  if (a->device != b->device)
    return seq_fail(SEQ_EDEVICE, "matmul: tensors on different devices (%s and %s)",
                    seq_device_name(a->device), seq_device_name(b->device));
  if (a->dtype != b->dtype)
    return seq_fail(SEQ_EDTYPE, "matmul: dtypes %s and %s differ", seq_dtype_name(a->dtype),
                    seq_dtype_name(b->dtype));
  if (!seq_dtype_is_float(a->dtype))
    return seq_fail(SEQ_EDTYPE, "matmul: needs f32 or f64 tensors, got %s", seq_dtype_name(a->dtype));
  if (a->ndim == 0 || b->ndim == 0)
    return seq_fail(SEQ_ESHAPE, "matmul: shapes %s and %s: operands must have at least one dim",
                    seq_tshape(a), seq_tshape(b));
  /* 1-D operands: promote to matrices, then drop the added dim. */
  if (a->ndim == 1 || b->ndim == 1) {
    if (a->shape[a->ndim - 1] != b->shape[b->ndim == 1 ? 0 : b->ndim - 2])
      return seq_fail(SEQ_ESHAPE, "matmul: shapes %s and %s do not align", seq_tshape(a), seq_tshape(b));
    seq_tensor *a2 = NULL, *b2 = NULL, *r = NULL;
    seq_status st = a->ndim == 1 ? seq_unsqueeze(&a2, a, 0) : (a2 = seq_tensor_retain(a), SEQ_OK);
    if (st == SEQ_OK) st = b->ndim == 1 ? seq_unsqueeze(&b2, b, 1) : (b2 = seq_tensor_retain(b), SEQ_OK);
    if (st == SEQ_OK) st = matmul_nd(&r, a2, b2);
    seq_tensor *s1 = NULL;
    if (st == SEQ_OK && b->ndim == 1) {
      st = seq_squeeze(&s1, r, -1);
      seq_tensor_release(r);
      r = s1;
    }
    if (st == SEQ_OK && a->ndim == 1) {
      st = seq_squeeze(&s1, r, r->ndim == 1 ? 0 : -2);
      seq_tensor_release(r);
      r = s1;
    }
    seq_tensor_release(a2);
    seq_tensor_release(b2);
    if (st != SEQ_OK) return st;
    *out = r;
    return SEQ_OK;
  }
  return matmul_nd(out, a, b);
}

seq_status seq_linear(seq_tensor **out, seq_tensor *x, seq_tensor *w, seq_tensor *b) {
  if (w->ndim != 2) return seq_fail(SEQ_ESHAPE, "linear: kernel must be 2-D, got %s", seq_tshape(w));
  if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[0])
    return seq_fail(SEQ_ESHAPE, "linear: input %s does not match kernel %s", seq_tshape(x), seq_tshape(w));
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[1]))
    return seq_fail(SEQ_ESHAPE, "linear: bias %s does not match kernel %s", seq_tshape(b), seq_tshape(w));
  seq_tensor *y;
  SEQ_TRY(seq_matmul(&y, x, w));
  if (!b) {
    *out = y;
    return SEQ_OK;
  }
  seq_status st = seq_binary(out, SEQ_BIN_ADD, y, b);
  seq_tensor_release(y);
  return st;
}
