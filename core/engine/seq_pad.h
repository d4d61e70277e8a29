/* seq_pad.h - keras.utils.pad_sequences over ragged sequences.
 *
 * A list of N sequences is held "ragged": one flat 1-D values array and N+1
 * int64 offsets, sequence i being values[offsets[i] .. offsets[i+1]-1].
 * offsets[0] need not be 0 (a slice of a bigger ragged list stays valid
 * without copying), but offsets must not decrease and must stay within the
 * values.
 *
 * Keras semantics (keras.utils.pad_sequences):
 *  - maxlen < 0 (None): the longest sequence's length;
 *  - truncating 'pre' keeps the last maxlen items, 'post' the first maxlen;
 *  - padding 'pre' puts the padding before the items, 'post' after;
 *  - `value` fills the padding; values are converted to the output dtype as
 *    numpy's astype does (floats to ints truncate toward zero);
 *  - an empty sequence is a row of `value`;
 *  - a step may itself be an array (a feature vector, or deeper): values
 *    then has shape [steps, step shape...], offsets count steps, and the
 *    result is [n, maxlen, step shape...] with whole steps padded and cut.
 * maxlen 0 is rejected (Keras fails on it with a broadcasting error). */
#ifndef SEQ_PAD_H
#define SEQ_PAD_H

#include <stdbool.h>
#include <stdint.h>

#include "seq_error.h"
#include "seq_tensor.h"

typedef enum seq_pad_side { SEQ_PAD_PRE = 0, SEQ_PAD_POST = 1 } seq_pad_side;

/* "pre" / "post" -> side; false for anything else. */
bool seq_pad_side_from_name(const char *name, seq_pad_side *out);

/* Checks offsets (n+1 of them) against nvalues; fails naming `op`. */
seq_status seq_pad_check_offsets(const char *op, const int64_t *offsets, int64_t n, int64_t nvalues);

/* Length of the longest sequence (0 when n == 0). */
int64_t seq_pad_longest(const int64_t *offsets, int64_t n);

/* Pads into `out`, a caller-owned row-major [n, maxlen] buffer of odtype.
 * maxlen must be >= 1 here (resolve None with seq_pad_longest first). */
seq_status seq_pad_ragged_raw(const void *values, seq_dtype vdtype, int64_t nvalues,
                              const int64_t *offsets, int64_t n, int64_t maxlen,
                              seq_pad_side padding, seq_pad_side truncating, double value,
                              seq_dtype odtype, void *out);

/* The same over steps of `row` elements each: values holds nsteps * row
 * elements, offsets count steps, `out` is a row-major [n, maxlen, row]
 * buffer.  row >= 1. */
seq_status seq_pad_ragged_rows_raw(const void *values, seq_dtype vdtype, int64_t nsteps, int64_t row,
                                   const int64_t *offsets, int64_t n, int64_t maxlen,
                                   seq_pad_side padding, seq_pad_side truncating, double value,
                                   seq_dtype odtype, void *out);

/* Tensor form: values a CPU tensor [steps, step shape...] of any dtype (1-D
 * for sequences of numbers), offsets a 1-D CPU i64
 * tensor of n+1 entries, both contiguous.  maxlen < 0 means the longest.
 * *out is a new contiguous CPU [n, maxlen, step shape...] tensor of `dtype`. */
seq_status seq_pad_sequences(seq_tensor **out, const seq_tensor *values, const seq_tensor *offsets,
                             int64_t maxlen, seq_pad_side padding, seq_pad_side truncating,
                             double value, seq_dtype dtype);

#endif
