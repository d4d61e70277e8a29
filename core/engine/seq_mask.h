/* seq_mask.h - Keras masks [B,T] turned into what the fused recurrent
 * kernels take: per-sample lengths plus two row indices.
 *
 * A recurrent layer skips masked steps (its state is carried over).  The
 * kernels instead run each sample's first lengths[b] steps, so the real
 * steps are gathered to the front (in processing order: reversed for
 * go_backwards), and the outputs are gathered back to the original
 * positions afterwards. */
#ifndef SEQ_MASK_H
#define SEQ_MASK_H

#include "seq_ops.h"

/* mask: [B,T] of any dtype, non-zero = a real step.  Outputs (new
 * tensors, i64 row indices into a [B*T, ...] view, on the mask's device;
 * lengths i32 [B] on the CPU):
 *   lengths[b]      number of real steps of sample b
 *   gather[b*T+p]   the input row that processing step p of sample b reads:
 *                   its p-th real step (p < lengths[b]); a padding step
 *                   p >= lengths[b] reads its own row (never used)
 *   scatter[b*T+p]  the kernel output row that output position p shows: the
 *                   last real step at or before p; a masked p shows the
 *                   previous output, or zeros (row b*T+T-1, which is
 *                   padding whenever a step is masked) before the first
 *                   real step or when zero_masked is set
 * reverse: processing position p is time T-1-p (Keras's go_backwards: the
 * outputs stay in processing order). */
seq_status seq_mask_plan(seq_tensor **lengths, seq_tensor **gather, seq_tensor **scatter,
                         seq_tensor *mask, bool reverse, bool zero_masked);

#endif
