/* seq_nn.h - fused neural-network ops: LSTM, embedding, dropout, losses and
 * optimizer steps.  Same contract as seq_ops.h: check, allocate, dispatch to
 * the device's backend, record an autograd node. */
#ifndef SEQ_NN_H
#define SEQ_NN_H

#include "seq_ops.h"

/* The whole-sequence LSTM (Keras layout, gates i,f,c,o).
 *   x: [B,T,I] float, or [B,T] i32/i64 class ids: integer input means ids
 *      (the one-hot input is never materialised: rows of `kernel` are
 *      gathered).
 *   h0/c0: [B,H] both or neither (zeros).  Outputs: y [B,T,H], h_n, c_n
 *   [B,H] (any of the out pointers may be NULL when not wanted).
 *   B = 0 or T = 0 is valid: y is empty and (h_n, c_n) = (h0, c0). */
seq_status seq_lstm(seq_tensor **y, seq_tensor **h_n, seq_tensor **c_n, seq_tensor *x,
                    seq_tensor *kernel, seq_tensor *recurrent, seq_tensor *bias, seq_tensor *h0,
                    seq_tensor *c0);

/* seq_lstm with two optional extras (NULL: without them).
 *   lengths (i32/i64 [B], any device, values in [0,T]): padded sequences.
 *     Sample b runs steps 0..lengths[b]-1 only: y is zero after them and
 *     (h_n, c_n) is the state after its last real step ((h0, c0) for
 *     length 0); gradients flow only through the real steps.
 *   recurrent_mask ([B,H], the kernel's dtype and device): Keras's
 *     recurrent dropout, h_{t-1} * mask enters the recurrent product at
 *     every step (the mask itself is not differentiated).  cuDNN has no
 *     such mask: on CUDA the backend runs its own step loop then. */
seq_status seq_lstm_ex(seq_tensor **y, seq_tensor **h_n, seq_tensor **c_n, seq_tensor *x,
                       seq_tensor *kernel, seq_tensor *recurrent, seq_tensor *bias,
                       seq_tensor *h0, seq_tensor *c0, const seq_tensor *lengths,
                       seq_tensor *recurrent_mask);

/* The whole-sequence GRU (Keras 3 defaults: reset_after=true, gates z, r, h,
 * sigmoid and tanh; see seq_rnn_args for the step) and simple RNN
 * (h = act(x.W + h.R + b), `relu` false: tanh).
 *   x: [B,T,I] float, or [B,T] i32/i64 class ids (as seq_lstm).
 *   kernel [I,3H] / [I,H], recurrent [H,3H] / [H,H], bias [2,3H] / [H].
 *   h0: [B,H] or NULL (zeros).  rmask: [B,H] or NULL, the recurrent dropout
 *   mask (applied to h_{t-1} before the recurrent product; a constant, no
 *   gradient reaches it).  lengths: i32/i64 [B] on any device with values
 *   in [0,T], or NULL: padded sequences, sample b runs its first lengths[b]
 *   steps only (y is zero after them, h_n is the state after the last real
 *   step, h0 for length 0; gradients flow through the real steps only).
 *   Outputs: y [B,T,H], h_n [B,H] (either may be NULL).  B = 0 or T = 0 is
 *   valid: y is empty and h_n = h0. */
seq_status seq_gru(seq_tensor **y, seq_tensor **h_n, seq_tensor *x, seq_tensor *kernel,
                   seq_tensor *recurrent, seq_tensor *bias, seq_tensor *h0, seq_tensor *rmask,
                   const seq_tensor *lengths);
seq_status seq_simple_rnn(seq_tensor **y, seq_tensor **h_n, seq_tensor *x, seq_tensor *kernel,
                          seq_tensor *recurrent, seq_tensor *bias, seq_tensor *h0,
                          seq_tensor *rmask, bool relu, const seq_tensor *lengths);

/* The one check of a fused recurrent op's arguments (seq_lstm, seq_gru,
 * seq_simple_rnn); backends only assert what it establishes.  `op` names
 * the op in errors.  kernel [I, gates*H] f32/f64 sets dtype and device;
 * recurrent [H, gates*H]; bias [gates*H] (bias_rows 0) or
 * [bias_rows, gates*H]; x [B,T,I] float or [B,T] i32/i64 class ids; each
 * non-NULL states[i] (named names[i]) [B,H].  size <- {B, T, I, H}. */
seq_status seq_nn_check_recurrent(const char *op, int64_t gates, int64_t bias_rows,
                                  const seq_tensor *x, const seq_tensor *kernel,
                                  const seq_tensor *recurrent, const seq_tensor *bias, int nstates,
                                  const seq_tensor *const states[], const char *const names[],
                                  int64_t size[4]);

/* For the fused recurrent ops: per-sample lengths (i32/i64 [B], any
 * device) as a new host int32 array, each checked to lie in [0,T].  `op`
 * names the op in errors; free *out with free(). */
seq_status seq_nn_host_lengths(const char *op, const seq_tensor *lengths, int64_t B, int64_t T,
                               int32_t **out);

/* For the fused ops' backward functions (seq_nn.c, seq_rnn.c): an upstream
 * gradient as a contiguous tensor of dtype dt (NULL stays NULL). */
seq_status seq_nn_upstream(seq_tensor **out, seq_tensor *g, seq_dtype dt);

/* Rows of weight [V,D] picked by integer ids of any shape -> [..., D]. */
seq_status seq_embedding(seq_tensor **out, seq_tensor *weight, seq_tensor *ids);

/* Inverted dropout: zeroes with probability `rate`, scales the rest by
 * 1/(1-rate); identity when !training or rate == 0. */
seq_status seq_dropout(seq_tensor **out, seq_tensor *x, double rate, bool training);

/* Mean over rows of the fused softmax cross-entropy.  logits [N,C] (or
 * [...,C], flattened); target: probabilities of the same shape, or integer
 * class ids of shape [...] (sparse). */
seq_status seq_softmax_cross_entropy(seq_tensor **loss, seq_tensor *logits, seq_tensor *target);
/* Mean of the fused sigmoid binary cross-entropy; logits and target of the
 * same number of elements. */
seq_status seq_sigmoid_binary_cross_entropy(seq_tensor **loss, seq_tensor *logits,
                                            seq_tensor *target);

/* One update of `param` from param->grad (Keras 3 semantics, see
 * seq_optim_hparams).  state0/state1 are shaped like param or NULL.
 * (seq_optim.c, as the two below) */
seq_status seq_optim_step(const seq_optim_hparams *hp, seq_tensor *param, seq_tensor *state0,
                          seq_tensor *state1);
/* One update of all `n` params in one backend call per device, each from its
 * grad (params without a grad are skipped), with state0[i]/state1[i] as in
 * seq_optim_step (the arrays may be NULL).  Gradient clipping by norm, as
 * Keras: global_clipnorm > 0 scales all grads so their joint L2 norm is at
 * most that; clipnorm > 0 does so for each grad alone (0: off).  The clip
 * factors go to the kernel, which multiplies each gradient element by its
 * factor first, so the .grad tensors stay as backward left them; the
 * parameters and states come out bit-identical to seq_clip_grad_norm
 * followed by seq_optim_step per parameter. */
seq_status seq_optim_step_all(const seq_optim_hparams *hp, int n, seq_tensor *const *params,
                              seq_tensor *const *state0, seq_tensor *const *state1,
                              double clipnorm, double global_clipnorm);
/* Scales the grads of `n` params so their global L2 norm is <= max_norm;
 * returns the norm before clipping. */
seq_status seq_clip_grad_norm(int n, seq_tensor *const *params, double max_norm,
                              double *total_norm);

#endif
