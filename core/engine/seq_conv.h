/* seq_conv.h - convolution and pooling windows over sequences (channels
 * last, [B, T, C], as Keras's Conv1D and pooling layers).
 * Same contract as seq_ops.h: check, allocate, dispatch, record autograd. */
#ifndef SEQ_CONV_H
#define SEQ_CONV_H

#include "seq_ops.h"

/* The windows of x [B,T,C] padded with `pad_left`/`pad_right` steps of
 * `pad_value`: [B, T_out, size, C], tap k of window t being padded step
 * t*step + k*dilation (im2col).  T_out = (T + pads - dilation*(size-1) - 1)
 * / step + 1, or 0 when the padded input is shorter than one window.
 * Differentiable in x (padding receives no gradient). */
seq_status seq_unfold1d(seq_tensor **out, seq_tensor *x, int64_t size, int64_t step,
                        int64_t dilation, int64_t pad_left, int64_t pad_right, double pad_value);

/* y [B,T_out,F] = windows(x) @ kernel + bias: x [B,T,C] float, kernel
 * [size, C, F] (Keras's layout), bias [F] or NULL; zero padding.  The
 * windows go to one GEMM of [B*T_out, size*C] by [size*C, F], on any device
 * (the strided copy and GEMM slots of the backend). */
seq_status seq_conv1d(seq_tensor **y, seq_tensor *x, seq_tensor *kernel, seq_tensor *bias,
                      int64_t stride, int64_t dilation, int64_t pad_left, int64_t pad_right);

#endif
