/* cpu_optim.c - in-place optimizer updates on the CPU (Keras 3 semantics).
 *
 * Per element, in this order (as in keras/src/optimizers: sgd.py, rmsprop.py, adam.py):
 *   g = clip(g, -clipvalue, clipvalue)            when clipvalue > 0
 *   p -= lr * weight_decay * p                    when weight_decay > 0
 *                                                 (decoupled, before the step)
 *   SGD      momentum 0:  p -= lr*g
 *            else:        v = momentum*v - lr*g
 *                         p += nesterov ? momentum*v - lr*g : v
 *   RMSprop  s = rho*s + (1-rho)*g^2
 *            inc = lr*g / sqrt(s + eps)           (eps inside the sqrt, as Keras 3)
 *            eps_outside: inc = lr*g / (sqrt(s) + eps)   (Keras 2, PyTorch)
 *            momentum 0:  p -= inc
 *            else:        mom = momentum*mom + inc; p -= mom   (state1 = mom)
 *   Adam     m += (1-b1)(g-m);  v += (1-b2)(g^2-v)
 *            p -= [lr*sqrt(1-b2^t)/(1-b1^t)] * m / (sqrt(v) + eps)
 * State buffers: SGD state0 = velocity; RMSprop state0 = s, state1 = mom;
 * Adam state0 = m, state1 = v.  The arithmetic runs in the param's dtype
 * (f32 like Keras) with the scalar factors computed in double. */
#include <math.h>
#include <omp.h>

#include "cpu_kernels.h"

#define OPTIM_PAR_MIN 65536

static seq_status optim_check(const char *what, const seq_tensor *t, const seq_tensor *param,
                              const char *kind) {
  if (!t)
    return seq_fail(SEQ_EARG, "optimizer %s: %s buffer is missing for param %s", kind, what,
                    seq_tshape(param));
  if (t->device != SEQ_CPU)
    return seq_fail(SEQ_EDEVICE, "optimizer %s: %s is on %s, expected cpu", kind, what,
                    seq_device_name(t->device));
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

/* The update loop, generic over the float type. */
#define OPTIM_LOOP(REAL, SQRT)                                                                \
  do {                                                                                        \
    REAL *p = seq_tensor_data(param);                                                         \
    const REAL *gp = seq_tensor_data(grad);                                                   \
    REAL *s0 = state0 ? (REAL *)seq_tensor_data(state0) : NULL;                               \
    REAL *s1 = state1 ? (REAL *)seq_tensor_data(state1) : NULL;                               \
    const REAL lr = (REAL)hp->lr, clip = (REAL)hp->clipvalue, decay = (REAL)(hp->lr * wd);    \
    const REAL mom = (REAL)hp->momentum, rho = (REAL)hp->rho, eps = (REAL)hp->eps;            \
    const REAL b1c = (REAL)(1.0 - hp->beta1), b2c = (REAL)(1.0 - hp->beta2);                  \
    const REAL alpha = (REAL)adam_alpha;                                                      \
    const bool eps_out = hp->eps_outside;                                                     \
    const REAL n1 = (REAL)nadam[0], n2 = (REAL)nadam[1], n3 = (REAL)nadam[2];                 \
    _Pragma("omp parallel for schedule(static) if (par) num_threads(seq_cpu_get_threads())") \
    for (int64_t k = 0; k < n; k++) {                                                         \
      REAL g = gp[k];                                                                         \
      if (clip > 0) g = g > clip ? clip : (g < -clip ? -clip : g);                            \
      REAL w = p[k];                                                                          \
      if (wd > 0) w -= w * decay;                                                             \
      switch (kind) {                                                                         \
      case SEQ_OPTIM_SGD:                                                                     \
        if (mom != 0) {                                                                       \
          REAL v = mom * s0[k] - lr * g;                                                      \
          s0[k] = v;                                                                          \
          w += nesterov ? mom * v - lr * g : v;                                               \
        } else {                                                                              \
          w -= lr * g;                                                                        \
        }                                                                                     \
        break;                                                                                \
      case SEQ_OPTIM_RMSPROP: {                                                               \
        REAL s = rho * s0[k] + (1 - rho) * g * g;                                             \
        s0[k] = s;                                                                            \
        REAL inc = lr * g / (eps_out ? SQRT(s) + eps : SQRT(s + eps));                        \
        if (mom > 0) {                                                                        \
          inc = mom * s1[k] + inc;                                                            \
          s1[k] = inc;                                                                        \
        }                                                                                     \
        w -= inc;                                                                             \
        break;                                                                                \
      }                                                                                       \
      case SEQ_OPTIM_ADAM: {                                                                  \
        REAL m = s0[k] + (g - s0[k]) * b1c;                                                   \
        REAL v = s1[k] + (g * g - s1[k]) * b2c;                                               \
        s0[k] = m;                                                                            \
        s1[k] = v;                                                                            \
        w -= (m * alpha) / (SQRT(v) + eps);                                                   \
        break;                                                                                \
      }                                                                                       \
      case SEQ_OPTIM_ADAGRAD: {                                                               \
        REAL a = s0[k] + g * g;                                                               \
        s0[k] = a;                                                                            \
        w -= lr * g / SQRT(a + eps);                                                          \
        break;                                                                                \
      }                                                                                       \
      case SEQ_OPTIM_ADADELTA: {                                                              \
        REAL a = rho * s0[k] + (1 - rho) * g * g;                                             \
        s0[k] = a;                                                                            \
        REAL d = -(SQRT(s1[k] + eps) * g) / SQRT(a + eps);                                    \
        s1[k] = rho * s1[k] + (1 - rho) * d * d;                                              \
        w += lr * d;                                                                          \
        break;                                                                                \
      }                                                                                       \
      case SEQ_OPTIM_NADAM: {                                                                 \
        REAL m = s0[k] + (g - s0[k]) * b1c;                                                   \
        REAL v = s1[k] + (g * g - s1[k]) * b2c;                                               \
        s0[k] = m;                                                                            \
        s1[k] = v;                                                                            \
        w -= ((n1 * m + n2 * g) * lr) / (SQRT(v * n3) + eps);                                 \
        break;                                                                                \
      }                                                                                       \
      }                                                                                       \
      p[k] = w;                                                                               \
    }                                                                                         \
  } while (0)

seq_status seq_cpu_optim_step(const seq_optim_hparams *hp, seq_tensor *param,
                              const seq_tensor *grad, seq_tensor *state0, seq_tensor *state1) {
  static const char *names[] = {"sgd", "rmsprop", "adam", "adagrad", "adadelta", "nadam"};
  if (!hp || !param || !grad) return seq_fail(SEQ_EARG, "optimizer: missing argument");
  const seq_optim_kind kind = hp->kind;
  if ((int)kind < 0 || kind > SEQ_OPTIM_LAST)
    return seq_fail(SEQ_EARG, "optimizer: unknown kind %d", (int)kind);
  const char *name = names[kind];
  if (param->dtype != SEQ_F32 && param->dtype != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "optimizer %s: param dtype %s is not f32/f64", name,
                    seq_dtype_name(param->dtype));
  if (param->device != SEQ_CPU)
    return seq_fail(SEQ_EDEVICE, "optimizer %s: param is on %s", name,
                    seq_device_name(param->device));
  if (param->numel > 0 && !seq_tensor_is_contiguous(param))
    return seq_fail(SEQ_EARG, "optimizer %s: param %s must be contiguous", name,
                    seq_tshape(param));
  SEQ_TRY(optim_check("gradient", grad, param, name));
  if (!(hp->lr >= 0) || !isfinite(hp->lr))
    return seq_fail(SEQ_EARG, "optimizer %s: bad learning rate %g", name, hp->lr);
  const bool nesterov = hp->nesterov;
  double adam_alpha = 0, nadam[3] = {0, 0, 0};
  switch (kind) {
  case SEQ_OPTIM_SGD:
    if (hp->momentum < 0 || hp->momentum > 1)
      return seq_fail(SEQ_EARG, "optimizer sgd: momentum %g is not in [0,1]", hp->momentum);
    if (hp->momentum != 0) SEQ_TRY(optim_check("velocity (state0)", state0, param, name));
    break;
  case SEQ_OPTIM_RMSPROP:
    if (hp->rho < 0 || hp->rho > 1)
      return seq_fail(SEQ_EARG, "optimizer rmsprop: rho %g is not in [0,1]", hp->rho);
    SEQ_TRY(optim_check("velocity (state0)", state0, param, name));
    if (hp->momentum > 0) SEQ_TRY(optim_check("momentum (state1)", state1, param, name));
    break;
  case SEQ_OPTIM_ADAM:
    if (hp->step < 1)
      return seq_fail(SEQ_EARG, "optimizer adam: step must be >= 1, got %lld",
                      (long long)hp->step);
    SEQ_TRY(optim_check("first moment (state0)", state0, param, name));
    SEQ_TRY(optim_check("second moment (state1)", state1, param, name));
    adam_alpha = hp->lr * sqrt(1.0 - pow(hp->beta2, (double)hp->step)) /
                 (1.0 - pow(hp->beta1, (double)hp->step));
    break;
  case SEQ_OPTIM_ADAGRAD:
    SEQ_TRY(optim_check("accumulator (state0)", state0, param, name));
    break;
  case SEQ_OPTIM_ADADELTA:
    if (hp->rho < 0 || hp->rho > 1)
      return seq_fail(SEQ_EARG, "optimizer adadelta: rho %g is not in [0,1]", hp->rho);
    SEQ_TRY(optim_check("accumulated gradient (state0)", state0, param, name));
    SEQ_TRY(optim_check("accumulated update (state1)", state1, param, name));
    break;
  case SEQ_OPTIM_NADAM:
    if (hp->step < 1)
      return seq_fail(SEQ_EARG, "optimizer nadam: step must be >= 1, got %lld",
                      (long long)hp->step);
    SEQ_TRY(optim_check("first moment (state0)", state0, param, name));
    SEQ_TRY(optim_check("second moment (state1)", state1, param, name));
    seq_nadam_factors(hp->beta1, hp->beta2, hp->step, nadam);
    break;
  }
  const double wd = hp->weight_decay;
  const int64_t n = param->numel;
  const bool par = n >= OPTIM_PAR_MIN;
  if (param->dtype == SEQ_F32) OPTIM_LOOP(float, sqrtf);
  else OPTIM_LOOP(double, sqrt);
  return SEQ_OK;
}
