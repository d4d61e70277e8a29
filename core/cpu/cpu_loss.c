/* cpu_loss.c - fused losses on the CPU: softmax cross-entropy from logits
 * and sigmoid binary cross-entropy from logits.
 *
 * Both work from logits, so they use the exact stable forms rather than
 * Keras's clipping of probabilities at 1e-7 (that clipping belongs to the
 * loss-from-probabilities path, which the Lua layer builds from ordinary
 * ops).  All tensors must be contiguous (the op layer guarantees it). */
#include <math.h>
#include <omp.h>

#include "cpu_kernels.h"

/* Rows are independent; only spread them over threads when the work pays
 * for waking the team. */
#define LOSS_PAR_MIN 32768

static seq_status loss_check(const char *op, const seq_tensor *t, const char *what) {
  if (t->device != SEQ_CPU)
    return seq_fail(SEQ_EDEVICE, "%s: %s is on %s, expected cpu", op, what,
                    seq_device_name(t->device));
  if (t->numel > 0 && !seq_tensor_is_contiguous(t))
    return seq_fail(SEQ_EARG, "%s: %s %s must be contiguous", op, what, seq_tshape(t));
  return SEQ_OK;
}

static inline double loss_load(const void *p, seq_dtype dt, int64_t k) {
  switch (dt) {
  case SEQ_F32: return ((const float *)p)[k];
  case SEQ_F64: return ((const double *)p)[k];
  case SEQ_I32: return ((const int32_t *)p)[k];
  case SEQ_I64: return (double)((const int64_t *)p)[k];
  case SEQ_U8: return ((const uint8_t *)p)[k];
  default: return 0;
  }
}

static inline int64_t loss_id(const void *p, seq_dtype dt, int64_t k) {
  switch (dt) {
  case SEQ_I32: return ((const int32_t *)p)[k];
  case SEQ_I64: return ((const int64_t *)p)[k];
  case SEQ_U8: return ((const uint8_t *)p)[k];
  default: return -1;
  }
}

/* One row of the softmax cross-entropy, generic over the float type. */
#define XENT_ROW(REAL, EXP, LOG)                                                             \
  do {                                                                                       \
    const REAL *z = (const REAL *)zbase + r * C;                                             \
    REAL *p = (REAL *)pbase + r * C;                                                         \
    REAL m = z[0];                                                                           \
    for (int64_t j = 1; j < C; j++) m = z[j] > m ? z[j] : m;                                 \
    double s = 0;                                                                            \
    for (int64_t j = 0; j < C; j++) {                                                        \
      REAL e = EXP(z[j] - m);                                                                \
      p[j] = e;                                                                              \
      s += e;                                                                                \
    }                                                                                        \
    REAL inv = (REAL)(1.0 / s);                                                              \
    for (int64_t j = 0; j < C; j++) p[j] *= inv;                                             \
    double lse = (double)m + log(s);                                                         \
    double l;                                                                                \
    if (sparse) {                                                                            \
      l = lse - (double)z[loss_id(tbase, tdt, r)];                                           \
    } else {                                                                                 \
      double st = 0, stz = 0;                                                                \
      for (int64_t j = 0; j < C; j++) {                                                      \
        double t = loss_load(tbase, tdt, r * C + j);                                         \
        st += t;                                                                             \
        stz += t * (double)z[j];                                                             \
      }                                                                                      \
      l = lse * st - stz;                                                                    \
    }                                                                                        \
    ((REAL *)lbase)[r] = (REAL)l;                                                            \
  } while (0)

seq_status seq_cpu_softmax_xent(seq_tensor *loss, seq_tensor *probs, const seq_tensor *logits,
                                const seq_tensor *target) {
  const char *op = "softmax_cross_entropy";
  SEQ_TRY(loss_check(op, logits, "logits"));
  SEQ_TRY(loss_check(op, target, "target"));
  SEQ_TRY(loss_check(op, loss, "loss"));
  SEQ_TRY(loss_check(op, probs, "probs"));
  const seq_dtype dt = logits->dtype;
  if (dt != SEQ_F32 && dt != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "%s: logits must be f32 or f64, got %s", op, seq_dtype_name(dt));
  if (logits->ndim != 2)
    return seq_fail(SEQ_ESHAPE, "%s: logits %s should be [N,C]", op, seq_tshape(logits));
  const int64_t N = logits->shape[0], C = logits->shape[1];
  if (loss->dtype != dt || probs->dtype != dt)
    return seq_fail(SEQ_EDTYPE, "%s: loss/probs must have the logits' dtype %s", op,
                    seq_dtype_name(dt));
  if (loss->numel != N || !seq_shape_equal(probs, logits))
    return seq_fail(SEQ_ESHAPE, "%s: loss %s / probs %s do not fit logits %s", op,
                    seq_tshape(loss), seq_tshape(probs), seq_tshape(logits));
  const seq_dtype tdt = target->dtype;
  const bool sparse = !seq_dtype_is_float(tdt);
  if (sparse) {
    if (target->numel != N)
      return seq_fail(SEQ_ESHAPE, "%s: class ids %s should have %lld elements (one per row of %s)",
                      op, seq_tshape(target), (long long)N, seq_tshape(logits));
  } else if (!seq_shape_equal(target, logits)) {
    return seq_fail(SEQ_ESHAPE, "%s: target %s does not match logits %s", op,
                    seq_tshape(target), seq_tshape(logits));
  }
  if (N == 0) return SEQ_OK;
  if (C == 0) return seq_fail(SEQ_ESHAPE, "%s: logits %s have no classes", op, seq_tshape(logits));
  const void *tbase = seq_tensor_data(target);
  if (sparse) {
    for (int64_t r = 0; r < N; r++) {
      int64_t id = loss_id(tbase, tdt, r);
      if (id < 0 || id >= C)
        return seq_fail(SEQ_EARG, "%s: label %lld at row %lld is out of range [0,%lld)", op,
                        (long long)id, (long long)r, (long long)C);
    }
  }
  const void *zbase = seq_tensor_data(logits);
  void *pbase = seq_tensor_data(probs), *lbase = seq_tensor_data(loss);
  const bool par = N * C >= LOSS_PAR_MIN && N > 1;
  if (dt == SEQ_F32) {
#pragma omp parallel for schedule(static) if (par) num_threads(seq_cpu_get_threads())
    for (int64_t r = 0; r < N; r++) XENT_ROW(float, expf, logf);
  } else {
#pragma omp parallel for schedule(static) if (par) num_threads(seq_cpu_get_threads())
    for (int64_t r = 0; r < N; r++) XENT_ROW(double, exp, log);
  }
  return SEQ_OK;
}

seq_status seq_cpu_sigmoid_bce(seq_tensor *loss, seq_tensor *sig, const seq_tensor *logits,
                               const seq_tensor *target) {
  const char *op = "sigmoid_binary_cross_entropy";
  SEQ_TRY(loss_check(op, logits, "logits"));
  SEQ_TRY(loss_check(op, target, "target"));
  SEQ_TRY(loss_check(op, loss, "loss"));
  SEQ_TRY(loss_check(op, sig, "sig"));
  const seq_dtype dt = logits->dtype;
  if (dt != SEQ_F32 && dt != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "%s: logits must be f32 or f64, got %s", op, seq_dtype_name(dt));
  if (loss->dtype != dt || sig->dtype != dt)
    return seq_fail(SEQ_EDTYPE, "%s: loss/sig must have the logits' dtype %s", op,
                    seq_dtype_name(dt));
  const int64_t N = logits->numel;
  if (target->numel != N || loss->numel != N || sig->numel != N)
    return seq_fail(SEQ_ESHAPE, "%s: logits %s and target %s differ in size", op,
                    seq_tshape(logits), seq_tshape(target));
  const void *tb = seq_tensor_data(target);
  const seq_dtype tdt = target->dtype;
  const bool par = N >= LOSS_PAR_MIN;
  if (dt == SEQ_F32) {
    const float *z = seq_tensor_data(logits);
    float *l = seq_tensor_data(loss), *s = seq_tensor_data(sig);
#pragma omp parallel for schedule(static) if (par) num_threads(seq_cpu_get_threads())
    for (int64_t k = 0; k < N; k++) {
      float x = z[k], t = (float)loss_load(tb, tdt, k);
      float e = expf(-fabsf(x)); /* in (0,1]: never overflows */
      l[k] = fmaxf(x, 0.0f) - x * t + log1pf(e);
      s[k] = x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
  } else {
    const double *z = seq_tensor_data(logits);
    double *l = seq_tensor_data(loss), *s = seq_tensor_data(sig);
#pragma omp parallel for schedule(static) if (par) num_threads(seq_cpu_get_threads())
    for (int64_t k = 0; k < N; k++) {
      double x = z[k], t = loss_load(tb, tdt, k);
      double e = exp(-fabs(x));
      l[k] = fmax(x, 0.0) - x * t + log1p(e);
      s[k] = x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    }
  }
  return SEQ_OK;
}
