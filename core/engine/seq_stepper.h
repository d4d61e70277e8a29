/* seq_stepper.h - stateful generation with a model compiled once into a
 * plan: batch 1, one id at a time, on the host.
 *
 * A plan is a chain of layers over one step's vector: the first a
 * recurrent layer (LSTM, GRU, simple RNN) over class ids, whose input
 * projection is a row of its kernel; then recurrent, Dense and Activation
 * layers in any order.  seq_stepper_new copies every weight to host memory
 * (from any device: a batch of one is latency-bound, so a GPU would wait
 * on launches) into rows padded for cpu_stepper.h's row kernel, and
 * allocates the state and workspaces; a step then allocates nothing.  The
 * weights are a snapshot: a plan made before more training keeps the old
 * ones.
 *
 * Sampling (seq_stepper_generate) is the Keras tutorial's sample(): with
 * the model's output p as probabilities and temperature t, in double,
 *   l_i = log(max(p_i, 1e-30)) / t,  e_i = exp(l_i - max l),
 *   r = u * sum e,  the first i with r - e_0 - ... - e_i <= 0
 * (the last id if rounding leaves r > 0), which is seq.charlm.sample's
 * arithmetic to the bit.  Character k (0-based) of a call draws its u from
 * seqlua's Philox stream as seq_rand_uniform(f64, [0, 1)) does at counter
 * first + k: from the global stream (n counters reserved, so the call
 * takes the numbers seq.rand({n}, {dtype = 'f64'}) would), or with a seed
 * of the call's own at counters 0..n-1 (the global stream untouched). */
#ifndef SEQ_STEPPER_H
#define SEQ_STEPPER_H

#include <stdbool.h>
#include <stdint.h>

#include "seq_tensor.h"

typedef enum seq_step_kind {
  SEQ_STEP_LSTM,       /* kernel [I,4H], recurrent [H,4H], bias [4H]; gates i, f, c, o */
  SEQ_STEP_GRU,        /* kernel [I,3H], recurrent [H,3H], bias [2,3H] or none; reset_after */
  SEQ_STEP_SIMPLE_RNN, /* kernel [I,H], recurrent [H,H], bias [H] or none */
  SEQ_STEP_DENSE,      /* kernel [I,U], bias [U] or none, then `activation` */
  SEQ_STEP_ACTIVATION  /* `activation` alone */
} seq_step_kind;

typedef enum seq_step_act {
  SEQ_STEP_LINEAR,
  SEQ_STEP_SOFTMAX,
  SEQ_STEP_SIGMOID,
  SEQ_STEP_TANH,
  SEQ_STEP_RELU
} seq_step_act;

typedef struct seq_step_layer {
  seq_step_kind kind;
  const char *name; /* for messages */
  seq_tensor *kernel, *recurrent_kernel, *bias;
  seq_step_act activation; /* Dense, Activation; simple RNN: tanh or relu */
} seq_step_layer;

typedef struct seq_stepper seq_stepper;

seq_status seq_stepper_new(seq_stepper **out, int nlayers, const seq_step_layer *layers);
void seq_stepper_free(seq_stepper *s); /* NULL-safe */

seq_dtype seq_stepper_dtype(const seq_stepper *s);
int64_t seq_stepper_vocab(const seq_stepper *s);  /* ids are 0 .. vocab-1 */
int64_t seq_stepper_width(const seq_stepper *s);  /* values per output */
const char *seq_stepper_kernel_name(const seq_stepper *s); /* "avx2-fma" or "scalar" */

/* Zero state, no output yet. */
void seq_stepper_reset(seq_stepper *s);
/* Runs ids[0..n-1] from the current state. */
seq_status seq_stepper_feed(seq_stepper *s, int64_t n, const int64_t *ids);
/* The output after the last id fed, as doubles (width values). */
seq_status seq_stepper_output(const seq_stepper *s, double *out);
/* Samples n ids (see above), each fed before the next is drawn, into ids. */
seq_status seq_stepper_generate(seq_stepper *s, int64_t n, double temperature, bool own_seed, uint64_t seed,
                                int64_t *ids);

#endif
