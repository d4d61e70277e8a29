/* seq_conv.c - im2col windows and Conv1D (see seq_conv.h).
 *
 * The windows are a strided view of the padded input (seq_window_raw) made
 * contiguous by the backend's strided copy; the convolution is then one
 * GEMM through seq_matmul, so autograd for the kernel and bias comes from
 * matmul and add.  The windows' own backward (col2im) adds each tap's
 * gradient into the padded input's gradient: for a fixed tap the windows
 * never overlap, so one strided add per tap suffices. */
#include "seq_conv.h"

#include <stdlib.h>

#include "seq_checked.h"

typedef struct unfold_ctx {
  int64_t size, step, dilation, pad_left, padded_len;
} unfold_ctx;

static seq_status unfold_check(const seq_tensor *x, int64_t size, int64_t step, int64_t dilation,
                               int64_t pad_left, int64_t pad_right, int64_t *padded_len) {
  if (!x) return seq_fail(SEQ_EARG, "unfold1d: input is required");
  if (x->ndim != 3)
    return seq_fail(SEQ_ESHAPE, "unfold1d: input must be [batch, steps, channels], got %s",
                    seq_tshape(x));
  if (x->dtype != SEQ_F32 && x->dtype != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "unfold1d: input dtype %s is not supported (use f32 or f64)",
                    seq_dtype_name(x->dtype));
  if (size < 1 || step < 1 || dilation < 1)
    return seq_fail(SEQ_EARG,
                    "unfold1d: window size, stride and dilation must be positive (got %lld, %lld, %lld)",
                    (long long)size, (long long)step, (long long)dilation);
  if (pad_left < 0 || pad_right < 0)
    return seq_fail(SEQ_EARG, "unfold1d: padding must not be negative (got %lld, %lld)",
                    (long long)pad_left, (long long)pad_right);
  if (!seq_add_i64(x->shape[1], pad_left, padded_len) ||
      !seq_add_i64(*padded_len, pad_right, padded_len))
    return seq_fail(SEQ_EARG, "unfold1d: padding %lld + %lld is too large", (long long)pad_left,
                    (long long)pad_right);
  return SEQ_OK;
}

/* x padded along dim 1 with `value` (a new reference; x itself without pads). */
static seq_status pad_steps(seq_tensor **out, seq_tensor *x, int64_t pad_left, int64_t padded_len,
                            double value) {
  if (padded_len == x->shape[1]) {
    *out = seq_tensor_retain(x);
    return SEQ_OK;
  }
  int64_t shape[3] = {x->shape[0], padded_len, x->shape[2]};
  seq_tensor *p, *inner = NULL;
  SEQ_TRY(seq_tensor_full(&p, x->dtype, x->device, 3, shape, value));
  seq_status st = seq_narrow_raw(&inner, p, 1, pad_left, x->shape[1]);
  if (st == SEQ_OK) st = seq_copy_(inner, x);
  seq_tensor_release(inner);
  if (st != SEQ_OK) {
    seq_tensor_release(p);
    return st;
  }
  *out = p;
  return SEQ_OK;
}

/* col2im: g [B,T_out,size,C] summed back onto the padded steps, then the
 * pads cut off. */
static seq_status backward_unfold(seq_node *n, seq_tensor **g, seq_tensor **gi) {
  const unfold_ctx *c = n->ctx;
  seq_tensor *x = n->inputs[0];
  int64_t shape[3] = {x->shape[0], c->padded_len, x->shape[2]};
  seq_tensor *gp = NULL, *win = NULL, *dst = NULL, *src = NULL, *sum = NULL, *inner = NULL;
  seq_status st = seq_tensor_zeros(&gp, x->dtype, x->device, 3, shape);
  if (st == SEQ_OK) st = seq_window_raw(&win, gp, 1, c->size, c->step, c->dilation);
  for (int64_t k = 0; k < c->size && st == SEQ_OK; k++) {
    st = seq_select_raw(&dst, win, 2, k);
    if (st == SEQ_OK) st = seq_select_raw(&src, g[0], 2, k);
    if (st == SEQ_OK) st = seq_binary(&sum, SEQ_BIN_ADD, dst, src);
    if (st == SEQ_OK) st = seq_copy_(dst, sum);
    seq_tensor_release(dst);
    seq_tensor_release(src);
    seq_tensor_release(sum);
    dst = src = sum = NULL;
  }
  if (st == SEQ_OK) st = seq_narrow_raw(&inner, gp, 1, c->pad_left, x->shape[1]);
  if (st == SEQ_OK) st = seq_contiguous(&gi[0], inner);
  seq_tensor_release(inner);
  seq_tensor_release(win);
  seq_tensor_release(gp);
  return st;
}

seq_status seq_unfold1d(seq_tensor **out, seq_tensor *x, int64_t size, int64_t step,
                        int64_t dilation, int64_t pad_left, int64_t pad_right, double pad_value) {
  int64_t padded_len = 0;
  SEQ_TRY(unfold_check(x, size, step, dilation, pad_left, pad_right, &padded_len));
  seq_tensor *xp, *win = NULL, *r = NULL;
  SEQ_TRY(pad_steps(&xp, x, pad_left, padded_len, pad_value));
  seq_status st = seq_window_raw(&win, xp, 1, size, step, dilation);
  /* a fresh tensor even when the view happens to be contiguous: the
   * result must not alias x (its node saves nothing of x's storage) */
  if (st == SEQ_OK) st = seq_tensor_empty(&r, x->dtype, x->device, win->ndim, win->shape);
  if (st == SEQ_OK) st = seq_copy_(r, win);
  seq_tensor_release(win);
  seq_tensor_release(xp);
  if (st == SEQ_OK && seq_needs_grad(1, &x)) {
    seq_node *node;
    st = seq_node_record("unfold1d", backward_unfold, 1, &x, 1, &r, &node);
    if (st == SEQ_OK) {
      unfold_ctx *c = malloc(sizeof *c);
      if (!c) {
        st = seq_fail(SEQ_ENOMEM, "out of memory");
      } else {
        *c = (unfold_ctx){size, step, dilation, pad_left, padded_len};
        node->ctx = c;
      }
    }
  }
  if (st != SEQ_OK) {
    seq_tensor_release(r);
    return st;
  }
  *out = r;
  return SEQ_OK;
}

static seq_status conv_check(const seq_tensor *x, const seq_tensor *k, const seq_tensor *b) {
  if (!x || !k) return seq_fail(SEQ_EARG, "conv1d: input and kernel are required");
  if (k->ndim != 3)
    return seq_fail(SEQ_ESHAPE, "conv1d: kernel must be [kernel_size, in_channels, filters], got %s",
                    seq_tshape(k));
  if (k->dtype != SEQ_F32 && k->dtype != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "conv1d: kernel dtype %s is not supported (use f32 or f64)",
                    seq_dtype_name(k->dtype));
  if (x->ndim != 3)
    return seq_fail(SEQ_ESHAPE, "conv1d: input must be [batch, steps, channels], got %s",
                    seq_tshape(x));
  if (x->dtype != k->dtype)
    return seq_fail(SEQ_EDTYPE, "conv1d: input has dtype %s, kernel has %s",
                    seq_dtype_name(x->dtype), seq_dtype_name(k->dtype));
  if (x->device != k->device)
    return seq_fail(SEQ_EDEVICE, "conv1d: input is on %s, kernel on %s",
                    seq_device_name(x->device), seq_device_name(k->device));
  if (x->shape[2] != k->shape[1])
    return seq_fail(SEQ_ESHAPE, "conv1d: input %s has %lld channels, kernel %s expects %lld",
                    seq_tshape(x), (long long)x->shape[2], seq_tshape(k), (long long)k->shape[1]);
  if (k->shape[0] < 1) return seq_fail(SEQ_ESHAPE, "conv1d: kernel %s has no taps", seq_tshape(k));
  if (b) {
    if (b->ndim != 1 || b->shape[0] != k->shape[2])
      return seq_fail(SEQ_ESHAPE, "conv1d: bias must be [%lld], got %s", (long long)k->shape[2],
                      seq_tshape(b));
    if (b->dtype != k->dtype || b->device != k->device)
      return seq_fail(SEQ_EDTYPE, "conv1d: bias (%s on %s) must match the kernel (%s on %s)",
                      seq_dtype_name(b->dtype), seq_device_name(b->device),
                      seq_dtype_name(k->dtype), seq_device_name(k->device));
  }
  return SEQ_OK;
}

seq_status seq_conv1d(seq_tensor **y, seq_tensor *x, seq_tensor *kernel, seq_tensor *bias,
                      int64_t stride, int64_t dilation, int64_t pad_left, int64_t pad_right) {
  SEQ_TRY(conv_check(x, kernel, bias));
  const int64_t size = kernel->shape[0], C = kernel->shape[1], F = kernel->shape[2];
  int64_t padded_len = 0, span = 0;
  SEQ_TRY(unfold_check(x, size, stride, dilation, pad_left, pad_right, &padded_len));
  if (!seq_mul_i64(dilation, size - 1, &span) || span >= padded_len)
    return seq_fail(SEQ_ESHAPE,
                    "conv1d: %lld steps (padded) are fewer than the kernel's receptive field of %lld "
                    "(kernel_size %lld, dilation_rate %lld)",
                    (long long)padded_len, (long long)(span < INT64_MAX ? span + 1 : span),
                    (long long)size, (long long)dilation);
  seq_tensor *cols = NULL, *rows = NULL, *k2 = NULL, *prod = NULL, *r = NULL;
  seq_status st = seq_unfold1d(&cols, x, size, stride, dilation, pad_left, pad_right, 0.0);
  const int64_t B = x->shape[0], T_out = st == SEQ_OK ? cols->shape[1] : 0;
  int64_t rows_shape[2] = {-1, size * C}; /* size * C <= numel of the kernel */
  int64_t k_shape[2] = {size * C, F};
  int64_t y_shape[3] = {B, T_out, F};
  if (st == SEQ_OK) st = seq_reshape(&rows, cols, 2, rows_shape);
  if (st == SEQ_OK) st = seq_reshape(&k2, kernel, 2, k_shape);
  if (st == SEQ_OK) st = seq_matmul(&prod, rows, k2);
  if (st == SEQ_OK && bias) {
    seq_tensor *s = NULL;
    st = seq_binary(&s, SEQ_BIN_ADD, prod, bias);
    seq_tensor_release(prod);
    prod = s;
  }
  if (st == SEQ_OK) st = seq_reshape(&r, prod, 3, y_shape);
  seq_tensor_release(prod);
  seq_tensor_release(k2);
  seq_tensor_release(rows);
  seq_tensor_release(cols);
  if (st != SEQ_OK) return st;
  *y = r;
  return SEQ_OK;
}
