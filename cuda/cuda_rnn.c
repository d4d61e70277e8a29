/* cuda_rnn.c - the fused LSTM, GRU and simple RNN through cuDNN's RNN API
 * (the v8 calls of cuDNN 9: cudnnSetRNNDescriptor_v8, cudnnRNNForward,
 * cudnnRNNBackwardData_v8, cudnnRNNBackwardWeights_v8), cell modes
 * CUDNN_LSTM, CUDNN_GRU, CUDNN_RNN_TANH and CUDNN_RNN_RELU.
 *
 * Weights: the core keeps Keras-layout tensors (LSTM: kernel [I,4H],
 * recurrent [H,4H], bias [4H], gates i,f,c,o; GRU: [I,3H], [H,3H], bias
 * [2,3H], gates z,r,h; simple RNN: [I,H], [H,H], [H]).  cuDNN numbers its
 * matrices per gate, each row-major [H, in], input ones 0..G-1 and
 * recurrent ones G..2G-1: the LSTM's order is also i,f,c(g),o; the GRU's is
 * reset, update, new memory, i.e. Keras's r, z, h (so Keras gate z is
 * cuDNN's 1 and r its 0: rnn_cell.lin).  cuDNN's GRU is Keras's
 * reset_after form: h' = tanh(W_h x + r o (R_h h + b_Rh) + b_Wh).  Every
 * forward packs the Keras tensors into a fresh weight space with one
 * transpose kernel (tiny next to the sequence work) and every backward
 * unpacks the weight-space gradient.  We use CUDNN_RNN_DOUBLE_BIAS (the most
 * used mode): the GRU's two Keras bias rows are cuDNN's input and recurrent
 * biases; the LSTM and the simple RNN have one bias, so the recurrent bias
 * is held at zero, the gates see exactly bias_in, and d(bias) is the
 * input-bias gradient (the recurrent-bias gradient is the same numbers and
 * is ignored).  A recurrent dropout mask has no cuDNN counterpart: such
 * calls run the step loop of cuda_rnn_loop.c instead.
 *
 * Index input (x_is_index): cuDNN needs the dense input, so the one-hot
 * [B,T,I] is materialised on the device (for the char-RNN, 128*40*57 floats,
 * about 1 MB).  dkernel then comes from cuDNN's weight gradient, which for a
 * one-hot input equals the row scatter-add the CPU backend does.
 *
 * `saved` (training) owns: the weight space used by the forward (a later
 * optimizer step must not change what backward differentiates), the reserve
 * space, the dense input when we built one, y only when the caller passed
 * none, the descriptors and the device sequence-length array (after a step
 * loop run, only that loop's state).  The op layer
 * (core/engine/seq_nn.c) keeps x, h0, c0 and a detached alias of y alive in the
 * node and passes them in `args` again to backward. */
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "seq_cuda.h"

/* What differs between the cell modes. */
typedef struct rnn_cell {
  cudnnRNNMode_t mode;
  int G;         /* gates: cuDNN matrices per side */
  bool two_bias; /* the Keras bias has an input and a recurrent row (GRU) */
  int lin[4];    /* Keras gate g -> cuDNN input linear layer id */
  const char *op;
  seq_cuda_cell loop; /* the same cell in the step loop */
} rnn_cell;

static const rnn_cell CELL_LSTM = {CUDNN_LSTM, 4, false, {0, 1, 2, 3}, "lstm", SEQ_CUDA_CELL_LSTM};
static const rnn_cell CELL_GRU = {CUDNN_GRU, 3, true, {1, 0, 2, 0}, "gru", SEQ_CUDA_CELL_GRU};
static const rnn_cell CELL_TANH = {CUDNN_RNN_TANH, 1, false, {0}, "simple_rnn", SEQ_CUDA_CELL_TANH};
static const rnn_cell CELL_RELU = {CUDNN_RNN_RELU, 1, false, {0}, "simple_rnn", SEQ_CUDA_CELL_RELU};

/* One call of either op, in the form the cuDNN code below takes (c0, c_n,
 * dc_n, dc0: LSTM only). */
typedef struct rnn_call {
  const rnn_cell *cell;
  int64_t B, T, I, H;
  bool x_is_index, training;
  seq_tensor *x, *kernel, *recurrent, *bias, *h0, *c0, *y, *h_n, *c_n;
  void *saved;
  const int32_t *lengths;      /* host [B] or NULL (see seq_lstm_args) */
  seq_tensor *recurrent_mask; /* [B,H] or NULL; cuDNN has no such mask: the step loop */
} rnn_call;

typedef struct rnn_call_grads {
  seq_tensor *dy, *dh_n, *dc_n, *dx, *dkernel, *drecurrent, *dbias, *dh0, *dc0;
} rnn_call_grads;

/* One cuDNN RNN descriptor per (cell, dtype, I, H, math) - a model has one
 * or two shapes.  A plan in use by saved state (`users`) is never freed;
 * when all slots are taken, the least recently used idle plan is replaced
 * (a test suite meets many shapes in one process). */
typedef struct lstm_plan {
  const rnn_cell *cell;
  seq_dtype dt;
  int64_t I, H;
  bool tf32;
  cudnnRNNDescriptor_t rnn;
  size_t wsize;
  bool have_offsets;
  size_t off_w_in[4], off_w_rec[4], off_b_in[4], off_b_rec[4];
  int users;          /* saved states holding this plan */
  uint64_t last_used; /* plan_clock at the last get_plan */
} lstm_plan;

#define MAX_PLANS 32
static lstm_plan plans[MAX_PLANS];
static int nplans;
static uint64_t plan_clock;

typedef struct lstm_saved {
  seq_cuda_rnn_loop *loop; /* set when the step loop ran instead of cuDNN */
  lstm_plan *plan;
  int64_t B, T;
  cudnnRNNDataDescriptor_t xdesc, ydesc;
  cudnnTensorDescriptor_t hdesc;
  seq_cuda_scratch wspace, reserve, ycopy, xdense, seqlen;
  size_t work_bytes, reserve_bytes;
  const void *x; /* dense input used by the forward (xdense or args->x's data) */
} lstm_saved;

/* cudnnSetRNNDescriptor_v8 takes a dropout descriptor; PyTorch and JAX pass
 * one with probability 0 rather than NULL, the configuration cuDNN is tested
 * with.  One per process, made on first use: cudnnSetDropoutDescriptor
 * initialises its RNG states buffer, which must outlive every RNN descriptor
 * that refers to it, so the buffer is never freed. */
static cudnnDropoutDescriptor_t no_dropout;
static void *no_dropout_states;

static seq_status get_no_dropout(cudnnHandle_t h, cudnnDropoutDescriptor_t *out) {
  if (no_dropout) {
    *out = no_dropout;
    return SEQ_OK;
  }
  cudnnDropoutDescriptor_t d;
  SEQ_CUDNN(cudnnCreateDropoutDescriptor, (&d));
  size_t nstates = 0;
  cudnnStatus_t s = cudnnDropoutGetStatesSize(h, &nstates);
  void *states = NULL;
  if (s == CUDNN_STATUS_SUCCESS && nstates && cudaMalloc(&states, nstates) != cudaSuccess) {
    (void)cudaGetLastError();
    cudnnDestroyDropoutDescriptor(d);
    return seq_fail(SEQ_ENOMEM, "lstm: CUDA out of memory allocating %zu bytes of dropout states", nstates);
  }
  if (s == CUDNN_STATUS_SUCCESS) s = cudnnSetDropoutDescriptor(d, h, 0.0f, states, nstates, 0);
  if (s != CUDNN_STATUS_SUCCESS) {
    cudaFree(states);
    cudnnDestroyDropoutDescriptor(d);
    return seq_fail(SEQ_EBACKEND, "cudnnSetDropoutDescriptor: %s", cudnnGetErrorString(s));
  }
  no_dropout = d;
  no_dropout_states = states;
  *out = d;
  return SEQ_OK;
}

static cudnnDataType_t dn_type(seq_dtype dt) {
  return dt == SEQ_F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
}

static seq_status get_plan(const rnn_cell *cell, seq_dtype dt, int64_t I, int64_t H,
                           lstm_plan **out) {
  bool tf32 = dt == SEQ_F32 && seq_cuda_get_tf32();
  for (int i = 0; i < nplans; i++)
    if (plans[i].cell == cell && plans[i].dt == dt && plans[i].I == I && plans[i].H == H &&
        plans[i].tf32 == tf32) {
      plans[i].last_used = ++plan_clock;
      *out = &plans[i];
      return SEQ_OK;
    }
  lstm_plan *p = NULL;
  if (nplans < MAX_PLANS) {
    p = &plans[nplans];
  } else { /* replace the least recently used idle plan */
    for (int i = 0; i < MAX_PLANS; i++)
      if (plans[i].users == 0 && (!p || plans[i].last_used < p->last_used)) p = &plans[i];
    if (!p)
      return seq_fail(SEQ_EARG, "%s: more than %d distinct recurrent layer shapes in use on cuda",
                      cell->op, MAX_PLANS);
    cudnnDestroyRNNDescriptor(p->rnn);
    memset(p, 0, sizeof *p);
  }
  cudnnHandle_t h = (cudnnHandle_t)seq_cuda_cudnn_handle();
  cudnnDropoutDescriptor_t dropout = NULL;
  SEQ_TRY(get_no_dropout(h, &dropout));
  memset(p, 0, sizeof *p);
  p->cell = cell;
  p->dt = dt;
  p->I = I;
  p->H = H;
  p->tf32 = tf32;
  p->rnn = NULL;
  cudnnStatus_t cs = cudnnCreateRNNDescriptor(&p->rnn);
  if (cs != CUDNN_STATUS_SUCCESS) {
    p->rnn = NULL;
    return seq_fail(SEQ_EBACKEND, "cudnnCreateRNNDescriptor: %s", cudnnGetErrorString(cs));
  }
  /* FMA math keeps f32 free of TF32 (results match the CPU); TENSOR_OP math
   * lets cuDNN run f32 as TF32 on Ampere and later when asked for.  Should a
   * cuDNN build refuse FMA math for this configuration, DEFAULT is the
   * fallback (it may use TF32 on sm_80+: the cross-device test would show). */
  cudnnMathType_t math = tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  cudnnStatus_t s;
  for (int attempt = 0; attempt < 2; attempt++) {
    s = cudnnSetRNNDescriptor_v8(p->rnn, CUDNN_RNN_ALGO_STANDARD, cell->mode, CUDNN_RNN_DOUBLE_BIAS,
                                 CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, dn_type(dt), dn_type(dt),
                                 math, (int32_t)I, (int32_t)H, (int32_t)H, 1, dropout,
                                 /* required for the (un-packed) batch-major layout */
                                 CUDNN_RNN_PADDED_IO_ENABLED);
    if (s == CUDNN_STATUS_SUCCESS || math == CUDNN_DEFAULT_MATH) break;
    math = CUDNN_DEFAULT_MATH;
  }
  if (s == CUDNN_STATUS_SUCCESS) s = cudnnGetRNNWeightSpaceSize(h, p->rnn, &p->wsize);
  if (s != CUDNN_STATUS_SUCCESS) {
    /* a failed slot stays unmatchable (cell NULL) and idle */
    cudnnDestroyRNNDescriptor(p->rnn);
    memset(p, 0, sizeof *p);
    return seq_fail(SEQ_EBACKEND, "cuDNN RNN descriptor: %s", cudnnGetErrorString(s));
  }
  if (p == &plans[nplans]) nplans++;
  p->last_used = ++plan_clock;
  *out = p;
  return SEQ_OK;
}

/* Finds where each gate's matrix and bias live inside the weight space (the
 * offsets do not depend on the buffer, so they are computed once per plan
 * with the first real buffer) and checks their sizes.  Offsets are stored
 * by Keras gate. */
static seq_status plan_offsets(lstm_plan *p, void *wspace) {
  if (p->have_offsets) return SEQ_OK;
  cudnnHandle_t h = (cudnnHandle_t)seq_cuda_cudnn_handle();
  cudnnTensorDescriptor_t md, bd;
  SEQ_CUDNN(cudnnCreateTensorDescriptor, (&md));
  cudnnStatus_t s = cudnnCreateTensorDescriptor(&bd);
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyTensorDescriptor(md);
    return seq_fail(SEQ_EBACKEND, "cudnnCreateTensorDescriptor: %s", cudnnGetErrorString(s));
  }
  seq_status st = SEQ_OK;
  const int G = p->cell->G;
  for (int lin = 0; lin < 2 * G && st == SEQ_OK; lin++) {
    void *maddr = NULL, *baddr = NULL;
    s = cudnnGetRNNWeightParams(h, p->rnn, 0, p->wsize, wspace, lin, md, &maddr, bd, &baddr);
    if (s != CUDNN_STATUS_SUCCESS) {
      st = seq_fail(SEQ_EBACKEND, "cudnnGetRNNWeightParams: %s", cudnnGetErrorString(s));
      break;
    }
    /* check the matrix really is [H, in] and the bias [H] */
    cudnnDataType_t dtp;
    int nd = 0, dims[8] = {0}, strides[8] = {0};
    s = cudnnGetTensorNdDescriptor(md, 8, &dtp, &nd, dims, strides);
    int64_t want = p->H * (lin < G ? p->I : p->H), got = 1;
    for (int d = 0; d < nd; d++) got *= dims[d];
    if (s != CUDNN_STATUS_SUCCESS || !maddr || !baddr || got != want) {
      st = seq_fail(SEQ_EBACKEND,
                    "cudnnGetRNNWeightParams: unexpected layout for linear layer %d "
                    "(%lld elements, expected %lld)", lin, (long long)got, (long long)want);
      break;
    }
    size_t mo = (size_t)((char *)maddr - (char *)wspace), bo = (size_t)((char *)baddr - (char *)wspace);
    int g = 0; /* the Keras gate of this cuDNN matrix */
    while (p->cell->lin[g] != lin % G) g++;
    if (lin < G) {
      p->off_w_in[g] = mo;
      p->off_b_in[g] = bo;
    } else {
      p->off_w_rec[g] = mo;
      p->off_b_rec[g] = bo;
    }
  }
  cudnnDestroyTensorDescriptor(md);
  cudnnDestroyTensorDescriptor(bd);
  if (st == SEQ_OK) p->have_offsets = true;
  return st;
}

static seq_cuda_rnn_wptrs wptrs(const lstm_plan *p, void *base) {
  seq_cuda_rnn_wptrs w;
  memset(&w, 0, sizeof w);
  for (int g = 0; g < p->cell->G; g++) {
    w.w_in[g] = (char *)base + p->off_w_in[g];
    w.w_rec[g] = (char *)base + p->off_w_rec[g];
    w.b_in[g] = (char *)base + p->off_b_in[g];
    w.b_rec[g] = (char *)base + p->off_b_rec[g];
  }
  return w;
}

void seq_cuda_rnn_free_saved(void *ptr) {
  lstm_saved *s = ptr;
  if (!s) return;
  if (s->plan) s->plan->users--;
  seq_cuda_rnn_loop_free(s->loop);
  if (s->xdesc) cudnnDestroyRNNDataDescriptor(s->xdesc);
  if (s->ydesc) cudnnDestroyRNNDataDescriptor(s->ydesc);
  if (s->hdesc) cudnnDestroyTensorDescriptor(s->hdesc);
  seq_cuda_scratch_free(&s->wspace);
  seq_cuda_scratch_free(&s->reserve);
  seq_cuda_scratch_free(&s->ycopy);
  seq_cuda_scratch_free(&s->xdense);
  seq_cuda_scratch_free(&s->seqlen);
  free(s);
}

/* Per-sample lengths (all T without them) go to cuDNN's unpacked
 * batch-major layout, whose padding cuDNN skips: y is filled with zeros
 * there, hy/cy hold each sample's last real step, dy there is ignored. */
static seq_status set_descriptors(lstm_saved *s, seq_dtype dt, int64_t B, int64_t T, int64_t I,
                                  int64_t H, const int32_t *lengths) {
  int *lens = malloc(sizeof(int) * (size_t)B);
  if (!lens) return seq_fail(SEQ_ENOMEM, "rnn: out of host memory");
  for (int64_t b = 0; b < B; b++) lens[b] = lengths ? (int)lengths[b] : (int)T;
  double fill64 = 0;
  float fill32 = 0;
  void *fill = dt == SEQ_F64 ? (void *)&fill64 : (void *)&fill32;
  seq_status st = SEQ_OK;
  cudnnStatus_t e;
#define DN_STEP(fn, args)                                                      \
  if (st == SEQ_OK && (e = fn args) != CUDNN_STATUS_SUCCESS)                   \
    st = seq_fail(SEQ_EBACKEND, "%s: %s", #fn, cudnnGetErrorString(e));
  DN_STEP(cudnnCreateRNNDataDescriptor, (&s->xdesc));
  DN_STEP(cudnnCreateRNNDataDescriptor, (&s->ydesc));
  DN_STEP(cudnnCreateTensorDescriptor, (&s->hdesc));
  DN_STEP(cudnnSetRNNDataDescriptor, (s->xdesc, dn_type(dt), CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
                                      (int)T, (int)B, (int)I, lens, NULL));
  DN_STEP(cudnnSetRNNDataDescriptor, (s->ydesc, dn_type(dt), CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
                                      (int)T, (int)B, (int)H, lens, fill));
  int hdims[3] = {1, (int)B, (int)H}, hstrides[3] = {(int)(B * H), (int)H, 1};
  DN_STEP(cudnnSetTensorNdDescriptor, (s->hdesc, dn_type(dt), 3, hdims, hstrides));
#undef DN_STEP
  free(lens);
  if (st != SEQ_OK) return st;
  /* the device copy of the sequence lengths */
  SEQ_TRY(seq_cuda_scratch_alloc(&s->seqlen, sizeof(int32_t) * (size_t)B));
  if (lengths) return seq_cuda_upload_impl(s->seqlen.ptr, lengths, sizeof(int32_t) * (size_t)B);
  return seq_cuda_k_fill(s->seqlen.ptr, SEQ_I32, B, (double)T);
}

/* What the op layer guarantees (seq_lstm_args, seq_rnn_args): asserted,
 * never reported. */
static inline bool is_arg(const seq_tensor *t, seq_dtype dt, int64_t numel) {
  return !t || (t->dtype == dt && t->numel == numel && seq_tensor_is_contiguous(t));
}

static seq_status forward_impl(rnn_call *a, lstm_saved *s, seq_cuda_scratch *tmp) {
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H;
  const seq_dtype dt = a->kernel->dtype;
  const size_t es = seq_dtype_size(dt);
  cudnnHandle_t h = (cudnnHandle_t)seq_cuda_cudnn_handle();

  SEQ_TRY(get_plan(a->cell, dt, I, H, &s->plan));
  lstm_plan *p = s->plan;
  p->users++; /* until free_saved */
  s->B = B;
  s->T = T;
  SEQ_TRY(set_descriptors(s, dt, B, T, I, H, a->lengths));

  /* weights -> weight space */
  SEQ_TRY(seq_cuda_scratch_alloc(&s->wspace, p->wsize));
  SEQ_TRY(plan_offsets(p, s->wspace.ptr));
  SEQ_TRY(seq_cuda_memset_zero_impl(s->wspace.ptr, p->wsize));
  const void *kp, *rp, *bp;
  SEQ_TRY(seq_cuda_contig(a->kernel, dt, &tmp[0], &kp));
  SEQ_TRY(seq_cuda_contig(a->recurrent, dt, &tmp[1], &rp));
  SEQ_TRY(seq_cuda_contig(a->bias, dt, &tmp[2], &bp));
  seq_cuda_rnn_wptrs w = wptrs(p, s->wspace.ptr);
  SEQ_TRY(seq_cuda_k_rnn_pack(&w, kp, rp, bp, dt, I, H, a->cell->G, a->cell->two_bias));

  SEQ_TRY(seq_cuda_rnn_dense_input(a->x, a->x_is_index, dt, I, &s->xdense, &s->x));
  const void *h0 = NULL, *c0 = NULL;
  if (a->h0) SEQ_TRY(seq_cuda_contig(a->h0, dt, &tmp[4], &h0));
  if (a->c0) SEQ_TRY(seq_cuda_contig(a->c0, dt, &tmp[5], &c0));

  /* y is required by cuDNN even when the caller does not want it; backward
   * reads it again (the op layer keeps the forward's y alive for that). */
  void *y;
  if (a->y) {
    y = seq_tensor_data(a->y);
  } else {
    seq_cuda_scratch *ys = a->training ? &s->ycopy : &tmp[6];
    SEQ_TRY(seq_cuda_scratch_alloc(ys, (size_t)(B * T * H) * es));
    y = ys->ptr;
  }

  cudnnForwardMode_t mode = a->training ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE;
  size_t work_bytes = 0, reserve_bytes = 0;
  SEQ_CUDNN(cudnnGetRNNTempSpaceSizes, (h, p->rnn, mode, s->xdesc, &work_bytes, &reserve_bytes));
  s->work_bytes = work_bytes;
  s->reserve_bytes = reserve_bytes;
  SEQ_TRY(seq_cuda_scratch_alloc(&tmp[7], work_bytes));
  if (a->training) SEQ_TRY(seq_cuda_scratch_alloc(&s->reserve, reserve_bytes));
  SEQ_CUDNN(cudnnRNNForward,
            (h, p->rnn, mode, (const int32_t *)s->seqlen.ptr, s->xdesc, s->x, s->ydesc, y,
             s->hdesc, h0, a->h_n ? seq_tensor_data(a->h_n) : NULL, s->hdesc, c0,
             a->c_n ? seq_tensor_data(a->c_n) : NULL, p->wsize, s->wspace.ptr, work_bytes,
             tmp[7].ptr, a->training ? reserve_bytes : 0, a->training ? s->reserve.ptr : NULL));
  return SEQ_OK;
}

seq_status seq_cuda_rnn_dense_input(const seq_tensor *x, bool x_is_index, seq_dtype dt, int64_t I,
                                    seq_cuda_scratch *dense, const void **out) {
  if (!x_is_index) return seq_cuda_contig(x, dt, dense, out);
  /* the ids' copy may go once the kernel is queued: one stream */
  seq_cuda_scratch ids_copy = {0};
  const void *ids;
  seq_status st = seq_cuda_contig(x, x->dtype, &ids_copy, &ids);
  if (st == SEQ_OK) st = seq_cuda_scratch_alloc(dense, (size_t)(x->numel * I) * seq_dtype_size(dt));
  if (st == SEQ_OK) st = seq_cuda_k_one_hot(dense->ptr, dt, ids, x->dtype, x->numel, I);
  seq_cuda_scratch_free(&ids_copy);
  if (st == SEQ_OK) *out = dense->ptr;
  return st;
}

static void assert_forward_args(const rnn_call *a) {
#ifndef NDEBUG
  const seq_dtype dt = a->kernel->dtype;
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H, GH = a->cell->G * H;
  seq_backend_assert(B > 0 && T > 0 && I > 0 && H > 0, "lstm: sizes are positive");
  seq_backend_assert(dt == SEQ_F32 || dt == SEQ_F64, "lstm: f32 or f64");
  seq_backend_assert(is_arg(a->kernel, dt, I * GH) && is_arg(a->recurrent, dt, H * GH) &&
                         is_arg(a->bias, dt, (a->cell->two_bias ? 2 : 1) * GH) && a->x && a->y,
                     "lstm: weights");
  seq_backend_assert(a->x_is_index ? (a->x->dtype == SEQ_I32 || a->x->dtype == SEQ_I64) &&
                                         a->x->numel == B * T
                                   : is_arg(a->x, dt, B * T * I),
                     "lstm: x [B,T,I], or ids [B,T]");
  seq_backend_assert(is_arg(a->h0, dt, B * H) && is_arg(a->c0, dt, B * H) &&
                         is_arg(a->y, dt, B * T * H) && is_arg(a->h_n, dt, B * H) &&
                         is_arg(a->c_n, dt, B * H) && is_arg(a->recurrent_mask, dt, B * H),
                     "lstm: states, mask and outputs");
#else
  (void)a;
#endif
}

/* The step loop's view of a call (recurrent dropout). */
static seq_cuda_rnn_loop_args loop_args(const rnn_call *a) {
  return (seq_cuda_rnn_loop_args){a->cell->loop, a->B,    a->T,         a->I,   a->H,
                                  a->x_is_index, a->training, a->x, a->kernel, a->recurrent,
                                  a->bias,       a->h0,   a->c0,        a->recurrent_mask,
                                  a->y,          a->h_n,  a->c_n,       a->lengths};
}

static seq_status rnn_forward(rnn_call *a) {
  SEQ_TRY(seq_cuda_ensure_init());
  assert_forward_args(a);
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H;
  const char *op = a->cell->op;
  /* cuDNN's descriptors take int sizes: a limit of this backend, not of the op */
  if (B > 0x7fffffff || T > 0x7fffffff || I > 0x7fffffff || H > 0x7fffffff)
    return seq_fail(SEQ_ESHAPE, "%s: sizes B=%lld T=%lld I=%lld H=%lld exceed cuDNN's int range",
                    op, (long long)B, (long long)T, (long long)I, (long long)H);

  lstm_saved *s = calloc(1, sizeof *s);
  if (!s) return seq_fail(SEQ_ENOMEM, "%s: out of host memory", op);
  if (a->recurrent_mask) {
    seq_cuda_rnn_loop_args la = loop_args(a);
    seq_status st = seq_cuda_rnn_loop_forward(&la, &s->loop);
    if (st != SEQ_OK || !a->training) {
      seq_cuda_rnn_free_saved(s);
      s = NULL;
    }
    a->saved = s;
    return st;
  }
  seq_cuda_scratch tmp[8];
  memset(tmp, 0, sizeof tmp);
  seq_status st = forward_impl(a, s, tmp);
  for (int i = 0; i < 8; i++) seq_cuda_scratch_free(&tmp[i]);
  if (st != SEQ_OK || !a->training) {
    seq_cuda_rnn_free_saved(s);
    a->saved = NULL;
    return st;
  }
  a->saved = s;
  return SEQ_OK;
}

static seq_status backward_impl(rnn_call *a, rnn_call_grads *g, lstm_saved *s,
                                seq_cuda_scratch *tmp) {
  const int64_t B = s->B, T = s->T, I = a->I, H = a->H;
  const seq_dtype dt = s->plan->dt;
  const size_t es = seq_dtype_size(dt);
  lstm_plan *p = s->plan;
  const int64_t GH = p->cell->G * H; /* for the asserts */
  (void)GH;
  cudnnHandle_t h = (cudnnHandle_t)seq_cuda_cudnn_handle();
  /* the forward's hidden states: the op layer's saved y, else our copy */
  const void *ysaved = a->y ? seq_tensor_data(a->y) : s->ycopy.ptr;

  seq_backend_assert(is_arg(a->y, dt, B * T * H) && is_arg(g->dy, dt, B * T * H) &&
                         is_arg(g->dh_n, dt, B * H) && is_arg(g->dc_n, dt, B * H) &&
                         is_arg(a->x_is_index ? NULL : g->dx, dt, B * T * I) &&
                         is_arg(g->dkernel, dt, I * GH) && is_arg(g->drecurrent, dt, H * GH) &&
                         is_arg(g->dbias, dt, (p->cell->two_bias ? 2 : 1) * GH) &&
                         is_arg(g->dh0, dt, B * H) && is_arg(g->dc0, dt, B * H),
                     "lstm backward: gradient shapes");

  /* cuDNN needs a dense dy; a missing one is zeros */
  const void *dy;
  if (g->dy) {
    SEQ_TRY(seq_cuda_contig(g->dy, dt, &tmp[0], &dy));
  } else {
    SEQ_TRY(seq_cuda_scratch_alloc(&tmp[0], (size_t)(B * T * H) * es));
    SEQ_TRY(seq_cuda_memset_zero_impl(tmp[0].ptr, (size_t)(B * T * H) * es));
    dy = tmp[0].ptr;
  }
  const void *dhy = NULL, *dcy = NULL, *hx = NULL, *cx = NULL;
  if (g->dh_n) SEQ_TRY(seq_cuda_contig(g->dh_n, dt, &tmp[1], &dhy));
  if (g->dc_n) SEQ_TRY(seq_cuda_contig(g->dc_n, dt, &tmp[2], &dcy));
  if (a->h0) SEQ_TRY(seq_cuda_contig(a->h0, dt, &tmp[3], &hx));
  if (a->c0) SEQ_TRY(seq_cuda_contig(a->c0, dt, &tmp[4], &cx));
  /* dx is always produced by cuDNN; use scratch when it is not wanted */
  void *dx;
  if (g->dx && !a->x_is_index) {
    dx = seq_tensor_data(g->dx);
  } else {
    SEQ_TRY(seq_cuda_scratch_alloc(&tmp[5], (size_t)(B * T * I) * es));
    dx = tmp[5].ptr;
  }
  /* the workspace size is the forward's (same descriptor and mode) */
  SEQ_TRY(seq_cuda_scratch_alloc(&tmp[6], s->work_bytes));
  SEQ_CUDNN(cudnnRNNBackwardData_v8,
            (h, p->rnn, (const int32_t *)s->seqlen.ptr, s->ydesc, ysaved, dy, s->xdesc, dx,
             s->hdesc, hx, dhy, g->dh0 ? seq_tensor_data(g->dh0) : NULL, s->hdesc, cx, dcy,
             g->dc0 ? seq_tensor_data(g->dc0) : NULL, p->wsize, s->wspace.ptr, s->work_bytes,
             tmp[6].ptr, s->reserve_bytes, s->reserve.ptr));
  if (g->dkernel || g->drecurrent || g->dbias) {
    /* BackwardWeights must follow BackwardData (it reads what that left in
     * the reserve space); ADD mode into a zeroed buffer = plain gradient. */
    SEQ_TRY(seq_cuda_scratch_alloc(&tmp[7], p->wsize));
    SEQ_TRY(seq_cuda_memset_zero_impl(tmp[7].ptr, p->wsize));
    SEQ_CUDNN(cudnnRNNBackwardWeights_v8,
              (h, p->rnn, CUDNN_WGRAD_MODE_ADD, (const int32_t *)s->seqlen.ptr, s->xdesc, s->x,
               s->hdesc, hx, s->ydesc, ysaved, p->wsize, tmp[7].ptr, s->work_bytes,
               tmp[6].ptr, s->reserve_bytes, s->reserve.ptr));
    seq_cuda_rnn_wptrs dw = wptrs(p, tmp[7].ptr);
    SEQ_TRY(seq_cuda_k_rnn_unpack(&dw, g->dkernel ? seq_tensor_data(g->dkernel) : NULL,
                                  g->drecurrent ? seq_tensor_data(g->drecurrent) : NULL,
                                  g->dbias ? seq_tensor_data(g->dbias) : NULL, dt, I, H,
                                  p->cell->G, p->cell->two_bias));
  }
  return SEQ_OK;
}

static seq_status rnn_backward(rnn_call *a, rnn_call_grads *g) {
  SEQ_TRY(seq_cuda_ensure_init());
  lstm_saved *s = a->saved;
  if (s && s->loop) {
    seq_cuda_rnn_loop_args la = loop_args(a);
    seq_cuda_rnn_loop_grads lg = {g->dy, g->dh_n, g->dc_n, g->dx, g->dkernel, g->drecurrent,
                                  g->dbias, g->dh0, g->dc0};
    return seq_cuda_rnn_loop_backward(&la, s->loop, &lg);
  }
  seq_backend_assert(s && s->reserve.ptr && (a->y || s->ycopy.ptr),
                     "lstm backward: the saved state of a training forward");
  seq_cuda_scratch tmp[8];
  memset(tmp, 0, sizeof tmp);
  seq_status st = backward_impl(a, g, s, tmp);
  for (int i = 0; i < 8; i++) seq_cuda_scratch_free(&tmp[i]);
  return st;
}

/* ---- the backend's entry points ---- */

static rnn_call lstm_call(const seq_lstm_args *a) {
  return (rnn_call){&CELL_LSTM, a->B,  a->T,  a->I, a->H, a->x_is_index, a->training, a->x,
                    a->kernel,  a->recurrent, a->bias, a->h0, a->c0, a->y, a->h_n, a->c_n,
                    a->saved,   a->lengths, a->recurrent_mask};
}

seq_status seq_cuda_lstm_forward(seq_lstm_args *a) {
  rnn_call c = lstm_call(a);
  seq_status st = rnn_forward(&c);
  a->saved = c.saved;
  return st;
}

seq_status seq_cuda_lstm_backward(seq_lstm_args *a, seq_lstm_grads *g) {
  rnn_call c = lstm_call(a);
  rnn_call_grads cg = {g->dy, g->dh_n, g->dc_n, g->dx, g->dkernel, g->drecurrent, g->dbias, g->dh0,
                       g->dc0};
  return rnn_backward(&c, &cg);
}

void seq_cuda_lstm_free_saved(void *saved) { seq_cuda_rnn_free_saved(saved); }

static rnn_call gru_call(const seq_rnn_args *a) {
  const rnn_cell *cell = a->mode == SEQ_RNN_GRU    ? &CELL_GRU
                         : a->mode == SEQ_RNN_RELU ? &CELL_RELU
                                                   : &CELL_TANH;
  return (rnn_call){cell,      a->B,         a->T,    a->I,  a->H, a->x_is_index, a->training,
                    a->x,      a->kernel,    a->recurrent, a->bias, a->h0, NULL, a->y, a->h_n,
                    NULL,      a->saved,     a->lengths, a->rmask};
}

seq_status seq_cuda_rnn_forward(seq_rnn_args *a) {
  rnn_call c = gru_call(a);
  seq_status st = rnn_forward(&c);
  a->saved = c.saved;
  return st;
}

seq_status seq_cuda_rnn_backward(seq_rnn_args *a, seq_rnn_grads *g) {
  rnn_call c = gru_call(a);
  rnn_call_grads cg = {g->dy, g->dh_n, NULL, g->dx, g->dkernel, g->drecurrent, g->dbias, g->dh0,
                       NULL};
  return rnn_backward(&c, &cg);
}
