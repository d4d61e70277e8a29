/* seq_optim.c - optimizer steps and gradient clipping by norm (see seq_nn.h).
 *
 * A step is one backend call per device over all parameters (the backend
 * runs one parallel region or one launch for them), so a model's step costs
 * one trip from Lua to the kernel instead of one per parameter. */
#include "seq_nn.h"

#include <math.h>
#include <stdlib.h>

static const char *const optim_kind_names[] = {"sgd", "rmsprop", "adam", "adagrad", "adadelta", "nadam"};

const char *seq_optim_kind_name(seq_optim_kind kind) {
  return (int)kind >= 0 && kind <= SEQ_OPTIM_LAST ? optim_kind_names[kind] : "unknown";
}

seq_status seq_optim_check_buffer(const char *what, const seq_tensor *t, const seq_tensor *param,
                                  const char *kind) {
  if (!t)
    return seq_fail(SEQ_EARG, "optimizer %s: %s buffer is missing for param %s", kind, what,
                    seq_tshape(param));
  if (t->device != param->device)
    return seq_fail(SEQ_EDEVICE, "optimizer %s: %s is on %s, expected %s", kind, what,
                    seq_device_name(t->device), seq_device_name(param->device));
  if (t->dtype != param->dtype)
    return seq_fail(SEQ_EDTYPE, "optimizer %s: %s has dtype %s but the param is %s", kind, what,
                    seq_dtype_name(t->dtype), seq_dtype_name(param->dtype));
  if (!seq_shape_equal(t, param))
    return seq_fail(SEQ_ESHAPE, "optimizer %s: %s %s does not match param %s", kind, what,
                    seq_tshape(t), seq_tshape(param));
  if (t->numel > 0 && !seq_tensor_is_contiguous(t))
    return seq_fail(SEQ_EARG, "optimizer %s: %s %s must be contiguous", kind, what,
                    seq_tshape(t));
  return SEQ_OK;
}

seq_status seq_optim_check_settings(const seq_optim_hparams *hp, const seq_optim_item *it) {
  seq_tensor *param = it->param, *state0 = it->state0, *state1 = it->state1;
  const char *name = seq_optim_kind_name(hp->kind);
  if (!(hp->lr >= 0) || !isfinite(hp->lr))
    return seq_fail(SEQ_EARG, "optimizer %s: bad learning rate %g", name, hp->lr);
  if (!isfinite(it->grad_scale))
    return seq_fail(SEQ_EARG, "optimizer %s: bad gradient scale %g", name, it->grad_scale);
  switch (hp->kind) {
  case SEQ_OPTIM_SGD:
    if (hp->momentum < 0 || hp->momentum > 1)
      return seq_fail(SEQ_EARG, "optimizer sgd: momentum %g is not in [0,1]", hp->momentum);
    if (hp->momentum != 0) SEQ_TRY(seq_optim_check_buffer("velocity (state0)", state0, param, name));
    break;
  case SEQ_OPTIM_RMSPROP:
    if (hp->rho < 0 || hp->rho > 1)
      return seq_fail(SEQ_EARG, "optimizer rmsprop: rho %g is not in [0,1]", hp->rho);
    SEQ_TRY(seq_optim_check_buffer("velocity (state0)", state0, param, name));
    if (hp->momentum > 0) SEQ_TRY(seq_optim_check_buffer("momentum (state1)", state1, param, name));
    break;
  case SEQ_OPTIM_ADAM:
  case SEQ_OPTIM_NADAM:
    if (hp->step < 1)
      return seq_fail(SEQ_EARG, "optimizer %s: step must be >= 1, got %lld", name,
                      (long long)hp->step);
    SEQ_TRY(seq_optim_check_buffer("first moment (state0)", state0, param, name));
    SEQ_TRY(seq_optim_check_buffer("second moment (state1)", state1, param, name));
    break;
  case SEQ_OPTIM_ADAGRAD:
    SEQ_TRY(seq_optim_check_buffer("accumulator (state0)", state0, param, name));
    break;
  case SEQ_OPTIM_ADADELTA:
    if (hp->rho < 0 || hp->rho > 1)
      return seq_fail(SEQ_EARG, "optimizer adadelta: rho %g is not in [0,1]", hp->rho);
    SEQ_TRY(seq_optim_check_buffer("accumulated gradient (state0)", state0, param, name));
    SEQ_TRY(seq_optim_check_buffer("accumulated update (state1)", state1, param, name));
    break;
  }
  return SEQ_OK;
}

/* The sum of the squares of `n` grads (NULL skipped) in f64: each grad's sum
 * is formed on its device (square, sum in the grad's dtype, cast to f64) and
 * added there, and the host reads one number per device, so a GPU is
 * synchronised once, not once per parameter. */
static seq_status grads_sumsq(int n, seq_tensor *const *grads, double *out) {
  double sum = 0;
  seq_status st = SEQ_OK;
  seq_tensor *acc[SEQ_NDEVICES] = {NULL};
  for (int i = 0; i < n && st == SEQ_OK; i++) {
    seq_tensor *g = grads[i];
    if (!g) continue;
    seq_tensor *sq = NULL, *s = NULL, *s64 = NULL, *next = NULL;
    st = seq_unary(&sq, SEQ_UN_SQUARE, g, 0, 0);
    if (st == SEQ_OK) st = seq_reduce(&s, SEQ_RED_SUM, sq, SEQ_ALL_DIMS, false);
    if (st == SEQ_OK) st = seq_cast(&s64, s, SEQ_F64);
    seq_tensor **slot = &acc[s64 ? s64->device : 0];
    if (st == SEQ_OK && *slot) st = seq_binary(&next, SEQ_BIN_ADD, *slot, s64);
    if (st == SEQ_OK) {
      seq_tensor_release(*slot);
      *slot = next ? next : seq_tensor_retain(s64);
    }
    seq_tensor_release(sq);
    seq_tensor_release(s);
    seq_tensor_release(s64);
  }
  for (int d = 0; d < SEQ_NDEVICES; d++) {
    double part = 0;
    if (acc[d] && st == SEQ_OK) st = seq_tensor_read_flat(acc[d], 0, &part);
    sum += part;
    seq_tensor_release(acc[d]);
  }
  *out = sum;
  return st;
}

/* Keras's clip_by_norm factor: max_norm / max(norm, max_norm). */
static double clip_factor(double norm, double max_norm) {
  return isfinite(norm) && norm > max_norm ? max_norm / norm : 1.0;
}

seq_status seq_clip_grad_norm(int n, seq_tensor *const *params, double max_norm,
                              double *total_norm) {
  if (!(max_norm > 0))
    return seq_fail(SEQ_EARG, "clip_grad_norm: max_norm must be > 0, got %g", max_norm);
  bool prev = seq_set_grad_enabled(false);
  seq_tensor **grads = calloc(n > 0 ? (size_t)n : 1, sizeof *grads);
  if (!grads) {
    seq_set_grad_enabled(prev);
    return seq_fail(SEQ_ENOMEM, "clip_grad_norm: out of memory");
  }
  for (int i = 0; i < n; i++) grads[i] = params[i] ? params[i]->grad : NULL;
  double sum = 0;
  seq_status st = grads_sumsq(n, grads, &sum);
  free(grads);
  if (st != SEQ_OK) st = seq_fail_context(st, "clip_grad_norm");
  double norm = sqrt(sum);
  if (total_norm) *total_norm = norm;
  const double scale = clip_factor(norm, max_norm);
  for (int i = 0; i < n && st == SEQ_OK && scale != 1.0; i++) {
    seq_tensor *g = params[i] ? params[i]->grad : NULL;
    if (!g) continue;
    seq_tensor *scaled = NULL;
    st = seq_binary_scalar(&scaled, SEQ_BIN_MUL, g, scale, false);
    if (st == SEQ_OK) {
      seq_tensor_release(params[i]->grad);
      params[i]->grad = scaled;
    }
  }
  seq_set_grad_enabled(prev);
  return st;
}

/* Fills `it` for `param`: checks its gradient and states against it and
 * makes the gradient contiguous in the param's dtype; a gradient that has to
 * be converted is scaled first, in its own dtype, as seq_clip_grad_norm
 * would have done.  The tensors made here go to hold[0..1]. */
static seq_status optim_prepare(const char *op, seq_tensor *param, seq_tensor *state0,
                                seq_tensor *state1, double scale, seq_optim_item *it,
                                seq_tensor *hold[2]) {
  if (!param->grad)
    return seq_fail(SEQ_EGRAD, "%s: param %s has no gradient (did backward reach it?)", op,
                    seq_tshape(param));
  seq_tensor *g = param->grad;
  if (!seq_shape_equal(g, param))
    return seq_fail(SEQ_ESHAPE, "%s: gradient %s does not match param %s", op, seq_tshape(g),
                    seq_tshape(param));
  if (g->device != param->device)
    return seq_fail(SEQ_EDEVICE, "%s: gradient on %s, param on %s", op,
                    seq_device_name(g->device), seq_device_name(param->device));
  seq_tensor *states[2] = {state0, state1};
  for (int i = 0; i < 2; i++) {
    if (states[i] && states[i]->device != param->device)
      return seq_fail(SEQ_EDEVICE, "%s: state%d on %s, param on %s", op, i,
                      seq_device_name(states[i]->device), seq_device_name(param->device));
  }
  if (!seq_tensor_is_contiguous(param))
    return seq_fail(SEQ_EARG, "%s: param %s must be contiguous", op, seq_tshape(param));
  seq_status st = SEQ_OK;
  if (g->dtype != param->dtype && scale != 1.0) {
    st = seq_binary_scalar(&hold[1], SEQ_BIN_MUL, g, scale, false);
    g = hold[1];
    scale = 1.0;
  }
  if (st == SEQ_OK) st = seq_contiguous(&hold[0], g);
  if (st == SEQ_OK && hold[0]->dtype != param->dtype) {
    seq_tensor *cast = NULL;
    st = seq_cast(&cast, hold[0], param->dtype);
    seq_tensor_release(hold[0]);
    hold[0] = cast;
  }
  *it = (seq_optim_item){.param = param, .grad = hold[0], .state0 = state0, .state1 = state1,
                         .grad_scale = scale};
  return st;
}

seq_status seq_optim_step(const seq_optim_hparams *hp, seq_tensor *param, seq_tensor *state0,
                          seq_tensor *state1) {
  const seq_backend *be = seq_backend_get(param->device);
  if (!be) return seq_fail_context(SEQ_EDEVICE, "optim_step");
  seq_tensor *hold[2] = {NULL, NULL};
  seq_optim_item it;
  bool prev = seq_set_grad_enabled(false);
  seq_status st = optim_prepare("optim_step", param, state0, state1, 1.0, &it, hold);
  seq_set_grad_enabled(prev);
  if (st == SEQ_OK) st = be->optim_step(hp, 1, &it);
  seq_tensor_release(hold[0]);
  seq_tensor_release(hold[1]);
  return st;
}

seq_status seq_optim_step_all(const seq_optim_hparams *hp, int n, seq_tensor *const *params,
                              seq_tensor *const *state0, seq_tensor *const *state1,
                              double clipnorm, double global_clipnorm) {
  const char *op = "optim_step_all";
  if (n < 0 || (n > 0 && !params)) return seq_fail(SEQ_EARG, "%s: missing argument", op);
  if (!(clipnorm >= 0) || !(global_clipnorm >= 0))
    return seq_fail(SEQ_EARG, "%s: clipnorm %g and global_clipnorm %g must be >= 0", op, clipnorm,
                    global_clipnorm);
  bool prev = seq_set_grad_enabled(false);
  seq_status st = SEQ_OK;
  double global_scale = 1.0;
  if (global_clipnorm > 0 && clipnorm > 0) {
    /* each grad's own norm is taken after the global clip: materialise it */
    st = seq_clip_grad_norm(n, params, global_clipnorm, NULL);
  } else if (global_clipnorm > 0) {
    seq_tensor **grads = calloc(n > 0 ? (size_t)n : 1, sizeof *grads);
    if (!grads) st = seq_fail(SEQ_ENOMEM, "%s: out of memory", op);
    for (int i = 0; i < n && grads; i++) grads[i] = params[i] ? params[i]->grad : NULL;
    double sum = 0;
    if (st == SEQ_OK) st = grads_sumsq(n, grads, &sum);
    free(grads);
    if (st != SEQ_OK) st = seq_fail_context(st, "clip_grad_norm");
    global_scale = clip_factor(sqrt(sum), global_clipnorm);
  }
  seq_optim_item *items = calloc(n > 0 ? (size_t)n : 1, sizeof *items);
  seq_tensor **hold = calloc(2 * (size_t)(n > 0 ? n : 1), sizeof *hold);
  if (st == SEQ_OK && (!items || !hold)) st = seq_fail(SEQ_ENOMEM, "%s: out of memory", op);
  int count = 0;
  for (int i = 0; i < n && st == SEQ_OK; i++) {
    seq_tensor *p = params[i];
    if (!p || !p->grad) continue;
    double scale = global_scale;
    if (clipnorm > 0) {
      double sum = 0;
      st = grads_sumsq(1, &p->grad, &sum);
      if (st != SEQ_OK) st = seq_fail_context(st, "clip_grad_norm");
      scale = clip_factor(sqrt(sum), clipnorm);
    }
    if (st == SEQ_OK)
      st = optim_prepare(op, p, state0 ? state0[i] : NULL, state1 ? state1[i] : NULL, scale,
                         &items[count], &hold[2 * count]);
    count++;
  }
  seq_set_grad_enabled(prev);
  /* one call per device, parameters in their order */
  for (int d = 0; d < SEQ_NDEVICES && st == SEQ_OK; d++) {
    int m = 0;
    for (int i = 0; i < count; i++)
      if (items[i].param->device == (seq_device)d) m++;
    if (m == 0) continue;
    const seq_backend *be = seq_backend_get((seq_device)d);
    if (!be) {
      st = seq_fail_context(SEQ_EDEVICE, op);
      break;
    }
    if (m == count) {
      st = be->optim_step(hp, count, items);
      break;
    }
    seq_optim_item *mine = malloc((size_t)m * sizeof *mine);
    if (!mine) {
      st = seq_fail(SEQ_ENOMEM, "%s: out of memory", op);
      break;
    }
    for (int i = 0, k = 0; i < count; i++)
      if (items[i].param->device == (seq_device)d) mine[k++] = items[i];
    st = be->optim_step(hp, m, mine);
    free(mine);
  }
  if (hold)
    for (int i = 0; i < 2 * count; i++) seq_tensor_release(hold[i]);
  free(items);
  free(hold);
  return st;
}
