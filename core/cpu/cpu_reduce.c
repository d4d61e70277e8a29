/* cpu_reduce.c - reductions over one dim or all elements, and softmax.
 *
 * A contiguous input reduced over `dim` is seen as [outer, len, inner].
 * Float sums accumulate in double so that means over large tensors (a whole
 * epoch of losses) do not drift. */
#include <float.h>
#include <math.h>
#include <omp.h>

#include "cpu_kernels.h"
#include "seq_convert.h"

/* Runs the for statement LOOP across the OpenMP team when COND holds, else
 * on the calling thread without entering a region: `parallel if (false)`
 * still builds a team and ends with a futex system call (~0.4 us, a tenth
 * of a 64x400 sum). */
#define PARALLEL_FOR_IF(COND, ...)                       \
  do {                                                   \
    if (COND) {                                          \
      _Pragma("omp parallel for schedule(static)")       \
      __VA_ARGS__                                        \
    } else {                                             \
      __VA_ARGS__                                        \
    }                                                    \
  } while (0)

/* Sum of n contiguous floats in double.  Sixteen independent accumulators
 * let the compiler vectorise without reassociating anything (a single
 * accumulator is one dependent add per element: 4-5x slower; eight were
 * still bound by the latency of two dependent vaddpd chains, sixteen make
 * four: 64x400 f32 sum 4.2 -> 3.3 us).  An AVX2 clone, picked by CPUID, adds
 * four doubles per instruction instead of two (the lanes, hence the result,
 * are the same in both clones). */
#define SUM_LANES 16
#define DEFINE_SUM_CONTIG(NAME, T)                               \
  __attribute__((target_clones("avx2", "default")))              \
  static double NAME(const T *x, int64_t n) {                    \
    double lane[SUM_LANES] = {0};                                \
    int64_t i = 0;                                               \
    for (; i + SUM_LANES <= n; i += SUM_LANES)                   \
      for (int k = 0; k < SUM_LANES; k++) lane[k] += (double)x[i + k]; \
    double acc = 0;                                              \
    for (int k = 0; k < SUM_LANES; k++) acc += lane[k];          \
    for (; i < n; i++) acc += (double)x[i];                      \
    return acc;                                                  \
  }
DEFINE_SUM_CONTIG(sum_contig_f32, float)
DEFINE_SUM_CONTIG(sum_contig_f64, double)

/* Integer sums are exact: they accumulate in 128 bits, so a sum wraps
 * (two's complement, like all integer arithmetic) only when it is stored
 * as i64, and a mean is exact before its one rounding to float. */
typedef __int128 seq_wide;

#define DEFINE_SUM_INT(NAME, T)                                  \
  static seq_wide NAME(const T *x, int64_t n, int64_t stride) {  \
    seq_wide acc = 0;                                            \
    for (int64_t i = 0; i < n; i++) acc += x[i * stride];        \
    return acc;                                                  \
  }
DEFINE_SUM_INT(sum_int_i32, int32_t)
DEFINE_SUM_INT(sum_int_i64, int64_t)
DEFINE_SUM_INT(sum_int_u8, uint8_t)

static inline void store(seq_tensor *out, int64_t i, double v) {
  void *p = seq_tensor_data(out);
  switch (out->dtype) {
    case SEQ_F32: ((float *)p)[i] = (float)v; break;
    case SEQ_F64: ((double *)p)[i] = v; break;
    default: break; /* integer outputs go through store_int */
  }
}

/* Integer results (sums, max/min of integers, argmax indices) are stored
 * from an exact integer, never through a double. */
static inline void store_int(seq_tensor *out, int64_t i, seq_wide v) {
  void *p = seq_tensor_data(out);
  switch (out->dtype) {
    case SEQ_I32: ((int32_t *)p)[i] = (int32_t)(uint32_t)(unsigned __int128)v; break;
    case SEQ_I64: ((int64_t *)p)[i] = (int64_t)(uint64_t)(unsigned __int128)v; break;
    case SEQ_U8: ((uint8_t *)p)[i] = (uint8_t)(unsigned __int128)v; break;
    default: store(out, i, (double)v); break;
  }
}

/* The sum/mean step of RED_LOOP, for float and integer elements. */
#define RED_SUM_FLOAT(SUM_CONTIG)                                                             \
  {                                                                                           \
    double acc = 0;                                                                           \
    if (inner == 1) acc = SUM_CONTIG(p, len);                                                 \
    else for (int64_t i = 0; i < len; i++) acc += (double)p[i * inner];                       \
    store(out, oi, op == SEQ_RED_MEAN ? (len ? acc / (double)len : NAN) : acc);               \
  }
#define RED_SUM_INT(SUM_INT)                                                                  \
  {                                                                                           \
    seq_wide w = SUM_INT(p, len, inner);                                                      \
    if (op == SEQ_RED_SUM) store_int(out, oi, w);                                             \
    else store(out, oi, len ? (double)w / (double)len : NAN);                                 \
  }

/* Max/min compare in the element type (an i64 above 2^53 is not rounded);
 * a NaN wins, as in torch. */
#define RED_LOOP(T, SUM_STEP)                                                                 \
  {                                                                                           \
    const T *x = (const T *)seq_tensor_data(a);                                               \
    PARALLEL_FOR_IF(outer * inner >= 64 && a->numel >= 65536,                                 \
    for (int64_t oi = 0; oi < outer * inner; oi++) {                                          \
      const int64_t o = oi / inner, in = oi % inner;                                          \
      const T *p = x + o * len * inner + in;                                                  \
      switch (op) {                                                                           \
        case SEQ_RED_SUM:                                                                     \
        case SEQ_RED_MEAN:                                                                    \
          SUM_STEP                                                                            \
          break;                                                                              \
        default: {                                                                            \
          T bestv = p[0];                                                                     \
          int64_t best = 0;                                                                   \
          for (int64_t i = 1; i < len; i++) {                                                 \
            T v = p[i * inner];                                                               \
            bool better = (op == SEQ_RED_MAX || op == SEQ_RED_ARGMAX) ? (v > bestv || (v != v && bestv == bestv)) \
                                                                      : (v < bestv || (v != v && bestv == bestv)); \
            if (better) {                                                                     \
              bestv = v;                                                                      \
              best = i;                                                                       \
            }                                                                                 \
          }                                                                                   \
          if (op == SEQ_RED_ARGMAX || op == SEQ_RED_ARGMIN) store_int(out, oi, best);         \
          else if (out->dtype == SEQ_F32 || out->dtype == SEQ_F64) store(out, oi, (double)bestv); \
          else store_int(out, oi, (seq_wide)bestv);                                           \
        }                                                                                     \
      }                                                                                       \
    });                                                                                       \
  }

/* A reduction over a middle dim with a wide inner part ([B,T,C] over T:
 * pooling, bias gradients) walks the rows in memory order, a block of inner
 * columns at a time, instead of striding `inner` elements per step; each
 * output still sees its elements in the same order (the same results). */
#define RED_BLOCK 256
#define RED_ROWS(T)                                                                           \
  {                                                                                           \
    const T *x = (const T *)seq_tensor_data(a);                                               \
    const int64_t nblk = (inner + RED_BLOCK - 1) / RED_BLOCK;                                 \
    PARALLEL_FOR_IF(a->numel >= 65536,                                                        \
    for (int64_t ob = 0; ob < outer * nblk; ob++) {                                           \
      const int64_t o = ob / nblk, c0 = (ob % nblk) * RED_BLOCK;                              \
      const int64_t cw = inner - c0 < RED_BLOCK ? inner - c0 : RED_BLOCK;                     \
      const T *p = x + o * len * inner + c0;                                                  \
      if (op == SEQ_RED_SUM || op == SEQ_RED_MEAN) {                                          \
        double acc[RED_BLOCK] = {0};                                                          \
        for (int64_t i = 0; i < len; i++)                                                     \
          for (int64_t j = 0; j < cw; j++) acc[j] += (double)p[i * inner + j];                \
        for (int64_t j = 0; j < cw; j++)                                                      \
          store(out, o * inner + c0 + j,                                                      \
                op == SEQ_RED_MEAN ? (len ? acc[j] / (double)len : NAN) : acc[j]);            \
      } else {                                                                                \
        const bool is_max = op == SEQ_RED_MAX || op == SEQ_RED_ARGMAX;                        \
        T bestv[RED_BLOCK];                                                                   \
        int64_t best[RED_BLOCK];                                                              \
        for (int64_t j = 0; j < cw; j++) bestv[j] = p[j], best[j] = 0;                        \
        for (int64_t i = 1; i < len; i++) {                                                   \
          const T *row = p + i * inner;                                                       \
          for (int64_t j = 0; j < cw; j++) {                                                  \
            const T v = row[j], b = bestv[j];                                                 \
            const bool better = (is_max ? v > b : v < b) || (v != v && b == b);               \
            bestv[j] = better ? v : b;                                                        \
            best[j] = better ? i : best[j];                                                   \
          }                                                                                   \
        }                                                                                     \
        for (int64_t j = 0; j < cw; j++) {                                                    \
          const int64_t oi = o * inner + c0 + j;                                              \
          if (op == SEQ_RED_ARGMAX || op == SEQ_RED_ARGMIN) store_int(out, oi, best[j]);      \
          else store(out, oi, (double)bestv[j]);                                              \
        }                                                                                     \
      }                                                                                       \
    });                                                                                       \
  }

seq_status seq_cpu_reduce(seq_redop op, seq_tensor *out, const seq_tensor *a, int dim) {
  int64_t outer = 1, len, inner = 1;
  if (dim < 0) {
    len = a->numel;
  } else {
    for (int i = 0; i < dim; i++) outer *= a->shape[i];
    len = a->shape[dim];
    for (int i = dim + 1; i < a->ndim; i++) inner *= a->shape[i];
  }
  if (len == 0 && op != SEQ_RED_SUM && op != SEQ_RED_MEAN)
    return seq_fail(SEQ_ESHAPE, "reduction over an empty dim of shape %s", seq_tshape(a));
  /* Full reductions of big float tensors: split across threads, then add. */
  if (dim < 0 && (op == SEQ_RED_SUM || op == SEQ_RED_MEAN) && len >= 65536 &&
      (a->dtype == SEQ_F32 || a->dtype == SEQ_F64)) {
    double acc = 0;
    const int nchunks = seq_cpu_get_threads();
    const bool f32 = a->dtype == SEQ_F32;
    const void *x = seq_tensor_data(a);
#pragma omp parallel for reduction(+ : acc) schedule(static)
    for (int c = 0; c < nchunks; c++) {
      const int64_t lo = len * c / nchunks, hi = len * (c + 1) / nchunks;
      acc += f32 ? sum_contig_f32((const float *)x + lo, hi - lo)
                 : sum_contig_f64((const double *)x + lo, hi - lo);
    }
    store(out, 0, op == SEQ_RED_MEAN ? acc / (double)len : acc);
    return SEQ_OK;
  }
  if (dim >= 0 && inner >= 16 && len > 1 && (a->dtype == SEQ_F32 || a->dtype == SEQ_F64)) {
    if (a->dtype == SEQ_F32) RED_ROWS(float) else RED_ROWS(double)
    return SEQ_OK;
  }
  switch (a->dtype) {
    case SEQ_F32: RED_LOOP(float, RED_SUM_FLOAT(sum_contig_f32)); break;
    case SEQ_F64: RED_LOOP(double, RED_SUM_FLOAT(sum_contig_f64)); break;
    case SEQ_I32: RED_LOOP(int32_t, RED_SUM_INT(sum_int_i32)); break;
    case SEQ_I64: RED_LOOP(int64_t, RED_SUM_INT(sum_int_i64)); break;
    case SEQ_U8: RED_LOOP(uint8_t, RED_SUM_INT(sum_int_u8)); break;
    default: return seq_fail(SEQ_EDTYPE, "reduce: unsupported dtype");
  }
  return SEQ_OK;
}

#define SOFTMAX_LOOP(T, EXP, LOG)                                             \
  {                                                                           \
    const T *x = (const T *)seq_tensor_data(xt);                              \
    T *y = (T *)seq_tensor_data(out);                                         \
    PARALLEL_FOR_IF(rows * cols >= 65536,                                     \
    for (int64_t r = 0; r < rows; r++) {                                      \
      const T *xr = x + r * cols;                                             \
      T *yr = y + r * cols;                                                   \
      T m = xr[0];                                                            \
      for (int64_t j = 1; j < cols; j++) m = xr[j] > m ? xr[j] : m;           \
      T s = 0;                                                                \
      for (int64_t j = 0; j < cols; j++) s += EXP(xr[j] - m);                 \
      if (use_log) {                                                            \
        T ls = LOG(s) + m;                                                    \
        for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] - ls;                \
      } else {                                                                \
        T inv = (T)1 / s;                                                     \
        for (int64_t j = 0; j < cols; j++) yr[j] = EXP(xr[j] - m) * inv;      \
      }                                                                       \
    });                                                                       \
  }

seq_status seq_cpu_softmax(seq_tensor *out, const seq_tensor *xt, bool use_log) {
  int64_t cols = xt->ndim ? xt->shape[xt->ndim - 1] : 1;
  int64_t rows = cols ? xt->numel / cols : 0;
  if (cols == 0) return SEQ_OK;
  if (xt->dtype == SEQ_F32) SOFTMAX_LOOP(float, expf, logf)
  else if (xt->dtype == SEQ_F64) SOFTMAX_LOOP(double, exp, log)
  else return seq_fail(SEQ_EDTYPE, "softmax: needs f32 or f64, got %s", seq_dtype_name(xt->dtype));
  return SEQ_OK;
}

#define SOFTMAX_BW_LOOP(T, EXP)                                               \
  {                                                                           \
    const T *y = (const T *)seq_tensor_data(yt);                              \
    const T *dy = (const T *)seq_tensor_data(dyt);                            \
    T *dx = (T *)seq_tensor_data(dxt);                                        \
    for (int64_t r = 0; r < rows; r++) {                                      \
      const T *yr = y + r * cols, *gr = dy + r * cols;                        \
      T *dr = dx + r * cols;                                                  \
      T s = 0;                                                                \
      if (use_log) {                                                            \
        for (int64_t j = 0; j < cols; j++) s += gr[j];                        \
        for (int64_t j = 0; j < cols; j++) dr[j] = gr[j] - EXP(yr[j]) * s;    \
      } else {                                                                \
        for (int64_t j = 0; j < cols; j++) s += gr[j] * yr[j];                \
        for (int64_t j = 0; j < cols; j++) dr[j] = yr[j] * (gr[j] - s);       \
      }                                                                       \
    }                                                                         \
  }

seq_status seq_cpu_softmax_backward(seq_tensor *dxt, const seq_tensor *yt, const seq_tensor *dyt,
                                    bool use_log) {
  int64_t cols = yt->ndim ? yt->shape[yt->ndim - 1] : 1;
  int64_t rows = cols ? yt->numel / cols : 0;
  if (cols == 0) return SEQ_OK;
  if (yt->dtype == SEQ_F32) SOFTMAX_BW_LOOP(float, expf)
  else if (yt->dtype == SEQ_F64) SOFTMAX_BW_LOOP(double, exp)
  else return seq_fail(SEQ_EDTYPE, "softmax: needs f32 or f64");
  return SEQ_OK;
}
