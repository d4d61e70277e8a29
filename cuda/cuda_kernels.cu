/* cuda_kernels.cu - the CUDA backend's own kernels and their launchers.
 *
 * CUDA C++ kept C-like: templates only for dtype dispatch.  Every launcher
 * returns a seq_status; launch errors become
 * "<kernel> launch: <cuda error string>".  All kernels use grid-stride loops
 * so any size runs with a bounded grid, and all run on the default stream.
 *
 * Semantics follow the CPU backend (core/cpu/cpu_elementwise.c, cpu_reduce.c,
 * cpu_index.c, cpu_random.c, cpu_loss.c, cpu_optim.c): same integer rules
 * (division by zero gives 0, INT_MIN / -1 and other overflows wrap around
 * as two's complement, float -> integer conversions saturate as
 * core/engine/seq_convert.h defines), same NaN rules for max/min, reductions
 * accumulate in double, the Philox mapping of core/engine/seq_philox.h. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "seq_convert.h"
#include "seq_cuda.h"
#include "seq_philox.h"

/* kernel<<<grid, block>>>(args) is written SEQ_LAUNCH(grid, block, kernel)(args)
 * so that the emulated build (cuda/emu/emu_kernel.h) can run the same source
 * on the CPU. */
#ifndef SEQ_LAUNCH
#define SEQ_LAUNCH(grid, block, ...) __VA_ARGS__<<<grid, block>>>
#endif

#define THREADS 256
#define MAX_BLOCKS (1 << 20)

static unsigned blocks_for(int64_t n) {
  int64_t b = (n + THREADS - 1) / THREADS;
  if (b < 1) b = 1;
  if (b > MAX_BLOCKS) b = MAX_BLOCKS;
  return (unsigned)b;
}

#define LAUNCH_CHECK(name)                                                     \
  do {                                                                         \
    cudaError_t e_ = cudaGetLastError();                                       \
    if (e_ != cudaSuccess)                                                     \
      return seq_fail(SEQ_EBACKEND, "%s launch: %s", name, cudaGetErrorString(e_)); \
  } while (0)

#define GRID_STRIDE(i, n)                                                      \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);    \
       i += (int64_t)gridDim.x * blockDim.x)

/* Dispatch on a runtime dtype: BODY sees the typedef T. */
#define DISPATCH(dt, T, BODY)                                                  \
  switch (dt) {                                                                \
    case SEQ_F32: { typedef float T; BODY; } break;                            \
    case SEQ_F64: { typedef double T; BODY; } break;                           \
    case SEQ_I32: { typedef int32_t T; BODY; } break;                          \
    case SEQ_I64: { typedef int64_t T; BODY; } break;                          \
    case SEQ_U8: { typedef uint8_t T; BODY; } break;                           \
    default: return seq_fail(SEQ_EDTYPE, "cuda: unsupported dtype %d", (int)(dt)); \
  }
#define DISPATCH_FLOAT(dt, T, what, BODY)                                      \
  switch (dt) {                                                                \
    case SEQ_F32: { typedef float T; BODY; } break;                            \
    case SEQ_F64: { typedef double T; BODY; } break;                           \
    default: return seq_fail(SEQ_EDTYPE, "%s: needs f32 or f64 on cuda", what); \
  }

/* ---- strided iteration ----
 * Up to 4 operands (operand 0 is the output) over one iteration shape, with
 * size-1 dims dropped and dims merged where contiguous for every operand (as
 * the CPU's iter_init does).  `contig` marks the all-contiguous fast path. */
#define MAX_OPS 4
/* Division by a loop-invariant divisor as a multiply-high and a shift
 * (Granlund-Montgomery, as PyTorch's IntDivider): exact for dividends and
 * divisors below 2^31.  A 64-bit integer divide is a long software sequence
 * on the GPU; iter_offsets needs one quotient per dim per element. */
struct seq_divider {
  uint32_t magic, shift, d;
};
static seq_divider divider_of(uint32_t d) {
  seq_divider v;
  uint32_t s = 0;
  while (s < 32 && ((uint64_t)1 << s) < d) s++;
  v.shift = s;
  v.magic = (uint32_t)((((uint64_t)1 << 32) * (((uint64_t)1 << s) - d)) / d + 1);
  v.d = d;
  return v;
}
__device__ static inline uint32_t div_by(const seq_divider &v, uint32_t n) {
  return (__umulhi(n, v.magic) + n) >> v.shift;
}

struct seq_iter {
  int ndim;
  int nops;
  int contig;
  int small; /* every index fits in 31 bits: the dividers below are used */
  int64_t shape[SEQ_MAX_DIM];
  int64_t stride[MAX_OPS][SEQ_MAX_DIM];
  seq_divider div[SEQ_MAX_DIM];
};

/* Strides of `a` aligned to an iteration shape of `ndim` dims (right
 * aligned; missing or size-1 dims broadcast with stride 0). */
static void aligned_strides(const seq_cuda_arr *a, int ndim, const int64_t *shape, int64_t *st) {
  for (int d = 0; d < ndim; d++) {
    int ad = d - (ndim - a->ndim);
    st[d] = (ad < 0 || a->shape[ad] == 1 || shape[d] == 1) ? 0 : a->stride[ad];
  }
}

static void iter_init(seq_iter *it, int ndim, const int64_t *shape, int nops,
                      const seq_cuda_arr *const *ops) {
  int64_t st[MAX_OPS][SEQ_MAX_DIM];
  for (int k = 0; k < nops; k++) aligned_strides(ops[k], ndim, shape, st[k]);
  it->nops = nops;
  int n = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    if (n > 0) {
      bool merge = true;
      for (int k = 0; k < nops; k++)
        if (it->stride[k][n - 1] != st[k][d] * shape[d]) merge = false;
      if (merge) {
        it->shape[n - 1] *= shape[d];
        for (int k = 0; k < nops; k++) it->stride[k][n - 1] = st[k][d];
        continue;
      }
    }
    it->shape[n] = shape[d];
    for (int k = 0; k < nops; k++) it->stride[k][n] = st[k][d];
    n++;
  }
  if (n == 0) {
    it->shape[0] = 1;
    for (int k = 0; k < nops; k++) it->stride[k][0] = 1;
    n = 1;
  }
  it->ndim = n;
  it->contig = n == 1;
  for (int k = 0; k < nops; k++)
    if (it->stride[k][0] != 1) it->contig = 0;
  int64_t total = 1;
  for (int d = 0; d < n; d++) total *= it->shape[d];
  it->small = total < ((int64_t)1 << 31);
  if (it->small)
    for (int d = 0; d < n; d++) it->div[d] = divider_of((uint32_t)it->shape[d]);
}

/* Element offsets of every operand for logical index i. */
__device__ static inline void iter_offsets(const seq_iter &it, int64_t i, int64_t *off) {
  if (it.contig) {
    for (int k = 0; k < MAX_OPS; k++) off[k] = i;
    return;
  }
  for (int k = 0; k < MAX_OPS; k++) off[k] = 0;
  if (it.small) {
    uint32_t r = (uint32_t)i;
    for (int d = it.ndim - 1; d >= 0; d--) {
      uint32_t q = div_by(it.div[d], r);
      int64_t c = (int64_t)(r - q * it.div[d].d);
      r = q;
      for (int k = 0; k < MAX_OPS; k++)
        if (k < it.nops) off[k] += c * it.stride[k][d];
    }
    return;
  }
  for (int d = it.ndim - 1; d >= 0; d--) {
    int64_t c = i % it.shape[d];
    i /= it.shape[d];
    for (int k = 0; k < MAX_OPS; k++)
      if (k < it.nops) off[k] += c * it.stride[k][d];
  }
}

/* ---- conversions (core/engine/seq_convert.h) ---- */

template <typename T> struct is_float_t { static const bool value = false; };
template <> struct is_float_t<float> { static const bool value = true; };
template <> struct is_float_t<double> { static const bool value = true; };

/* a double rounded into T: saturating for the integer types */
template <typename T> __host__ __device__ inline T sat_from(double v) { return (T)v; }
template <> __host__ __device__ inline int32_t sat_from<int32_t>(double v) { return seq_f2i32(v); }
template <> __host__ __device__ inline int64_t sat_from<int64_t>(double v) { return seq_f2i64(v); }
template <> __host__ __device__ inline uint8_t sat_from<uint8_t>(double v) { return seq_f2u8(v); }

/* TI -> TO as the CPU's SEQ_CONVERT: float -> integer saturates, the rest
 * is a plain conversion (integer narrowing wraps) */
template <typename TO, typename TI> __host__ __device__ inline TO convert(TI x) {
  if (is_float_t<TI>::value && !is_float_t<TO>::value) return sat_from<TO>((double)x);
  return (TO)x;
}

/* ---- copy / fill ---- */

template <typename TO, typename TI>
__global__ void k_copy(seq_iter it, int64_t n, TO *out, const TI *src) {
  GRID_STRIDE(i, n) {
    int64_t off[MAX_OPS];
    iter_offsets(it, i, off);
    out[off[0]] = convert<TO, TI>(src[off[1]]);
  }
}

extern "C" seq_status seq_cuda_k_copy(const seq_cuda_arr *out, const seq_cuda_arr *src) {
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  if (n == 0) return SEQ_OK;
  if (out->dtype == src->dtype) {
    /* same dtype, both contiguous: one device copy */
    seq_iter it;
    const seq_cuda_arr *ops[2] = {out, src};
    iter_init(&it, out->ndim, out->shape, 2, ops);
    if (it.contig) {
      size_t bytes = (size_t)n * seq_dtype_size((seq_dtype)out->dtype);
      SEQ_CU(cudaMemcpyAsync, (out->data, src->data, bytes, cudaMemcpyDeviceToDevice, 0));
      return SEQ_OK;
    }
  }
  seq_iter it;
  const seq_cuda_arr *ops[2] = {out, src};
  iter_init(&it, out->ndim, out->shape, 2, ops);
  DISPATCH(out->dtype, TO, DISPATCH(src->dtype, TI, (SEQ_LAUNCH(blocks_for(n), THREADS, k_copy<TO, TI>)(
                                                         it, n, (TO *)out->data, (const TI *)src->data))));
  LAUNCH_CHECK("copy");
  return SEQ_OK;
}

template <typename T>
__global__ void k_fill(T *out, int64_t n, T v) {
  GRID_STRIDE(i, n) out[i] = v;
}

extern "C" seq_status seq_cuda_k_fill(void *data, seq_dtype dt, int64_t n, double value) {
  if (n == 0) return SEQ_OK;
  DISPATCH(dt, T, (SEQ_LAUNCH(blocks_for(n), THREADS, k_fill<T>)((T *)data, n, sat_from<T>(value))));
  LAUNCH_CHECK("fill");
  return SEQ_OK;
}

/* ---- binary ---- */

template <typename T>
__device__ static inline T dpow(T a, T b) { return (T)pow((double)a, (double)b); }
__device__ static inline float dpow(float a, float b) { return powf(a, b); }
__device__ static inline double dpow(double a, double b) { return pow(a, b); }

template <typename T>
__device__ static inline T bin_arith(int op, T x, T y) {
  if (is_float_t<T>::value) {
    switch (op) {
      case SEQ_BIN_ADD: return x + y;
      case SEQ_BIN_SUB: return x - y;
      case SEQ_BIN_MUL: return x * y;
      case SEQ_BIN_DIV: return x / y;
      case SEQ_BIN_POW: return (T)dpow(x, y);
      case SEQ_BIN_MAX: return (x > y || x != x) ? x : y;
      case SEQ_BIN_MIN: return (x < y || x != x) ? x : y;
    }
  } else {
    switch (op) {
      /* two's complement wrap-around, computed unsigned (signed overflow
       * is undefined in C++); INT_MIN / -1 wraps to INT_MIN as on the CPU */
      case SEQ_BIN_ADD: return (T)((uint64_t)x + (uint64_t)y);
      case SEQ_BIN_SUB: return (T)((uint64_t)x - (uint64_t)y);
      case SEQ_BIN_MUL: return (T)((uint64_t)x * (uint64_t)y);
      case SEQ_BIN_DIV:
        return y == 0 ? (T)0 : (int64_t)y == -1 ? (T)((uint64_t)0 - (uint64_t)x) : (T)(x / y);
      case SEQ_BIN_POW: return (T)seq_ipow_wrap((int64_t)x, (int64_t)y); /* wraps, as on the CPU */
      case SEQ_BIN_MAX: return x > y ? x : y;
      case SEQ_BIN_MIN: return x < y ? x : y;
    }
  }
  return (T)0;
}

template <typename T>
__device__ static inline uint8_t bin_cmp(int op, T x, T y) {
  switch (op) {
    case SEQ_BIN_EQ: return x == y;
    case SEQ_BIN_NE: return x != y;
    case SEQ_BIN_LT: return x < y;
    case SEQ_BIN_LE: return x <= y;
    case SEQ_BIN_GT: return x > y;
    case SEQ_BIN_GE: return x >= y;
  }
  return 0;
}

template <typename T>
__global__ void k_binary(seq_iter it, int64_t n, int op, T *out, const T *a, const T *b) {
  GRID_STRIDE(i, n) {
    int64_t off[MAX_OPS];
    iter_offsets(it, i, off);
    out[off[0]] = bin_arith<T>(op, a[off[1]], b[off[2]]);
  }
}

template <typename T>
__global__ void k_compare(seq_iter it, int64_t n, int op, uint8_t *out, const T *a, const T *b) {
  GRID_STRIDE(i, n) {
    int64_t off[MAX_OPS];
    iter_offsets(it, i, off);
    out[off[0]] = bin_cmp<T>(op, a[off[1]], b[off[2]]);
  }
}

extern "C" seq_status seq_cuda_k_binary(seq_binop op, const seq_cuda_arr *out,
                                        const seq_cuda_arr *a, const seq_cuda_arr *b) {
  if (a->dtype != b->dtype)
    return seq_fail(SEQ_EDTYPE, "binary op: operands of dtypes %s and %s",
                    seq_dtype_name((seq_dtype)a->dtype), seq_dtype_name((seq_dtype)b->dtype));
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  if (n == 0) return SEQ_OK;
  seq_iter it;
  const seq_cuda_arr *ops[3] = {out, a, b};
  iter_init(&it, out->ndim, out->shape, 3, ops);
  bool cmp = op >= SEQ_BIN_EQ && op <= SEQ_BIN_GE;
  if (cmp) {
    if (out->dtype != SEQ_U8) return seq_fail(SEQ_EDTYPE, "comparison: output must be u8");
    DISPATCH(a->dtype, T, (SEQ_LAUNCH(blocks_for(n), THREADS, k_compare<T>)(
                              it, n, (int)op, (uint8_t *)out->data, (const T *)a->data,
                              (const T *)b->data)));
  } else {
    if (out->dtype != a->dtype)
      return seq_fail(SEQ_EDTYPE, "binary op: output dtype %s differs from operands' %s",
                      seq_dtype_name((seq_dtype)out->dtype), seq_dtype_name((seq_dtype)a->dtype));
    DISPATCH(a->dtype, T, (SEQ_LAUNCH(blocks_for(n), THREADS, k_binary<T>)(
                              it, n, (int)op, (T *)out->data, (const T *)a->data,
                              (const T *)b->data)));
  }
  LAUNCH_CHECK("binary");
  return SEQ_OK;
}

/* ---- unary ---- */

__device__ static inline float un_float(int op, float x, float q0, float q1) {
  switch (op) {
    case SEQ_UN_NEG: return -x;
    case SEQ_UN_EXP: return expf(x);
    case SEQ_UN_LOG: return logf(x);
    case SEQ_UN_SQRT: return sqrtf(x);
    case SEQ_UN_TANH: return tanhf(x);
    /* as the CPU: for x < 0 through exp(x), so that a large negative x gives
     * the tiny (denormal) value instead of 1/inf = 0 */
    case SEQ_UN_SIGMOID: {
      if (x < 0) {
        float e = expf(x);
        return e / (1.0f + e);
      }
      return 1.0f / (1.0f + expf(-x));
    }
    case SEQ_UN_RELU: return x > 0 ? x : 0.0f;
    case SEQ_UN_ABS: return fabsf(x);
    case SEQ_UN_SIGN: return (float)((x > 0) - (x < 0));
    case SEQ_UN_SQUARE: return x * x;
    case SEQ_UN_RECIPROCAL: return 1.0f / x;
    case SEQ_UN_CLAMP: return x < q0 ? q0 : (x > q1 ? q1 : x);
    case SEQ_UN_POW_SCALAR: return powf(x, q0);
    case SEQ_UN_AFFINE: return x * q0 + q1;
    case SEQ_UN_SCALAR_BASE_POW: return powf(q0, x);
  }
  return 0.0f;
}

__device__ static inline double un_double(int op, double x, double q0, double q1) {
  switch (op) {
    case SEQ_UN_NEG: return -x;
    case SEQ_UN_EXP: return exp(x);
    case SEQ_UN_LOG: return log(x);
    case SEQ_UN_SQRT: return sqrt(x);
    case SEQ_UN_TANH: return tanh(x);
    case SEQ_UN_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case SEQ_UN_RELU: return x > 0 ? x : 0.0;
    case SEQ_UN_ABS: return fabs(x);
    case SEQ_UN_SIGN: return (double)((x > 0) - (x < 0));
    case SEQ_UN_SQUARE: return x * x;
    case SEQ_UN_RECIPROCAL: return 1.0 / x;
    case SEQ_UN_CLAMP: return x < q0 ? q0 : (x > q1 ? q1 : x);
    case SEQ_UN_POW_SCALAR: return pow(x, q0);
    case SEQ_UN_AFFINE: return x * q0 + q1;
    case SEQ_UN_SCALAR_BASE_POW: return pow(q0, x);
  }
  return 0.0;
}

/* integers go through int64 (no pointless unsigned comparisons for u8) */
template <typename T>
__device__ static inline T un_int(int op, T xt, double p0, double p1) {
  const int64_t x = (int64_t)xt;
  switch (op) {
    case SEQ_UN_NEG: return (T)((uint64_t)0 - (uint64_t)x);
    case SEQ_UN_RELU: return (T)(x > 0 ? x : 0);
    case SEQ_UN_ABS: return (T)(x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x);
    case SEQ_UN_SIGN: return (T)((x > 0) - (x < 0));
    case SEQ_UN_SQUARE: return (T)((uint64_t)x * (uint64_t)x);
    case SEQ_UN_CLAMP: return (double)x < p0 ? sat_from<T>(p0) : ((double)x > p1 ? sat_from<T>(p1) : xt);
    case SEQ_UN_AFFINE: return sat_from<T>((double)x * p0 + p1);
    case SEQ_UN_POW_SCALAR: return (T)seq_ipow_wrap_d((int64_t)x, p0);
  }
  return (T)0;
}

__global__ void k_unary_f32(seq_iter it, int64_t n, int op, float *out, const float *a, float q0,
                            float q1) {
  GRID_STRIDE(i, n) {
    int64_t off[MAX_OPS];
    iter_offsets(it, i, off);
    out[off[0]] = un_float(op, a[off[1]], q0, q1);
  }
}

__global__ void k_unary_f64(seq_iter it, int64_t n, int op, double *out, const double *a,
                            double q0, double q1) {
  GRID_STRIDE(i, n) {
    int64_t off[MAX_OPS];
    iter_offsets(it, i, off);
    out[off[0]] = un_double(op, a[off[1]], q0, q1);
  }
}

template <typename T>
__global__ void k_unary_int(seq_iter it, int64_t n, int op, T *out, const T *a, double p0,
                            double p1) {
  GRID_STRIDE(i, n) {
    int64_t off[MAX_OPS];
    iter_offsets(it, i, off);
    out[off[0]] = un_int<T>(op, a[off[1]], p0, p1);
  }
}

extern "C" seq_status seq_cuda_k_unary(seq_unop op, const seq_cuda_arr *out, const seq_cuda_arr *a,
                                       double p0, double p1) {
  if (out->dtype != a->dtype) return seq_fail(SEQ_EDTYPE, "unary op: dtypes differ");
  if ((int)op < 0 || op >= SEQ_NUNOPS) return seq_fail(SEQ_EARG, "unary op %d: unknown", (int)op);
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  if (n == 0) return SEQ_OK;
  seq_iter it;
  const seq_cuda_arr *ops[2] = {out, a};
  iter_init(&it, out->ndim, out->shape, 2, ops);
  unsigned g = blocks_for(n);
  switch (out->dtype) {
    case SEQ_F32:
      SEQ_LAUNCH(g, THREADS, k_unary_f32)(it, n, (int)op, (float *)out->data, (const float *)a->data,
                                  (float)p0, (float)p1);
      break;
    case SEQ_F64:
      SEQ_LAUNCH(g, THREADS, k_unary_f64)(it, n, (int)op, (double *)out->data, (const double *)a->data,
                                  p0, p1);
      break;
    default: {
      bool int_ok = op == SEQ_UN_NEG || op == SEQ_UN_RELU || op == SEQ_UN_ABS ||
                    op == SEQ_UN_SIGN || op == SEQ_UN_SQUARE || op == SEQ_UN_CLAMP ||
                    op == SEQ_UN_AFFINE || op == SEQ_UN_POW_SCALAR;
      if (!int_ok) return seq_fail(SEQ_EDTYPE, "this op needs a float tensor, got an integer one");
      switch (out->dtype) {
        case SEQ_I32:
          SEQ_LAUNCH(g, THREADS, k_unary_int<int32_t>)(it, n, (int)op, (int32_t *)out->data,
                                               (const int32_t *)a->data, p0, p1);
          break;
        case SEQ_I64:
          SEQ_LAUNCH(g, THREADS, k_unary_int<int64_t>)(it, n, (int)op, (int64_t *)out->data,
                                               (const int64_t *)a->data, p0, p1);
          break;
        case SEQ_U8:
          SEQ_LAUNCH(g, THREADS, k_unary_int<uint8_t>)(it, n, (int)op, (uint8_t *)out->data,
                                               (const uint8_t *)a->data, p0, p1);
          break;
        default: return seq_fail(SEQ_EDTYPE, "unary op: unsupported dtype");
      }
    }
  }
  LAUNCH_CHECK("unary");
  return SEQ_OK;
}

/* ---- where ---- */

template <typename T>
__global__ void k_where(seq_iter it, int64_t n, T *out, const uint8_t *c, const T *a, const T *b) {
  GRID_STRIDE(i, n) {
    int64_t off[MAX_OPS];
    iter_offsets(it, i, off);
    out[off[0]] = c[off[1]] ? a[off[2]] : b[off[3]];
  }
}

extern "C" seq_status seq_cuda_k_where(const seq_cuda_arr *out, const seq_cuda_arr *cond,
                                       const seq_cuda_arr *a, const seq_cuda_arr *b) {
  if (cond->dtype != SEQ_U8 || a->dtype != out->dtype || b->dtype != out->dtype)
    return seq_fail(SEQ_EDTYPE, "where: dtypes do not agree");
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  if (n == 0) return SEQ_OK;
  seq_iter it;
  const seq_cuda_arr *ops[4] = {out, cond, a, b};
  iter_init(&it, out->ndim, out->shape, 4, ops);
  DISPATCH(out->dtype, T, (SEQ_LAUNCH(blocks_for(n), THREADS, k_where<T>)(
                              it, n, (T *)out->data, (const uint8_t *)cond->data,
                              (const T *)a->data, (const T *)b->data)));
  LAUNCH_CHECK("where");
  return SEQ_OK;
}

/* ---- reductions ---- */

__device__ static inline void store_as(void *out, int dt, int64_t i, double v) {
  switch (dt) {
    case SEQ_F32: ((float *)out)[i] = (float)v; break;
    case SEQ_F64: ((double *)out)[i] = v; break;
    case SEQ_I32: ((int32_t *)out)[i] = seq_f2i32(v); break;
    case SEQ_I64: ((int64_t *)out)[i] = seq_f2i64(v); break;
    case SEQ_U8: ((uint8_t *)out)[i] = seq_f2u8(v); break;
  }
}

/* Integer reductions are exact, as on the CPU (core/cpu/cpu_reduce.c): they
 * accumulate and compare in 128-bit integers, so a sum wraps only when it is
 * stored as i32/i64, a max of i64 above 2^53 is not rounded, and a mean is
 * exact before its one rounding.  Float inputs accumulate in double. */
typedef __int128 red_wide;
template <typename T> struct red_acc { typedef double type; };
template <> struct red_acc<int32_t> { typedef red_wide type; };
template <> struct red_acc<int64_t> { typedef red_wide type; };
template <> struct red_acc<uint8_t> { typedef red_wide type; };

__device__ static inline void store_red(void *out, int dt, int64_t i, double v) { store_as(out, dt, i, v); }
__device__ static inline void store_red(void *out, int dt, int64_t i, red_wide v) {
  switch (dt) {
    case SEQ_I32: ((int32_t *)out)[i] = (int32_t)(uint32_t)(unsigned __int128)v; break;
    case SEQ_I64: ((int64_t *)out)[i] = (int64_t)(uint64_t)(unsigned __int128)v; break;
    case SEQ_U8: ((uint8_t *)out)[i] = (uint8_t)(unsigned __int128)v; break;
    default: store_as(out, dt, i, (double)v); break;
  }
}

/* The final value of output i from its sum / best value / best index. */
template <typename A>
__device__ static inline void store_result(int op, void *out, int dt, int64_t i, A v, int64_t bi, int64_t n) {
  if (op == SEQ_RED_MEAN) store_as(out, dt, i, n ? (double)v / (double)n : NAN);
  else if (op == SEQ_RED_ARGMAX || op == SEQ_RED_ARGMIN) store_red(out, dt, i, (red_wide)(bi < 0 ? 0 : bi));
  else store_red(out, dt, i, v);
}

/* The CPU's "better" rule: strictly greater (less), or a NaN replacing a
 * number; ties keep the earlier index. */
template <typename A>
__device__ static inline bool red_better(int op, A v, int64_t vi, A best, int64_t bi) {
  bool mx = op == SEQ_RED_MAX || op == SEQ_RED_ARGMAX;
  if (v != v) return best == best || vi < bi;
  if (best != best) return false;
  if (mx ? v > best : v < best) return true;
  return v == best && vi < bi;
}

/* Reductions of a contiguous [outer, n, inner] array over n.  Each output
 * may be split into `parts` chunks of the reduced dim (so that a whole-tensor
 * sum or a bias gradient over [B*T, 4H] uses the whole GPU, not one block or
 * one thread per output); the chunks' partial results (value in the
 * accumulator type, and the global index for argmax/argmin) then go to
 * k_reduce_final.  Partial (o, p) lives at pv/pi[o * pso + p * psp]. */
struct red_split {
  int64_t parts, chunk;
  void *pv; /* NULL: no split, the kernel stores the final result */
  int64_t *pi;
  int64_t pso, psp;
};

/* rows (inner == 1): one block per (row, part); threads stride over the
 * chunk, then a shared-memory tree combines them */
template <typename T>
__global__ void k_reduce_rows(int op, void *out, int out_dt, const T *in, int64_t rows, int64_t n,
                              red_split sp) {
  typedef typename red_acc<T>::type A;
  __shared__ A sv[THREADS];
  __shared__ int64_t si[THREADS];
  const bool sum = op == SEQ_RED_SUM || op == SEQ_RED_MEAN;
  for (int64_t rp = blockIdx.x; rp < rows * sp.parts; rp += gridDim.x) {
    const int64_t r = rp / sp.parts, part = rp % sp.parts;
    const int64_t lo = part * sp.chunk, hi = lo + sp.chunk < n ? lo + sp.chunk : n;
    const T *p = in + r * n;
    A acc = 0, best = 0;
    int64_t bi = -1;
    for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) {
      A v = (A)p[j];
      if (sum) acc += v;
      else if (bi < 0 || red_better<A>(op, v, j, best, bi)) {
        best = v;
        bi = j;
      }
    }
    sv[threadIdx.x] = sum ? acc : best;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) {
        if (sum) {
          sv[threadIdx.x] += sv[threadIdx.x + s];
        } else {
          int64_t oi = si[threadIdx.x + s];
          if (oi >= 0 && (si[threadIdx.x] < 0 ||
                          red_better<A>(op, sv[threadIdx.x + s], oi, sv[threadIdx.x], si[threadIdx.x]))) {
            sv[threadIdx.x] = sv[threadIdx.x + s];
            si[threadIdx.x] = oi;
          }
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      if (sp.pv) {
        ((A *)sp.pv)[r * sp.pso + part * sp.psp] = sv[0];
        sp.pi[r * sp.pso + part * sp.psp] = si[0];
      } else {
        store_result<A>(op, out, out_dt, r, sv[0], si[0], n);
      }
    }
    __syncthreads();
  }
}

/* inner > 1: one thread per (output, part) walks its chunk of the reduced
 * dim; neighbouring threads read neighbouring addresses (j is fastest) */
template <typename T>
__global__ void k_reduce_cols(int op, void *out, int out_dt, const T *in, int64_t outer, int64_t n,
                              int64_t inner, red_split sp) {
  typedef typename red_acc<T>::type A;
  const int64_t nout = outer * inner;
  GRID_STRIDE(e, nout * sp.parts) {
    const int64_t oi = e % nout, part = e / nout;
    const int64_t o = oi / inner, j = oi % inner;
    const int64_t lo = part * sp.chunk, hi = lo + sp.chunk < n ? lo + sp.chunk : n;
    const T *p = in + o * n * inner + j;
    A v;
    int64_t bi = lo;
    if (op == SEQ_RED_SUM || op == SEQ_RED_MEAN) {
      A acc = 0;
      for (int64_t k = lo; k < hi; k++) acc += (A)p[k * inner];
      v = acc;
    } else {
      A best = (A)p[lo * inner];
      for (int64_t k = lo + 1; k < hi; k++) {
        A x = (A)p[k * inner];
        if (red_better<A>(op, x, k, best, bi)) {
          best = x;
          bi = k;
        }
      }
      v = best;
    }
    if (sp.pv) {
      ((A *)sp.pv)[oi * sp.pso + part * sp.psp] = v;
      sp.pi[oi * sp.pso + part * sp.psp] = bi;
    } else {
      store_result<A>(op, out, out_dt, oi, v, bi, n);
    }
  }
}

/* combines each output's partials in part order (sums in a fixed order) */
template <typename A>
__global__ void k_reduce_final(int op, void *out, int out_dt, int64_t nout, int64_t n,
                               red_split sp) {
  GRID_STRIDE(oi, nout) {
    const A *pv = (const A *)sp.pv + oi * sp.pso;
    const int64_t *pi = sp.pi + oi * sp.pso;
    A acc = 0, best = 0;
    int64_t bi = -1;
    for (int64_t k = 0; k < sp.parts; k++) {
      A v = pv[k * sp.psp];
      int64_t vi = pi[k * sp.psp];
      if (op == SEQ_RED_SUM || op == SEQ_RED_MEAN) acc += v;
      else if (vi >= 0 && (bi < 0 || red_better<A>(op, v, vi, best, bi))) {
        best = v;
        bi = vi;
      }
    }
    store_result<A>(op, out, out_dt, oi, op == SEQ_RED_SUM || op == SEQ_RED_MEAN ? acc : best, bi, n);
  }
}

/* Enough parallel work to fill a large GPU (~2 blocks per SM on the biggest
 * parts, tens of thousands of threads), without chunks so short that the
 * second pass costs more than it saves. */
#define RED_ROW_BLOCKS 256
#define RED_ROW_MIN_CHUNK 2048
#define RED_COL_THREADS 65536
#define RED_COL_MIN_CHUNK 32

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

extern "C" seq_status seq_cuda_k_reduce(seq_redop op, void *out, seq_dtype out_dt, const void *in,
                                        seq_dtype in_dt, int64_t outer, int64_t n, int64_t inner) {
  if ((int)op < 0 || op >= SEQ_NREDOPS) return seq_fail(SEQ_EARG, "reduce: unknown op %d", (int)op);
  const int64_t nout = outer * inner;
  if (nout == 0) return SEQ_OK;
  if (in_dt != SEQ_F32 && in_dt != SEQ_F64 && in_dt != SEQ_I32 && in_dt != SEQ_I64 && in_dt != SEQ_U8)
    return seq_fail(SEQ_EDTYPE, "cuda: unsupported dtype %d", (int)in_dt);
  const bool integer = in_dt == SEQ_I32 || in_dt == SEQ_I64 || in_dt == SEQ_U8;
  red_split sp = {1, n, NULL, NULL, 0, 0};
  int64_t parts = 1;
  if (n > 0) {
    if (inner == 1) parts = cdiv(RED_ROW_BLOCKS, outer) < cdiv(n, RED_ROW_MIN_CHUNK) ? cdiv(RED_ROW_BLOCKS, outer) : cdiv(n, RED_ROW_MIN_CHUNK);
    else parts = cdiv(RED_COL_THREADS, nout) < cdiv(n, RED_COL_MIN_CHUNK) ? cdiv(RED_COL_THREADS, nout) : cdiv(n, RED_COL_MIN_CHUNK);
    if (parts < 1) parts = 1;
  }
  seq_cuda_scratch scratch = {NULL, 0};
  if (parts > 1) {
    sp.chunk = cdiv(n, parts);
    sp.parts = cdiv(n, sp.chunk);
    const size_t acc_size = integer ? sizeof(red_wide) : sizeof(double);
    SEQ_TRY(seq_cuda_scratch_alloc(&scratch, (size_t)(nout * sp.parts) * (acc_size + sizeof(int64_t))));
    sp.pv = scratch.ptr;
    sp.pi = (int64_t *)((char *)scratch.ptr + (size_t)(nout * sp.parts) * acc_size);
    if (inner == 1) sp.pso = sp.parts, sp.psp = 1; /* a block's partials side by side */
    else sp.pso = 1, sp.psp = nout;               /* coalesced over outputs */
  }
  seq_status st = SEQ_OK;
  if (inner == 1) {
    int64_t g = outer * sp.parts < MAX_BLOCKS ? outer * sp.parts : MAX_BLOCKS;
    DISPATCH(in_dt, T, (SEQ_LAUNCH((unsigned)g, THREADS, k_reduce_rows<T>)((int)op, out, (int)out_dt,
                                                                             (const T *)in, outer, n, sp)));
  } else {
    DISPATCH(in_dt, T, (SEQ_LAUNCH(blocks_for(nout * sp.parts), THREADS, k_reduce_cols<T>)(
                           (int)op, out, (int)out_dt, (const T *)in, outer, n, inner, sp)));
  }
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess && sp.pv) {
    if (integer) SEQ_LAUNCH(blocks_for(nout), THREADS, k_reduce_final<red_wide>)((int)op, out, (int)out_dt, nout, n, sp);
    else SEQ_LAUNCH(blocks_for(nout), THREADS, k_reduce_final<double>)((int)op, out, (int)out_dt, nout, n, sp);
    e = cudaGetLastError();
  }
  if (e != cudaSuccess) st = seq_fail(SEQ_EBACKEND, "reduce launch: %s", cudaGetErrorString(e));
  seq_cuda_scratch_free(&scratch);
  return st;
}

/* ---- indexing ---- */

__device__ static inline void report(seq_cuda_deferred *d, int code, long long bad, long long limit) {
  if (atomicCAS(&d->code, 0, code) == 0) {
    d->bad = bad;
    d->limit = limit;
    __threadfence_system();
  }
}

__device__ static inline int64_t load_id(const void *idx, int idt, int64_t i) {
  return idt == SEQ_I32 ? (int64_t)((const int32_t *)idx)[i] : ((const int64_t *)idx)[i];
}

/* Kernel view of an array: shape and strides only (data passed apart). */
struct seq_karr {
  int ndim;
  int64_t shape[SEQ_MAX_DIM];
  int64_t stride[SEQ_MAX_DIM];
};

static seq_karr karr(const seq_cuda_arr *a) {
  seq_karr k;
  k.ndim = a->ndim;
  for (int d = 0; d < SEQ_MAX_DIM; d++) {
    k.shape[d] = d < a->ndim ? a->shape[d] : 1;
    k.stride[d] = d < a->ndim ? a->stride[d] : 0;
  }
  return k;
}

/* Coordinates of logical index i over `shape` (row-major). */
__device__ static inline void coords_of(const seq_karr &s, int64_t i, int64_t *c) {
  for (int d = s.ndim - 1; d >= 0; d--) {
    c[d] = i % s.shape[d];
    i /= s.shape[d];
  }
}

__device__ static inline int64_t offset_of(const seq_karr &s, const int64_t *c) {
  int64_t o = 0;
  for (int d = 0; d < s.ndim; d++) o += c[d] * s.stride[d];
  return o;
}

template <typename T> __device__ static inline void atomic_add(T *p, T v);
template <> __device__ inline void atomic_add<float>(float *p, float v) { atomicAdd(p, v); }
template <> __device__ inline void atomic_add<double>(double *p, double v) { atomicAdd(p, v); }
template <> __device__ inline void atomic_add<int32_t>(int32_t *p, int32_t v) { atomicAdd((int *)p, (int)v); }
template <> __device__ inline void atomic_add<int64_t>(int64_t *p, int64_t v) {
  atomicAdd((unsigned long long *)p, (unsigned long long)v); /* two's complement */
}
template <> __device__ inline void atomic_add<uint8_t>(uint8_t *p, uint8_t v) {
  /* byte add through a CAS on the enclosing aligned word */
  unsigned int *w = (unsigned int *)((uintptr_t)p & ~(uintptr_t)3);
  unsigned int shift = ((unsigned int)((uintptr_t)p & 3)) * 8;
  unsigned int old = *w, assumed;
  do {
    assumed = old;
    unsigned int byte = ((assumed >> shift) + v) & 0xffu;
    old = atomicCAS(w, assumed, (assumed & ~(0xffu << shift)) | (byte << shift));
  } while (old != assumed);
}

/* out[.., j, ..] = src[.., idx[j], ..] */
template <typename T>
__global__ void k_index_select(seq_karr o, T *out, seq_karr s, const T *src, int dim,
                               const void *idx, int idt, int64_t n, seq_cuda_deferred *err) {
  GRID_STRIDE(i, n) {
    int64_t c[SEQ_MAX_DIM];
    coords_of(o, i, c);
    int64_t id = load_id(idx, idt, c[dim]);
    if (id < 0 || id >= s.shape[dim]) {
      report(err, SEQ_CUDA_ERR_INDEX_SELECT, id, s.shape[dim]);
      out[offset_of(o, c)] = (T)0;
      continue;
    }
    int64_t oo = offset_of(o, c);
    c[dim] = id;
    out[oo] = src[offset_of(s, c)];
  }
}

extern "C" seq_status seq_cuda_k_index_select(const seq_cuda_arr *out, const seq_cuda_arr *src,
                                              int dim, const void *idx, seq_dtype idx_dt,
                                              int64_t nidx) {
  if (out->dtype != src->dtype) return seq_fail(SEQ_EDTYPE, "index_select: dtypes differ");
  if (dim < 0 || dim >= out->ndim || out->ndim != src->ndim || out->shape[dim] != nidx)
    return seq_fail(SEQ_ESHAPE, "index_select: bad shapes for dim %d", dim);
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  if (n == 0) return SEQ_OK;
  seq_karr o = karr(out), s = karr(src);
  seq_cuda_deferred *err = seq_cuda_deferred_dev();
  DISPATCH(out->dtype, T, (SEQ_LAUNCH(blocks_for(n), THREADS, k_index_select<T>)(
                              o, (T *)out->data, s, (const T *)src->data, dim, idx, (int)idx_dt,
                              n, err)));
  LAUNCH_CHECK("index_select");
  return SEQ_OK;
}

/* dst[.., idx[j], ..] += src[.., j, ..] */
template <typename T>
__global__ void k_index_add(seq_karr d, T *dst, seq_karr s, const T *src, int dim, const void *idx,
                            int idt, int64_t n, seq_cuda_deferred *err) {
  GRID_STRIDE(i, n) {
    int64_t c[SEQ_MAX_DIM];
    coords_of(s, i, c);
    T v = src[offset_of(s, c)];
    int64_t id = load_id(idx, idt, c[dim]);
    if (id < 0 || id >= d.shape[dim]) {
      report(err, SEQ_CUDA_ERR_INDEX_ADD, id, d.shape[dim]);
      continue;
    }
    c[dim] = id;
    atomic_add<T>(dst + offset_of(d, c), v);
  }
}

extern "C" seq_status seq_cuda_k_index_add(const seq_cuda_arr *dst, int dim, const void *idx,
                                           seq_dtype idx_dt, int64_t nidx, const seq_cuda_arr *src) {
  if (dst->dtype != src->dtype) return seq_fail(SEQ_EDTYPE, "index_add: dtypes differ");
  if (dim < 0 || dim >= dst->ndim || dst->ndim != src->ndim || src->shape[dim] != nidx)
    return seq_fail(SEQ_ESHAPE, "index_add: bad shapes for dim %d", dim);
  int64_t n = 1;
  for (int d = 0; d < src->ndim; d++) n *= src->shape[d];
  if (n == 0) return SEQ_OK;
  seq_karr dk = karr(dst), sk = karr(src);
  seq_cuda_deferred *err = seq_cuda_deferred_dev();
  DISPATCH(dst->dtype, T, (SEQ_LAUNCH(blocks_for(n), THREADS, k_index_add<T>)(
                              dk, (T *)dst->data, sk, (const T *)src->data, dim, idx, (int)idx_dt,
                              n, err)));
  LAUNCH_CHECK("index_add");
  return SEQ_OK;
}

/* out[c] = src[c with c[dim] = idx[c]]; out has idx's shape, idx contiguous */
template <typename T>
__global__ void k_gather(seq_karr o, T *out, seq_karr s, const T *src, int dim, const void *idx,
                         int idt, int64_t n, seq_cuda_deferred *err) {
  GRID_STRIDE(i, n) {
    int64_t c[SEQ_MAX_DIM];
    coords_of(o, i, c);
    int64_t oo = offset_of(o, c);
    int64_t id = load_id(idx, idt, i);
    if (id < 0 || id >= s.shape[dim]) {
      report(err, SEQ_CUDA_ERR_GATHER, id, s.shape[dim]);
      out[oo] = (T)0;
      continue;
    }
    c[dim] = id;
    out[oo] = src[offset_of(s, c)];
  }
}

extern "C" seq_status seq_cuda_k_gather(const seq_cuda_arr *out, const seq_cuda_arr *src, int dim,
                                        const void *idx, seq_dtype idx_dt) {
  if (out->dtype != src->dtype) return seq_fail(SEQ_EDTYPE, "gather: dtypes differ");
  if (dim < 0 || dim >= src->ndim || out->ndim != src->ndim)
    return seq_fail(SEQ_ESHAPE, "gather: bad shapes for dim %d", dim);
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  if (n == 0) return SEQ_OK;
  seq_karr o = karr(out), s = karr(src);
  seq_cuda_deferred *err = seq_cuda_deferred_dev();
  DISPATCH(out->dtype, T, (SEQ_LAUNCH(blocks_for(n), THREADS, k_gather<T>)(
                              o, (T *)out->data, s, (const T *)src->data, dim, idx, (int)idx_dt,
                              n, err)));
  LAUNCH_CHECK("gather");
  return SEQ_OK;
}

/* dst[c with c[dim] = idx[c]] += src[c]; iterates over src's (= idx's) shape */
template <typename T>
__global__ void k_scatter_add(seq_karr d, T *dst, seq_karr s, const T *src, int dim,
                              const void *idx, int idt, int64_t n, seq_cuda_deferred *err) {
  GRID_STRIDE(i, n) {
    int64_t c[SEQ_MAX_DIM];
    coords_of(s, i, c);
    T v = src[offset_of(s, c)];
    int64_t id = load_id(idx, idt, i);
    if (id < 0 || id >= d.shape[dim]) {
      report(err, SEQ_CUDA_ERR_SCATTER_ADD, id, d.shape[dim]);
      continue;
    }
    c[dim] = id;
    atomic_add<T>(dst + offset_of(d, c), v);
  }
}

extern "C" seq_status seq_cuda_k_scatter_add(const seq_cuda_arr *dst, int dim, const void *idx,
                                             seq_dtype idx_dt, const seq_cuda_arr *src) {
  if (dst->dtype != src->dtype) return seq_fail(SEQ_EDTYPE, "scatter_add: dtypes differ");
  if (dim < 0 || dim >= dst->ndim || dst->ndim != src->ndim)
    return seq_fail(SEQ_ESHAPE, "scatter_add: bad shapes for dim %d", dim);
  int64_t n = 1;
  for (int d = 0; d < src->ndim; d++) n *= src->shape[d];
  if (n == 0) return SEQ_OK;
  seq_karr dk = karr(dst), sk = karr(src);
  seq_cuda_deferred *err = seq_cuda_deferred_dev();
  DISPATCH(dst->dtype, T, (SEQ_LAUNCH(blocks_for(n), THREADS, k_scatter_add<T>)(
                              dk, (T *)dst->data, sk, (const T *)src->data, dim, idx,
                              (int)idx_dt, n, err)));
  LAUNCH_CHECK("scatter_add");
  return SEQ_OK;
}

/* ---- random (core/engine/seq_philox.h mapping) ----
 * The affine steps use _rn intrinsics so nvcc cannot fuse them into an FMA:
 * the CPU rounds the product and the sum separately, and the f32 numbers
 * must agree bit for bit. */
__global__ void k_uniform_f32(float *out, int64_t n, uint64_t seed, uint64_t offset, float lo,
                              float span) {
  GRID_STRIDE(k, n) {
    float u = seq_philox_uniform_f32(offset + (uint64_t)k, seed);
    out[k] = __fadd_rn(lo, __fmul_rn(span, u));
  }
}

__global__ void k_uniform_f64(double *out, int64_t n, uint64_t seed, uint64_t offset, double lo,
                              double hi) {
  GRID_STRIDE(k, n) {
    double u = seq_philox_uniform_f64(offset + (uint64_t)k, seed);
    out[k] = __dadd_rn(lo, __dmul_rn(__dsub_rn(hi, lo), u));
  }
}

template <typename T>
__global__ void k_normal(T *out, int64_t n, uint64_t seed, uint64_t offset, double mean,
                         double std) {
  GRID_STRIDE(k, n) {
    uint32_t r[4];
    seq_philox4x32(offset + (uint64_t)k, seed, r);
    double u1 = __dmul_rn((double)r[0] + 1.0, 1.0 / 4294967296.0);
    double u2 = __dmul_rn((double)r[1], 1.0 / 4294967296.0);
    double z = __dmul_rn(sqrt(__dmul_rn(-2.0, log(u1))), cos(__dmul_rn(6.283185307179586, u2)));
    out[k] = (T)__dadd_rn(mean, __dmul_rn(std, z));
  }
}

extern "C" seq_status seq_cuda_k_rand(void *out, seq_dtype dt, int64_t n, uint64_t seed,
                                      uint64_t offset, bool normal, double a, double b) {
  if (n == 0) return SEQ_OK;
  unsigned g = blocks_for(n);
  if (dt == SEQ_F32) {
    if (normal) SEQ_LAUNCH(g, THREADS, k_normal<float>)((float *)out, n, seed, offset, a, b);
    else SEQ_LAUNCH(g, THREADS, k_uniform_f32)((float *)out, n, seed, offset, (float)a, (float)(b - a));
  } else if (dt == SEQ_F64) {
    if (normal) SEQ_LAUNCH(g, THREADS, k_normal<double>)((double *)out, n, seed, offset, a, b);
    else SEQ_LAUNCH(g, THREADS, k_uniform_f64)((double *)out, n, seed, offset, a, b);
  } else {
    return seq_fail(SEQ_EDTYPE, "rand: needs f32 or f64, got %s", seq_dtype_name(dt));
  }
  LAUNCH_CHECK("rand");
  return SEQ_OK;
}

/* ---- softmax family: one block per row ---- */

__device__ static inline float dexp(float x) { return expf(x); }
__device__ static inline double dexp(double x) { return exp(x); }
__device__ static inline float dlog(float x) { return logf(x); }
__device__ static inline double dlog(double x) { return log(x); }
__device__ static inline float dlog1p(float x) { return log1pf(x); }
__device__ static inline double dlog1p(double x) { return log1p(x); }

/* Block-wide sum / max of one value per thread (blockDim.x == THREADS). */
template <typename T>
__device__ static T block_sum(T v, T *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = THREADS / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  T r = sh[0];
  __syncthreads();
  return r;
}

template <typename T>
__device__ static T block_max(T v, T *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = THREADS / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      T o = sh[threadIdx.x + s];
      if (o > sh[threadIdx.x]) sh[threadIdx.x] = o;
    }
    __syncthreads();
  }
  T r = sh[0];
  __syncthreads();
  return r;
}

template <typename T>
__device__ static T row_max(const T *x, int64_t cols, T *sh) {
  T m = x[0];
  for (int64_t j = threadIdx.x; j < cols; j += THREADS) m = x[j] > m ? x[j] : m;
  return block_max<T>(m, sh);
}

template <typename T>
__global__ void k_softmax(T *out, const T *x, int64_t rows, int64_t cols, int log_) {
  __shared__ T sh[THREADS];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *xr = x + r * cols;
    T *yr = out + r * cols;
    T m = row_max<T>(xr, cols, sh);
    T s = 0;
    for (int64_t j = threadIdx.x; j < cols; j += THREADS) s += dexp(xr[j] - m);
    s = block_sum<T>(s, sh);
    if (log_) {
      T ls = dlog(s) + m;
      for (int64_t j = threadIdx.x; j < cols; j += THREADS) yr[j] = xr[j] - ls;
    } else {
      T inv = (T)1 / s;
      for (int64_t j = threadIdx.x; j < cols; j += THREADS) yr[j] = dexp(xr[j] - m) * inv;
    }
  }
}

template <typename T>
__global__ void k_softmax_bw(T *dx, const T *y, const T *dy, int64_t rows, int64_t cols, int log_) {
  __shared__ T sh[THREADS];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *yr = y + r * cols, *gr = dy + r * cols;
    T *dr = dx + r * cols;
    T s = 0;
    for (int64_t j = threadIdx.x; j < cols; j += THREADS) s += log_ ? gr[j] : gr[j] * yr[j];
    s = block_sum<T>(s, sh);
    for (int64_t j = threadIdx.x; j < cols; j += THREADS)
      dr[j] = log_ ? gr[j] - dexp(yr[j]) * s : yr[j] * (gr[j] - s);
  }
}

static unsigned row_blocks(int64_t rows) { return (unsigned)(rows < MAX_BLOCKS ? rows : MAX_BLOCKS); }

extern "C" seq_status seq_cuda_k_softmax(void *out, const void *x, seq_dtype dt, int64_t rows,
                                         int64_t cols, bool log) {
  if (rows == 0 || cols == 0) return SEQ_OK;
  DISPATCH_FLOAT(dt, T, "softmax", (SEQ_LAUNCH(row_blocks(rows), THREADS, k_softmax<T>)(
                                       (T *)out, (const T *)x, rows, cols, (int)log)));
  LAUNCH_CHECK("softmax");
  return SEQ_OK;
}

extern "C" seq_status seq_cuda_k_softmax_backward(void *dx, const void *y, const void *dy,
                                                  seq_dtype dt, int64_t rows, int64_t cols,
                                                  bool log) {
  if (rows == 0 || cols == 0) return SEQ_OK;
  DISPATCH_FLOAT(dt, T, "softmax_backward", (SEQ_LAUNCH(row_blocks(rows), THREADS, k_softmax_bw<T>)(
                                                (T *)dx, (const T *)y, (const T *)dy, rows, cols,
                                                (int)log)));
  LAUNCH_CHECK("softmax_backward");
  return SEQ_OK;
}

/* As core/cpu/cpu_loss.c: probs = softmax(z); lse = m + log(sum exp(z - m)) in
 * double; loss = lse - z[id] (class ids) or lse*sum(t) - sum(t*z). */
template <typename T>
__global__ void k_softmax_xent(T *loss, T *probs, const T *x, const void *target, int kind,
                               int64_t rows, int64_t cols, seq_cuda_deferred *err) {
  __shared__ T sh[THREADS];
  __shared__ double shd[THREADS];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *xr = x + r * cols;
    T m = row_max<T>(xr, cols, sh);
    double s = 0;
    for (int64_t j = threadIdx.x; j < cols; j += THREADS) s += (double)dexp(xr[j] - m);
    s = block_sum<double>(s, shd);
    double lse = (double)m + log(s);
    if (probs) {
      T inv = (T)(1.0 / s);
      for (int64_t j = threadIdx.x; j < cols; j += THREADS) probs[r * cols + j] = dexp(xr[j] - m) * inv;
    }
    if (kind == 0) {
      const T *tr = (const T *)target + r * cols;
      double st = 0, stz = 0;
      for (int64_t j = threadIdx.x; j < cols; j += THREADS) {
        st += (double)tr[j];
        stz += (double)tr[j] * (double)xr[j];
      }
      st = block_sum<double>(st, shd);
      stz = block_sum<double>(stz, shd);
      if (threadIdx.x == 0) loss[r] = (T)(lse * st - stz);
    } else if (threadIdx.x == 0) {
      int64_t id = kind == 1 ? (int64_t)((const int32_t *)target)[r] : ((const int64_t *)target)[r];
      if (id < 0 || id >= cols) {
        report(err, SEQ_CUDA_ERR_XENT, id, cols);
        loss[r] = (T)NAN;
      } else {
        loss[r] = (T)(lse - (double)xr[id]);
      }
    }
  }
}

extern "C" seq_status seq_cuda_k_softmax_xent(void *loss, void *probs, const void *logits,
                                              const void *target, int target_kind, seq_dtype dt,
                                              int64_t rows, int64_t cols) {
  if (rows == 0) return SEQ_OK;
  if (cols == 0) return seq_fail(SEQ_ESHAPE, "softmax_cross_entropy: zero classes");
  seq_cuda_deferred *err = seq_cuda_deferred_dev();
  DISPATCH_FLOAT(dt, T, "softmax_cross_entropy",
                 (SEQ_LAUNCH(row_blocks(rows), THREADS, k_softmax_xent<T>)(
                     (T *)loss, (T *)probs, (const T *)logits, target, target_kind, rows, cols, err)));
  LAUNCH_CHECK("softmax_cross_entropy");
  return SEQ_OK;
}

/* Stable BCE with logits, as core/cpu/cpu_loss.c:
 * e = exp(-|x|); loss = max(x,0) - x*t + log1p(e); sig from e. */
template <typename T>
__global__ void k_sigmoid_bce(T *loss, T *sig, const T *x, const T *t, int64_t n) {
  GRID_STRIDE(i, n) {
    T v = x[i], y = t[i];
    T e = dexp(-(v < 0 ? -v : v));
    loss[i] = (v > 0 ? v : (T)0) - v * y + dlog1p(e);
    if (sig) sig[i] = v >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);
  }
}

extern "C" seq_status seq_cuda_k_sigmoid_bce(void *loss, void *sig, const void *logits,
                                             const void *target, seq_dtype dt, int64_t n) {
  if (n == 0) return SEQ_OK;
  DISPATCH_FLOAT(dt, T, "sigmoid_binary_cross_entropy",
                 (SEQ_LAUNCH(blocks_for(n), THREADS, k_sigmoid_bce<T>)((T *)loss, (T *)sig, (const T *)logits,
                                                               (const T *)target, n)));
  LAUNCH_CHECK("sigmoid_binary_cross_entropy");
  return SEQ_OK;
}

/* ---- optimizer steps (formulas in core/engine/seq_backend.h) ---- */

/* Same order and arithmetic as core/cpu/cpu_optim.c: the update runs in the
 * param's dtype with the scalar factors computed in double on the host. */
template <typename T> struct optim_k {
  int kind, nesterov;
  T lr, clip, decay, mom, rho, eps, b1c, b2c, alpha, n1, n2, n3;
  int wd_on;
  int eps_outside;
};

/* Element k of one parameter. */
template <typename T>
__device__ void optim_element(const optim_k<T> &h, T *p, const T *gp, T *s0, T *s1, int64_t k,
                              bool scaled, T gscale) {
  T g = gp[k];
  if (scaled) g = g * gscale;
  if (h.clip > 0) g = g > h.clip ? h.clip : (g < -h.clip ? -h.clip : g);
  T w = p[k];
  if (h.wd_on) w -= w * h.decay;
  if (h.kind == SEQ_OPTIM_SGD) {
    if (h.mom != 0) {
      T v = h.mom * s0[k] - h.lr * g;
      s0[k] = v;
      w += h.nesterov ? h.mom * v - h.lr * g : v;
    } else {
      w -= h.lr * g;
    }
  } else if (h.kind == SEQ_OPTIM_RMSPROP) {
    T s = h.rho * s0[k] + (1 - h.rho) * g * g;
    s0[k] = s;
    T inc = h.lr * g / (h.eps_outside ? sqrt(s) + h.eps : sqrt(s + h.eps));
    if (h.mom > 0) {
      inc = h.mom * s1[k] + inc;
      s1[k] = inc;
    }
    w -= inc;
  } else if (h.kind == SEQ_OPTIM_ADAM) {
    T m = s0[k] + (g - s0[k]) * h.b1c;
    T v = s1[k] + (g * g - s1[k]) * h.b2c;
    s0[k] = m;
    s1[k] = v;
    w -= (m * h.alpha) / (sqrt(v) + h.eps);
  } else if (h.kind == SEQ_OPTIM_ADAGRAD) {
    T a = s0[k] + g * g;
    s0[k] = a;
    w -= h.lr * g / sqrt(a + h.eps);
  } else if (h.kind == SEQ_OPTIM_ADADELTA) {
    T a = h.rho * s0[k] + (1 - h.rho) * g * g;
    s0[k] = a;
    T d = -(sqrt(s1[k] + h.eps) * g) / sqrt(a + h.eps);
    s1[k] = h.rho * s1[k] + (1 - h.rho) * d * d;
    w += h.lr * d;
  } else {
    T m = s0[k] + (g - s0[k]) * h.b1c;
    T v = s1[k] + (g * g - s1[k]) * h.b2c;
    s0[k] = m;
    s1[k] = v;
    w -= ((h.n1 * m + h.n2 * g) * h.lr) / (sqrt(v * h.n3) + h.eps);
  }
  p[k] = w;
}

/* Every parameter of a step in one launch (as torch's multi-tensor apply):
 * a thread finds its parameter by binary search over the items' starts. */
template <typename T>
__global__ void k_optim(optim_k<T> h, const seq_cuda_optim_item *items, int count, int64_t total) {
  GRID_STRIDE(k, total) {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (items[mid].start <= k) lo = mid;
      else hi = mid - 1;
    }
    const seq_cuda_optim_item &it = items[lo];
    optim_element<T>(h, (T *)it.param, (const T *)it.grad, (T *)it.s0, (T *)it.s1, k - it.start,
                     it.grad_scale != 1.0, (T)it.grad_scale);
  }
}

template <typename T>
static optim_k<T> optim_params(const seq_optim_hparams *hp) {
  optim_k<T> h;
  h.kind = (int)hp->kind;
  h.nesterov = hp->nesterov ? 1 : 0;
  h.lr = (T)hp->lr;
  h.clip = (T)hp->clipvalue;
  h.decay = (T)(hp->lr * hp->weight_decay);
  h.wd_on = hp->weight_decay > 0;
  h.eps_outside = hp->eps_outside ? 1 : 0;
  h.mom = (T)hp->momentum;
  h.rho = (T)hp->rho;
  h.eps = (T)hp->eps;
  h.b1c = (T)(1.0 - hp->beta1);
  h.b2c = (T)(1.0 - hp->beta2);
  double t = (double)(hp->step > 0 ? hp->step : 1);
  h.alpha = (T)(hp->lr * sqrt(1.0 - pow(hp->beta2, t)) / (1.0 - pow(hp->beta1, t)));
  double c[3] = {0, 0, 0};
  if (hp->kind == SEQ_OPTIM_NADAM) seq_nadam_factors(hp->beta1, hp->beta2, hp->step > 0 ? hp->step : 1, c);
  h.n1 = (T)c[0];
  h.n2 = (T)c[1];
  h.n3 = (T)c[2];
  return h;
}

extern "C" seq_status seq_cuda_k_optim(const seq_optim_hparams *hp, const seq_cuda_optim_item *items,
                                       int count, int64_t total, seq_dtype dt) {
  if (total == 0 || count == 0) return SEQ_OK;
  unsigned g = blocks_for(total);
  if (dt == SEQ_F32)
    SEQ_LAUNCH(g, THREADS, k_optim<float>)(optim_params<float>(hp), items, count, total);
  else if (dt == SEQ_F64)
    SEQ_LAUNCH(g, THREADS, k_optim<double>)(optim_params<double>(hp), items, count, total);
  else
    return seq_fail(SEQ_EDTYPE, "optimizer step: needs f32 or f64");
  LAUNCH_CHECK("optimizer step");
  return SEQ_OK;
}

/* ---- recurrent weight packing (see cuda_rnn.c) ---- */

/* Keras kernel K[i, g*H + h] -> cuDNN W_g[h, i]; recurrent likewise;
 * bias[g*H + h] -> b_in_g[h]; b_rec_g[h] = bias[G*H + g*H + h] with two
 * bias rows, else 0.  One launch over all pieces. */
template <typename T>
__global__ void k_rnn_pack(seq_cuda_rnn_wptrs w, const T *K, const T *R, const T *b, int64_t I,
                           int64_t H, int G, bool two_bias) {
  const int64_t GH = G * H, nK = GH * I, nR = GH * H, nB = GH;
  GRID_STRIDE(e, nK + nR + 2 * nB) {
    if (e < nK) {
      int64_t g = e / (H * I), r = e % (H * I), h = r / I, i = r % I;
      ((T *)w.w_in[g])[h * I + i] = K[i * GH + g * H + h];
    } else if (e < nK + nR) {
      int64_t q = e - nK, g = q / (H * H), r = q % (H * H), h = r / H, j = r % H;
      ((T *)w.w_rec[g])[h * H + j] = R[j * GH + g * H + h];
    } else if (e < nK + nR + nB) {
      int64_t q = e - nK - nR, g = q / H, h = q % H;
      ((T *)w.b_in[g])[h] = b[g * H + h];
    } else {
      int64_t q = e - nK - nR - nB, g = q / H, h = q % H;
      ((T *)w.b_rec[g])[h] = two_bias ? b[GH + g * H + h] : (T)0;
    }
  }
}

/* Iterates over the Keras layouts so the writes are coalesced. */
template <typename T>
__global__ void k_rnn_unpack(seq_cuda_rnn_wptrs w, T *dK, T *dR, T *db, int64_t I, int64_t H,
                             int G, bool two_bias) {
  const int64_t GH = G * H;
  const int64_t nK = dK ? I * GH : 0, nR = dR ? H * GH : 0, nB = db ? (two_bias ? 2 : 1) * GH : 0;
  GRID_STRIDE(e, nK + nR + nB) {
    if (e < nK) {
      int64_t i = e / GH, col = e % GH, g = col / H, h = col % H;
      dK[e] = ((const T *)w.w_in[g])[h * I + i];
    } else if (e < nK + nR) {
      int64_t q = e - nK, j = q / GH, col = q % GH, g = col / H, h = col % H;
      dR[q] = ((const T *)w.w_rec[g])[h * H + j];
    } else {
      int64_t q = e - nK - nR, rec = q / GH, g = (q % GH) / H, h = q % H;
      db[q] = ((const T *)(rec ? w.b_rec[g] : w.b_in[g]))[h];
    }
  }
}

extern "C" seq_status seq_cuda_k_rnn_pack(const seq_cuda_rnn_wptrs *w, const void *kernel,
                                          const void *recurrent, const void *bias, seq_dtype dt,
                                          int64_t I, int64_t H, int G, bool two_bias) {
  int64_t n = G * H * I + G * H * H + 2 * G * H;
  DISPATCH_FLOAT(dt, T, "rnn", (SEQ_LAUNCH(blocks_for(n), THREADS, k_rnn_pack<T>)(
                                   *w, (const T *)kernel, (const T *)recurrent, (const T *)bias,
                                   I, H, G, two_bias)));
  LAUNCH_CHECK("recurrent weight pack");
  return SEQ_OK;
}

extern "C" seq_status seq_cuda_k_rnn_unpack(const seq_cuda_rnn_wptrs *dw, void *dkernel,
                                            void *drecurrent, void *dbias, seq_dtype dt,
                                            int64_t I, int64_t H, int G, bool two_bias) {
  const int64_t GH = G * H;
  int64_t n = (dkernel ? I * GH : 0) + (drecurrent ? H * GH : 0) +
              (dbias ? (two_bias ? 2 : 1) * GH : 0);
  if (n == 0) return SEQ_OK;
  DISPATCH_FLOAT(dt, T, "rnn", (SEQ_LAUNCH(blocks_for(n), THREADS, k_rnn_unpack<T>)(
                                   *dw, (T *)dkernel, (T *)drecurrent, (T *)dbias, I, H, G,
                                   two_bias)));
  LAUNCH_CHECK("recurrent weight unpack");
  return SEQ_OK;
}

template <typename T>
__global__ void k_one_hot(T *out, const void *ids, int idt, int64_t n, int64_t I,
                          seq_cuda_deferred *err) {
  GRID_STRIDE(e, n * I) {
    int64_t r = e / I, c = e % I;
    int64_t id = load_id(ids, idt, r);
    if (c == 0 && (id < 0 || id >= I)) report(err, SEQ_CUDA_ERR_LSTM_INDEX, id, I);
    out[e] = id == c ? (T)1 : (T)0;
  }
}

extern "C" seq_status seq_cuda_k_one_hot(void *out, seq_dtype dt, const void *ids, seq_dtype id_dt,
                                         int64_t n, int64_t I) {
  if (n * I == 0) return SEQ_OK;
  if (id_dt != SEQ_I32 && id_dt != SEQ_I64) return seq_fail(SEQ_EDTYPE, "lstm: ids must be i32 or i64");
  seq_cuda_deferred *err = seq_cuda_deferred_dev();
  DISPATCH_FLOAT(dt, T, "lstm", (SEQ_LAUNCH(blocks_for(n * I), THREADS, k_one_hot<T>)(
                                    (T *)out, ids, (int)id_dt, n, I, err)));
  LAUNCH_CHECK("lstm one-hot");
  return SEQ_OK;
}

/* ---- the recurrent step loop (see cuda_rnn_loop.c) ----
 * One thread per (sample b, unit j) and step; the gate formulas are the CPU
 * kernels' (core/cpu/cpu_lstm.c, cpu_rnn.c), activations as the unary ops. */

__device__ static inline float act_sigmoid(float x) { return un_float(SEQ_UN_SIGMOID, x, 0, 0); }
__device__ static inline double act_sigmoid(double x) { return un_double(SEQ_UN_SIGMOID, x, 0, 0); }
__device__ static inline float act_tanh(float x) { return tanhf(x); }
__device__ static inline double act_tanh(double x) { return tanh(x); }

__host__ __device__ static inline int cell_gates(int cell) {
  return cell == SEQ_CUDA_CELL_LSTM ? 4 : cell == SEQ_CUDA_CELL_GRU ? 3 : 1;
}

/* h_{t-1} (or c_{t-1}) of row b: the carried state, else the initial one. */
template <typename T>
__device__ static inline T prev_state(const T *states, const T *init, int64_t row, int64_t t,
                                      int64_t H, int64_t j, int64_t e) {
  if (t > 0) return states[(row - 1) * H + j];
  return init ? init[e] : (T)0;
}

template <typename T>
__global__ void k_rnn_step_forward(seq_cuda_rnn_step s) {
  const int64_t H = s.H, t = s.t, GH = cell_gates(s.cell) * H;
  const T *mask = (const T *)s.mask, *bias = (const T *)s.bias;
  T *S = (T *)s.S, *C = (T *)s.C;
  GRID_STRIDE(e, s.B * H) {
    const int64_t b = e / H, j = e % H, row = b * s.T + t, o = row * H + j;
    const T hp = prev_state(S, (const T *)s.h0, row, t, H, j, e);
    T h = hp, c = 0;
    if (s.cell == SEQ_CUDA_CELL_LSTM) c = prev_state(C, (const T *)s.c0, row, t, H, j, e);
    const bool real = !s.len || t < s.len[b];
    if (real) {
      T *g = (T *)s.gates + row * GH;
      const T *u = (const T *)s.u + b * GH;
      if (s.cell == SEQ_CUDA_CELL_LSTM) {
        T i = act_sigmoid(g[j] + u[j] + bias[j]);
        T f = act_sigmoid(g[H + j] + u[H + j] + bias[H + j]);
        T cc = act_tanh(g[2 * H + j] + u[2 * H + j] + bias[2 * H + j]);
        T og = act_sigmoid(g[3 * H + j] + u[3 * H + j] + bias[3 * H + j]);
        c = f * c + i * cc;
        h = og * act_tanh(c);
        g[j] = i;
        g[H + j] = f;
        g[2 * H + j] = cc;
        g[3 * H + j] = og;
      } else if (s.cell == SEQ_CUDA_CELL_GRU) {
        T z = act_sigmoid(g[j] + bias[j] + u[j] + bias[3 * H + j]);
        T r = act_sigmoid(g[H + j] + bias[H + j] + u[H + j] + bias[4 * H + j]);
        T uu = u[2 * H + j] + bias[5 * H + j];
        T hh = act_tanh(g[2 * H + j] + bias[2 * H + j] + r * uu);
        h = z * hp + ((T)1 - z) * hh;
        g[j] = z;
        g[H + j] = r;
        g[2 * H + j] = hh;
        ((T *)s.uu)[o] = uu;
      } else {
        T v = g[j] + bias[j] + u[j];
        h = s.cell == SEQ_CUDA_CELL_RELU ? (v > 0 ? v : (T)0) : act_tanh(v);
      }
    }
    S[o] = h;
    if (s.cell == SEQ_CUDA_CELL_LSTM) C[o] = c;
    if (s.y) ((T *)s.y)[o] = real ? h : (T)0;
    if (t + 1 < s.T) ((T *)s.hm)[o + H] = h * mask[e];
    if (t + 1 == s.T) {
      if (s.h_n) ((T *)s.h_n)[e] = h;
      if (s.c_n) ((T *)s.c_n)[e] = c;
    }
  }
}

template <typename T>
__global__ void k_rnn_step_backward(seq_cuda_rnn_step s) {
  const int64_t H = s.H, t = s.t, G = cell_gates(s.cell), GH = G * H;
  const T *mask = (const T *)s.mask;
  T *dhs = (T *)s.dh, *dcs = (T *)s.dc;
  GRID_STRIDE(e, s.B * H) {
    const int64_t b = e / H, j = e % H, row = b * s.T + t, o = row * H + j;
    const bool last = t + 1 == s.T;
    T dh = last ? (s.dh_n ? ((const T *)s.dh_n)[e] : (T)0) : dhs[e] + ((const T *)s.dhm)[e] * mask[e];
    T dc = 0;
    if (s.cell == SEQ_CUDA_CELL_LSTM) dc = last ? (s.dc_n ? ((const T *)s.dc_n)[e] : (T)0) : dcs[e];
    T *dz = (T *)s.dz + row * GH, *du = (T *)s.du + row * GH;
    if (s.len && t >= s.len[b]) { /* a padding step: dh, dc pass through */
      for (int64_t g = 0; g < G; g++) dz[g * H + j] = du[g * H + j] = 0;
      dhs[e] = dh;
      if (s.cell == SEQ_CUDA_CELL_LSTM) dcs[e] = dc;
      continue;
    }
    if (s.dy) dh += ((const T *)s.dy)[o];
    const T *g = (const T *)s.gates + row * GH;
    if (s.cell == SEQ_CUDA_CELL_LSTM) {
      const T *C = (const T *)s.C;
      T i = g[j], f = g[H + j], cc = g[2 * H + j], og = g[3 * H + j];
      T cp = prev_state(C, (const T *)s.c0, row, t, H, j, e);
      T tc = act_tanh(C[o]);
      T dct = dc + dh * og * ((T)1 - tc * tc);
      dz[j] = dct * cc * i * ((T)1 - i);
      dz[H + j] = dct * cp * f * ((T)1 - f);
      dz[2 * H + j] = dct * i * ((T)1 - cc * cc);
      dz[3 * H + j] = dh * tc * og * ((T)1 - og);
      dcs[e] = dct * f;
      dhs[e] = 0;
    } else if (s.cell == SEQ_CUDA_CELL_GRU) {
      T z = g[j], r = g[H + j], hh = g[2 * H + j], uu = ((const T *)s.uu)[o];
      T hp = prev_state((const T *)s.S, (const T *)s.h0, row, t, H, j, e);
      T dah = dh * ((T)1 - z) * ((T)1 - hh * hh);
      T dzz = dh * (hp - hh) * z * ((T)1 - z);
      T dr = dah * uu * r * ((T)1 - r);
      dz[j] = du[j] = dzz;
      dz[H + j] = du[H + j] = dr;
      dz[2 * H + j] = dah;
      du[2 * H + j] = dah * r;
      dhs[e] = dh * z; /* h_t = z*h_{t-1} + ...: the direct path */
    } else {
      T h = ((const T *)s.S)[o];
      dz[j] = s.cell == SEQ_CUDA_CELL_RELU ? (h > 0 ? dh : (T)0) : dh * ((T)1 - h * h);
      dhs[e] = 0;
    }
  }
}

template <typename T>
__global__ void k_rnn_first_input(seq_cuda_rnn_step s) {
  GRID_STRIDE(e, s.B * s.H) {
    const int64_t b = e / s.H, j = e % s.H;
    ((T *)s.hm)[b * s.T * s.H + j] = s.h0 ? ((const T *)s.h0)[e] * ((const T *)s.mask)[e] : (T)0;
  }
}

template <typename T>
__global__ void k_rnn_initial_grads(seq_cuda_rnn_step s, T *dh0, T *dc0) {
  GRID_STRIDE(e, s.B * s.H) {
    if (dh0) dh0[e] = ((const T *)s.dh)[e] + ((const T *)s.dhm)[e] * ((const T *)s.mask)[e];
    if (dc0) dc0[e] = ((const T *)s.dc)[e];
  }
}

extern "C" seq_status seq_cuda_k_rnn_step_forward(const seq_cuda_rnn_step *s, seq_dtype dt) {
  DISPATCH_FLOAT(dt, T, "rnn", (SEQ_LAUNCH(blocks_for(s->B * s->H), THREADS,
                                           k_rnn_step_forward<T>)(*s)));
  LAUNCH_CHECK("recurrent step");
  return SEQ_OK;
}

extern "C" seq_status seq_cuda_k_rnn_step_backward(const seq_cuda_rnn_step *s, seq_dtype dt) {
  DISPATCH_FLOAT(dt, T, "rnn", (SEQ_LAUNCH(blocks_for(s->B * s->H), THREADS,
                                           k_rnn_step_backward<T>)(*s)));
  LAUNCH_CHECK("recurrent step backward");
  return SEQ_OK;
}

extern "C" seq_status seq_cuda_k_rnn_first_input(const seq_cuda_rnn_step *s, seq_dtype dt) {
  DISPATCH_FLOAT(dt, T, "rnn", (SEQ_LAUNCH(blocks_for(s->B * s->H), THREADS,
                                           k_rnn_first_input<T>)(*s)));
  LAUNCH_CHECK("recurrent first input");
  return SEQ_OK;
}

extern "C" seq_status seq_cuda_k_rnn_initial_grads(const seq_cuda_rnn_step *s, void *dh0,
                                                   void *dc0, seq_dtype dt) {
  if (!dh0 && !dc0) return SEQ_OK;
  DISPATCH_FLOAT(dt, T, "rnn", (SEQ_LAUNCH(blocks_for(s->B * s->H), THREADS,
                                           k_rnn_initial_grads<T>)(*s, (T *)dh0, (T *)dc0)));
  LAUNCH_CHECK("recurrent initial-state gradients");
  return SEQ_OK;
}
