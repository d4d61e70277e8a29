/* cuda_rnn_loop.c - the LSTM, GRU and simple RNN as a loop over the steps,
 * for the one thing cuDNN's RNN API cannot do: Keras's recurrent_dropout,
 * a mask [B,H] on h_{t-1} before the recurrent product of every gate, fixed
 * over the steps (TensorFlow's Keras likewise leaves cuDNN for a generic
 * kernel then).  Same semantics as the CPU kernels (core/cpu/cpu_lstm.c,
 * cpu_rnn.c; seq_lstm_args / seq_rnn_args): Keras layouts, per-sample
 * lengths (y zero after them, h_n the last real step, dy there ignored).
 *
 * Forward: one GEMM for the input projection of all steps,
 *   gates [B,T,G*H] = x [B*T,I] . kernel,
 * then per step t a GEMM u = hm[:,t] . recurrent, where hm[:,t] =
 * h_{t-1} * mask, and one gate kernel (seq_cuda_k_rnn_step_forward) that
 * activates the gates in place, writes h_t (and c_t) into the carried
 * states S (C) and y, and hm[:,t+1] for the next step.  Rows past their
 * length carry their state unchanged.
 *
 * Backward, steps in reverse: the gate kernel turns dh (carried, plus dy,
 * plus d(hm) of the later step times the mask) into the pre-activation
 * gradients dz [B,T,G*H] (input side) and du (recurrent side; the same
 * numbers except for the GRU's candidate, which sees r*u), then a GEMM
 * d(hm_t) = du[:,t] . recurrent^T.  The weight gradients are one GEMM each
 * over all B*T rows: dkernel = x^T dz, drecurrent = hm^T du, dx = dz
 * kernel^T, and dbias the column sums of dz (and du: the GRU's recurrent
 * bias row).
 *
 * Buffers are batch-major [B,T,...], so step t's rows are strided views
 * (leading dimension T*width) that cuBLAS reads directly.  The saved state
 * holds the activated gates, S, C, hm, the GRU's u_h, the dense input of
 * the forward (a one-hot for class ids, as the cuDNN path builds) and the
 * device lengths; the op layer keeps x, the weights, h0, c0 and the mask
 * alive for backward. */
#include <stdlib.h>
#include <string.h>

#include "seq_cuda.h"

struct seq_cuda_rnn_loop {
  seq_cuda_scratch gates, uu, S, C, hm, xdense, seqlen;
  const void *x; /* the forward's dense input: xdense, or x's own data */
};

static int64_t loop_gates(seq_cuda_cell c) {
  return c == SEQ_CUDA_CELL_LSTM ? 4 : c == SEQ_CUDA_CELL_GRU ? 3 : 1;
}

static const char *loop_op(seq_cuda_cell c) {
  return c == SEQ_CUDA_CELL_LSTM ? "lstm" : c == SEQ_CUDA_CELL_GRU ? "gru" : "simple_rnn";
}

void seq_cuda_rnn_loop_free(seq_cuda_rnn_loop *s) {
  if (!s) return;
  seq_cuda_scratch_free(&s->gates);
  seq_cuda_scratch_free(&s->uu);
  seq_cuda_scratch_free(&s->S);
  seq_cuda_scratch_free(&s->C);
  seq_cuda_scratch_free(&s->hm);
  seq_cuda_scratch_free(&s->xdense);
  seq_cuda_scratch_free(&s->seqlen);
  free(s);
}

/* Row-major C[m,n] = A[m,k] . B[k,n] (op() by the flags), no batching. */
static seq_status gemm(seq_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                       const void *A, int64_t lda, const void *B, int64_t ldb, void *C, int64_t ldc) {
  return seq_cuda_gemm(dt, ta, tb, m, n, k, 1.0, A, lda, 0, B, ldb, 0, 0.0, C, ldc, 0, 1);
}

/* The operands every step reads, as contiguous device pointers (tmp[0..5]
 * hold converted copies where needed). */
typedef struct loop_operands {
  const void *kernel, *recurrent, *bias, *h0, *c0, *mask;
} loop_operands;

static seq_status loop_operands_of(const seq_cuda_rnn_loop_args *a, seq_dtype dt,
                                   seq_cuda_scratch *tmp, loop_operands *o) {
  memset(o, 0, sizeof *o);
  SEQ_TRY(seq_cuda_contig(a->kernel, dt, &tmp[0], &o->kernel));
  SEQ_TRY(seq_cuda_contig(a->recurrent, dt, &tmp[1], &o->recurrent));
  SEQ_TRY(seq_cuda_contig(a->bias, dt, &tmp[2], &o->bias));
  SEQ_TRY(seq_cuda_contig(a->mask, dt, &tmp[3], &o->mask));
  if (a->h0) SEQ_TRY(seq_cuda_contig(a->h0, dt, &tmp[4], &o->h0));
  if (a->c0) SEQ_TRY(seq_cuda_contig(a->c0, dt, &tmp[5], &o->c0));
  return SEQ_OK;
}

/* The step description both passes share. */
static seq_cuda_rnn_step loop_step(const seq_cuda_rnn_loop_args *a, seq_cuda_rnn_loop *s,
                                   const loop_operands *o) {
  seq_cuda_rnn_step st;
  memset(&st, 0, sizeof st);
  st.cell = (int)a->cell;
  st.B = a->B;
  st.T = a->T;
  st.H = a->H;
  st.len = a->lengths ? (const int32_t *)s->seqlen.ptr : NULL;
  st.mask = o->mask;
  st.h0 = o->h0;
  st.c0 = o->c0;
  st.bias = o->bias;
  st.gates = s->gates.ptr;
  st.uu = s->uu.ptr;
  st.S = s->S.ptr;
  st.C = s->C.ptr;
  st.hm = s->hm.ptr;
  return st;
}

static seq_status loop_forward_impl(const seq_cuda_rnn_loop_args *a, seq_cuda_rnn_loop *s,
                                    seq_cuda_scratch *tmp) {
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H, GH = loop_gates(a->cell) * H;
  const seq_dtype dt = a->kernel->dtype;
  const size_t es = seq_dtype_size(dt), bth = (size_t)(B * T * H) * es;
  SEQ_TRY(seq_cuda_scratch_alloc(&s->gates, (size_t)(B * T * GH) * es));
  SEQ_TRY(seq_cuda_scratch_alloc(&s->S, bth));
  SEQ_TRY(seq_cuda_scratch_alloc(&s->hm, bth));
  if (a->cell == SEQ_CUDA_CELL_LSTM) SEQ_TRY(seq_cuda_scratch_alloc(&s->C, bth));
  if (a->cell == SEQ_CUDA_CELL_GRU) SEQ_TRY(seq_cuda_scratch_alloc(&s->uu, bth));
  if (a->lengths) {
    SEQ_TRY(seq_cuda_scratch_alloc(&s->seqlen, sizeof(int32_t) * (size_t)B));
    SEQ_TRY(seq_cuda_upload_impl(s->seqlen.ptr, a->lengths, sizeof(int32_t) * (size_t)B));
  }
  SEQ_TRY(seq_cuda_rnn_dense_input(a->x, a->x_is_index, dt, I, &s->xdense, &s->x));
  loop_operands o;
  SEQ_TRY(loop_operands_of(a, dt, tmp, &o));
  SEQ_TRY(gemm(dt, false, false, B * T, GH, I, s->x, I, o.kernel, GH, s->gates.ptr, GH));

  seq_cuda_rnn_step st = loop_step(a, s, &o);
  st.y = a->y ? seq_tensor_data(a->y) : NULL;
  st.h_n = a->h_n ? seq_tensor_data(a->h_n) : NULL;
  st.c_n = a->c_n ? seq_tensor_data(a->c_n) : NULL;
  SEQ_TRY(seq_cuda_scratch_alloc(&tmp[7], (size_t)(B * GH) * es));
  st.u = tmp[7].ptr;
  SEQ_TRY(seq_cuda_k_rnn_first_input(&st, dt));
  for (int64_t t = 0; t < T; t++) {
    st.t = t;
    SEQ_TRY(gemm(dt, false, false, B, GH, H, (const char *)s->hm.ptr + (size_t)(t * H) * es,
                 T * H, o.recurrent, GH, tmp[7].ptr, GH));
    SEQ_TRY(seq_cuda_k_rnn_step_forward(&st, dt));
  }
  return SEQ_OK;
}

seq_status seq_cuda_rnn_loop_forward(const seq_cuda_rnn_loop_args *a, seq_cuda_rnn_loop **saved) {
  *saved = NULL;
  seq_cuda_rnn_loop *s = calloc(1, sizeof *s);
  if (!s) return seq_fail(SEQ_ENOMEM, "%s: out of host memory", loop_op(a->cell));
  seq_cuda_scratch tmp[8];
  memset(tmp, 0, sizeof tmp);
  seq_status st = loop_forward_impl(a, s, tmp);
  for (int i = 0; i < 8; i++) seq_cuda_scratch_free(&tmp[i]);
  if (st != SEQ_OK || !a->training) seq_cuda_rnn_loop_free(s);
  else *saved = s;
  return st;
}

static seq_status loop_backward_impl(const seq_cuda_rnn_loop_args *a, seq_cuda_rnn_loop *s,
                                     const seq_cuda_rnn_loop_grads *g, seq_cuda_scratch *tmp) {
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H, GH = loop_gates(a->cell) * H;
  const seq_dtype dt = a->kernel->dtype;
  const size_t es = seq_dtype_size(dt), bh = (size_t)(B * H) * es;
  const bool gru = a->cell == SEQ_CUDA_CELL_GRU;
  loop_operands o;
  SEQ_TRY(loop_operands_of(a, dt, tmp, &o));
  seq_cuda_rnn_step st = loop_step(a, s, &o);
  const void *dy = NULL, *dh_n = NULL, *dc_n = NULL;
  if (g->dy) SEQ_TRY(seq_cuda_contig(g->dy, dt, &tmp[6], &dy));
  if (g->dh_n) SEQ_TRY(seq_cuda_contig(g->dh_n, dt, &tmp[7], &dh_n));
  if (g->dc_n) SEQ_TRY(seq_cuda_contig(g->dc_n, dt, &tmp[8], &dc_n));
  st.dy = dy;
  st.dh_n = dh_n;
  st.dc_n = dc_n;
  /* dz, du (GRU only), then dh, dc, dhm */
  const size_t nz = (size_t)(B * T * GH) * es;
  SEQ_TRY(seq_cuda_scratch_alloc(&tmp[9], (gru ? 2 : 1) * nz + 3 * bh));
  char *base = tmp[9].ptr;
  st.dz = base;
  st.du = gru ? base + nz : base;
  st.dh = base + (gru ? 2 : 1) * nz;
  st.dc = (char *)st.dh + bh;
  st.dhm = (char *)st.dc + bh;
  for (int64_t t = T - 1; t >= 0; t--) {
    st.t = t;
    SEQ_TRY(seq_cuda_k_rnn_step_backward(&st, dt));
    if (t > 0 || g->dh0)
      SEQ_TRY(gemm(dt, false, true, B, H, GH, (const char *)st.du + (size_t)(t * GH) * es, T * GH,
                   o.recurrent, GH, st.dhm, H));
  }
  SEQ_TRY(seq_cuda_k_rnn_initial_grads(&st, g->dh0 ? seq_tensor_data(g->dh0) : NULL,
                                       g->dc0 ? seq_tensor_data(g->dc0) : NULL, dt));
  if (g->dx && !a->x_is_index)
    SEQ_TRY(gemm(dt, false, true, B * T, I, GH, st.dz, GH, o.kernel, GH, seq_tensor_data(g->dx), I));
  if (g->dkernel)
    SEQ_TRY(gemm(dt, true, false, I, GH, B * T, s->x, I, st.dz, GH, seq_tensor_data(g->dkernel), GH));
  if (g->drecurrent)
    SEQ_TRY(gemm(dt, true, false, H, GH, B * T, s->hm.ptr, H, st.du, GH,
                 seq_tensor_data(g->drecurrent), GH));
  if (g->dbias) {
    char *db = seq_tensor_data(g->dbias);
    SEQ_TRY(seq_cuda_k_reduce(SEQ_RED_SUM, db, dt, st.dz, dt, 1, B * T, GH));
    if (gru) SEQ_TRY(seq_cuda_k_reduce(SEQ_RED_SUM, db + (size_t)GH * es, dt, st.du, dt, 1, B * T, GH));
  }
  return SEQ_OK;
}

seq_status seq_cuda_rnn_loop_backward(const seq_cuda_rnn_loop_args *a, seq_cuda_rnn_loop *s,
                                      const seq_cuda_rnn_loop_grads *g) {
  seq_cuda_scratch tmp[10];
  memset(tmp, 0, sizeof tmp);
  seq_status st = loop_backward_impl(a, s, g, tmp);
  for (int i = 0; i < 10; i++) seq_cuda_scratch_free(&tmp[i]);
  return st;
}
