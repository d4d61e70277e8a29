/* seq_ops.h - differentiable tensor operations (the op layer).
 *
 * Every op: validates its arguments (errors name the op and the shapes,
 * dtypes or devices involved), allocates its output, runs the backend kernel
 * of the inputs' device and, when grad recording is on and an input requires
 * grad, records an autograd node.  Outputs are returned as new references. */
#ifndef SEQ_OPS_H
#define SEQ_OPS_H

#include "seq_autograd.h"
#include "seq_backend.h"

/* ---- creation ---- */
seq_status seq_arange(seq_tensor **out, double start, double stop, double step, seq_dtype dtype,
                      seq_device dev);
/* Global counter-based RNG (Philox): seed + running offset. */
void seq_manual_seed(uint64_t seed);
uint64_t seq_rng_seed(void);
uint64_t seq_rng_offset(void);
void seq_rng_set_state(uint64_t seed, uint64_t offset);
/* Reserves `n` counters of the global stream and returns the first. */
uint64_t seq_rng_reserve(uint64_t n);
seq_status seq_rand_uniform(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                            const int64_t *shape, double lo, double hi);
seq_status seq_rand_normal(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                           const int64_t *shape, double mean, double std);

/* ---- moving and converting ---- */
seq_status seq_to_device(seq_tensor **out, seq_tensor *t, seq_device dev); /* differentiable */
seq_status seq_cast(seq_tensor **out, seq_tensor *t, seq_dtype dtype);      /* differentiable for floats */
seq_status seq_contiguous(seq_tensor **out, seq_tensor *t);                 /* retains if already */
seq_status seq_clone(seq_tensor **out, seq_tensor *t);
seq_status seq_detach(seq_tensor **out, seq_tensor *t);
/* dst <- src elementwise (same shape, src broadcast allowed), no autograd. */
seq_status seq_copy_(seq_tensor *dst, seq_tensor *src);
seq_status seq_fill_(seq_tensor *dst, double value);
/* Integer values exactly, whatever their size (wrapping to i32/u8). */
seq_status seq_fill_int_(seq_tensor *dst, int64_t value);
seq_status seq_full_int(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim, const int64_t *shape,
                        int64_t value);

/* ---- shape ---- */
/* reshape: one entry may be -1.  A view when `t` is contiguous. */
seq_status seq_reshape(seq_tensor **out, seq_tensor *t, int ndim, const int64_t *shape);
seq_status seq_permute(seq_tensor **out, seq_tensor *t, int ndim, const int *perm);
seq_status seq_transpose(seq_tensor **out, seq_tensor *t, int64_t d0, int64_t d1);
seq_status seq_narrow(seq_tensor **out, seq_tensor *t, int64_t dim, int64_t start, int64_t len);
seq_status seq_select(seq_tensor **out, seq_tensor *t, int64_t dim, int64_t index);
seq_status seq_squeeze(seq_tensor **out, seq_tensor *t, int64_t dim);
seq_status seq_unsqueeze(seq_tensor **out, seq_tensor *t, int64_t dim);
seq_status seq_expand(seq_tensor **out, seq_tensor *t, int ndim, const int64_t *shape);
seq_status seq_cat(seq_tensor **out, int n, seq_tensor *const *ts, int64_t dim);
seq_status seq_stack(seq_tensor **out, int n, seq_tensor *const *ts, int64_t dim);
seq_status seq_index_select(seq_tensor **out, seq_tensor *t, int64_t dim, seq_tensor *idx);
seq_status seq_gather(seq_tensor **out, seq_tensor *t, int64_t dim, seq_tensor *idx);
/* out = t with src scatter-added along dim at idx (out of place). */
seq_status seq_scatter_add(seq_tensor **out, seq_tensor *t, int64_t dim, seq_tensor *idx,
                           seq_tensor *src);

/* ---- elementwise (NumPy broadcasting; mixed dtypes promote) ---- */
seq_status seq_binary(seq_tensor **out, seq_binop op, seq_tensor *a, seq_tensor *b);
seq_status seq_binary_scalar(seq_tensor **out, seq_binop op, seq_tensor *a, double s,
                             bool scalar_first);
/* The same with an integer scalar: exact on i64 tensors beyond 2^53. */
seq_status seq_binary_scalar_int(seq_tensor **out, seq_binop op, seq_tensor *a, int64_t s, bool scalar_first);
seq_status seq_unary(seq_tensor **out, seq_unop op, seq_tensor *a, double p0, double p1);
seq_status seq_where(seq_tensor **out, seq_tensor *cond, seq_tensor *a, seq_tensor *b);
/* Broadcast shape of two shapes, error names `op`. */
seq_status seq_broadcast_shape(const char *op, const seq_tensor *a, const seq_tensor *b,
                               int *ndim, int64_t *shape);
/* Sums `g` down to `ndim/shape` (undoing a broadcast). */
seq_status seq_sum_to_shape(seq_tensor **out, seq_tensor *g, int ndim, const int64_t *shape);

/* ---- reductions ---- */
/* dim < -ndim..ndim-1, or SEQ_ALL_DIMS for a full reduction (scalar, 0-d). */
#define SEQ_ALL_DIMS INT64_MIN
seq_status seq_reduce(seq_tensor **out, seq_redop op, seq_tensor *t, int64_t dim, bool keepdim);

/* ---- linear algebra ---- */
/* matmul with torch semantics for 1-D..N-D (batched, broadcast batch dims). */
seq_status seq_matmul(seq_tensor **out, seq_tensor *a, seq_tensor *b);
/* y = x @ w + b, x [..., in], w [in, out], b [out] or NULL. */
seq_status seq_linear(seq_tensor **out, seq_tensor *x, seq_tensor *w, seq_tensor *b);

/* In place: the rows of a contiguous f64 CPU matrix [n, m] (n <= m) made
 * orthonormal by modified Gram-Schmidt (twice), as the Q of a QR with a
 * positive diagonal; Keras's Orthogonal initializer.  Host-side, no
 * autograd. */
seq_status seq_orthonormalize_rows_(seq_tensor *t);

/* ---- nn ---- */
seq_status seq_softmax(seq_tensor **out, seq_tensor *x, bool log); /* last dim */

#endif
