/* cpu_random.c - Philox fills (mapping documented in seq_philox.h). */
#include <math.h>

#include "cpu_kernels.h"
#include "seq_philox.h"

seq_status seq_cpu_rand_uniform(seq_tensor *out, uint64_t seed, uint64_t offset, double lo,
                                double hi) {
  const int64_t n = out->numel;
  if (out->dtype == SEQ_F32) {
    float *p = seq_tensor_data(out);
    const float flo = (float)lo, span = (float)(hi - lo);
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (int64_t k = 0; k < n; k++) p[k] = flo + span * seq_philox_uniform_f32(offset + (uint64_t)k, seed);
  } else if (out->dtype == SEQ_F64) {
    double *p = seq_tensor_data(out);
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (int64_t k = 0; k < n; k++) p[k] = lo + (hi - lo) * seq_philox_uniform_f64(offset + (uint64_t)k, seed);
  } else {
    return seq_fail(SEQ_EDTYPE, "rand: needs f32 or f64, got %s", seq_dtype_name(out->dtype));
  }
  return SEQ_OK;
}

seq_status seq_cpu_rand_normal(seq_tensor *out, uint64_t seed, uint64_t offset, double mean,
                               double std) {
  const int64_t n = out->numel;
  if (out->dtype != SEQ_F32 && out->dtype != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "randn: needs f32 or f64, got %s", seq_dtype_name(out->dtype));
  void *p = seq_tensor_data(out);
  const bool f32 = out->dtype == SEQ_F32;
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (int64_t k = 0; k < n; k++) {
    uint32_t r[4];
    seq_philox4x32(offset + (uint64_t)k, seed, r);
    double u1 = ((double)r[0] + 1.0) * (1.0 / 4294967296.0);
    double u2 = (double)r[1] * (1.0 / 4294967296.0);
    double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    double v = mean + std * z;
    if (f32) ((float *)p)[k] = (float)v;
    else ((double *)p)[k] = v;
  }
  return SEQ_OK;
}
