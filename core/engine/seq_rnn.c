/* seq_rnn.c - the op layer of the fused GRU and simple RNN (seq_nn.h):
 * the one check of the user's arguments, empty batches and sequences, the
 * autograd node.  Backends see what seq_rnn_args promises. */
#include <stdint.h>
#include <stdlib.h>

#include "seq_nn.h"

static const char *rnn_op_name(seq_rnn_mode m) { return m == SEQ_RNN_GRU ? "gru" : "simple_rnn"; }

typedef struct rnn_ctx {
  const seq_backend *be;
  seq_rnn_args args; /* tensors here are borrowed from node->saved */
  bool empty;        /* B == 0 or T == 0: defined here, no backend call */
  int32_t *lengths;  /* owned copy of args.lengths, or NULL */
} rnn_ctx;

static void rnn_ctx_free(void *p) {
  rnn_ctx *c = p;
  if (c->args.saved) c->be->rnn_free_saved(c->args.saved);
  free(c->lengths);
  free(c);
}

/* Saved tensors of the node, in this order. */
enum { RS_Y, RS_X, RS_K, RS_R, RS_B, RS_H0, RS_MASK, RS_N };

static void rnn_release(int n, seq_tensor **ts) {
  for (int i = 0; i < n; i++) {
    seq_tensor_release(ts[i]);
    ts[i] = NULL;
  }
}

static seq_status backward_rnn(seq_node *n, seq_tensor **gout, seq_tensor **gi) {
  rnn_ctx *c = n->ctx;
  seq_rnn_args *a = &c->args;
  const char *op = rnn_op_name(a->mode);
  if (!a->saved && !c->empty)
    return seq_fail(SEQ_EGRAD, "%s: saved state already freed (backward through it twice?)", op);
  const seq_dtype dt = a->kernel->dtype;
  seq_tensor *up[2] = {0};
  seq_tensor *outs[5] = {0}; /* dx, dk, dr, db, dh0 */
  seq_status st = SEQ_OK;
  for (int i = 0; i < 2 && st == SEQ_OK; i++) st = seq_nn_upstream(&up[i], gout[i], dt);
  for (int i = 0; i < 5 && st == SEQ_OK; i++) {
    seq_tensor *like = n->inputs[i];
    if ((i == 0 && a->x_is_index) || !like || !like->requires_grad) continue;
    st = c->empty ? seq_tensor_zeros(&outs[i], dt, like->device, like->ndim, like->shape)
                  : seq_tensor_empty(&outs[i], dt, like->device, like->ndim, like->shape);
  }
  if (st == SEQ_OK && c->empty) {
    /* h_n was h0: its gradient passes through; the weights' are zero */
    if (outs[4] && up[1]) st = seq_copy_(outs[4], up[1]);
  } else if (st == SEQ_OK) {
    seq_rnn_grads g = {up[0], up[1], outs[0], outs[1], outs[2], outs[3], outs[4]};
    st = c->be->rnn_backward(a, &g);
  }
  /* the workspace is consumed: free it now rather than with the tape */
  if (a->saved) c->be->rnn_free_saved(a->saved);
  a->saved = NULL;
  rnn_release(2, up);
  if (st != SEQ_OK) {
    rnn_release(5, outs);
    return st;
  }
  for (int i = 0; i < 5; i++) gi[i] = outs[i];
  return SEQ_OK;
}

/* Records the node that runs backward_rnn; on success the node owns the
 * backend's saved state (a->saved is cleared).  The mask is saved, not an
 * input: no gradient flows to it. */
static seq_status rnn_record(const seq_backend *be, seq_rnn_args *a, seq_tensor *inputs[5],
                             seq_tensor *cont[6]) {
  rnn_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return seq_fail(SEQ_ENOMEM, "%s: out of memory", rnn_op_name(a->mode));
  seq_tensor *yalias = NULL;
  /* a detached alias of y: saving y itself would make a cycle y -> node -> y */
  seq_status st = seq_detach(&yalias, a->y);
  seq_node *node = NULL;
  seq_tensor *outs[2] = {a->y, a->h_n};
  if (st == SEQ_OK) st = seq_node_record(rnn_op_name(a->mode), backward_rnn, 5, inputs, 2, outs, &node);
  if (st == SEQ_OK && node) {
    seq_node_save(node, yalias);
    for (int i = 0; i < 6; i++) seq_node_save(node, cont[i]);
    ctx->be = be;
    ctx->empty = a->B == 0 || a->T == 0;
    ctx->args = *a;
    ctx->args.y = node->saved[RS_Y];
    ctx->args.x = node->saved[RS_X];
    ctx->args.kernel = node->saved[RS_K];
    ctx->args.recurrent = node->saved[RS_R];
    ctx->args.bias = node->saved[RS_B];
    ctx->args.h0 = node->saved[RS_H0];
    ctx->args.rmask = node->saved[RS_MASK];
    ctx->args.h_n = NULL; /* not needed by backward */
    ctx->lengths = (int32_t *)a->lengths; /* the caller hands its copy over */
    a->lengths = NULL;
    node->ctx = ctx;
    node->ctx_free = rnn_ctx_free;
    a->saved = NULL;
    ctx = NULL;
  }
  seq_tensor_release(yalias);
  free(ctx);
  return st;
}

seq_status seq_nn_host_lengths(const char *op, const seq_tensor *lengths, int64_t B, int64_t T,
                               int32_t **out) {
  *out = NULL;
  if (lengths->dtype != SEQ_I32 && lengths->dtype != SEQ_I64)
    return seq_fail(SEQ_EDTYPE, "%s: lengths must be i32 or i64, got %s", op,
                    seq_dtype_name(lengths->dtype));
  if (lengths->ndim != 1 || lengths->shape[0] != B)
    return seq_fail(SEQ_ESHAPE, "%s: lengths %s should be [%lld] (one per sample)", op,
                    seq_tshape(lengths), (long long)B);
  if (T > INT32_MAX)
    return seq_fail(SEQ_ESHAPE, "%s: %lld timesteps exceed int32 lengths", op, (long long)T);
  seq_tensor *cpu = NULL, *c = NULL;
  seq_status st = seq_to_device(&cpu, (seq_tensor *)lengths, SEQ_CPU);
  if (st == SEQ_OK) st = seq_cast(&c, cpu, SEQ_I64);
  seq_tensor_release(cpu);
  if (st != SEQ_OK) return st;
  int32_t *len = malloc(sizeof(int32_t) * (size_t)(B > 0 ? B : 1));
  if (!len) st = seq_fail(SEQ_ENOMEM, "%s: out of memory", op);
  for (int64_t b = 0; b < B && st == SEQ_OK; b++) {
    int64_t v = 0;
    if (seq_tensor_get_int(c, (int64_t[]){b}, &v) != SEQ_OK || v < 0 || v > T)
      st = seq_fail(SEQ_EARG, "%s: lengths[%lld] = %lld is outside [0, %lld] (the timesteps)", op,
                    (long long)b, (long long)v, (long long)T);
    else len[b] = (int32_t)v;
  }
  seq_tensor_release(c);
  if (st != SEQ_OK) {
    free(len);
    return st;
  }
  *out = len;
  return SEQ_OK;
}

static seq_status seq_rnn(seq_rnn_mode mode, seq_tensor **y_out, seq_tensor **hn_out,
                          seq_tensor *x, seq_tensor *kernel, seq_tensor *recurrent,
                          seq_tensor *bias, seq_tensor *h0, seq_tensor *rmask,
                          const seq_tensor *lengths) {
  const seq_tensor *states[2] = {h0, rmask};
  const char *const names[2] = {"h0", "recurrent dropout mask"};
  int64_t size[4] = {0};
  SEQ_TRY(seq_nn_check_recurrent(rnn_op_name(mode), mode == SEQ_RNN_GRU ? 3 : 1,
                                 mode == SEQ_RNN_GRU ? 2 : 0, x, kernel, recurrent, bias, 2,
                                 states, names, size));
  const int64_t B = size[0], T = size[1], I = size[2], H = size[3];
  const seq_dtype dt = kernel->dtype;
  const seq_device dev = kernel->device;
  const seq_backend *be = seq_backend_get(dev);
  if (!be) return seq_fail_context(SEQ_EDEVICE, rnn_op_name(mode));
  int32_t *len = NULL;
  if (lengths) SEQ_TRY(seq_nn_host_lengths(rnn_op_name(mode), lengths, B, T, &len));

  seq_tensor *inputs[5] = {x, kernel, recurrent, bias, h0};
  const bool record = seq_needs_grad(5, inputs);
  seq_tensor *given[6] = {x, kernel, recurrent, bias, h0, rmask};
  seq_tensor *cont[6] = {0}; /* contiguous operands */
  seq_tensor *y = NULL, *hn = NULL;
  seq_status st = SEQ_OK;
  for (int i = 0; i < 6 && st == SEQ_OK; i++)
    if (given[i]) st = seq_contiguous(&cont[i], given[i]);
  const int64_t sy[3] = {B, T, H}, sh[2] = {B, H};
  if (st == SEQ_OK) st = seq_tensor_empty(&y, dt, dev, 3, sy);
  if (st == SEQ_OK) st = seq_tensor_empty(&hn, dt, dev, 2, sh);
  seq_rnn_args a = {mode,    B,       T,       I,       H,       !seq_dtype_is_float(x->dtype),
                    cont[0], cont[1], cont[2], cont[3], cont[4], cont[5],
                    y,       hn,      NULL,    record,  len};
  if (st == SEQ_OK) {
    if (B == 0 || T == 0) st = h0 ? seq_copy_(hn, h0) : seq_fill_(hn, 0);
    else st = be->rnn_forward(&a);
  }
  if (st == SEQ_OK && record) st = rnn_record(be, &a, inputs, cont);
  if (a.saved) be->rnn_free_saved(a.saved);
  free((int32_t *)a.lengths); /* NULL once the node owns it */
  rnn_release(6, cont);
  if (st != SEQ_OK) {
    seq_tensor *o[2] = {y, hn};
    rnn_release(2, o);
    return st;
  }
  if (y_out) *y_out = y; else seq_tensor_release(y);
  if (hn_out) *hn_out = hn; else seq_tensor_release(hn);
  return SEQ_OK;
}

seq_status seq_gru(seq_tensor **y, seq_tensor **h_n, seq_tensor *x, seq_tensor *kernel,
                   seq_tensor *recurrent, seq_tensor *bias, seq_tensor *h0, seq_tensor *rmask,
                   const seq_tensor *lengths) {
  return seq_rnn(SEQ_RNN_GRU, y, h_n, x, kernel, recurrent, bias, h0, rmask, lengths);
}

seq_status seq_simple_rnn(seq_tensor **y, seq_tensor **h_n, seq_tensor *x, seq_tensor *kernel,
                          seq_tensor *recurrent, seq_tensor *bias, seq_tensor *h0,
                          seq_tensor *rmask, bool relu, const seq_tensor *lengths) {
  return seq_rnn(relu ? SEQ_RNN_RELU : SEQ_RNN_TANH, y, h_n, x, kernel, recurrent, bias, h0,
                 rmask, lengths);
}
