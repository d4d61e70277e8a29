/* seq_backend.h - the table of kernels a device provides.
 *
 * The op layer (seq_ops*.c) checks arguments, computes output shapes,
 * allocates outputs and records autograd nodes; it then calls the backend of
 * the tensors' device for the arithmetic.  A backend never sees Lua and never
 * allocates tensors itself except its own scratch memory.
 *
 * Conventions for every kernel below:
 *  - all tensors passed are on the backend's device;
 *  - `out` tensors are contiguous and already have the right shape/dtype;
 *  - input tensors may be strided unless the comment says "contiguous"
 *    (the op layer passes broadcast inputs as stride-0 views of out's shape);
 *  - a kernel returns SEQ_OK or a status with a message set by seq_fail().
 * User input is checked once, by the op layer; a backend only asserts what
 * the op layer guarantees, with seq_backend_assert. */
#ifndef SEQ_BACKEND_H
#define SEQ_BACKEND_H

#include <math.h>
#include <assert.h>

#include "seq_tensor.h"

/* A backend's precondition (lapi.c's api_check): failing it is a bug in the
 * op layer, not bad input, so it is checked in debug and sanitizer builds
 * only (NDEBUG compiles it out). */
#define seq_backend_assert(cond, what) assert((cond) && (what))

typedef enum seq_binop {
  SEQ_BIN_ADD, SEQ_BIN_SUB, SEQ_BIN_MUL, SEQ_BIN_DIV, SEQ_BIN_POW,
  SEQ_BIN_MAX, SEQ_BIN_MIN,
  SEQ_BIN_EQ, SEQ_BIN_NE, SEQ_BIN_LT, SEQ_BIN_LE, SEQ_BIN_GT, SEQ_BIN_GE, /* out u8 */
  SEQ_NBINOPS
} seq_binop;

typedef enum seq_unop {
  SEQ_UN_NEG, SEQ_UN_EXP, SEQ_UN_LOG, SEQ_UN_SQRT, SEQ_UN_TANH, SEQ_UN_SIGMOID,
  SEQ_UN_RELU, SEQ_UN_ABS, SEQ_UN_SIGN, SEQ_UN_SQUARE, SEQ_UN_RECIPROCAL,
  SEQ_UN_CLAMP,      /* p0 = lo, p1 = hi */
  SEQ_UN_POW_SCALAR, /* x ^ p0 */
  SEQ_UN_AFFINE,     /* x * p0 + p1 (scalar arithmetic, step masks, ...) */
  SEQ_UN_SCALAR_BASE_POW, /* p0 ^ x */
  SEQ_NUNOPS
} seq_unop;

typedef enum seq_redop {
  SEQ_RED_SUM, SEQ_RED_MEAN, SEQ_RED_MAX, SEQ_RED_MIN,
  SEQ_RED_ARGMAX, SEQ_RED_ARGMIN, /* out i64 */
  SEQ_NREDOPS
} seq_redop;

typedef enum seq_optim_kind {
  SEQ_OPTIM_SGD, SEQ_OPTIM_RMSPROP, SEQ_OPTIM_ADAM, SEQ_OPTIM_ADAGRAD, SEQ_OPTIM_ADADELTA, SEQ_OPTIM_NADAM
} seq_optim_kind;
#define SEQ_OPTIM_LAST SEQ_OPTIM_NADAM

/* Hyper-parameters of one optimizer step (Keras 3 semantics).
 *   SGD:     v = momentum*v - lr*g;  p += nesterov ? momentum*v - lr*g : v
 *            (momentum 0: p -= lr*g, state0 unused)
 *   RMSprop: s = rho*s + (1-rho)*g^2;  p -= lr*g / sqrt(s + eps)
 *            eps_outside: p -= lr*g / (sqrt(s) + eps), the update of Keras 2
 *            (tf.keras's legacy RMSprop) and of torch.optim.RMSprop
 *   Adam:    m += (1-b1)(g-m); v += (1-b2)(g^2-v);
 *            p -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
 *   Adagrad: a += g^2;  p -= lr*g / sqrt(a + eps)   (a starts at Keras's
 *            initial_accumulator_value, set by the caller)
 *   Adadelta: a = rho*a + (1-rho)*g^2;  d = -sqrt(u + eps)*g / sqrt(a + eps);
 *            u = rho*u + (1-rho)*d^2;  p += lr*d
 *   Nadam:   m, v as Adam;  with u_i = b1*(1 - 0.5*0.96^i) and P_t their
 *            product over i = 1..t (seq_nadam_factors):
 *            p -= lr*(c1*m + c2*g) / (sqrt(v*c3) + eps),
 *            c1 = u_{t+1}/(1-P_{t+1}), c2 = (1-u_t)/(1-P_t), c3 = 1/(1-b2^t)
 * State: Adagrad state0 = a; Adadelta state0 = a, state1 = u; Nadam as Adam.
 * Weight decay (decoupled, before the step: p -= lr*weight_decay*p) applies
 * to every kind, as Keras 3's base optimizer does (AdamW is Adam with it).
 * `clipvalue` > 0 clips each gradient element first (done by the kernel);
 * clipnorm is applied by the op layer (needs a global reduction). */
typedef struct seq_optim_hparams {
  seq_optim_kind kind;
  double lr, momentum, rho, beta1, beta2, eps, clipvalue, weight_decay;
  bool nesterov;
  bool eps_outside; /* RMSprop only, see above */
  int64_t step; /* 1-based step count, for Adam's bias correction */
} seq_optim_hparams;

/* One parameter of an optimizer step: its gradient (same shape and dtype,
 * contiguous), its moment buffers shaped like it (NULL where the optimizer
 * has none) and the factor clip-by-norm puts on the gradient (the gradient
 * is multiplied by grad_scale, in its dtype, before anything else; 1 leaves
 * it untouched). */
typedef struct seq_optim_item {
  seq_tensor *param;
  const seq_tensor *grad;
  seq_tensor *state0, *state1;
  double grad_scale;
} seq_optim_item;

/* What every backend checks of a parameter before updating it in place
 * (seq_optim.c): a state buffer of the wrong size would be read and written
 * out of bounds.  check_buffer: `t` is present and matches the param's
 * device, dtype and shape, contiguous; check_settings: a finite learning
 * rate and gradient scale, the kind's hyper-parameters in range, and every
 * state buffer the kind uses.  The backend checks the param and gradient
 * its own kernels need first. */
const char *seq_optim_kind_name(seq_optim_kind kind);
seq_status seq_optim_check_buffer(const char *what, const seq_tensor *t, const seq_tensor *param,
                                  const char *kind);
seq_status seq_optim_check_settings(const seq_optim_hparams *hp, const seq_optim_item *it);

/* Nadam's scalar factors c1, c2, c3 for step t >= 1 (see above), in double.
 * Past i = 1100, 0.96^i is below double precision and u_i = b1 exactly. */
static inline void seq_nadam_factors(double beta1, double beta2, int64_t t, double c[3]) {
  double prod = 1.0;
  const int64_t exact = t < 1100 ? t : 1100;
  for (int64_t i = 1; i <= exact; i++) prod *= beta1 * (1.0 - 0.5 * pow(0.96, (double)i));
  if (t > exact) prod *= pow(beta1, (double)(t - exact));
  const double u_t = beta1 * (1.0 - 0.5 * pow(0.96, (double)t));
  const double u_next = beta1 * (1.0 - 0.5 * pow(0.96, (double)t + 1.0));
  c[0] = u_next / (1.0 - prod * u_next);
  c[1] = (1.0 - u_t) / (1.0 - prod);
  c[2] = 1.0 / (1.0 - pow(beta2, (double)t));
}

/* The fused LSTM over a whole sequence, Keras layout and gate order
 * (i, f, c, o), batch-major.  Shapes: B batch, T steps, I input, H units.
 *   x       [B,T,I] float, or [B,T] i32/i64 class ids when x_is_index
 *           (one-hot input: the input projection becomes a row gather)
 *   kernel  [I,4H]   recurrent [H,4H]   bias [4H]
 *   h0, c0  [B,H] or NULL (zeros)
 *   lengths host int32 [B] with values in [0,T], or NULL (every row runs T
 *           steps): row b runs its first lengths[b] steps only, cuDNN's
 *           padded-sequence semantics
 *   recurrent_mask [B,H] of the kernel's dtype, or NULL: h_{t-1} * mask
 *           enters the recurrent product (Keras's recurrent_dropout, one
 *           mask per sequence for all steps and gates); not differentiated
 * Forward outputs: y [B,T,H] (every hidden state; zeros at t >= lengths[b]),
 * h_n, c_n [B,H] (the state after step lengths[b]-1: h0/c0 when it is 0).
 * Backward ignores dy at t >= lengths[b].
 * `saved` is backend-owned state for backward (CPU: activated gates and cell
 * states; CUDA: cuDNN reserve space); free it with lstm_free_saved.
 * The op layer (seq_nn.c) guarantees: B, T, I, H > 0 (it answers empty
 * batches and sequences itself); every tensor given is contiguous, on the
 * backend's device, of the kernel's dtype (f32 or f64) and of the shape
 * above, except x when x_is_index (i32 or i64 [B,T]); backward gets the
 * forward's saved state once.  Only the ids' values are left to the backend
 * to range-check, where the data is (as index_select does). */
typedef struct seq_lstm_args {
  int64_t B, T, I, H;
  bool x_is_index;
  seq_tensor *x, *kernel, *recurrent, *bias, *h0, *c0;
  seq_tensor *y, *h_n, *c_n;
  void *saved;
  bool training; /* false: saved may stay NULL (inference) */
  const int32_t *lengths;
  seq_tensor *recurrent_mask;
} seq_lstm_args;

/* Backward: dy [B,T,H] (NULL = zero), dh_n, dc_n [B,H] (NULL = zero).
 * Outputs (NULL = not wanted; gradients are *written*, not accumulated):
 * dx [B,T,I] (never for index input), dkernel, drecurrent, dbias, dh0, dc0. */
typedef struct seq_lstm_grads {
  seq_tensor *dy, *dh_n, *dc_n;
  seq_tensor *dx, *dkernel, *drecurrent, *dbias, *dh0, *dc0;
} seq_lstm_grads;

/* The fused GRU and simple RNN over a whole sequence, Keras layout,
 * batch-major; G gates: 3 for the GRU (z, r, h, Keras 3's reset_after=true
 * form that cuDNN computes), 1 for the simple RNN (h = act(x.W + h.R + b),
 * act tanh or relu).  Shapes: B batch, T steps, I input, H units.
 *   x         [B,T,I] float, or [B,T] i32/i64 class ids when x_is_index
 *   kernel    [I,G*H]   recurrent [H,G*H]
 *   bias      GRU [2,3H] (input bias, recurrent bias), simple RNN [H]
 *   h0        [B,H] or NULL (zeros)
 *   rmask     [B,H] or NULL: recurrent dropout, a per-sample mask fixed over
 *             the steps; h_{t-1} is multiplied by it before the recurrent
 *             product (only there: the GRU's z*h_{t-1} mix uses h_{t-1}).
 *             It is a constant: no gradient flows to it.
 * GRU step:  z = sigmoid(x.Wz + bz + h.Rz + rbz), r likewise,
 *            hh = tanh(x.Wh + bh + r*(h.Rh + rbh)), h' = z*h + (1-z)*hh.
 *   lengths   host int32 [B] with values in [0,T], or NULL (every row runs T
 *             steps): row b runs its first lengths[b] steps only, as for
 *             seq_lstm_args (cuDNN's padded-sequence semantics)
 * Forward outputs: y [B,T,H] (every hidden state; zeros at t >= lengths[b]),
 * h_n [B,H] (the state after step lengths[b]-1: h0 when it is 0).  Backward
 * ignores dy at t >= lengths[b].  The op layer guarantees what it does for seq_lstm_args (positive sizes, contiguous
 * operands of the kernel's dtype on the backend's device, shapes above). */
typedef enum seq_rnn_mode { SEQ_RNN_GRU, SEQ_RNN_TANH, SEQ_RNN_RELU } seq_rnn_mode;

typedef struct seq_rnn_args {
  seq_rnn_mode mode;
  int64_t B, T, I, H;
  bool x_is_index;
  seq_tensor *x, *kernel, *recurrent, *bias, *h0, *rmask;
  seq_tensor *y, *h_n;
  void *saved;
  bool training; /* false: saved may stay NULL (inference) */
  const int32_t *lengths;
} seq_rnn_args;

/* Backward: dy [B,T,H], dh_n [B,H] (NULL = zero).  Outputs as for the LSTM
 * (NULL = not wanted, written not accumulated): dx, dkernel, drecurrent,
 * dbias, dh0. */
typedef struct seq_rnn_grads {
  seq_tensor *dy, *dh_n;
  seq_tensor *dx, *dkernel, *drecurrent, *dbias, *dh0;
} seq_rnn_grads;

typedef struct seq_backend {
  const char *name;
  seq_device device;

  /* memory */
  seq_status (*alloc)(void **ptr, size_t nbytes);
  void (*free)(void *ptr, size_t nbytes);
  seq_status (*memset_zero)(void *ptr, size_t nbytes);
  seq_status (*upload)(void *dst, const void *host_src, size_t nbytes);    /* host -> device */
  seq_status (*download)(void *host_dst, const void *src, size_t nbytes);  /* device -> host */
  seq_status (*synchronize)(void);

  /* layout and elementwise */
  seq_status (*copy)(seq_tensor *out, const seq_tensor *src); /* strided src, casts dtype */
  seq_status (*fill)(seq_tensor *out, double value);
  seq_status (*binary)(seq_binop op, seq_tensor *out, const seq_tensor *a, const seq_tensor *b);
  seq_status (*unary)(seq_unop op, seq_tensor *out, const seq_tensor *a, double p0, double p1);
  seq_status (*where)(seq_tensor *out, const seq_tensor *cond, const seq_tensor *a,
                      const seq_tensor *b);
  /* Reduction of a contiguous tensor over `dim` (-1: all elements, out has
   * one element).  Out keeps the reduced dim with size 1. */
  seq_status (*reduce)(seq_redop op, seq_tensor *out, const seq_tensor *a, int dim);

  /* Row-major GEMM on raw device pointers, C = alpha*op(A)op(B) + beta*C,
   * repeated `batch` times with the given element strides between matrices. */
  seq_status (*gemm)(seq_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                     int64_t k, double alpha, const void *a, int64_t lda, int64_t stride_a,
                     const void *b, int64_t ldb, int64_t stride_b, double beta, void *c,
                     int64_t ldc, int64_t stride_c, int64_t batch);

  /* indexing: every operand contiguous (the op layer makes them so), ids
   * i32 or i64; an id out of range fails (CUDA: at the next synchronising
   * call, see seq_cuda.h) */
  seq_status (*index_select)(seq_tensor *out, const seq_tensor *src, int dim,
                             const seq_tensor *idx);
  seq_status (*index_add)(seq_tensor *dst, int dim, const seq_tensor *idx,
                          const seq_tensor *src); /* dst.index_add_(dim, idx, src) */
  seq_status (*gather)(seq_tensor *out, const seq_tensor *src, int dim, const seq_tensor *idx);
  seq_status (*scatter_add)(seq_tensor *dst, int dim, const seq_tensor *idx,
                            const seq_tensor *src);

  /* random: counter-based Philox4x32-10; element k of the fill uses counter
   * (offset + k), so CPU and CUDA produce the same numbers. */
  seq_status (*rand_uniform)(seq_tensor *out, uint64_t seed, uint64_t offset, double lo,
                             double hi);
  seq_status (*rand_normal)(seq_tensor *out, uint64_t seed, uint64_t offset, double mean,
                            double std);

  /* softmax over the last dim of a contiguous tensor, and its backward
   * dx = y * (dy - sum(dy*y)) */
  seq_status (*softmax)(seq_tensor *out, const seq_tensor *x, bool log);
  seq_status (*softmax_backward)(seq_tensor *dx, const seq_tensor *y, const seq_tensor *dy,
                                 bool log);

  /* Fused losses, per-row values in `loss` [N]; `aux` receives what backward
   * needs (softmax probabilities [N,C] / sigmoid values [N]).
   *  softmax_xent: logits [N,C]; target [N,C] probabilities, or [N] i32/i64
   *                class ids when target is integer.  Fails on ids out of range.
   *  sigmoid_bce:  logits [N], target [N] float. */
  seq_status (*softmax_xent)(seq_tensor *loss, seq_tensor *probs, const seq_tensor *logits,
                             const seq_tensor *target);
  seq_status (*sigmoid_bce)(seq_tensor *loss, seq_tensor *sig, const seq_tensor *logits,
                            const seq_tensor *target);

  /* Fused LSTM, see seq_lstm_args. */
  seq_status (*lstm_forward)(seq_lstm_args *args);
  seq_status (*lstm_backward)(seq_lstm_args *args, seq_lstm_grads *grads);
  void (*lstm_free_saved)(void *saved);

  /* Fused GRU / simple RNN, see seq_rnn_args. */
  seq_status (*rnn_forward)(seq_rnn_args *args);
  seq_status (*rnn_backward)(seq_rnn_args *args, seq_rnn_grads *grads);
  void (*rnn_free_saved)(void *saved);

  /* One optimizer step over `n` parameters, in place, in one call (one
   * parallel region on the CPU, one launch on a GPU), as torch's fused
   * multi-tensor optimizers: see seq_optim_item. */
  seq_status (*optim_step)(const seq_optim_hparams *hp, int n, const seq_optim_item *items);

  /* Host threads the backend's kernels may use (n >= 1). */
  void (*set_threads)(int n);
  int (*get_threads)(void);
} seq_backend;

/* Every kernel slot of seq_backend, in declaration order.  A slot added to
 * the struct must be listed here (seq_backend.c checks the count and order
 * at compile time), and test/c/test_backend_ops.c fails for a listed slot
 * that has no case in its table: no slot goes untested on any backend. */
#define SEQ_BACKEND_SLOTS(X)                                                        \
  X(alloc) X(free) X(memset_zero) X(upload) X(download) X(synchronize)              \
  X(copy) X(fill) X(binary) X(unary) X(where) X(reduce) X(gemm)                     \
  X(index_select) X(index_add) X(gather) X(scatter_add)                             \
  X(rand_uniform) X(rand_normal) X(softmax) X(softmax_backward)                     \
  X(softmax_xent) X(sigmoid_bce) X(lstm_forward) X(lstm_backward) X(lstm_free_saved) \
  X(rnn_forward) X(rnn_backward) X(rnn_free_saved)                                  \
  X(optim_step) X(set_threads) X(get_threads)
#define SEQ_BACKEND_SLOT_ENUM_(name) SEQ_SLOT_##name,
typedef enum seq_backend_slot { SEQ_BACKEND_SLOTS(SEQ_BACKEND_SLOT_ENUM_) SEQ_NSLOTS } seq_backend_slot;

/* The backend for a device; NULL (with a message set) when that device is
 * not compiled in or not present. */
const seq_backend *seq_backend_get(seq_device dev);
bool seq_device_available(seq_device dev);

extern const seq_backend seq_cpu_backend;
/* The CUDA table comes from a plugin: see seq_cuda_loader.h. */

/* Host threads for a device's kernels (the CPU backend: BLAS and our own
 * parallel loops); fails only when the device is not available. */
seq_status seq_set_threads(seq_device dev, int n);
seq_status seq_get_threads(seq_device dev, int *n);
/* Which GEMM the CPU backend runs, in words ("seqlua avx2/fma tiles; BLAS
 * blis (generic kernels)"): printed by seqlua --version, seq.info(). */
const char *seq_cpu_gemm_path(void);
/* The instruction set of the CPU's vectorised exp/tanh/sigmoid and gate loops
 * ("avx512f", "avx2", "sse2"), as picked for this CPU at load time. */
const char *seq_cpu_vmath_isa(void);
/* Which kernel runs the f32 products of the fused LSTM/GRU/SimpleRNN
 * ("seqlua avx2/fma panels", "seqlua avx512 panels", "BLAS"), picked by CPU
 * feature; SEQLUA_LSTM_BLAS_STEP=1 and SEQLUA_LSTM_PANELS=avx2 override. */
const char *seq_cpu_recurrent_gemm(void);

#endif
