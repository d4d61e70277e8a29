/* seq_tensor.h - the one tensor struct.
 *
 * A tensor is a refcounted header (dtype, device, shape, strides, offset)
 * over a refcounted storage block.  Views (reshape of a contiguous tensor,
 * narrow, select, transpose, permute) share storage; kernels that need
 * contiguous memory call seq_contiguous() first, which is free when the
 * tensor already is.  Strides and offsets are counted in elements.
 *
 * Ownership: every function that returns a tensor through `seq_tensor **out`
 * hands the caller one reference; release it with seq_tensor_release(). */
#ifndef SEQ_TENSOR_H
#define SEQ_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seq_error.h"

typedef enum seq_dtype { SEQ_F32, SEQ_F64, SEQ_I32, SEQ_I64, SEQ_U8, SEQ_NDTYPES } seq_dtype;
typedef enum seq_device { SEQ_CPU, SEQ_CUDA, SEQ_NDEVICES } seq_device;

#define SEQ_MAX_DIM 8

typedef struct seq_storage {
  void *data;
  size_t nbytes;
  int refs;
  seq_device device;
} seq_storage;

typedef struct seq_node seq_node; /* autograd graph node, see seq_autograd.h */

typedef struct seq_tensor {
  int refs;
  seq_dtype dtype;
  seq_device device;
  int ndim;
  int64_t shape[SEQ_MAX_DIM];
  int64_t stride[SEQ_MAX_DIM];
  int64_t numel;
  int64_t offset; /* in elements, into storage */
  seq_storage *storage;
  /* autograd */
  bool requires_grad;      /* leaf that wants .grad, or result of such ops */
  struct seq_tensor *grad; /* accumulated gradient (leaves) */
  seq_node *grad_fn;       /* node that produced this tensor (non-leaves) */
  int output_index;        /* which output of grad_fn this tensor is */
  /* optional per-tensor hook used by backends that keep a packed layout
   * (cuDNN weight space); NULL for ordinary tensors. */
  void *backend_aux;
} seq_tensor;

/* ---- dtypes and devices ---- */
size_t seq_dtype_size(seq_dtype d);
const char *seq_dtype_name(seq_dtype d);
bool seq_dtype_from_name(const char *name, seq_dtype *out);
bool seq_dtype_is_float(seq_dtype d);
const char *seq_device_name(seq_device d);
bool seq_device_from_name(const char *name, seq_device *out);

/* Formats a shape as "[2,3]" into buf (always NUL-terminated). */
const char *seq_shape_str(char *buf, size_t len, int ndim, const int64_t *shape);
/* Convenience: a rotating set of static-per-thread buffers so error messages
 * can format two or three shapes in one call. */
const char *seq_tshape(const seq_tensor *t);

/* ---- lifetime ---- */
/* Uninitialised contiguous tensor. */
seq_status seq_tensor_empty(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                            const int64_t *shape);
seq_status seq_tensor_zeros(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                            const int64_t *shape);
seq_status seq_tensor_full(seq_tensor **out, seq_dtype dtype, seq_device dev, int ndim,
                           const int64_t *shape, double value);
/* Same dtype/device/shape as `like`, uninitialised / zeroed. */
seq_status seq_tensor_empty_like(seq_tensor **out, const seq_tensor *like);
seq_status seq_tensor_zeros_like(seq_tensor **out, const seq_tensor *like);
/* Copies `nbytes` of host memory into a new CPU tensor of the given shape. */
seq_status seq_tensor_from_host(seq_tensor **out, seq_dtype dtype, int ndim, const int64_t *shape,
                                const void *host, size_t nbytes);

seq_tensor *seq_tensor_retain(seq_tensor *t);
void seq_tensor_release(seq_tensor *t); /* NULL-safe */

/* Total bytes of storage currently allocated per device (for GC pressure and
 * memory reports). */
size_t seq_storage_live_bytes(seq_device dev);

/* ---- layout ---- */
static inline void *seq_tensor_data(const seq_tensor *t) {
  return (char *)t->storage->data + (size_t)t->offset * seq_dtype_size(t->dtype);
}
bool seq_tensor_is_contiguous(const seq_tensor *t);
bool seq_shape_equal(const seq_tensor *a, const seq_tensor *b);
/* Product of the dims, or -1 when a dim is negative or the product (of the
 * non-zero dims) does not fit in int64 (seq_checked.h). */
int64_t seq_shape_numel(int ndim, const int64_t *shape);
/* Normalises a possibly negative dim; fails with a message naming `op`. */
seq_status seq_check_dim(const char *op, const seq_tensor *t, int64_t dim, int *out);

/* ---- views (no autograd; see seq_ops.h for the differentiable versions) ---- */
seq_status seq_view_raw(seq_tensor **out, seq_tensor *t, int ndim, const int64_t *shape);
seq_status seq_narrow_raw(seq_tensor **out, seq_tensor *t, int dim, int64_t start, int64_t len);
seq_status seq_select_raw(seq_tensor **out, seq_tensor *t, int dim, int64_t index);
/* Sliding windows along `dim` (a read-only, overlapping view, as torch's
 * unfold): dim becomes the window count n = (L - dilation*(size-1) - 1)/step
 * + 1 (0 when L is shorter than one window) and a new dim of `size` taps,
 * `dilation` apart, is inserted after it. */
seq_status seq_window_raw(seq_tensor **out, seq_tensor *t, int dim, int64_t size, int64_t step,
                          int64_t dilation);
seq_status seq_permute_raw(seq_tensor **out, seq_tensor *t, const int *perm);

/* ---- element access (any device; slow path, for tests and tostring) ---- */
seq_status seq_tensor_get(const seq_tensor *t, const int64_t *index, double *value);
seq_status seq_tensor_set(seq_tensor *t, const int64_t *index, double value);
/* The same for an integer: exact (wrapping to i32/u8), never via a double. */
seq_status seq_tensor_set_int(seq_tensor *t, const int64_t *index, int64_t value);
/* An element of an integer tensor, exactly (an i64 above 2^53 does not fit
 * a double). */
seq_status seq_tensor_get_int(const seq_tensor *t, const int64_t *index, int64_t *value);
/* Element number `flat` in row-major logical order.  Reading a device
 * tensor synchronises, so an error a kernel recorded earlier (a bad class id,
 * an illegal address) is returned here: callers must not drop it. */
seq_status seq_tensor_read_flat(const seq_tensor *t, int64_t flat, double *value);
/* The same for CPU tests: NaN when the read fails (the message stays set). */
double seq_tensor_get_flat(const seq_tensor *t, int64_t flat);

#endif
