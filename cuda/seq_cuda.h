/* seq_cuda.h - the CUDA backend (cuda/): public switches and the internal
 * interface between the host code (cuda_*.c, plain C11) and the kernels
 * (cuda_kernels.cu, CUDA C++ kept C-like).
 *
 * Everything runs on the legacy default stream, so kernels, cuBLAS, cuDNN
 * and cudaMemcpy are ordered with each other; the caching allocator can hand
 * a freed block to the next op without synchronising, because any later use
 * of the block is queued after every earlier use. */
#ifndef SEQ_CUDA_H
#define SEQ_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "seq_backend.h"
#include "seq_cuda_loader.h"

/* ---- public: for the core and the Lua bindings ---- */

/* The backend table; NULL with "no CUDA device available" (SEQ_EDEVICE) when
 * there is no usable device, or the failing call's message.  Cheap after the
 * first call.  The core reaches these through the plugin table
 * (cuda_plugin.c, core/engine/seq_cuda_loader.h); inside the plugin they are
 * hidden symbols. */
const seq_backend *seq_cuda_backend(void);

/* TF32 tensor-core math for f32 GEMMs (cuBLAS) and the cuDNN LSTM.  Off by
 * default so that GPU results match the CPU to ~1e-6 relative. */
void seq_cuda_set_tf32(bool on);
bool seq_cuda_get_tf32(void);
/* Number of visible devices (0 when the driver or a device is missing);
 * never fails, never sets an error message. */
int seq_cuda_device_count(void);
/* One line on device 0 for seq.cuda.status(): its name, compute capability,
 * memory and the driver's and runtime's CUDA versions, or "no usable device:
 * <why>" (the error of cudaGetDeviceCount, e.g. a driver too old for this
 * runtime, or a compute capability older than the architectures built). */
const char *seq_cuda_device_status(void);
/* Returns every cached free block to the driver (e.g. before a memory
 * report); blocks in use are untouched. */
void seq_cuda_empty_cache(void);
/* Bytes held by the caching allocator: in use, and cached free. */
void seq_cuda_memory_stats(size_t *in_use, size_t *cached);

/* ---- internal ---- */

/* Checks a CUDA runtime / cuBLAS / cuDNN status: on failure returns
 * seq_fail(SEQ_EBACKEND, "<call>: <error string>").  Usage:
 *   SEQ_CU(cudaMemcpy, (dst, src, n, cudaMemcpyHostToDevice)); */
#define SEQ_CU(fn, args)                                                       \
  do {                                                                         \
    cudaError_t seq_cu_e_ = fn args;                                           \
    if (seq_cu_e_ != cudaSuccess) {                                            \
      (void)cudaGetLastError(); /* clear non-sticky errors */                  \
      return seq_fail(SEQ_EBACKEND, "%s: %s", #fn, cudaGetErrorString(seq_cu_e_)); \
    }                                                                          \
  } while (0)
#define SEQ_CUBLAS(fn, args)                                                   \
  do {                                                                         \
    cublasStatus_t seq_cb_e_ = fn args;                                        \
    if (seq_cb_e_ != CUBLAS_STATUS_SUCCESS)                                    \
      return seq_fail(SEQ_EBACKEND, "%s: %s", #fn, seq_cuda_cublas_str(seq_cb_e_)); \
  } while (0)
#define SEQ_CUDNN(fn, args)                                                    \
  do {                                                                         \
    cudnnStatus_t seq_dn_e_ = fn args;                                         \
    if (seq_dn_e_ != CUDNN_STATUS_SUCCESS)                                     \
      return seq_fail(SEQ_EBACKEND, "%s: %s", #fn, cudnnGetErrorString(seq_dn_e_)); \
  } while (0)

/* An operand as the kernels see it: device pointer, dtype and a strided
 * shape (up to SEQ_MAX_DIM dims, strides in elements). */
typedef struct seq_cuda_arr {
  void *data;
  int dtype; /* seq_dtype */
  int ndim;
  int64_t shape[SEQ_MAX_DIM];
  int64_t stride[SEQ_MAX_DIM];
} seq_cuda_arr;

/* Describes tensor `t` (its data pointer already includes the offset). */
seq_cuda_arr seq_cuda_arr_of(const seq_tensor *t);
/* A contiguous array over raw device memory. */
seq_cuda_arr seq_cuda_arr_raw(void *data, seq_dtype dt, int ndim, const int64_t *shape);

/* Scratch device memory from the caching allocator (cuda_backend.c). */
typedef struct seq_cuda_scratch {
  void *ptr;
  size_t nbytes;
} seq_cuda_scratch;
/* Pointer to t's elements as a contiguous array of dtype `want`: t's own
 * memory when it already is one, else a converted copy in `s` (release with
 * seq_cuda_scratch_free; a no-op when nothing was allocated). */
seq_status seq_cuda_contig(const seq_tensor *t, seq_dtype want, seq_cuda_scratch *s,
                           const void **out);
seq_status seq_cuda_scratch_alloc(seq_cuda_scratch *s, size_t nbytes);
void seq_cuda_scratch_free(seq_cuda_scratch *s);

/* memory (cuda_memory.c) */
seq_status seq_cuda_alloc(void **ptr, size_t nbytes);
void seq_cuda_free(void *ptr, size_t nbytes);
seq_status seq_cuda_ensure_init(void); /* device, handles; sets the message on failure */
/* NCCL (cuda_nccl.c): the plugin's table, NULL without nccl.h at build time;
 * and the device this process uses (one per process under a launcher). */
const seq_cuda_nccl *seq_cuda_nccl_table(void);
int seq_cuda_pick_device(int count);
seq_status seq_cuda_memset_zero_impl(void *ptr, size_t nbytes);
seq_status seq_cuda_upload_impl(void *dst, const void *src, size_t nbytes);
seq_status seq_cuda_download_impl(void *dst, const void *src, size_t nbytes);
seq_status seq_cuda_synchronize_impl(void);
/* Index errors found inside kernels are recorded in a device-side flag and
 * reported at the next synchronising call (download / synchronize). */
typedef struct seq_cuda_deferred {
  int code;          /* 0 none, else a SEQ_CUDA_ERR_* value (first error wins) */
  int pad;
  long long bad;     /* the offending id */
  long long limit;   /* the valid range is [0, limit) */
} seq_cuda_deferred;
enum {
  SEQ_CUDA_ERR_NONE, SEQ_CUDA_ERR_INDEX_SELECT, SEQ_CUDA_ERR_INDEX_ADD, SEQ_CUDA_ERR_GATHER,
  SEQ_CUDA_ERR_SCATTER_ADD, SEQ_CUDA_ERR_XENT, SEQ_CUDA_ERR_LSTM_INDEX
};
seq_cuda_deferred *seq_cuda_deferred_dev(void); /* for kernels; arms the next check */
seq_status seq_cuda_check_deferred(void);       /* call after a synchronisation */
const char *seq_cuda_cublas_str(int status);

/* kernels (cuda_kernels.cu); each launcher checks the launch */
seq_status seq_cuda_k_copy(const seq_cuda_arr *out, const seq_cuda_arr *src);
seq_status seq_cuda_k_fill(void *data, seq_dtype dt, int64_t n, double value);
seq_status seq_cuda_k_binary(seq_binop op, const seq_cuda_arr *out, const seq_cuda_arr *a,
                             const seq_cuda_arr *b);
seq_status seq_cuda_k_unary(seq_unop op, const seq_cuda_arr *out, const seq_cuda_arr *a,
                            double p0, double p1);
seq_status seq_cuda_k_where(const seq_cuda_arr *out, const seq_cuda_arr *cond,
                            const seq_cuda_arr *a, const seq_cuda_arr *b);
/* Reduces a contiguous [outer, n, inner] array over the middle dim. */
seq_status seq_cuda_k_reduce(seq_redop op, void *out, seq_dtype out_dt, const void *in,
                             seq_dtype in_dt, int64_t outer, int64_t n, int64_t inner);
seq_status seq_cuda_k_index_select(const seq_cuda_arr *out, const seq_cuda_arr *src, int dim,
                                   const void *idx, seq_dtype idx_dt, int64_t nidx);
seq_status seq_cuda_k_index_add(const seq_cuda_arr *dst, int dim, const void *idx,
                                seq_dtype idx_dt, int64_t nidx, const seq_cuda_arr *src);
seq_status seq_cuda_k_gather(const seq_cuda_arr *out, const seq_cuda_arr *src, int dim,
                             const void *idx, seq_dtype idx_dt);
seq_status seq_cuda_k_scatter_add(const seq_cuda_arr *dst, int dim, const void *idx,
                                  seq_dtype idx_dt, const seq_cuda_arr *src);
seq_status seq_cuda_k_rand(void *out, seq_dtype dt, int64_t n, uint64_t seed, uint64_t offset,
                           bool normal, double a, double b);
seq_status seq_cuda_k_softmax(void *out, const void *x, seq_dtype dt, int64_t rows,
                              int64_t cols, bool log);
seq_status seq_cuda_k_softmax_backward(void *dx, const void *y, const void *dy, seq_dtype dt,
                                       int64_t rows, int64_t cols, bool log);
/* target_kind: 0 probabilities [N,C] of dtype dt, 1 i32 ids, 2 i64 ids */
seq_status seq_cuda_k_softmax_xent(void *loss, void *probs, const void *logits,
                                   const void *target, int target_kind, seq_dtype dt,
                                   int64_t rows, int64_t cols);
seq_status seq_cuda_k_sigmoid_bce(void *loss, void *sig, const void *logits,
                                  const void *target, seq_dtype dt, int64_t n);
/* One parameter of a multi-parameter optimizer launch: elements [start,
 * start + n) of the joined range; every pointer is device memory of the
 * launch's dtype, s0/s1 NULL where the optimizer has none. */
typedef struct seq_cuda_optim_item {
  void *param;
  const void *grad;
  void *s0, *s1;
  int64_t start, n;
  double grad_scale; /* 1: the gradient as it is */
} seq_cuda_optim_item;
/* One launch updating `count` parameters of dtype dt whose descriptors are
 * at `items` (device memory, sorted by start); `total` is the sum of n. */
seq_status seq_cuda_k_optim(const seq_optim_hparams *hp, const seq_cuda_optim_item *items,
                            int count, int64_t total, seq_dtype dt);

/* Recurrent layer helpers (cuda_rnn.c).  Pointers to cuDNN's per-gate
 * matrices (row-major [H, in]) and bias vectors [H] inside its weight space,
 * indexed by Keras gate (G <= 4 of them). */
typedef struct seq_cuda_rnn_wptrs {
  void *w_in[4], *w_rec[4], *b_in[4], *b_rec[4];
} seq_cuda_rnn_wptrs;
/* Keras kernel [I,G*H], recurrent [H,G*H] and bias (contiguous) -> weight
 * space.  two_bias: bias [2,G*H] holds the input and the recurrent biases;
 * else bias [G*H] is the input bias and the recurrent biases are zero. */
seq_status seq_cuda_k_rnn_pack(const seq_cuda_rnn_wptrs *w, const void *kernel,
                               const void *recurrent, const void *bias, seq_dtype dt, int64_t I,
                               int64_t H, int G, bool two_bias);
/* Weight-space gradients -> Keras layout; any destination may be NULL. */
seq_status seq_cuda_k_rnn_unpack(const seq_cuda_rnn_wptrs *dw, void *dkernel, void *drecurrent,
                                 void *dbias, seq_dtype dt, int64_t I, int64_t H, int G,
                                 bool two_bias);
/* The input [B*T, I] of dtype dt that the recurrent paths multiply: x's own
 * memory when contiguous, else a copy in *dense; class ids (x_is_index,
 * any shape) become one-hot rows in *dense (cuda_rnn.c). */
seq_status seq_cuda_rnn_dense_input(const seq_tensor *x, bool x_is_index, seq_dtype dt, int64_t I,
                                    seq_cuda_scratch *dense, const void **out);
/* ids [n] (i32/i64) -> one-hot rows [n, I] of dtype dt. */
seq_status seq_cuda_k_one_hot(void *out, seq_dtype dt, const void *ids, seq_dtype id_dt,
                              int64_t n, int64_t I);

/* The recurrent step loop (cuda_rnn_loop.c) for what cuDNN cannot run: a
 * recurrent dropout mask on h_{t-1}.  Per step t one launch over the B*H
 * (sample, unit) pairs; all buffers are contiguous, batch-major [B,T,...]
 * (see cuda_rnn_loop.c for what each holds).  cell: a seq_cuda_cell. */
typedef enum seq_cuda_cell {
  SEQ_CUDA_CELL_LSTM, SEQ_CUDA_CELL_GRU, SEQ_CUDA_CELL_TANH, SEQ_CUDA_CELL_RELU
} seq_cuda_cell;
typedef struct seq_cuda_rnn_step {
  int cell;
  int64_t B, T, H, t;
  const int32_t *len;           /* [B] steps each row runs, or NULL: all T */
  const void *mask;             /* [B,H] the recurrent dropout mask */
  const void *h0, *c0;          /* [B,H] or NULL (zeros) */
  const void *bias;             /* Keras bias: [G*H], GRU [2,3H] */
  void *gates;                  /* [B,T,G*H] input projection -> activated gates */
  const void *u;                /* forward: [B,G*H] (h_{t-1}*mask).R of step t */
  void *uu;                     /* GRU [B,T,H]: h_{t-1}.R_h + b_Rh */
  void *S, *C;                  /* [B,T,H] h and c after each step (carried past lengths) */
  void *hm;                     /* [B,T,H] h_{t-1} * mask, the recurrent product's input */
  void *y, *h_n, *c_n;          /* forward outputs, any NULL */
  const void *dy, *dh_n, *dc_n; /* backward inputs, any NULL */
  void *dz, *du;                /* [B,T,G*H] gradients of the input and recurrent projections
                                 * (the same buffer but for the GRU) */
  void *dh, *dc;                /* [B,H] dh, dc carried to step t-1 */
  void *dhm;                    /* [B,H] d(h_t * mask) from step t+1's recurrent product */
} seq_cuda_rnn_step;
/* Forward step t (after u = hm[:,t].R); also writes hm[:,t+1], and h_n,
 * c_n at the last step. */
seq_status seq_cuda_k_rnn_step_forward(const seq_cuda_rnn_step *s, seq_dtype dt);
/* Backward step t (dh_n, dc_n are read at t = T-1; dhm at t < T-1). */
seq_status seq_cuda_k_rnn_step_backward(const seq_cuda_rnn_step *s, seq_dtype dt);
/* Forward: hm[:,0] = h0 * mask (zeros without h0).  Backward, after step 0's
 * recurrent product (into s->dhm): dh0 = dh + dhm * mask, dc0 = dc (either
 * may be NULL). */
seq_status seq_cuda_k_rnn_first_input(const seq_cuda_rnn_step *s, seq_dtype dt);
seq_status seq_cuda_k_rnn_initial_grads(const seq_cuda_rnn_step *s, void *dh0, void *dc0,
                                        seq_dtype dt);

/* One call of the step loop (tensors as in seq_lstm_args; c0, c_n: LSTM). */
typedef struct seq_cuda_rnn_loop_args {
  seq_cuda_cell cell;
  int64_t B, T, I, H;
  bool x_is_index, training;
  seq_tensor *x, *kernel, *recurrent, *bias, *h0, *c0, *mask, *y, *h_n, *c_n;
  const int32_t *lengths; /* host [B] or NULL */
} seq_cuda_rnn_loop_args;
typedef struct seq_cuda_rnn_loop_grads {
  seq_tensor *dy, *dh_n, *dc_n, *dx, *dkernel, *drecurrent, *dbias, *dh0, *dc0;
} seq_cuda_rnn_loop_grads;
typedef struct seq_cuda_rnn_loop seq_cuda_rnn_loop; /* what backward needs */
/* *saved is set only for training. */
seq_status seq_cuda_rnn_loop_forward(const seq_cuda_rnn_loop_args *a, seq_cuda_rnn_loop **saved);
/* a: the forward's arguments again (the op layer keeps them alive). */
seq_status seq_cuda_rnn_loop_backward(const seq_cuda_rnn_loop_args *a, seq_cuda_rnn_loop *saved,
                                      const seq_cuda_rnn_loop_grads *g);
void seq_cuda_rnn_loop_free(seq_cuda_rnn_loop *saved);

/* cuda_blas.c */
seq_status seq_cuda_gemm(seq_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                         int64_t k, double alpha, const void *a, int64_t lda, int64_t stride_a,
                         const void *b, int64_t ldb, int64_t stride_b, double beta, void *c,
                         int64_t ldc, int64_t stride_c, int64_t batch);
/* cuda_rnn.c */
seq_status seq_cuda_lstm_forward(seq_lstm_args *args);
seq_status seq_cuda_lstm_backward(seq_lstm_args *args, seq_lstm_grads *grads);
void seq_cuda_lstm_free_saved(void *saved);
seq_status seq_cuda_rnn_forward(seq_rnn_args *args);
seq_status seq_cuda_rnn_backward(seq_rnn_args *args, seq_rnn_grads *grads);
void seq_cuda_rnn_free_saved(void *saved);
/* Library handles owned by cuda_memory.c (created in seq_cuda_ensure_init). */
void *seq_cuda_cublas_handle(void); /* cublasHandle_t */
void *seq_cuda_cudnn_handle(void);  /* cudnnHandle_t */

#ifdef __cplusplus
}
#endif

#endif
