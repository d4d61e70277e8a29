/* seq_autograd.c - graph nodes and the backward pass. */
#include "seq_autograd.h"

#include <stdlib.h>
#include <string.h>

#include "seq_ops.h"

static bool grad_enabled = true;
static int visit_epoch = 0;

bool seq_grad_enabled(void) { return grad_enabled; }

bool seq_set_grad_enabled(bool on) {
  bool prev = grad_enabled;
  grad_enabled = on;
  return prev;
}

bool seq_needs_grad(int n, seq_tensor *const *inputs) {
  if (!grad_enabled) return false;
  for (int i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad) return true;
  return false;
}

seq_node *seq_node_retain(seq_node *n) {
  if (n) n->refs++;
  return n;
}

static void node_drop_tape(seq_node *n) {
  for (int i = 0; i < n->n_saved; i++) {
    seq_tensor_release(n->saved[i]);
    n->saved[i] = NULL;
  }
  n->n_saved = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    seq_tensor_release(n->inputs[i]);
    n->inputs[i] = NULL;
  }
  n->n_inputs = 0;
  for (int k = 0; k < SEQ_NODE_MAX_OUTPUTS; k++) {
    seq_tensor_release(n->grad_accum[k]);
    n->grad_accum[k] = NULL;
  }
  if (n->ctx) {
    if (n->ctx_free) n->ctx_free(n->ctx);
    else free(n->ctx);
    n->ctx = NULL;
  }
  n->released = true;
}

void seq_node_release(seq_node *n) {
  if (!n || --n->refs > 0) return;
  node_drop_tape(n);
  free(n);
}

seq_status seq_node_record(const char *name, seq_backward_fn fn, int n_inputs,
                           seq_tensor *const *inputs, int n_outputs, seq_tensor *const *outputs,
                           seq_node **out_node) {
  if (n_inputs > SEQ_NODE_MAX_INPUTS || n_outputs > SEQ_NODE_MAX_OUTPUTS)
    return seq_fail(SEQ_EARG, "%s: too many inputs or outputs for an autograd node", name);
  seq_node *n = calloc(1, sizeof *n);
  if (!n) return seq_fail(SEQ_ENOMEM, "%s: out of memory recording the graph", name);
  n->refs = 0;
  n->name = name;
  n->backward = fn;
  n->n_inputs = n_inputs;
  for (int i = 0; i < n_inputs; i++) n->inputs[i] = seq_tensor_retain(inputs[i]);
  n->n_outputs = n_outputs;
  for (int k = 0; k < n_outputs; k++) {
    seq_tensor *o = outputs[k];
    if (!o) continue;
    n->out_dtype[k] = o->dtype;
    n->out_ndim[k] = o->ndim;
    memcpy(n->out_shape[k], o->shape, sizeof o->shape);
    if (o->grad_fn) seq_node_release(o->grad_fn);
    o->grad_fn = seq_node_retain(n);
    o->output_index = k;
    o->requires_grad = true;
  }
  if (n->refs == 0) { /* no outputs: nothing owns it */
    n->refs = 1;
    seq_node_release(n);
    n = NULL;
  }
  if (out_node) *out_node = n;
  return SEQ_OK;
}

void seq_node_save(seq_node *node, seq_tensor *t) {
  if (!node || node->n_saved >= SEQ_NODE_MAX_SAVED) return;
  node->saved[node->n_saved++] = seq_tensor_retain(t);
}

seq_status seq_grad_accumulate(seq_tensor **slot, seq_tensor *g) {
  if (!*slot) {
    /* A fresh header over g's storage: the slot must never hold a tensor
     * that has a grad or grad_fn of its own, or t.grad could reach back to
     * t (loss:backward(loss) on a leaf) and leak as a reference cycle. */
    return seq_detach(slot, g);
  }
  /* Out of place: the slot's tensor may be shared with another slot. */
  seq_tensor *sum;
  SEQ_TRY(seq_binary(&sum, SEQ_BIN_ADD, *slot, g));
  seq_tensor_release(*slot);
  *slot = sum;
  return SEQ_OK;
}

/* Depth-first topological order of the nodes reachable from `root`
 * (post-order: inputs before users), iterative so deep graphs (an LSTM
 * unrolled by hand over 500 steps) cannot overflow the C stack. */
typedef struct node_list {
  seq_node **items;
  size_t len, cap;
} node_list;

static seq_status list_push(node_list *l, seq_node *n) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    seq_node **p = realloc(l->items, cap * sizeof *p);
    if (!p) return seq_fail(SEQ_ENOMEM, "backward: out of memory");
    l->items = p;
    l->cap = cap;
  }
  l->items[l->len++] = n;
  return SEQ_OK;
}

static seq_status topo_sort(seq_node *root, node_list *order) {
  node_list stack = {0};
  int epoch = ++visit_epoch;
  seq_status st = list_push(&stack, root);
  root->visit_mark = epoch;
  root->pending = 0;
  while (st == SEQ_OK && stack.len) {
    seq_node *n = stack.items[stack.len - 1];
    if (n->pending < n->n_inputs) {
      seq_tensor *in = n->inputs[n->pending++];
      seq_node *child = in ? in->grad_fn : NULL;
      if (child && child->visit_mark != epoch) {
        if (child->released) {
          st = seq_fail(SEQ_EGRAD,
                        "backward: the graph through '%s' was already freed by an earlier "
                        "backward (run the forward pass again)",
                        child->name);
          break;
        }
        child->visit_mark = epoch;
        child->pending = 0;
        st = list_push(&stack, child);
      }
    } else {
      stack.len--;
      /* Retained: dropping a node's inputs during the pass may free the
       * tensors that own the nodes still waiting in `order`. */
      st = list_push(order, seq_node_retain(n));
      if (st != SEQ_OK) seq_node_release(n);
    }
  }
  free(stack.items);
  return st;
}

seq_status seq_backward(seq_tensor *loss, seq_tensor *grad) {
  if (!loss->requires_grad)
    return seq_fail(SEQ_EGRAD, "backward: tensor of shape %s does not require grad (no parameter "
                               "with requires_grad contributed to it)", seq_tshape(loss));
  seq_tensor *g0 = NULL;
  if (grad) {
    if (!seq_shape_equal(grad, loss))
      return seq_fail(SEQ_ESHAPE, "backward: gradient of shape %s for a tensor of shape %s",
                      seq_tshape(grad), seq_tshape(loss));
    g0 = seq_tensor_retain(grad);
  } else {
    if (loss->numel != 1)
      return seq_fail(SEQ_EGRAD, "backward: loss of shape %s is not a scalar; pass a gradient",
                      seq_tshape(loss));
    SEQ_TRY(seq_tensor_full(&g0, loss->dtype, loss->device, loss->ndim, loss->shape, 1.0));
  }
  if (!loss->grad_fn) { /* a leaf: its gradient is the seed itself */
    seq_status st = seq_grad_accumulate(&loss->grad, g0);
    seq_tensor_release(g0);
    return st;
  }
  if (loss->grad_fn->released) {
    seq_tensor_release(g0);
    return seq_fail(SEQ_EGRAD, "backward: the graph of this tensor was already freed by an earlier backward");
  }
  bool prev = seq_set_grad_enabled(false);
  node_list order = {0};
  seq_status st = topo_sort(loss->grad_fn, &order);
  if (st == SEQ_OK) {
    loss->grad_fn->grad_accum[loss->output_index] = g0;
    g0 = NULL;
  }
  /* Reverse post-order: every node runs after all of its users. */
  for (size_t k = order.len; st == SEQ_OK && k-- > 0;) {
    seq_node *n = order.items[k];
    seq_tensor *grad_in[SEQ_NODE_MAX_INPUTS] = {0};
    bool any = false;
    for (int j = 0; j < n->n_outputs; j++) any |= n->grad_accum[j] != NULL;
    if (any) st = n->backward(n, n->grad_accum, grad_in);
    if (st != SEQ_OK) st = seq_fail_context(st, n->name);
    for (int i = 0; st == SEQ_OK && i < n->n_inputs; i++) {
      seq_tensor *in = n->inputs[i], *g = grad_in[i];
      if (!g || !in) continue;
      if (!seq_shape_equal(g, in) || g->dtype != in->dtype) {
        st = seq_fail(SEQ_EGRAD, "%s backward: gradient %s %s for input %d of shape %s %s",
                      n->name, seq_dtype_name(g->dtype), seq_tshape(g), i + 1,
                      seq_dtype_name(in->dtype), seq_tshape(in));
        break;
      }
      if (in->grad_fn) st = seq_grad_accumulate(&in->grad_fn->grad_accum[in->output_index], g);
      else if (in->requires_grad) st = seq_grad_accumulate(&in->grad, g);
    }
    for (int i = 0; i < SEQ_NODE_MAX_INPUTS; i++) seq_tensor_release(grad_in[i]);
    node_drop_tape(n);
  }
  /* On failure, still free what the pass did not reach. */
  for (size_t k = 0; k < order.len; k++) {
    if (!order.items[k]->released) node_drop_tape(order.items[k]);
    seq_node_release(order.items[k]);
  }
  free(order.items);
  seq_tensor_release(g0);
  seq_set_grad_enabled(prev);
  return st;
}
