/* seq_nn.c - the fused neural-network ops (see seq_nn.h).
 *
 * The LSTM and the two losses have their own backend kernels and autograd
 * nodes; embedding and dropout are compositions of ordinary ops (their
 * gradients come from index_select's index_add and from mul). */
#include "seq_nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static seq_status nn_backend(const char *op, seq_device dev, const seq_backend **out) {
  const seq_backend *be = seq_backend_get(dev);
  if (!be) return seq_fail_context(SEQ_EDEVICE, op);
  *out = be;
  return SEQ_OK;
}

/* Releases n tensors (NULL-safe) and clears their slots. */
static void nn_release(int n, seq_tensor **ts) {
  for (int i = 0; i < n; i++) {
    seq_tensor_release(ts[i]);
    ts[i] = NULL;
  }
}

/* ======================================================================
 * LSTM
 * ====================================================================== */

typedef struct lstm_ctx {
  const seq_backend *be;
  seq_lstm_args args; /* tensors here are borrowed from node->saved */
  bool empty;         /* B == 0 or T == 0: defined here, no backend call */
  int32_t *lengths;   /* owned copy of args.lengths, or NULL */
} lstm_ctx;

static void lstm_ctx_free(void *p) {
  lstm_ctx *c = p;
  if (c->args.saved) c->be->lstm_free_saved(c->args.saved);
  free(c->lengths);
  free(c);
}

/* Saved tensors of the lstm node, in this order. */
enum { LS_Y, LS_X, LS_K, LS_R, LS_B, LS_H0, LS_C0, LS_RMASK, LS_N };

static bool wants_grad(const seq_tensor *t) { return t && t->requires_grad; }

seq_status seq_nn_upstream(seq_tensor **out, seq_tensor *g, seq_dtype dt) {
  *out = NULL;
  if (!g) return SEQ_OK;
  seq_tensor *c;
  SEQ_TRY(seq_contiguous(&c, g));
  if (c->dtype != dt) {
    seq_tensor *k;
    seq_status st = seq_cast(&k, c, dt);
    seq_tensor_release(c);
    SEQ_TRY(st);
    c = k;
  }
  *out = c;
  return SEQ_OK;
}

/* An empty batch or sequence never reaches a backend: y is empty and the
 * final state is the initial one (zeros without h0/c0). */
static seq_status lstm_forward_empty(const seq_lstm_args *a) {
  SEQ_TRY(a->h0 ? seq_copy_(a->h_n, a->h0) : seq_fill_(a->h_n, 0));
  return a->c0 ? seq_copy_(a->c_n, a->c0) : seq_fill_(a->c_n, 0);
}

/* ... so the initial state's gradient is the final state's, and the
 * weights' gradients are zero (outs were allocated as zeros). */
static seq_status lstm_backward_empty(seq_tensor *const up[3], seq_tensor *outs[6]) {
  if (outs[4] && up[1]) SEQ_TRY(seq_copy_(outs[4], up[1]));
  if (outs[5] && up[2]) SEQ_TRY(seq_copy_(outs[5], up[2]));
  return SEQ_OK;
}

static seq_status backward_lstm(seq_node *n, seq_tensor **gout, seq_tensor **gi) {
  lstm_ctx *c = n->ctx;
  seq_lstm_args *a = &c->args;
  if (!a->saved && !c->empty)
    return seq_fail(SEQ_EGRAD, "lstm: saved state already freed (backward through it twice?)");
  seq_tensor *x = n->inputs[0], *k = n->inputs[1], *r = n->inputs[2], *b = n->inputs[3],
             *h0 = n->inputs[4], *c0 = n->inputs[5];
  const seq_dtype dt = a->kernel->dtype;
  seq_tensor *up[3] = {0};
  seq_tensor *outs[6] = {0}; /* dx, dk, dr, db, dh0, dc0 */
  seq_status st = SEQ_OK;
  for (int i = 0; i < 3 && st == SEQ_OK; i++) st = seq_nn_upstream(&up[i], gout[i], dt);
  seq_tensor *like[6] = {x, k, r, b, h0, c0};
  for (int i = 0; i < 6 && st == SEQ_OK; i++) {
    if ((i == 0 && a->x_is_index) || !wants_grad(like[i])) continue;
    st = c->empty ? seq_tensor_zeros(&outs[i], dt, like[i]->device, like[i]->ndim, like[i]->shape)
                  : seq_tensor_empty(&outs[i], dt, like[i]->device, like[i]->ndim, like[i]->shape);
  }
  if (st == SEQ_OK && c->empty) {
    st = lstm_backward_empty(up, outs);
  } else if (st == SEQ_OK) {
    seq_lstm_grads g = {up[0], up[1], up[2], outs[0], outs[1], outs[2], outs[3], outs[4], outs[5]};
    st = c->be->lstm_backward(a, &g);
  }
  /* the workspace is consumed: free it now rather than with the tape */
  if (a->saved) c->be->lstm_free_saved(a->saved);
  a->saved = NULL;
  nn_release(3, up);
  if (st != SEQ_OK) {
    nn_release(6, outs);
    return st;
  }
  for (int i = 0; i < 6; i++) gi[i] = outs[i];
  return SEQ_OK;
}

static seq_status nn_check_operand(const char *op, const char *what, const seq_tensor *t,
                                   seq_dtype dt, seq_device dev) {
  if (t->dtype != dt)
    return seq_fail(SEQ_EDTYPE, "%s: %s has dtype %s, kernel has %s", op, what,
                    seq_dtype_name(t->dtype), seq_dtype_name(dt));
  if (t->device != dev)
    return seq_fail(SEQ_EDEVICE, "%s: %s is on %s, kernel on %s", op, what,
                    seq_device_name(t->device), seq_device_name(dev));
  return SEQ_OK;
}

seq_status seq_nn_check_recurrent(const char *op, int64_t gates, int64_t bias_rows,
                                  const seq_tensor *x, const seq_tensor *kernel,
                                  const seq_tensor *recurrent, const seq_tensor *bias, int nstates,
                                  const seq_tensor *const states[], const char *const names[],
                                  int64_t size[4]) {
  if (!x || !kernel || !recurrent || !bias)
    return seq_fail(SEQ_EARG, "%s: x, kernel, recurrent kernel and bias are required", op);
  const seq_dtype dt = kernel->dtype;
  const seq_device dev = kernel->device;
  const int64_t G = gates;
  if (dt != SEQ_F32 && dt != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "%s: kernel dtype %s is not supported (use f32 or f64)", op,
                    seq_dtype_name(dt));
  if (kernel->ndim != 2 || kernel->shape[0] == 0 || kernel->shape[1] == 0 ||
      kernel->shape[1] % G != 0)
    return G == 1 ? seq_fail(SEQ_ESHAPE, "%s: kernel %s should be [input, units]", op,
                             seq_tshape(kernel))
                  : seq_fail(SEQ_ESHAPE, "%s: kernel %s should be [input, %lld*units]", op,
                             seq_tshape(kernel), (long long)G);
  const int64_t I = kernel->shape[0], H = kernel->shape[1] / G;
  if (recurrent->ndim != 2 || recurrent->shape[0] != H || recurrent->shape[1] != G * H)
    return seq_fail(SEQ_ESHAPE, "%s: recurrent kernel %s should be [%lld,%lld] for kernel %s", op,
                    seq_tshape(recurrent), (long long)H, (long long)(G * H), seq_tshape(kernel));
  if (bias_rows == 0 ? (bias->ndim != 1 || bias->shape[0] != G * H)
                     : (bias->ndim != 2 || bias->shape[0] != bias_rows || bias->shape[1] != G * H))
    return bias_rows == 0
               ? seq_fail(SEQ_ESHAPE, "%s: bias %s should be [%lld]", op, seq_tshape(bias),
                          (long long)(G * H))
               : seq_fail(SEQ_ESHAPE, "%s: bias %s should be [%lld,%lld] (input and recurrent bias)",
                          op, seq_tshape(bias), (long long)bias_rows, (long long)(G * H));
  SEQ_TRY(nn_check_operand(op, "recurrent kernel", recurrent, dt, dev));
  SEQ_TRY(nn_check_operand(op, "bias", bias, dt, dev));
  if (x->device != dev)
    return seq_fail(SEQ_EDEVICE, "%s: input is on %s, kernel on %s", op,
                    seq_device_name(x->device), seq_device_name(dev));
  if (!seq_dtype_is_float(x->dtype)) {
    if (x->dtype != SEQ_I32 && x->dtype != SEQ_I64)
      return seq_fail(SEQ_EDTYPE, "%s: index input must be i32 or i64 ids, got %s", op,
                      seq_dtype_name(x->dtype));
    if (x->ndim != 2)
      return seq_fail(SEQ_ESHAPE, "%s: index input %s should be [batch, steps]", op,
                      seq_tshape(x));
  } else {
    if (x->ndim != 3)
      return seq_fail(SEQ_ESHAPE, "%s: input %s should be [batch, steps, features]", op,
                      seq_tshape(x));
    SEQ_TRY(nn_check_operand(op, "input", x, dt, dev));
    if (x->shape[2] != I)
      return seq_fail(SEQ_ESHAPE, "%s: input %s has %lld features but kernel %s expects %lld", op,
                      seq_tshape(x), (long long)x->shape[2], seq_tshape(kernel), (long long)I);
  }
  const int64_t B = x->shape[0], T = x->shape[1];
  for (int i = 0; i < nstates; i++) {
    if (!states[i]) continue;
    SEQ_TRY(nn_check_operand(op, names[i], states[i], dt, dev));
    if (states[i]->ndim != 2 || states[i]->shape[0] != B || states[i]->shape[1] != H)
      return seq_fail(SEQ_ESHAPE, "%s: %s %s should be [%lld,%lld] (batch, units)", op, names[i],
                      seq_tshape(states[i]), (long long)B, (long long)H);
  }
  size[0] = B;
  size[1] = T;
  size[2] = I;
  size[3] = H;
  return SEQ_OK;
}

/* Records the node that runs backward_lstm; on success the node owns the
 * backend's saved state (a->saved is cleared). */
static seq_status lstm_record(const seq_backend *be, seq_lstm_args *a, seq_tensor *inputs[6],
                              seq_tensor *cont[7]) {
  lstm_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return seq_fail(SEQ_ENOMEM, "lstm: out of memory");
  seq_tensor *yalias = NULL;
  /* a detached alias of y: saving y itself would make a cycle y -> node -> y */
  seq_status st = seq_detach(&yalias, a->y);
  seq_node *node = NULL;
  seq_tensor *outs[3] = {a->y, a->h_n, a->c_n};
  if (st == SEQ_OK) st = seq_node_record("lstm", backward_lstm, 6, inputs, 3, outs, &node);
  if (st == SEQ_OK && node) {
    seq_node_save(node, yalias);
    for (int i = 0; i < 7; i++) seq_node_save(node, cont[i]);
    ctx->be = be;
    ctx->empty = a->B == 0 || a->T == 0;
    ctx->args = *a;
    ctx->args.y = node->saved[LS_Y];
    ctx->args.x = node->saved[LS_X];
    ctx->args.kernel = node->saved[LS_K];
    ctx->args.recurrent = node->saved[LS_R];
    ctx->args.bias = node->saved[LS_B];
    ctx->args.h0 = node->saved[LS_H0];
    ctx->args.c0 = node->saved[LS_C0];
    ctx->args.recurrent_mask = node->saved[LS_RMASK];
    ctx->args.h_n = ctx->args.c_n = NULL; /* not needed by backward */
    ctx->lengths = (int32_t *)a->lengths; /* the caller hands its copy over */
    a->lengths = NULL;
    node->ctx = ctx;
    node->ctx_free = lstm_ctx_free;
    a->saved = NULL;
    ctx = NULL;
  }
  seq_tensor_release(yalias);
  free(ctx);
  return st;
}

seq_status seq_lstm(seq_tensor **y_out, seq_tensor **hn_out, seq_tensor **cn_out, seq_tensor *x,
                    seq_tensor *kernel, seq_tensor *recurrent, seq_tensor *bias, seq_tensor *h0,
                    seq_tensor *c0) {
  return seq_lstm_ex(y_out, hn_out, cn_out, x, kernel, recurrent, bias, h0, c0, NULL, NULL);
}

seq_status seq_lstm_ex(seq_tensor **y_out, seq_tensor **hn_out, seq_tensor **cn_out,
                       seq_tensor *x, seq_tensor *kernel, seq_tensor *recurrent, seq_tensor *bias,
                       seq_tensor *h0, seq_tensor *c0, const seq_tensor *lengths,
                       seq_tensor *recurrent_mask) {
  if (x && kernel && recurrent && bias && (h0 == NULL) != (c0 == NULL))
    return seq_fail(SEQ_EARG, "lstm: give both h0 and c0, or neither");
  const seq_tensor *states[3] = {h0, c0, recurrent_mask};
  const char *const names[3] = {"h0", "c0", "recurrent mask"};
  int64_t size[4] = {0};
  SEQ_TRY(seq_nn_check_recurrent("lstm", 4, 0, x, kernel, recurrent, bias, 3, states, names, size));
  const int64_t B = size[0], T = size[1], I = size[2], H = size[3];
  const seq_dtype dt = kernel->dtype;
  const seq_device dev = kernel->device;
  const seq_backend *be = NULL;
  SEQ_TRY(nn_backend("lstm", dev, &be));
  int32_t *len = NULL;
  if (lengths) SEQ_TRY(seq_nn_host_lengths("lstm", lengths, B, T, &len));

  seq_tensor *inputs[6] = {x, kernel, recurrent, bias, h0, c0};
  const bool record = seq_needs_grad(6, inputs);
  seq_tensor *cont[7] = {0}; /* contiguous operands, then the recurrent mask */
  seq_tensor *y = NULL, *hn = NULL, *cn = NULL;
  seq_status st = SEQ_OK;
  for (int i = 0; i < 6 && st == SEQ_OK; i++)
    if (inputs[i]) st = seq_contiguous(&cont[i], inputs[i]);
  /* detached: the mask is a constant of the op, never differentiated */
  if (recurrent_mask && st == SEQ_OK) {
    seq_tensor *m = NULL;
    st = seq_detach(&m, recurrent_mask);
    if (st == SEQ_OK) st = seq_contiguous(&cont[6], m);
    seq_tensor_release(m);
  }
  const int64_t sy[3] = {B, T, H}, sh[2] = {B, H};
  if (st == SEQ_OK) st = seq_tensor_empty(&y, dt, dev, 3, sy);
  if (st == SEQ_OK) st = seq_tensor_empty(&hn, dt, dev, 2, sh);
  if (st == SEQ_OK) st = seq_tensor_empty(&cn, dt, dev, 2, sh);
  seq_lstm_args a = {.B = B, .T = T, .I = I, .H = H, .x_is_index = !seq_dtype_is_float(x->dtype),
                     .x = cont[0], .kernel = cont[1], .recurrent = cont[2], .bias = cont[3],
                     .h0 = cont[4], .c0 = cont[5], .y = y, .h_n = hn, .c_n = cn,
                     .training = record, .lengths = len, .recurrent_mask = cont[6]};
  if (st == SEQ_OK) st = (B == 0 || T == 0) ? lstm_forward_empty(&a) : be->lstm_forward(&a);
  if (st == SEQ_OK && record) st = lstm_record(be, &a, inputs, cont);
  if (a.saved) be->lstm_free_saved(a.saved);
  free((int32_t *)a.lengths); /* NULL once the node owns it */
  nn_release(7, cont);
  if (st != SEQ_OK) {
    seq_tensor *o[3] = {y, hn, cn};
    nn_release(3, o);
    return st;
  }
  if (y_out) *y_out = y; else seq_tensor_release(y);
  if (hn_out) *hn_out = hn; else seq_tensor_release(hn);
  if (cn_out) *cn_out = cn; else seq_tensor_release(cn);
  return SEQ_OK;
}

/* ======================================================================
 * Embedding and dropout (compositions)
 * ====================================================================== */

seq_status seq_embedding(seq_tensor **out, seq_tensor *weight, seq_tensor *ids) {
  if (weight->ndim != 2)
    return seq_fail(SEQ_ESHAPE, "embedding: weight %s should be [vocabulary, dim]",
                    seq_tshape(weight));
  if (ids->dtype != SEQ_I32 && ids->dtype != SEQ_I64)
    return seq_fail(SEQ_EDTYPE, "embedding: ids must be i32 or i64, got %s",
                    seq_dtype_name(ids->dtype));
  if (ids->ndim >= SEQ_MAX_DIM)
    return seq_fail(SEQ_ESHAPE, "embedding: ids %s have too many dims", seq_tshape(ids));
  int64_t n = ids->numel;
  seq_tensor *flat, *rows;
  SEQ_TRY(seq_reshape(&flat, ids, 1, &n));
  seq_status st = seq_index_select(&rows, weight, 0, flat);
  seq_tensor_release(flat);
  if (st != SEQ_OK) return seq_fail_context(st, "embedding");
  int64_t shape[SEQ_MAX_DIM];
  memcpy(shape, ids->shape, sizeof(int64_t) * (size_t)ids->ndim);
  shape[ids->ndim] = weight->shape[1];
  st = seq_reshape(out, rows, ids->ndim + 1, shape);
  seq_tensor_release(rows);
  return st;
}

seq_status seq_dropout(seq_tensor **out, seq_tensor *x, double rate, bool training) {
  if (!(rate >= 0 && rate < 1))
    return seq_fail(SEQ_EARG, "dropout: rate %g must be in [0, 1)", rate);
  if (!seq_dtype_is_float(x->dtype))
    return seq_fail(SEQ_EDTYPE, "dropout: needs a float tensor, got %s", seq_dtype_name(x->dtype));
  if (!training || rate == 0) {
    *out = seq_tensor_retain(x);
    return SEQ_OK;
  }
  /* mask = (u >= rate) / (1 - rate), u ~ U[0,1) from the global stream */
  seq_tensor *u = NULL, *keep = NULL, *mask = NULL, *scaled = NULL;
  bool prev = seq_set_grad_enabled(false);
  seq_status st = seq_rand_uniform(&u, x->dtype, x->device, x->ndim, x->shape, 0.0, 1.0);
  if (st == SEQ_OK) st = seq_binary_scalar(&keep, SEQ_BIN_GE, u, rate, false);
  if (st == SEQ_OK) st = seq_cast(&mask, keep, x->dtype);
  if (st == SEQ_OK) st = seq_binary_scalar(&scaled, SEQ_BIN_MUL, mask, 1.0 / (1.0 - rate), false);
  seq_set_grad_enabled(prev);
  if (st == SEQ_OK) st = seq_binary(out, SEQ_BIN_MUL, x, scaled);
  seq_tensor *tmp[4] = {u, keep, mask, scaled};
  nn_release(4, tmp);
  return st;
}

/* ======================================================================
 * Fused losses
 * ====================================================================== */

/* Saved: probs/sig (detached), target (flat, as used), and the loss's
 * scale 1/N lives in ctx. */
typedef struct loss_ctx {
  double inv_n;
  bool sparse;
} loss_ctx;

/* Mean of a 1-D tensor of per-row losses as a 0-d tensor, no graph. */
static seq_status loss_mean(seq_tensor **out, seq_tensor *rows) {
  bool prev = seq_set_grad_enabled(false);
  seq_status st = seq_reduce(out, SEQ_RED_MEAN, rows, SEQ_ALL_DIMS, false);
  seq_set_grad_enabled(prev);
  return st;
}

/* g (0-d upstream gradient) * diff / N, reshaped like `like`. */
static seq_status loss_grad_finish(seq_tensor **gi, seq_tensor *diff, seq_tensor *g, double inv_n,
                                   const seq_tensor *like) {
  seq_tensor *scaled = NULL, *gg = NULL;
  seq_status st = seq_binary_scalar(&scaled, SEQ_BIN_MUL, diff, inv_n, false);
  if (st == SEQ_OK) {
    if (g) {
      seq_tensor *gc = NULL;
      st = seq_cast(&gc, g, diff->dtype);
      if (st == SEQ_OK) st = seq_binary(&gg, SEQ_BIN_MUL, scaled, gc);
      seq_tensor_release(gc);
    } else {
      gg = seq_tensor_retain(scaled);
    }
  }
  if (st == SEQ_OK) st = seq_reshape(gi, gg, like->ndim, like->shape);
  seq_tensor_release(scaled);
  seq_tensor_release(gg);
  return st;
}

static seq_status backward_softmax_xent(seq_node *n, seq_tensor **gout, seq_tensor **gi) {
  loss_ctx *c = n->ctx;
  seq_tensor *logits = n->inputs[0], *probs = n->saved[0], *target = n->saved[1];
  if (!logits->requires_grad) return SEQ_OK;
  seq_tensor *diff = NULL;
  seq_status st;
  if (c->sparse) {
    /* probs - one_hot(target): scatter -1 at the class of each row */
    seq_tensor *ids2 = NULL, *neg = NULL;
    int64_t s2[2] = {target->numel, 1};
    st = seq_reshape(&ids2, target, 2, s2);
    if (st == SEQ_OK) st = seq_tensor_full(&neg, probs->dtype, probs->device, 2, s2, -1.0);
    if (st == SEQ_OK) st = seq_scatter_add(&diff, probs, 1, ids2, neg);
    seq_tensor_release(ids2);
    seq_tensor_release(neg);
  } else {
    st = seq_binary(&diff, SEQ_BIN_SUB, probs, target);
  }
  if (st == SEQ_OK) st = loss_grad_finish(&gi[0], diff, gout[0], c->inv_n, logits);
  seq_tensor_release(diff);
  return st;
}

static seq_status backward_sigmoid_bce(seq_node *n, seq_tensor **gout, seq_tensor **gi) {
  loss_ctx *c = n->ctx;
  seq_tensor *logits = n->inputs[0], *sig = n->saved[0], *target = n->saved[1];
  if (!logits->requires_grad) return SEQ_OK;
  seq_tensor *diff = NULL;
  seq_status st = seq_binary(&diff, SEQ_BIN_SUB, sig, target);
  if (st == SEQ_OK) st = loss_grad_finish(&gi[0], diff, gout[0], c->inv_n, logits);
  seq_tensor_release(diff);
  return st;
}

/* Records the loss node: inputs {logits}, saved {aux, target}. */
static seq_status loss_record(const char *name, seq_backward_fn fn, seq_tensor *logits,
                              seq_tensor *loss, seq_tensor *aux, seq_tensor *target, double inv_n,
                              bool sparse) {
  if (!seq_needs_grad(1, &logits)) return SEQ_OK;
  loss_ctx *c = malloc(sizeof *c);
  if (!c) return seq_fail(SEQ_ENOMEM, "%s: out of memory", name);
  c->inv_n = inv_n;
  c->sparse = sparse;
  seq_node *node = NULL;
  seq_status st = seq_node_record(name, fn, 1, &logits, 1, &loss, &node);
  if (st != SEQ_OK || !node) {
    free(c);
    return st;
  }
  node->ctx = c;
  seq_node_save(node, aux);
  seq_node_save(node, target);
  return SEQ_OK;
}

seq_status seq_softmax_cross_entropy(seq_tensor **loss, seq_tensor *logits, seq_tensor *target) {
  const char *op = "softmax_cross_entropy";
  if (!seq_dtype_is_float(logits->dtype))
    return seq_fail(SEQ_EDTYPE, "%s: logits must be float, got %s", op,
                    seq_dtype_name(logits->dtype));
  if (logits->ndim < 1 || logits->shape[logits->ndim - 1] == 0)
    return seq_fail(SEQ_ESHAPE, "%s: logits %s need a non-empty class dim", op,
                    seq_tshape(logits));
  if (target->device != logits->device)
    return seq_fail(SEQ_EDEVICE, "%s: target on %s, logits on %s", op,
                    seq_device_name(target->device), seq_device_name(logits->device));
  const int64_t C = logits->shape[logits->ndim - 1], N = logits->numel / C;
  const bool sparse = !seq_dtype_is_float(target->dtype);
  if (sparse && target->dtype != SEQ_I32 && target->dtype != SEQ_I64)
    return seq_fail(SEQ_EDTYPE, "%s: class ids must be i32 or i64, got %s", op,
                    seq_dtype_name(target->dtype));
  if (sparse) {
    bool ok = target->numel == N && (target->ndim == logits->ndim - 1 ||
                                     (target->ndim == logits->ndim &&
                                      target->shape[target->ndim - 1] == 1));
    for (int d = 0; ok && d < logits->ndim - 1; d++) ok = target->shape[d] == logits->shape[d];
    if (!ok)
      return seq_fail(SEQ_ESHAPE,
                      "%s: class ids %s do not match logits %s (expected one id per row)", op,
                      seq_tshape(target), seq_tshape(logits));
  } else if (!seq_shape_equal(target, logits)) {
    return seq_fail(SEQ_ESHAPE, "%s: target %s does not match logits %s", op, seq_tshape(target),
                    seq_tshape(logits));
  }
  const seq_backend *be = NULL;
  SEQ_TRY(nn_backend(op, logits->device, &be));
  seq_tensor *z = NULL, *t = NULL, *tc = NULL, *rows = NULL, *probs = NULL, *out = NULL;
  const int64_t s2[2] = {N, C};
  bool prev = seq_set_grad_enabled(false);
  seq_status st = seq_reshape(&z, logits, 2, s2);
  if (st == SEQ_OK) {
    if (sparse) st = seq_reshape(&t, target, 1, &N);
    else if (target->dtype != logits->dtype) {
      st = seq_cast(&tc, target, logits->dtype);
      if (st == SEQ_OK) st = seq_reshape(&t, tc, 2, s2);
    } else st = seq_reshape(&t, target, 2, s2);
  }
  seq_set_grad_enabled(prev);
  if (st == SEQ_OK) st = seq_tensor_empty(&rows, logits->dtype, logits->device, 1, &N);
  if (st == SEQ_OK) st = seq_tensor_empty(&probs, logits->dtype, logits->device, 2, s2);
  if (st == SEQ_OK) st = be->softmax_xent(rows, probs, z, t);
  if (st == SEQ_OK) st = loss_mean(&out, rows);
  if (st == SEQ_OK)
    st = loss_record(op, backward_softmax_xent, logits, out, probs, t, N > 0 ? 1.0 / (double)N : 0,
                     sparse);
  seq_tensor *tmp[5] = {z, t, tc, rows, probs};
  nn_release(5, tmp);
  if (st != SEQ_OK) {
    seq_tensor_release(out);
    return st;
  }
  *loss = out;
  return SEQ_OK;
}

seq_status seq_sigmoid_binary_cross_entropy(seq_tensor **loss, seq_tensor *logits,
                                            seq_tensor *target) {
  const char *op = "sigmoid_binary_cross_entropy";
  if (!seq_dtype_is_float(logits->dtype))
    return seq_fail(SEQ_EDTYPE, "%s: logits must be float, got %s", op,
                    seq_dtype_name(logits->dtype));
  if (target->numel != logits->numel)
    return seq_fail(SEQ_ESHAPE, "%s: target %s and logits %s differ in size", op,
                    seq_tshape(target), seq_tshape(logits));
  if (target->device != logits->device)
    return seq_fail(SEQ_EDEVICE, "%s: target on %s, logits on %s", op,
                    seq_device_name(target->device), seq_device_name(logits->device));
  const seq_backend *be = NULL;
  SEQ_TRY(nn_backend(op, logits->device, &be));
  const int64_t N = logits->numel;
  seq_tensor *z = NULL, *t = NULL, *tc = NULL, *rows = NULL, *sig = NULL, *out = NULL;
  bool prev = seq_set_grad_enabled(false);
  seq_status st = seq_reshape(&z, logits, 1, &N);
  if (st == SEQ_OK) {
    if (target->dtype != logits->dtype) {
      st = seq_cast(&tc, target, logits->dtype);
      if (st == SEQ_OK) st = seq_reshape(&t, tc, 1, &N);
    } else st = seq_reshape(&t, target, 1, &N);
  }
  seq_set_grad_enabled(prev);
  if (st == SEQ_OK) st = seq_tensor_empty(&rows, logits->dtype, logits->device, 1, &N);
  if (st == SEQ_OK) st = seq_tensor_empty(&sig, logits->dtype, logits->device, 1, &N);
  if (st == SEQ_OK) st = be->sigmoid_bce(rows, sig, z, t);
  if (st == SEQ_OK) st = loss_mean(&out, rows);
  if (st == SEQ_OK)
    st = loss_record(op, backward_sigmoid_bce, logits, out, sig, t, N > 0 ? 1.0 / (double)N : 0,
                     false);
  seq_tensor *tmp[5] = {z, t, tc, rows, sig};
  nn_release(5, tmp);
  if (st != SEQ_OK) {
    seq_tensor_release(out);
    return st;
  }
  *loss = out;
  return SEQ_OK;
}
