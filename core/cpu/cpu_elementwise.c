/* cpu_elementwise.c - strided elementwise kernels: copy/cast, fill, binary
 * (broadcast inputs arrive as stride-0 views), unary, where.
 *
 * All kernels iterate with one helper (strided_iter) that first merges
 * dimensions that are contiguous for every operand, so the common cases
 * (contiguous, or a broadcast row) become one long inner loop the compiler
 * vectorises.  Large loops are split across OpenMP threads by the callers
 * (iter_parts/iter_part): by rows, or a single long row by elements. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "cpu_kernels.h"
#include "seq_convert.h"
#include "cpu_vmath.h"

#define MAX_OPS 4
#define PARALLEL_MIN 65536

typedef struct strided_iter {
  int ndim; /* after merging; >= 1 */
  int64_t shape[SEQ_MAX_DIM];
  int64_t stride[MAX_OPS][SEQ_MAX_DIM]; /* in elements */
  int nops;
  int64_t row_lo, row_hi; /* the outer rows this iterator covers */
} strided_iter;

/* Builds an iterator over `shape` for `nops` operands with the given strides,
 * dropping size-1 dims and merging dims that are contiguous for all. */
static void iter_init(strided_iter *it, int ndim, const int64_t *shape, int nops,
                      const int64_t *const *strides) {
  it->nops = nops;
  int n = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    if (n > 0) {
      bool mergeable = true;
      for (int k = 0; k < nops; k++)
        if (it->stride[k][n - 1] != strides[k][d] * shape[d]) mergeable = false;
      if (mergeable) {
        it->shape[n - 1] *= shape[d];
        for (int k = 0; k < nops; k++) it->stride[k][n - 1] = strides[k][d];
        continue;
      }
    }
    it->shape[n] = shape[d];
    for (int k = 0; k < nops; k++) it->stride[k][n] = strides[k][d];
    n++;
  }
  if (n == 0) {
    it->shape[0] = 1;
    for (int k = 0; k < nops; k++) it->stride[k][0] = 0;
    n = 1;
  }
  it->ndim = n;
  int64_t rows = 1;
  for (int d = 0; d < n - 1; d++) rows *= it->shape[d];
  it->row_lo = 0;
  it->row_hi = rows;
}

/* Element offsets of operand k at the start of outer row `row`. */
static inline int64_t iter_row_offset(const strided_iter *it, int k, int64_t row) {
  int64_t off = 0;
  for (int d = it->ndim - 2; d >= 0; d--) {
    int64_t i = row % it->shape[d];
    row /= it->shape[d];
    off += i * it->stride[k][d];
  }
  return off;
}

/* Runs BODY for every row of the iterator's range; inside BODY: `n` inner
 * length, `s0..s3` inner strides, `p0..p3` typed row pointers (cast in BODY). */
#define FOR_EACH_ROW(it, ptrs, esz, ...)                                                 \
  do {                                                                                   \
    const int64_t n = (it)->shape[(it)->ndim - 1];                                       \
    const int64_t s0 = (it)->stride[0][(it)->ndim - 1];                                  \
    const int64_t s1 = (it)->nops > 1 ? (it)->stride[1][(it)->ndim - 1] : 0;             \
    const int64_t s2 = (it)->nops > 2 ? (it)->stride[2][(it)->ndim - 1] : 0;             \
    const int64_t s3 = (it)->nops > 3 ? (it)->stride[3][(it)->ndim - 1] : 0;             \
    (void)s1; (void)s2; (void)s3;                                                        \
    for (int64_t row_ = (it)->row_lo; row_ < (it)->row_hi; row_++) {                     \
      char *p0 = (char *)(ptrs)[0] + iter_row_offset(it, 0, row_) * (int64_t)(esz)[0];   \
      char *p1 = (it)->nops > 1 ? (char *)(ptrs)[1] + iter_row_offset(it, 1, row_) * (int64_t)(esz)[1] : NULL; \
      char *p2 = (it)->nops > 2 ? (char *)(ptrs)[2] + iter_row_offset(it, 2, row_) * (int64_t)(esz)[2] : NULL; \
      char *p3 = (it)->nops > 3 ? (char *)(ptrs)[3] + iter_row_offset(it, 3, row_) * (int64_t)(esz)[3] : NULL; \
      (void)p1; (void)p2; (void)p3;                                                      \
      __VA_ARGS__                                                                        \
    }                                                                                    \
  } while (0)

/* How many parts a loop of `total` elements runs in: one per thread from
 * PARALLEL_MIN elements on, over its rows or, for a single long row, over
 * that row's elements.  Below that it runs on the calling thread without
 * entering an OpenMP region at all: `parallel if (false)` still builds a
 * team and ends with a futex system call (~0.4 us, a tenth of a 64x400 add). */
static int iter_parts(const strided_iter *it, int64_t total) {
  if (total < PARALLEL_MIN) return 1;
  const int64_t units = it->ndim == 1 ? it->shape[0] : it->row_hi - it->row_lo;
  const int64_t threads = seq_cpu_get_threads();
  return (int)(units < threads ? units : threads);
}

/* Part c of `parts`: a range of rows, or a range of the single row. */
static void iter_part(const strided_iter *it, void *const *ptrs, const size_t *esz, int c, int parts,
                      strided_iter *sub, void **p) {
  *sub = *it;
  for (int k = 0; k < it->nops; k++) p[k] = ptrs[k];
  if (it->ndim == 1) {
    const int64_t len = it->shape[0], lo = len * c / parts, hi = len * (c + 1) / parts;
    sub->shape[0] = hi - lo;
    for (int k = 0; k < it->nops; k++) p[k] = (char *)ptrs[k] + lo * it->stride[k][0] * (int64_t)esz[k];
  } else {
    const int64_t rows = it->row_hi - it->row_lo;
    sub->row_lo = it->row_lo + rows * c / parts;
    sub->row_hi = it->row_lo + rows * (c + 1) / parts;
  }
}

/* Runs STEP over the parts of a loop and leaves the first failure in ST.
 * STEP is a statement using `sub_` and `p_` (the part's iterator and operand
 * pointers) that sets `s_`, a seq_status. */
#define RUN_PARTS(st, it, total, ptrs, esz, STEP)                                      \
  do {                                                                                 \
    const int parts_ = iter_parts(it, total);                                          \
    if (parts_ > 1) {                                                                  \
      _Pragma("omp parallel for schedule(static) num_threads(parts_)")                \
      for (int c_ = 0; c_ < parts_; c_++) {                                            \
        strided_iter sub_v_;                                                           \
        const strided_iter *sub_ = &sub_v_;                                            \
        void *p_[MAX_OPS];                                                             \
        iter_part(it, ptrs, esz, c_, parts_, &sub_v_, p_);                             \
        seq_status s_ = SEQ_OK;                                                        \
        STEP;                                                                          \
        if (s_ != SEQ_OK) {                                                            \
          _Pragma("omp critical") (st) = s_;                                           \
        }                                                                              \
      }                                                                                \
    } else {                                                                           \
      const strided_iter *sub_ = it;                                                   \
      void **p_ = ptrs;                                                                \
      seq_status s_ = SEQ_OK;                                                          \
      STEP;                                                                            \
      (st) = s_;                                                                       \
    }                                                                                  \
  } while (0)

/* ---------------- copy / cast ---------------- */

#define LOAD(T, p, i, s) ((double)((const T *)(p))[(i) * (s)])

static seq_status copy_generic(const strided_iter *it, void **ptrs, const size_t *esz, seq_dtype dt_out,
                               seq_dtype dt_in) {
#define COPY_CASE(TO, TI)                                                                \
  FOR_EACH_ROW(it, ptrs, esz, {                                                   \
    TO *o = (TO *)p0;                                                                    \
    const TI *a = (const TI *)p1;                                                        \
    if (s0 == 1 && s1 == 1)                                                              \
      for (int64_t i = 0; i < n; i++) o[i] = SEQ_CONVERT(TO, a[i]);                      \
    else                                                                                 \
      for (int64_t i = 0; i < n; i++) o[i * s0] = SEQ_CONVERT(TO, a[i * s1]);            \
  })
#define COPY_FROM(TO)                                        \
  switch (dt_in) {                                           \
    case SEQ_F32: COPY_CASE(TO, float); break;               \
    case SEQ_F64: COPY_CASE(TO, double); break;              \
    case SEQ_I32: COPY_CASE(TO, int32_t); break;             \
    case SEQ_I64: COPY_CASE(TO, int64_t); break;             \
    case SEQ_U8: COPY_CASE(TO, uint8_t); break;              \
    default: break;                                          \
  }
  switch (dt_out) {
    case SEQ_F32: COPY_FROM(float); break;
    case SEQ_F64: COPY_FROM(double); break;
    case SEQ_I32: COPY_FROM(int32_t); break;
    case SEQ_I64: COPY_FROM(int64_t); break;
    case SEQ_U8: COPY_FROM(uint8_t); break;
    default: break;
  }
  return SEQ_OK;
#undef COPY_FROM
#undef COPY_CASE
}

seq_status seq_cpu_copy(seq_tensor *out, const seq_tensor *src) {
  if (out->numel == 0) return SEQ_OK;
  /* Same dtype and both contiguous: one memmove. */
  if (out->dtype == src->dtype && seq_tensor_is_contiguous(out) && seq_tensor_is_contiguous(src) &&
      out->numel == src->numel) {
    memmove(seq_tensor_data(out), seq_tensor_data(src), (size_t)out->numel * seq_dtype_size(out->dtype));
    return SEQ_OK;
  }
  const int64_t *strides[2] = {out->stride, src->stride};
  strided_iter it;
  iter_init(&it, out->ndim, out->shape, 2, strides);
  void *ptrs[2] = {seq_tensor_data(out), seq_tensor_data(src)};
  size_t esz[2] = {seq_dtype_size(out->dtype), seq_dtype_size(src->dtype)};
  seq_status st;
  RUN_PARTS(st, &it, out->numel, ptrs, esz, s_ = copy_generic(sub_, p_, esz, out->dtype, src->dtype));
  return st;
}

static seq_status fill_rows(const strided_iter *it, void **ptrs, const size_t *esz, seq_dtype dt,
                            double value) {
#define FILL_CASE(T)                                                    \
  {                                                                     \
    const T v = SEQ_CONVERT(T, value);                                  \
    FOR_EACH_ROW(it, ptrs, esz, {                                       \
      T *o = (T *)p0;                                                   \
      for (int64_t i = 0; i < n; i++) o[i * s0] = v;                    \
    });                                                                 \
  }
  switch (dt) {
    case SEQ_F32: FILL_CASE(float); break;
    case SEQ_F64: FILL_CASE(double); break;
    case SEQ_I32: FILL_CASE(int32_t); break;
    case SEQ_I64: FILL_CASE(int64_t); break;
    case SEQ_U8: FILL_CASE(uint8_t); break;
    default: break;
  }
#undef FILL_CASE
  return SEQ_OK;
}

seq_status seq_cpu_fill(seq_tensor *out, double value) {
  const int64_t *strides[1] = {out->stride};
  strided_iter it;
  iter_init(&it, out->ndim, out->shape, 1, strides);
  void *ptrs[1] = {seq_tensor_data(out)};
  size_t esz[1] = {seq_dtype_size(out->dtype)};
  seq_status st;
  RUN_PARTS(st, &it, out->numel, ptrs, esz, s_ = fill_rows(sub_, p_, esz, out->dtype, value));
  return st;
}

/* ---------------- binary ---------------- */

/* Integer-safe helpers: integer division by zero yields 0 instead of
 * trapping, since no Lua input may crash the process. */
static inline double fdiv_d(double a, double b) { return a / b; }
/* Widening through a function keeps -Wtype-limits quiet for u8, where the
 * sign tests are trivially false. */
static inline int64_t widen(int64_t v) { return v; }

/* Integer ops wrap around like two's complement (through the unsigned type,
 * since signed overflow is undefined in C); INT_MIN / -1 would trap. */
#define IDIV(T, UT, a, b) ((b) == 0 ? (T)0 : widen(b) == -1 ? (T)((UT)0 - (UT)(a)) : (T)((a) / (b)))
#define WRAP(T, UT, expr) ((T)(UT)(expr))

/* integer pow: seq_ipow_wrap(_d) in seq_convert.h, shared with CUDA */

#define BIN_LOOP(T, TO, EXPR)                                                        \
  FOR_EACH_ROW(it, ptrs, esz, {                                               \
    TO *o = (TO *)p0;                                                                \
    const T *A = (const T *)p1;                                                      \
    const T *B = (const T *)p2;                                                      \
    if (s0 == 1 && s1 == 1 && s2 == 1) {                                             \
      if (CONTIG_FAST(op, o, A, B, n)) continue;                                     \
      for (int64_t i = 0; i < n; i++) {                                              \
        const T x = A[i], y = B[i];                                                  \
        o[i] = (TO)(EXPR);                                                           \
      }                                                                              \
    } else if (s0 == 1 && s1 == 1 && s2 == 0) {                                      \
      const T y = B[0];                                                              \
      for (int64_t i = 0; i < n; i++) {                                              \
        const T x = A[i];                                                            \
        o[i] = (TO)(EXPR);                                                           \
      }                                                                              \
    } else {                                                                         \
      for (int64_t i = 0; i < n; i++) {                                              \
        const T x = A[i * s1], y = B[i * s2];                                        \
        o[i * s0] = (TO)(EXPR);                                                      \
      }                                                                              \
    }                                                                                \
  })

/* Contiguous f32 rows of the four arithmetic ops, built twice and picked by
 * CPUID at load time (an ifunc): the baseline build is SSE2, and the AVX2
 * clone halves the instructions of a small op (callgrind: 64x400 add,
 * test/bench/RESULTS.md).  Same IEEE operations, so the same results.
 * Explicit 8-wide blocks, each loaded before it is stored, so out may be
 * one of the inputs (in-place ops) without the compiler's alias checks
 * sending that case to a scalar loop. */
typedef float bin_v8f __attribute__((vector_size(32)));

#define BIN_CONTIG_LOOP(EXPR)                                      \
  do {                                                             \
    int64_t i = 0;                                                 \
    for (; i + 8 <= n; i += 8) {                                   \
      bin_v8f x, y;                                                \
      memcpy(&x, A + i, sizeof x);                                 \
      memcpy(&y, B + i, sizeof y);                                 \
      x = EXPR;                                                    \
      memcpy(o + i, &x, sizeof x);                                 \
    }                                                              \
    for (; i < n; i++) {                                           \
      const float x = A[i], y = B[i];                              \
      o[i] = EXPR;                                                 \
    }                                                              \
  } while (0)

__attribute__((target_clones("avx2", "default"))) static bool bin_contig_f32(
    seq_binop op, float *o, const float *A, const float *B, int64_t n) {
  switch (op) {
    case SEQ_BIN_ADD: BIN_CONTIG_LOOP(x + y); return true;
    case SEQ_BIN_SUB: BIN_CONTIG_LOOP(x - y); return true;
    case SEQ_BIN_MUL: BIN_CONTIG_LOOP(x * y); return true;
    case SEQ_BIN_DIV: BIN_CONTIG_LOOP(x / y); return true;
    default: return false;
  }
}

#define BIN_FLOAT(T, POWF)                                                  \
  static void binary_##T(seq_binop op, const strided_iter *it, void **ptrs, \
                         const size_t *esz) {                               \
    switch (op) {                                                           \
      case SEQ_BIN_ADD: BIN_LOOP(T, T, x + y); break;                       \
      case SEQ_BIN_SUB: BIN_LOOP(T, T, x - y); break;                       \
      case SEQ_BIN_MUL: BIN_LOOP(T, T, x * y); break;                       \
      case SEQ_BIN_DIV: BIN_LOOP(T, T, x / y); break;                       \
      case SEQ_BIN_POW: BIN_LOOP(T, T, POWF(x, y)); break;                  \
      case SEQ_BIN_MAX: BIN_LOOP(T, T, (x > y || x != x) ? x : y); break;   \
      case SEQ_BIN_MIN: BIN_LOOP(T, T, (x < y || x != x) ? x : y); break;   \
      case SEQ_BIN_EQ: BIN_LOOP(T, uint8_t, x == y); break;                 \
      case SEQ_BIN_NE: BIN_LOOP(T, uint8_t, x != y); break;                 \
      case SEQ_BIN_LT: BIN_LOOP(T, uint8_t, x < y); break;                  \
      case SEQ_BIN_LE: BIN_LOOP(T, uint8_t, x <= y); break;                 \
      case SEQ_BIN_GT: BIN_LOOP(T, uint8_t, x > y); break;                  \
      case SEQ_BIN_GE: BIN_LOOP(T, uint8_t, x >= y); break;                 \
      default: break;                                                       \
    }                                                                       \
  }

#define BIN_INT(T, UT)                                                            \
  static void binary_##T(seq_binop op, const strided_iter *it, void **ptrs,       \
                         const size_t *esz) {                                     \
    switch (op) {                                                                 \
      case SEQ_BIN_ADD: BIN_LOOP(T, T, WRAP(T, UT, (UT)x + (UT)y)); break;        \
      case SEQ_BIN_SUB: BIN_LOOP(T, T, WRAP(T, UT, (UT)x - (UT)y)); break;        \
      case SEQ_BIN_MUL: BIN_LOOP(T, T, WRAP(T, UT, (UT)x * (UT)y)); break;        \
      case SEQ_BIN_DIV: BIN_LOOP(T, T, IDIV(T, UT, x, y)); break;                 \
      case SEQ_BIN_POW: BIN_LOOP(T, T, WRAP(T, UT, seq_ipow_wrap(widen(x), widen(y)))); break; \
      case SEQ_BIN_MAX: BIN_LOOP(T, T, x > y ? x : y); break;                     \
      case SEQ_BIN_MIN: BIN_LOOP(T, T, x < y ? x : y); break;                     \
      case SEQ_BIN_EQ: BIN_LOOP(T, uint8_t, x == y); break;                       \
      case SEQ_BIN_NE: BIN_LOOP(T, uint8_t, x != y); break;                       \
      case SEQ_BIN_LT: BIN_LOOP(T, uint8_t, x < y); break;                        \
      case SEQ_BIN_LE: BIN_LOOP(T, uint8_t, x <= y); break;                       \
      case SEQ_BIN_GT: BIN_LOOP(T, uint8_t, x > y); break;                        \
      case SEQ_BIN_GE: BIN_LOOP(T, uint8_t, x >= y); break;                       \
      default: break;                                                             \
    }                                                                             \
  }

typedef int32_t i32;
typedef int64_t i64;
typedef uint8_t u8;
/* the contiguous fast path exists for f32 in, f32 out only */
#define CONTIG_FAST(op, o, A, B, n) \
  _Generic((A), const float *: _Generic((o), float *: bin_contig_f32, default: bin_contig_none), \
           default: bin_contig_none)(op, (void *)(o), (const void *)(A), (const void *)(B), n)
static bool bin_contig_none(seq_binop op, void *o, const void *A, const void *B, int64_t n) {
  (void)op; (void)o; (void)A; (void)B; (void)n;
  return false;
}
BIN_FLOAT(float, powf)
BIN_FLOAT(double, pow)
BIN_INT(i32, uint32_t)
BIN_INT(i64, uint64_t)
BIN_INT(u8, uint32_t)

static seq_status binary_typed(seq_binop op, seq_dtype dt, const strided_iter *it, void **ptrs,
                               const size_t *esz) {
  switch (dt) {
    case SEQ_F32: binary_float(op, it, ptrs, esz); break;
    case SEQ_F64: binary_double(op, it, ptrs, esz); break;
    case SEQ_I32: binary_i32(op, it, ptrs, esz); break;
    case SEQ_I64: binary_i64(op, it, ptrs, esz); break;
    case SEQ_U8: binary_u8(op, it, ptrs, esz); break;
    default: return seq_fail(SEQ_EDTYPE, "binary op: unsupported dtype");
  }
  return SEQ_OK;
}

seq_status seq_cpu_binary(seq_binop op, seq_tensor *out, const seq_tensor *a, const seq_tensor *b) {
  if (a->dtype != b->dtype)
    return seq_fail(SEQ_EDTYPE, "binary op: operands of dtypes %s and %s", seq_dtype_name(a->dtype),
                    seq_dtype_name(b->dtype));
  if (out->numel == 0) return SEQ_OK;
  const int64_t *strides[3] = {out->stride, a->stride, b->stride};
  strided_iter it;
  iter_init(&it, out->ndim, out->shape, 3, strides);
  void *ptrs[3] = {seq_tensor_data(out), seq_tensor_data(a), seq_tensor_data(b)};
  size_t esz[3] = {seq_dtype_size(out->dtype), seq_dtype_size(a->dtype), seq_dtype_size(b->dtype)};
  seq_status st;
  RUN_PARTS(st, &it, out->numel, ptrs, esz, s_ = binary_typed(op, a->dtype, sub_, p_, esz));
  return st;
}

/* ---------------- unary ---------------- */

#define UN_LOOP(T, EXPR)                                                 \
  FOR_EACH_ROW(it, ptrs, esz, {                                   \
    T *o = (T *)p0;                                                      \
    const T *A = (const T *)p1;                                          \
    if (s0 == 1 && s1 == 1) {                                            \
      for (int64_t i = 0; i < n; i++) {                                  \
        const T x = A[i];                                                \
        o[i] = (T)(EXPR);                                                \
      }                                                                  \
    } else {                                                             \
      for (int64_t i = 0; i < n; i++) {                                  \
        const T x = A[i * s1];                                           \
        o[i * s0] = (T)(EXPR);                                           \
      }                                                                  \
    }                                                                    \
  })

/* the strided body of UN_LOOP, for one row */
#define UN_LOOP_ROW(T, EXPR)                 \
  do {                                       \
    T *o = (T *)p0;                          \
    const T *A = (const T *)p1;              \
    for (int64_t i = 0; i < n; i++) {        \
      const T x = A[i * s1];                 \
      o[i * s0] = (T)(EXPR);                 \
    }                                        \
  } while (0)

/* f32 exp, tanh and sigmoid over contiguous runs: cpu_vmath.h's vectorised
 * polynomials, in blocks.  A block holding any input outside the
 * polynomial's range (or a NaN) goes to libm instead, so exp still gives
 * inf, 0 and denormals and NaN stays NaN.  The check comes before the
 * block is written, so out may alias the input (in-place ops). */
#define VMATH_BLOCK 256

/* libm for one element: the fall-back outside the polynomials' range and
 * for strided rows.  Sigmoid as e^v / (1 + e^v) for negative v keeps e^v's
 * denormals.  Inlined so that the op test is hoisted out of row loops
 * (measured: as fast as one loop per op). */
static inline __attribute__((always_inline)) float unary_libm_f32(seq_unop op, float v) {
  if (op == SEQ_UN_EXP) return expf(v);
  if (op == SEQ_UN_TANH) return tanhf(v);
  if (v < 0) {
    const float e = expf(v);
    return e / (1.0f + e);
  }
  return 1.0f / (1.0f + expf(-v));
}

SEQ_VMATH_CLONES
static void vmath_block_f32(seq_unop op, int64_t n, const float *x, float *y, float lo, float hi,
                            int *in_range) {
  int ok = 1;
  for (int64_t i = 0; i < n; i++) ok &= (x[i] >= lo) & (x[i] <= hi);
  *in_range = ok;
  if (!ok) return;
  switch (op) {
    case SEQ_UN_EXP: for (int64_t i = 0; i < n; i++) y[i] = seq_vexpf(x[i]); break;
    case SEQ_UN_TANH: for (int64_t i = 0; i < n; i++) y[i] = seq_vtanhf(x[i]); break;
    default: for (int64_t i = 0; i < n; i++) y[i] = seq_vsigmoidf(x[i]); break;
  }
}

/* Which clone of SEQ_VMATH_CLONES the loader picks on this CPU (seq.info),
 * by the resolver's own rule: the first of the listed ISA features the CPU
 * has.  (A clone cannot report itself through the preprocessor: __AVX2__ and
 * friends keep the file's baseline values in every clone.) */
const char *seq_cpu_vmath_isa(void) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(SEQ_SANITIZE_BUILD)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  return "sse2";
#else
  return "baseline (no multi-versioning in this build)";
#endif
}

static void vmath_f32(seq_unop op, int64_t n, const float *x, float *y) {
  /* tanh saturates correctly for every non-NaN input */
  /* sigmoid takes exp(-x): x in [-87, 87] keeps -x inside [-87, 88] */
  const float lo = op == SEQ_UN_TANH ? -INFINITY : SEQ_VEXPF_LO;
  const float hi = op == SEQ_UN_EXP ? SEQ_VEXPF_HI : op == SEQ_UN_TANH ? INFINITY : -SEQ_VEXPF_LO;
  for (int64_t i0 = 0; i0 < n; i0 += VMATH_BLOCK) {
    const int64_t m = n - i0 < VMATH_BLOCK ? n - i0 : VMATH_BLOCK;
    int in_range;
    vmath_block_f32(op, m, x + i0, y + i0, lo, hi, &in_range);
    if (in_range) continue;
    for (int64_t i = i0; i < i0 + m; i++) y[i] = unary_libm_f32(op, x[i]);
  }
}

#define UN_FLOAT(T, SUF)                                                                     \
  static seq_status unary_##T(seq_unop op, const strided_iter *it, void **ptrs,               \
                              const size_t *esz, double p0d, double p1d) {                   \
    const T q0 = (T)p0d, q1 = (T)p1d;                                                        \
    (void)q1;                                                                                \
    if (sizeof(T) == sizeof(float) &&                                                        \
        (op == SEQ_UN_EXP || op == SEQ_UN_TANH || op == SEQ_UN_SIGMOID)) {                   \
      FOR_EACH_ROW(it, ptrs, esz, {                                                   \
        if (s0 == 1 && s1 == 1) vmath_f32(op, n, (const float *)p1, (float *)p0);            \
        else UN_LOOP_ROW(float, unary_libm_f32(op, x));                                      \
      });                                                                                    \
      return SEQ_OK;                                                                         \
    }                                                                                        \
    switch (op) {                                                                            \
      case SEQ_UN_NEG: UN_LOOP(T, -x); break;                                                \
      case SEQ_UN_EXP: UN_LOOP(T, exp##SUF(x)); break;                                       \
      case SEQ_UN_LOG: UN_LOOP(T, log##SUF(x)); break;                                       \
      case SEQ_UN_SQRT: UN_LOOP(T, sqrt##SUF(x)); break;                                     \
      case SEQ_UN_TANH: UN_LOOP(T, tanh##SUF(x)); break;                                     \
      case SEQ_UN_SIGMOID: UN_LOOP(T, (T)1 / ((T)1 + exp##SUF(-x))); break;                  \
      case SEQ_UN_RELU: UN_LOOP(T, x > 0 ? x : (T)0); break;                                 \
      case SEQ_UN_ABS: UN_LOOP(T, fabs##SUF(x)); break;                                      \
      case SEQ_UN_SIGN: UN_LOOP(T, (T)((x > 0) - (x < 0))); break;                           \
      case SEQ_UN_SQUARE: UN_LOOP(T, x * x); break;                                          \
      case SEQ_UN_RECIPROCAL: UN_LOOP(T, (T)1 / x); break;                                   \
      case SEQ_UN_CLAMP: UN_LOOP(T, x < q0 ? q0 : (x > q1 ? q1 : x)); break;                 \
      case SEQ_UN_POW_SCALAR: UN_LOOP(T, pow##SUF(x, q0)); break;                            \
      case SEQ_UN_AFFINE: UN_LOOP(T, x * q0 + q1); break;                                    \
      case SEQ_UN_SCALAR_BASE_POW: UN_LOOP(T, pow##SUF(q0, x)); break;                       \
      default: return seq_fail(SEQ_EARG, "unary op %d: unknown", (int)op);                   \
    }                                                                                        \
    return SEQ_OK;                                                                           \
  }

#define UN_INT(T, UT)                                                                          \
  static seq_status unary_##T(seq_unop op, const strided_iter *it, void **ptrs,               \
                              const size_t *esz, double p0d, double p1d) {                   \
    switch (op) {                                                                            \
      case SEQ_UN_NEG: UN_LOOP(T, WRAP(T, UT, (UT)0 - (UT)x)); break;                        \
      case SEQ_UN_RELU: UN_LOOP(T, widen(x) > 0 ? x : 0); break;                           \
      case SEQ_UN_ABS: UN_LOOP(T, widen(x) < 0 ? WRAP(T, UT, (UT)0 - (UT)x) : x); break;  \
      case SEQ_UN_SIGN: UN_LOOP(T, (widen(x) > 0) - (widen(x) < 0)); break;                                \
      case SEQ_UN_SQUARE: UN_LOOP(T, WRAP(T, UT, (UT)x * (UT)x)); break;                      \
      case SEQ_UN_CLAMP: UN_LOOP(T, x < p0d ? SEQ_CONVERT(T, p0d) : (x > p1d ? SEQ_CONVERT(T, p1d) : x)); break; \
      case SEQ_UN_AFFINE: UN_LOOP(T, SEQ_CONVERT(T, (double)x * p0d + p1d)); break;          \
      case SEQ_UN_POW_SCALAR: UN_LOOP(T, WRAP(T, UT, seq_ipow_wrap_d(widen(x), p0d))); break;      \
      default:                                                                               \
        return seq_fail(SEQ_EDTYPE, "this op needs a float tensor, got an integer one");     \
    }                                                                                        \
    return SEQ_OK;                                                                           \
  }

UN_FLOAT(float, f)
UN_FLOAT(double, )
UN_INT(i32, uint32_t)
UN_INT(i64, uint64_t)
UN_INT(u8, uint32_t)

static seq_status unary_typed(seq_unop op, seq_dtype dt, const strided_iter *it, void **ptrs,
                              const size_t *esz, double p0, double p1) {
  switch (dt) {
    case SEQ_F32: return unary_float(op, it, ptrs, esz, p0, p1);
    case SEQ_F64: return unary_double(op, it, ptrs, esz, p0, p1);
    case SEQ_I32: return unary_i32(op, it, ptrs, esz, p0, p1);
    case SEQ_I64: return unary_i64(op, it, ptrs, esz, p0, p1);
    case SEQ_U8: return unary_u8(op, it, ptrs, esz, p0, p1);
    default: return seq_fail(SEQ_EDTYPE, "unary op: unsupported dtype");
  }
}

seq_status seq_cpu_unary(seq_unop op, seq_tensor *out, const seq_tensor *a, double p0, double p1) {
  if (out->numel == 0) return SEQ_OK;
  const int64_t *strides[2] = {out->stride, a->stride};
  strided_iter it;
  iter_init(&it, out->ndim, out->shape, 2, strides);
  void *ptrs[2] = {seq_tensor_data(out), seq_tensor_data(a)};
  size_t esz[2] = {seq_dtype_size(out->dtype), seq_dtype_size(a->dtype)};
  seq_status st;
  RUN_PARTS(st, &it, out->numel, ptrs, esz, s_ = unary_typed(op, a->dtype, sub_, p_, esz, p0, p1));
  return st;
}

/* ---------------- where ---------------- */

static seq_status where_rows(const strided_iter *it, void **ptrs, const size_t *esz, seq_dtype dt) {
#define WHERE_CASE(T)                                                  \
  FOR_EACH_ROW(it, ptrs, esz, {                                        \
    T *o = (T *)p0;                                                    \
    const uint8_t *c = (const uint8_t *)p1;                            \
    const T *A = (const T *)p2, *B = (const T *)p3;                    \
    for (int64_t i = 0; i < n; i++) o[i * s0] = c[i * s1] ? A[i * s2] : B[i * s3]; \
  })
  switch (dt) {
    case SEQ_F32: WHERE_CASE(float); break;
    case SEQ_F64: WHERE_CASE(double); break;
    case SEQ_I32: WHERE_CASE(int32_t); break;
    case SEQ_I64: WHERE_CASE(int64_t); break;
    case SEQ_U8: WHERE_CASE(uint8_t); break;
    default: break;
  }
#undef WHERE_CASE
  return SEQ_OK;
}

seq_status seq_cpu_where(seq_tensor *out, const seq_tensor *cond, const seq_tensor *a,
                         const seq_tensor *b) {
  if (out->numel == 0) return SEQ_OK;
  const int64_t *strides[4] = {out->stride, cond->stride, a->stride, b->stride};
  strided_iter it;
  iter_init(&it, out->ndim, out->shape, 4, strides);
  void *ptrs[4] = {seq_tensor_data(out), seq_tensor_data(cond), seq_tensor_data(a), seq_tensor_data(b)};
  size_t esz[4] = {seq_dtype_size(out->dtype), 1, seq_dtype_size(a->dtype), seq_dtype_size(b->dtype)};
  seq_status st;
  RUN_PARTS(st, &it, out->numel, ptrs, esz, s_ = where_rows(sub_, p_, esz, out->dtype));
  return st;
}
