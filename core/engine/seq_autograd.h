/* seq_autograd.h - reverse-mode automatic differentiation.
 *
 * An op whose inputs require grad creates a seq_node: its inputs (retained),
 * tensors saved for backward (retained), an optional ctx blob, and a backward
 * function.  Each output tensor points at the node (grad_fn, output_index).
 * The graph is the set of nodes reachable from the loss; seq_backward() sorts
 * it topologically, runs each node once, accumulates leaf gradients into
 * t->grad, then releases every node's saved tensors (the "tape is freed").
 * References only point from outputs back to inputs, so there are no cycles
 * and dropping the last reference to a loss frees its whole graph. */
#ifndef SEQ_AUTOGRAD_H
#define SEQ_AUTOGRAD_H

#include "seq_tensor.h"

#define SEQ_NODE_MAX_INPUTS 8
#define SEQ_NODE_MAX_SAVED 8
#define SEQ_NODE_MAX_OUTPUTS 4

typedef struct seq_node seq_node;

/* Computes gradients of the node's inputs from the gradients of its outputs.
 * grad_out[k] may be NULL when output k received no gradient (treat as
 * zero).  Writes new references into grad_in[i] (NULL = no gradient for
 * input i); the engine accumulates and releases them.  Backward functions
 * run with grad recording off, so they may use any op in seq_ops.h. */
typedef seq_status (*seq_backward_fn)(seq_node *node, seq_tensor **grad_out,
                                      seq_tensor **grad_in);

struct seq_node {
  int refs;
  const char *name; /* op name, for error messages and debugging */
  seq_backward_fn backward;
  int n_inputs;
  seq_tensor *inputs[SEQ_NODE_MAX_INPUTS];
  int n_saved;
  seq_tensor *saved[SEQ_NODE_MAX_SAVED];
  int n_outputs;
  /* output metadata so backward can build zero grads when needed */
  seq_dtype out_dtype[SEQ_NODE_MAX_OUTPUTS];
  int out_ndim[SEQ_NODE_MAX_OUTPUTS];
  int64_t out_shape[SEQ_NODE_MAX_OUTPUTS][SEQ_MAX_DIM];
  /* op-specific data (scalars, dims); freed with ctx_free if set, else free() */
  void *ctx;
  void (*ctx_free)(void *ctx);
  bool released; /* saved tensors already freed by a backward pass */
  /* engine scratch */
  seq_tensor *grad_accum[SEQ_NODE_MAX_OUTPUTS];
  int visit_mark;
  int pending;
};

/* Is gradient recording enabled (not inside no_grad)? */
bool seq_grad_enabled(void);
/* Sets the mode, returns the previous one (for no_grad scopes). */
bool seq_set_grad_enabled(bool on);

/* Does any of these tensors require grad (and recording is on)? */
bool seq_needs_grad(int n, seq_tensor *const *inputs);

/* Creates a node for `n_inputs` inputs (retained) and attaches it to the
 * outputs, marking them requires_grad.  `ctx` is taken over by the node. */
seq_status seq_node_record(const char *name, seq_backward_fn fn, int n_inputs,
                           seq_tensor *const *inputs, int n_outputs, seq_tensor *const *outputs,
                           seq_node **out_node);
/* Retains `t` as saved tensor number node->n_saved. */
void seq_node_save(seq_node *node, seq_tensor *t);
seq_node *seq_node_retain(seq_node *n);
void seq_node_release(seq_node *n);

/* loss.backward(grad): grad NULL means ones (loss must have one element). */
seq_status seq_backward(seq_tensor *loss, seq_tensor *grad);

/* Accumulates g into *slot (slot NULL -> takes a new reference/copy). */
seq_status seq_grad_accumulate(seq_tensor **slot, seq_tensor *g);

#endif
