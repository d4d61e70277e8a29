/* cpu_kernels.h - the CPU backend's kernels, one family per file:
 *   cpu_memory.c   alloc/free/copies        cpu_elementwise.c  binary/unary/where/copy/fill
 *   cpu_reduce.c   reductions, softmax      cpu_blas.c         gemm through BLAS, threads
 *   cpu_index.c    index_select/add, gather/scatter           cpu_random.c  Philox fills
 *   cpu_lstm.c     the fused LSTM           cpu_loss.c         fused losses
 *   cpu_rnn.c      the fused GRU and simple RNN (cpu_recurrent.h: what the
 *                  recurrent kernels share)
 *   cpu_optim.c    optimizer update kernels   cpu_gemm_tiles.c   our AVX2/FMA GEMM
 * cpu_backend.c gathers them into seq_cpu_backend. */
#ifndef SEQ_CPU_KERNELS_H
#define SEQ_CPU_KERNELS_H

#include "seq_backend.h"

/* Denormals-to-zero mode for a heavy kernel (see cpu_blas.c): enter returns
 * the caller's mode, leave restores it. */
unsigned seq_cpu_ftz_enter(void);
void seq_cpu_ftz_leave(unsigned saved);

seq_status seq_cpu_alloc(void **ptr, size_t nbytes);
void seq_cpu_free(void *ptr, size_t nbytes);
/* Bytes of freed large blocks kept mapped for reuse (cpu_memory.c). */
size_t seq_cpu_map_cache_bytes(void);
seq_status seq_cpu_memset_zero(void *ptr, size_t nbytes);
seq_status seq_cpu_memcpy(void *dst, const void *src, size_t nbytes);
seq_status seq_cpu_synchronize(void);

seq_status seq_cpu_copy(seq_tensor *out, const seq_tensor *src);
seq_status seq_cpu_fill(seq_tensor *out, double value);
seq_status seq_cpu_binary(seq_binop op, seq_tensor *out, const seq_tensor *a, const seq_tensor *b);
seq_status seq_cpu_unary(seq_unop op, seq_tensor *out, const seq_tensor *a, double p0, double p1);
seq_status seq_cpu_where(seq_tensor *out, const seq_tensor *cond, const seq_tensor *a,
                         const seq_tensor *b);
seq_status seq_cpu_reduce(seq_redop op, seq_tensor *out, const seq_tensor *a, int dim);
seq_status seq_cpu_softmax(seq_tensor *out, const seq_tensor *x, bool log);
seq_status seq_cpu_softmax_backward(seq_tensor *dx, const seq_tensor *y, const seq_tensor *dy,
                                    bool log);

seq_status seq_cpu_gemm(seq_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                        int64_t k, double alpha, const void *a, int64_t lda, int64_t stride_a,
                        const void *b, int64_t ldb, int64_t stride_b, double beta, void *c,
                        int64_t ldc, int64_t stride_c, int64_t batch);
/* Our register-tiled GEMM (cpu_gemm_tiles.c) for CPUs whose CPUID reports
 * AVX2 and FMA; seq_cpu_gemm picks it or the BLAS (cpu_blas.c).  Row-major,
 * one product. */
bool seq_cpu_gemm_tiles_supported(void);
seq_status seq_cpu_gemm_tiles(seq_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                              int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                              int64_t ldb, double beta, void *c, int64_t ldc);

seq_status seq_cpu_index_select(seq_tensor *out, const seq_tensor *src, int dim,
                                const seq_tensor *idx);
seq_status seq_cpu_index_add(seq_tensor *dst, int dim, const seq_tensor *idx,
                             const seq_tensor *src);
seq_status seq_cpu_gather(seq_tensor *out, const seq_tensor *src, int dim, const seq_tensor *idx);
seq_status seq_cpu_scatter_add(seq_tensor *dst, int dim, const seq_tensor *idx,
                               const seq_tensor *src);

seq_status seq_cpu_rand_uniform(seq_tensor *out, uint64_t seed, uint64_t offset, double lo,
                                double hi);
seq_status seq_cpu_rand_normal(seq_tensor *out, uint64_t seed, uint64_t offset, double mean,
                               double std);

seq_status seq_cpu_softmax_xent(seq_tensor *loss, seq_tensor *probs, const seq_tensor *logits,
                                const seq_tensor *target);
seq_status seq_cpu_sigmoid_bce(seq_tensor *loss, seq_tensor *sig, const seq_tensor *logits,
                               const seq_tensor *target);

seq_status seq_cpu_lstm_forward(seq_lstm_args *args);
seq_status seq_cpu_lstm_backward(seq_lstm_args *args, seq_lstm_grads *grads);
void seq_cpu_lstm_free_saved(void *saved);

seq_status seq_cpu_rnn_forward(seq_rnn_args *args);
seq_status seq_cpu_rnn_backward(seq_rnn_args *args, seq_rnn_grads *grads);
void seq_cpu_rnn_free_saved(void *saved);

seq_status seq_cpu_optim_step(const seq_optim_hparams *hp, int n, const seq_optim_item *items);

/* The CPU backend's set_threads/get_threads slots; the kernels here read
 * the count directly, everything outside core/cpu goes through
 * seq_set_threads. */
void seq_cpu_set_threads(int n);
int seq_cpu_get_threads(void);

#endif
