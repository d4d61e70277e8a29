/* seq_ops_elementwise.c - broadcasting binary ops, unary ops, where, and
 * their derivatives. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "seq_ops.h"

static const char *binop_name(seq_binop op) {
  static const char *names[SEQ_NBINOPS] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                           "eq",  "ne",  "lt",  "le",  "gt",  "ge"};
  return op < SEQ_NBINOPS ? names[op] : "binary";
}

static const char *unop_name(seq_unop op) {
  static const char *names[SEQ_NUNOPS] = {"neg",    "exp",        "log",   "sqrt",  "tanh",
                                          "sigmoid", "relu",      "abs",   "sign",  "square",
                                          "reciprocal", "clamp",  "pow",   "affine", "rpow"};
  return op < SEQ_NUNOPS ? names[op] : "unary";
}

/* Saves a grad-free alias of an op's output: saving the output itself
 * would make a reference cycle output -> node -> output. */
static void save_output(seq_node *node, seq_tensor *out) {
  seq_tensor *alias;
  if (!node || seq_detach(&alias, out) != SEQ_OK) return;
  seq_node_save(node, alias);
  seq_tensor_release(alias);
}

/* ---- dtype promotion ---- */

static int dtype_rank(seq_dtype d) {
  switch (d) {
    case SEQ_U8: return 0;
    case SEQ_I32: return 1;
    case SEQ_I64: return 2;
    case SEQ_F32: return 3;
    case SEQ_F64: return 4;
    default: return -1;
  }
}

static seq_dtype promote(seq_dtype a, seq_dtype b) { return dtype_rank(a) >= dtype_rank(b) ? a : b; }

seq_status seq_broadcast_shape(const char *op, const seq_tensor *a, const seq_tensor *b, int *ndim,
                               int64_t *shape) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < n; i++) {
    int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
    int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      return seq_fail(SEQ_ESHAPE, "%s: shapes %s and %s cannot be broadcast together", op,
                      seq_tshape(a), seq_tshape(b));
    shape[i] = sa == 1 ? sb : sa;
  }
  *ndim = n;
  return SEQ_OK;
}

/* A stride-0 view of t broadcast to shape, without autograd. */
static seq_status broadcast_view(seq_tensor **out, seq_tensor *t, int ndim, const int64_t *shape) {
  bool prev = seq_set_grad_enabled(false);
  seq_status st = seq_expand(out, t, ndim, shape);
  seq_set_grad_enabled(prev);
  return st;
}

seq_status seq_sum_to_shape(seq_tensor **out, seq_tensor *g, int ndim, const int64_t *shape) {
  if (g->ndim == ndim && memcmp(g->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0) {
    *out = seq_tensor_retain(g);
    return SEQ_OK;
  }
  seq_tensor *cur = seq_tensor_retain(g);
  int lead = g->ndim - ndim;
  for (int i = 0; i < g->ndim; i++) {
    int j = i - lead;
    bool reduce = j < 0 || (shape[j] == 1 && g->shape[i] != 1);
    if (!reduce) continue;
    seq_tensor *r;
    seq_status st = seq_reduce(&r, SEQ_RED_SUM, cur, i, true);
    seq_tensor_release(cur);
    SEQ_TRY(st);
    cur = r;
  }
  seq_status st = seq_reshape(out, cur, ndim, shape);
  seq_tensor_release(cur);
  return st;
}

/* ---- binary ---- */

static seq_status mul_sum_to(seq_tensor **out, seq_tensor *g, seq_tensor *factor, const seq_tensor *like) {
  seq_tensor *p;
  SEQ_TRY(seq_binary(&p, SEQ_BIN_MUL, g, factor));
  seq_status st = seq_sum_to_shape(out, p, like->ndim, like->shape);
  seq_tensor_release(p);
  return st;
}

static seq_status backward_binary(seq_node *n, seq_tensor **gout, seq_tensor **gi) {
  seq_binop op = *(seq_binop *)n->ctx;
  seq_tensor *a = n->inputs[0], *b = n->inputs[1], *g = gout[0], *out = n->saved[0];
  bool ga = a->requires_grad, gb = b->requires_grad;
  seq_tensor *t1 = NULL, *t2 = NULL;
  seq_status st = SEQ_OK;
  switch (op) {
    case SEQ_BIN_ADD:
      if (ga) st = seq_sum_to_shape(&gi[0], g, a->ndim, a->shape);
      if (gb && st == SEQ_OK) st = seq_sum_to_shape(&gi[1], g, b->ndim, b->shape);
      break;
    case SEQ_BIN_SUB:
      if (ga) st = seq_sum_to_shape(&gi[0], g, a->ndim, a->shape);
      if (gb && st == SEQ_OK) {
        st = seq_unary(&t1, SEQ_UN_NEG, g, 0, 0);
        if (st == SEQ_OK) st = seq_sum_to_shape(&gi[1], t1, b->ndim, b->shape);
      }
      break;
    case SEQ_BIN_MUL:
      if (ga) st = mul_sum_to(&gi[0], g, b, a);
      if (gb && st == SEQ_OK) st = mul_sum_to(&gi[1], g, a, b);
      break;
    case SEQ_BIN_DIV:
      if (ga) {
        st = seq_binary(&t1, SEQ_BIN_DIV, g, b);
        if (st == SEQ_OK) st = seq_sum_to_shape(&gi[0], t1, a->ndim, a->shape);
      }
      if (gb && st == SEQ_OK) { /* -g * out / b */
        seq_tensor_release(t1);
        t1 = NULL;
        st = seq_binary(&t1, SEQ_BIN_DIV, out, b);
        if (st == SEQ_OK) st = seq_unary(&t2, SEQ_UN_NEG, t1, 0, 0);
        if (st == SEQ_OK) st = mul_sum_to(&gi[1], g, t2, b);
      }
      break;
    case SEQ_BIN_POW:
      if (ga) { /* g * b * a^(b-1) */
        seq_tensor *bm1 = NULL, *pw = NULL, *f = NULL;
        st = seq_binary_scalar(&bm1, SEQ_BIN_SUB, b, 1.0, false);
        if (st == SEQ_OK) st = seq_binary(&pw, SEQ_BIN_POW, a, bm1);
        if (st == SEQ_OK) st = seq_binary(&f, SEQ_BIN_MUL, pw, b);
        if (st == SEQ_OK) st = mul_sum_to(&gi[0], g, f, a);
        seq_tensor_release(bm1);
        seq_tensor_release(pw);
        seq_tensor_release(f);
      }
      if (gb && st == SEQ_OK) { /* g * out * log(a) */
        st = seq_unary(&t1, SEQ_UN_LOG, a, 0, 0);
        if (st == SEQ_OK) st = seq_binary(&t2, SEQ_BIN_MUL, out, t1);
        if (st == SEQ_OK) st = mul_sum_to(&gi[1], g, t2, b);
      }
      break;
    case SEQ_BIN_MAX:
    case SEQ_BIN_MIN: {
      /* The gradient goes to the operand that was picked (a on ties). */
      seq_tensor *mask = NULL, *fm = NULL;
      st = seq_binary(&mask, op == SEQ_BIN_MAX ? SEQ_BIN_GE : SEQ_BIN_LE, a, b);
      if (st == SEQ_OK) st = seq_cast(&fm, mask, g->dtype);
      if (ga && st == SEQ_OK) st = mul_sum_to(&gi[0], g, fm, a);
      if (gb && st == SEQ_OK) {
        st = seq_unary(&t1, SEQ_UN_AFFINE, fm, -1.0, 1.0);
        if (st == SEQ_OK) st = mul_sum_to(&gi[1], g, t1, b);
      }
      seq_tensor_release(mask);
      seq_tensor_release(fm);
      break;
    }
    default: break;
  }
  seq_tensor_release(t1);
  seq_tensor_release(t2);
  return st;
}

seq_status seq_binary(seq_tensor **out, seq_binop op, seq_tensor *a, seq_tensor *b) {
  const char *name = binop_name(op);
  if (op >= SEQ_NBINOPS) return seq_fail(SEQ_EARG, "binary: unknown op");
  if (a->device != b->device)
    return seq_fail(SEQ_EDEVICE, "%s: tensors on different devices (%s and %s)", name,
                    seq_device_name(a->device), seq_device_name(b->device));
  int ndim;
  int64_t shape[SEQ_MAX_DIM];
  SEQ_TRY(seq_broadcast_shape(name, a, b, &ndim, shape));
  seq_dtype dt = promote(a->dtype, b->dtype);
  bool compare = op >= SEQ_BIN_EQ;
  seq_tensor *ac = NULL, *bc = NULL, *av = NULL, *bv = NULL, *r = NULL;
  seq_status st = seq_cast(&ac, a, dt);
  if (st == SEQ_OK) st = seq_cast(&bc, b, dt);
  if (st == SEQ_OK) st = broadcast_view(&av, ac, ndim, shape);
  if (st == SEQ_OK) st = broadcast_view(&bv, bc, ndim, shape);
  if (st == SEQ_OK) st = seq_tensor_empty(&r, compare ? SEQ_U8 : dt, a->device, ndim, shape);
  if (st == SEQ_OK) st = seq_backend_get(a->device)->binary(op, r, av, bv);
  seq_tensor *ins[2] = {ac, bc};
  if (st == SEQ_OK && !compare && seq_dtype_is_float(dt) && seq_needs_grad(2, ins)) {
    seq_node *node;
    st = seq_node_record(name, backward_binary, 2, ins, 1, &r, &node);
    if (st == SEQ_OK && node) {
      seq_binop *ctx = malloc(sizeof *ctx);
      if (!ctx) st = seq_fail(SEQ_ENOMEM, "%s: out of memory", name);
      else {
        *ctx = op;
        node->ctx = ctx;
        save_output(node, r);
      }
    }
  }
  seq_tensor_release(ac);
  seq_tensor_release(bc);
  seq_tensor_release(av);
  seq_tensor_release(bv);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  *out = r;
  return SEQ_OK;
}

seq_status seq_binary_scalar_int(seq_tensor **out, seq_binop op, seq_tensor *a, int64_t s, bool scalar_first) {
  /* only i64 holds integers a double cannot; everything else as before */
  const int64_t exact = (int64_t)1 << 53;
  if (a->dtype != SEQ_I64 || (op == SEQ_BIN_POW && s < 0) || (s >= -exact && s <= exact))
    return seq_binary_scalar(out, op, a, (double)s, scalar_first);
  seq_tensor *sc;
  SEQ_TRY(seq_full_int(&sc, a->dtype, a->device, 0, NULL, s));
  seq_status st = scalar_first ? seq_binary(out, op, sc, a) : seq_binary(out, op, a, sc);
  seq_tensor_release(sc);
  return st;
}

seq_status seq_binary_scalar(seq_tensor **out, seq_binop op, seq_tensor *a, double s, bool scalar_first) {
  seq_dtype dt = a->dtype;
  if (!seq_dtype_is_float(dt) && (s != floor(s) || (op == SEQ_BIN_POW && s < 0))) dt = SEQ_F32;
  if (!isfinite(s) && !seq_dtype_is_float(dt)) dt = SEQ_F32;
  seq_tensor *sc;
  SEQ_TRY(seq_tensor_full(&sc, dt, a->device, 0, NULL, s));
  seq_status st = scalar_first ? seq_binary(out, op, sc, a) : seq_binary(out, op, a, sc);
  seq_tensor_release(sc);
  return st;
}

/* ---- unary ---- */

typedef struct unary_ctx {
  seq_unop op;
  double p0, p1;
} unary_ctx;

static seq_status backward_unary(seq_node *n, seq_tensor **gout, seq_tensor **gi) {
  unary_ctx *c = n->ctx;
  seq_tensor *x = n->inputs[0], *y = n->saved[0], *g = gout[0];
  seq_tensor *t1 = NULL, *t2 = NULL, *t3 = NULL;
  seq_status st = SEQ_OK;
  switch (c->op) {
    case SEQ_UN_NEG: st = seq_unary(&gi[0], SEQ_UN_NEG, g, 0, 0); break;
    case SEQ_UN_EXP: st = seq_binary(&gi[0], SEQ_BIN_MUL, g, y); break;
    case SEQ_UN_LOG: st = seq_binary(&gi[0], SEQ_BIN_DIV, g, x); break;
    case SEQ_UN_SQRT:
      st = seq_unary(&t1, SEQ_UN_AFFINE, y, 2.0, 0.0);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_DIV, g, t1);
      break;
    case SEQ_UN_TANH: /* g * (1 - y^2) */
      st = seq_unary(&t1, SEQ_UN_SQUARE, y, 0, 0);
      if (st == SEQ_OK) st = seq_unary(&t2, SEQ_UN_AFFINE, t1, -1.0, 1.0);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_MUL, g, t2);
      break;
    case SEQ_UN_SIGMOID: /* g * y * (1 - y) */
      st = seq_unary(&t1, SEQ_UN_AFFINE, y, -1.0, 1.0);
      if (st == SEQ_OK) st = seq_binary(&t2, SEQ_BIN_MUL, y, t1);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_MUL, g, t2);
      break;
    case SEQ_UN_RELU:
      st = seq_binary_scalar(&t1, SEQ_BIN_GT, x, 0.0, false);
      if (st == SEQ_OK) st = seq_cast(&t2, t1, g->dtype);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_MUL, g, t2);
      break;
    case SEQ_UN_ABS:
      st = seq_unary(&t1, SEQ_UN_SIGN, x, 0, 0);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_MUL, g, t1);
      break;
    case SEQ_UN_SIGN: st = seq_tensor_zeros_like(&gi[0], x); break;
    case SEQ_UN_SQUARE:
      st = seq_unary(&t1, SEQ_UN_AFFINE, x, 2.0, 0.0);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_MUL, g, t1);
      break;
    case SEQ_UN_RECIPROCAL: /* -g * y^2 */
      st = seq_unary(&t1, SEQ_UN_SQUARE, y, 0, 0);
      if (st == SEQ_OK) st = seq_unary(&t2, SEQ_UN_NEG, t1, 0, 0);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_MUL, g, t2);
      break;
    case SEQ_UN_CLAMP: { /* pass where lo <= x <= hi */
      st = seq_binary_scalar(&t1, SEQ_BIN_GE, x, c->p0, false);
      if (st == SEQ_OK) st = seq_binary_scalar(&t2, SEQ_BIN_LE, x, c->p1, false);
      if (st == SEQ_OK) st = seq_binary(&t3, SEQ_BIN_MUL, t1, t2);
      seq_tensor *fm = NULL;
      if (st == SEQ_OK) st = seq_cast(&fm, t3, g->dtype);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_MUL, g, fm);
      seq_tensor_release(fm);
      break;
    }
    case SEQ_UN_POW_SCALAR: /* g * p * x^(p-1) */
      st = seq_unary(&t1, SEQ_UN_POW_SCALAR, x, c->p0 - 1.0, 0);
      if (st == SEQ_OK) st = seq_unary(&t2, SEQ_UN_AFFINE, t1, c->p0, 0.0);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_MUL, g, t2);
      break;
    case SEQ_UN_AFFINE: st = seq_unary(&gi[0], SEQ_UN_AFFINE, g, c->p0, 0.0); break;
    case SEQ_UN_SCALAR_BASE_POW: /* g * y * ln(p0) */
      st = seq_unary(&t1, SEQ_UN_AFFINE, y, log(c->p0), 0.0);
      if (st == SEQ_OK) st = seq_binary(&gi[0], SEQ_BIN_MUL, g, t1);
      break;
    default: st = seq_fail(SEQ_EARG, "unary backward: unknown op");
  }
  seq_tensor_release(t1);
  seq_tensor_release(t2);
  seq_tensor_release(t3);
  return st;
}

static bool unop_is_float_only(seq_unop op) {
  switch (op) {
    case SEQ_UN_EXP: case SEQ_UN_LOG: case SEQ_UN_SQRT: case SEQ_UN_TANH: case SEQ_UN_SIGMOID:
    case SEQ_UN_RECIPROCAL: case SEQ_UN_SCALAR_BASE_POW: return true;
    default: return false;
  }
}

seq_status seq_unary(seq_tensor **out, seq_unop op, seq_tensor *a, double p0, double p1) {
  if (op >= SEQ_NUNOPS) return seq_fail(SEQ_EARG, "unary: unknown op");
  const char *name = unop_name(op);
  seq_tensor *ac;
  /* Integer inputs of float-valued functions compute in f32, as torch does. */
  bool promote_float = !seq_dtype_is_float(a->dtype) &&
                       (unop_is_float_only(op) || (op == SEQ_UN_POW_SCALAR && (p0 != floor(p0) || p0 < 0)) ||
                        (op == SEQ_UN_AFFINE && (p0 != floor(p0) || p1 != floor(p1))));
  if (op == SEQ_UN_CLAMP && p0 > p1)
    return seq_fail(SEQ_EARG, "clamp: min %g is greater than max %g", p0, p1);
  SEQ_TRY(seq_cast(&ac, a, promote_float ? SEQ_F32 : a->dtype));
  seq_tensor *r = NULL;
  seq_status st = seq_tensor_empty(&r, ac->dtype, ac->device, ac->ndim, ac->shape);
  if (st == SEQ_OK) st = seq_backend_get(a->device)->unary(op, r, ac, p0, p1);
  if (st == SEQ_OK && seq_dtype_is_float(ac->dtype) && seq_needs_grad(1, &ac)) {
    seq_node *node;
    st = seq_node_record(name, backward_unary, 1, &ac, 1, &r, &node);
    if (st == SEQ_OK && node) {
      unary_ctx *c = malloc(sizeof *c);
      if (!c) st = seq_fail(SEQ_ENOMEM, "%s: out of memory", name);
      else {
        c->op = op;
        c->p0 = p0;
        c->p1 = p1;
        node->ctx = c;
        save_output(node, r);
      }
    }
  }
  seq_tensor_release(ac);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st != SEQ_OK ? seq_fail_context(st, name) : st;
  }
  *out = r;
  return SEQ_OK;
}

/* ---- where ---- */

static seq_status backward_where(seq_node *n, seq_tensor **gout, seq_tensor **gi) {
  seq_tensor *cond = n->saved[0], *g = gout[0];
  seq_tensor *zero;
  SEQ_TRY(seq_tensor_zeros(&zero, g->dtype, g->device, 0, NULL));
  seq_status st = SEQ_OK;
  for (int i = 0; i < 2 && st == SEQ_OK; i++) {
    seq_tensor *in = n->inputs[i], *w = NULL;
    if (!in->requires_grad) continue;
    st = i == 0 ? seq_where(&w, cond, g, zero) : seq_where(&w, cond, zero, g);
    if (st == SEQ_OK) st = seq_sum_to_shape(&gi[i], w, in->ndim, in->shape);
    seq_tensor_release(w);
  }
  seq_tensor_release(zero);
  return st;
}

seq_status seq_where(seq_tensor **out, seq_tensor *cond, seq_tensor *a, seq_tensor *b) {
  if (cond->device != a->device || a->device != b->device)
    return seq_fail(SEQ_EDEVICE, "where: tensors on different devices");
  int nd1, nd;
  int64_t s1[SEQ_MAX_DIM], shape[SEQ_MAX_DIM];
  SEQ_TRY(seq_broadcast_shape("where", a, b, &nd1, s1));
  seq_tensor tmp = {0};
  tmp.ndim = nd1;
  memcpy(tmp.shape, s1, sizeof s1);
  SEQ_TRY(seq_broadcast_shape("where", cond, &tmp, &nd, shape));
  seq_dtype dt = promote(a->dtype, b->dtype);
  seq_tensor *cu = NULL, *ac = NULL, *bc = NULL, *cv = NULL, *av = NULL, *bv = NULL, *r = NULL;
  seq_status st = seq_cast(&cu, cond, SEQ_U8);
  if (st == SEQ_OK && cond->dtype != SEQ_U8) { /* nonzero -> 1 */
    seq_tensor *nz;
    st = seq_binary_scalar(&nz, SEQ_BIN_NE, cond, 0.0, false);
    seq_tensor_release(cu);
    cu = st == SEQ_OK ? nz : NULL;
  }
  if (st == SEQ_OK) st = seq_cast(&ac, a, dt);
  if (st == SEQ_OK) st = seq_cast(&bc, b, dt);
  if (st == SEQ_OK) st = broadcast_view(&cv, cu, nd, shape);
  if (st == SEQ_OK) st = broadcast_view(&av, ac, nd, shape);
  if (st == SEQ_OK) st = broadcast_view(&bv, bc, nd, shape);
  if (st == SEQ_OK) st = seq_tensor_empty(&r, dt, a->device, nd, shape);
  if (st == SEQ_OK) st = seq_backend_get(a->device)->where(r, cv, av, bv);
  seq_tensor *ins[2] = {ac, bc};
  if (st == SEQ_OK && seq_dtype_is_float(dt) && seq_needs_grad(2, ins)) {
    seq_node *node;
    st = seq_node_record("where", backward_where, 2, ins, 1, &r, &node);
    if (st == SEQ_OK && node) seq_node_save(node, cu);
  }
  seq_tensor_release(cu);
  seq_tensor_release(ac);
  seq_tensor_release(bc);
  seq_tensor_release(cv);
  seq_tensor_release(av);
  seq_tensor_release(bv);
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  *out = r;
  return SEQ_OK;
}
