/* test_backend_ops.c - every slot of seq_backend, run on every backend from
 * one table of cases (the approach of ggml's test-backend-ops).
 *
 * Each case calls one slot of a backend directly, on inputs made the same
 * way for every device (deterministic values, uploaded through the slots
 * under test), and returns its outputs.  The harness runs every case on the
 * CPU and on CUDA (the emulated device in CI, a GPU when present) and
 * compares: the status must be the same on both (a dtype one backend rejects
 * the other must reject too, a bad id must fail on both), the outputs must
 * agree within the case's tolerance.  Outputs start out poisoned with a
 * different byte per device, so an element a kernel forgets to write differs.
 * A second table checks gradients through the op layer (autograd) on CUDA
 * against the CPU's.
 *
 * Coverage: SEQ_BACKEND_SLOTS (seq_backend.h) lists every slot, checked
 * against the struct at compile time; a listed slot with no case here fails
 * the test.  Without a second backend the coverage check and the CPU runs
 * still happen and the comparison is skipped with the reason.
 * SEQ_BACKEND_OPS_SELFTEST=1 compares the CPU with itself (to check the
 * harness on a machine without a device). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "seq_nn.h"

/* ---- a case and its context ---- */

#define MAX_OUT 768
#define MAX_KEEP 2048

typedef struct ctx {
  const seq_backend *be;
  seq_device dev;
  uint64_t rng; /* input values: the same sequence on every device */
  seq_tensor *out[MAX_OUT];
  char out_name[MAX_OUT][48];
  int nout;
  seq_tensor *keep[MAX_KEEP]; /* released after the case */
  int nkeep;
  char err_expected[64]; /* when set: the case must fail with this text */
  unsigned char poison;   /* differs between the two runs of a case */
} ctx;

typedef struct tol {
  double atol, rtol;
} tol;
static const tol EXACT = {0, 0};

typedef struct bo_case {
  seq_backend_slot slot;
  const char *name;
  seq_status (*run)(ctx *c);
  tol f32, f64; /* tolerance for float outputs by dtype; integers compare exactly */
} bo_case;

/* A failure with the harness's own message (check.h counts it). */
#define fail(...) CHECKF(false, __VA_ARGS__)

static seq_tensor *keep(ctx *c, seq_tensor *t) {
  if (t && c->nkeep < MAX_KEEP) {
    c->keep[c->nkeep++] = t;
  } else if (t) {
    fail("test_backend_ops: more than %d inputs in one case (raise MAX_KEEP)", MAX_KEEP);
    seq_tensor_release(t);
    t = NULL;
  }
  return t;
}

static double next_unit(ctx *c) { /* splitmix64 -> [0,1) */
  uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

/* A tensor on the case's device holding values in [lo, hi] (integers for
 * integer dtypes), made on the host and uploaded. */
static seq_status input(ctx *c, seq_tensor **out, seq_dtype dt, int nd, const int64_t *shape,
                        double lo, double hi) {
  *out = NULL;
  seq_tensor *h = NULL;
  SEQ_TRY(seq_tensor_empty(&h, SEQ_F64, SEQ_CPU, nd, shape));
  double *v = seq_tensor_data(h);
  for (int64_t i = 0; i < h->numel; i++) {
    double u = next_unit(c);
    v[i] = seq_dtype_is_float(dt) ? lo + (hi - lo) * u : floor(lo + (hi - lo + 1) * u);
  }
  seq_tensor *hc = NULL, *d = NULL;
  seq_status st = seq_cast(&hc, h, dt);
  seq_tensor_release(h);
  if (st == SEQ_OK) st = seq_to_device(&d, hc, c->dev);
  seq_tensor_release(hc);
  *out = keep(c, d);
  return st;
}

/* A tensor on the device with the given values (converted to dt). */
static seq_status values(ctx *c, seq_tensor **out, seq_dtype dt, int nd, const int64_t *shape,
                         const double *v) {
  *out = NULL;
  seq_tensor *h = NULL, *hc = NULL, *d = NULL;
  SEQ_TRY(seq_tensor_from_host(&h, SEQ_F64, nd, shape, v,
                               (size_t)seq_shape_numel(nd, shape) * sizeof(double)));
  seq_status st = seq_cast(&hc, h, dt);
  seq_tensor_release(h);
  if (st == SEQ_OK) st = seq_to_device(&d, hc, c->dev);
  seq_tensor_release(hc);
  *out = keep(c, d);
  return st;
}

/* A contiguous tensor on the device filled with a poison byte that differs
 * between the two runs of a case, so an element a kernel should write but
 * does not cannot compare equal. */
static seq_status poisoned(ctx *c, seq_tensor **out, seq_dtype dt, int nd, const int64_t *shape) {
  *out = NULL;
  seq_tensor *t = NULL;
  SEQ_TRY(seq_tensor_empty(&t, dt, c->dev, nd, shape));
  size_t n = (size_t)t->numel * seq_dtype_size(dt);
  unsigned char *p = malloc(n ? n : 1);
  seq_status st = p ? SEQ_OK : seq_fail(SEQ_ENOMEM, "poison");
  if (st == SEQ_OK) {
    memset(p, c->poison, n);
    st = c->be->upload(seq_tensor_data(t), p, n);
  }
  free(p);
  if (st != SEQ_OK) seq_tensor_release(t);
  else *out = t;
  return st;
}

/* An output: poisoned as above, compared after the case. */
static seq_status output(ctx *c, seq_tensor **out, const char *name, seq_dtype dt, int nd,
                         const int64_t *shape) {
  *out = NULL;
  if (c->nout == MAX_OUT) return seq_fail(SEQ_EARG, "too many outputs (raise MAX_OUT)");
  seq_tensor *t = NULL;
  SEQ_TRY(poisoned(c, &t, dt, nd, shape));
  snprintf(c->out_name[c->nout], sizeof c->out_name[0], "%s", name);
  c->out[c->nout++] = t;
  *out = t;
  return SEQ_OK;
}

/* Registers an existing device tensor (e.g. one updated in place) as output. */
static void result(ctx *c, const char *name, seq_tensor *t) {
  if (c->nout == MAX_OUT) return;
  snprintf(c->out_name[c->nout], sizeof c->out_name[0], "%s", name);
  c->out[c->nout++] = seq_tensor_retain(t);
}

static seq_tensor *view_t(ctx *c, seq_tensor *t, int d0, int d1) {
  seq_tensor *v = NULL;
  if (seq_transpose(&v, t, d0, d1) != SEQ_OK) return NULL;
  return keep(c, v);
}
static seq_tensor *view_expand(ctx *c, seq_tensor *t, int nd, const int64_t *shape) {
  seq_tensor *v = NULL;
  if (seq_expand(&v, t, nd, shape) != SEQ_OK) return NULL;
  return keep(c, v);
}
static seq_tensor *view_narrow(ctx *c, seq_tensor *t, int dim, int64_t start, int64_t len) {
  seq_tensor *v = NULL;
  if (seq_narrow(&v, t, dim, start, len) != SEQ_OK) return NULL;
  return keep(c, v);
}

#define TRY(expr) SEQ_TRY(expr)
#define NEED(t) \
  do { if (!(t)) return SEQ_EARG; } while (0)

static const seq_dtype ALL_DTYPES[] = {SEQ_F32, SEQ_F64, SEQ_I32, SEQ_I64, SEQ_U8};
static const seq_dtype FLOATS[] = {SEQ_F32, SEQ_F64};
#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))

/* Records the status of a sub-case as an output of its own, so that one
 * backend refusing what the other accepts (a dtype, a leading dimension) is
 * caught.  On failure the sub-case's outputs (those registered since `mark`)
 * are dropped: they hold poison, not results. */
static void status_output(ctx *c, const char *name, seq_status st, int mark) {
  if (st != SEQ_OK) {
    while (c->nout > mark) seq_tensor_release(c->out[--c->nout]);
  }
  seq_tensor *t = NULL;
  int64_t one = 1;
  double v = (double)st;
  if (seq_tensor_from_host(&t, SEQ_F64, 1, &one, &v, sizeof v) != SEQ_OK) return;
  if (c->nout < MAX_OUT) {
    snprintf(c->out_name[c->nout], sizeof c->out_name[0], "status of %s", name);
    c->out[c->nout++] = t;
  } else {
    seq_tensor_release(t);
  }
}

/* ---- memory slots ---- */

static seq_status c_memory(ctx *c) {
  /* odd size: no kernel may round the transfer up */
  const size_t n = 1000003;
  void *d = NULL;
  TRY(c->be->alloc(&d, n));
  unsigned char *h = malloc(n);
  seq_status st = h ? SEQ_OK : seq_fail(SEQ_ENOMEM, "host buffer");
  for (size_t i = 0; h && i < n; i++) h[i] = (unsigned char)(i * 131 + 7);
  if (st == SEQ_OK) st = c->be->upload(d, h, n);
  if (st == SEQ_OK) st = c->be->memset_zero((char *)d + 1001, 77777);
  if (st == SEQ_OK) st = c->be->upload((char *)d + 3, h + 500, 11); /* unaligned */
  if (st == SEQ_OK) st = c->be->synchronize();
  if (st == SEQ_OK) st = c->be->download(h, d, n);
  c->be->free(d, n);
  if (st == SEQ_OK) {
    int64_t shape = (int64_t)n;
    seq_tensor *t = NULL;
    st = seq_tensor_from_host(&t, SEQ_U8, 1, &shape, h, n);
    if (st == SEQ_OK) {
      snprintf(c->out_name[c->nout], sizeof c->out_name[0], "bytes");
      c->out[c->nout++] = t;
    }
  }
  free(h);
  return st;
}

static seq_status c_memory_zero_bytes(ctx *c) {
  void *d = NULL;
  TRY(c->be->alloc(&d, 64));
  unsigned char h[4] = {1, 2, 3, 4};
  seq_status st = c->be->upload(d, h, 0);
  if (st == SEQ_OK) st = c->be->memset_zero(d, 0);
  if (st == SEQ_OK) st = c->be->download(h, d, 0);
  c->be->free(d, 64);
  status_output(c, "zero-byte transfers", st, c->nout);
  return SEQ_OK;
}

/* synchronize: an index error a kernel found must be reported by the next
 * synchronize at the latest (CPU: by the call itself). */
static seq_status c_synchronize_reports_errors(ctx *c) {
  snprintf(c->err_expected, sizeof c->err_expected, "out of range");
  seq_tensor *src, *idx, *o;
  TRY(input(c, &src, SEQ_F32, SHAPE(4, 3), -1, 1));
  TRY(values(c, &idx, SEQ_I64, SHAPE(2), (double[]){1, 9}));
  TRY(output(c, &o, "out", SEQ_F32, SHAPE(2, 3)));
  TRY(c->be->index_select(o, src, 0, idx));
  return c->be->synchronize();
}

/* ---- layout and elementwise ---- */

static seq_status c_copy_casts(ctx *c) {
  /* every dtype pair, from a transposed view; u8 sources and targets keep
   * to [0, 250] (conversions out of range are a separate question) */
  for (int i = 0; i < COUNT(ALL_DTYPES); i++)
    for (int j = 0; j < COUNT(ALL_DTYPES); j++) {
      seq_dtype from = ALL_DTYPES[i], to = ALL_DTYPES[j];
      bool u8 = from == SEQ_U8 || to == SEQ_U8;
      seq_tensor *a, *o;
      TRY(input(c, &a, from, SHAPE(5, 7), u8 ? 0 : -100.75, u8 ? 250 : 100.75));
      seq_tensor *at = view_t(c, a, 0, 1);
      NEED(at);
      char name[48];
      snprintf(name, sizeof name, "%s->%s", seq_dtype_name(from), seq_dtype_name(to));
      TRY(output(c, &o, name, to, SHAPE(7, 5)));
      TRY(c->be->copy(o, at));
    }
  return SEQ_OK;
}

static seq_status c_copy_views(ctx *c) {
  seq_tensor *a, *o1, *o2, *o3, *o4, *row;
  TRY(input(c, &a, SEQ_F32, SHAPE(4, 6, 5), -3, 3));
  seq_tensor *p = NULL;
  TRY(seq_permute(&p, a, 3, (int[]){2, 0, 1}));
  keep(c, p);
  TRY(output(c, &o1, "permuted", SEQ_F32, SHAPE(5, 4, 6)));
  TRY(c->be->copy(o1, p));
  seq_tensor *n = view_narrow(c, a, 1, 2, 3);
  NEED(n);
  TRY(output(c, &o2, "narrowed to f64", SEQ_F64, SHAPE(4, 3, 5)));
  TRY(c->be->copy(o2, n));
  TRY(input(c, &row, SEQ_I64, SHAPE(1, 5), -1000000000000, 1000000000000));
  seq_tensor *e = view_expand(c, row, 2, (int64_t[]){6, 5});
  NEED(e);
  TRY(output(c, &o3, "broadcast i64", SEQ_I64, SHAPE(6, 5)));
  TRY(c->be->copy(o3, e));
  seq_tensor *z = view_narrow(c, a, 1, 0, 0);
  NEED(z);
  TRY(output(c, &o4, "empty", SEQ_F32, SHAPE(4, 0, 5)));
  TRY(c->be->copy(o4, z));
  /* large: more elements than one launch's grid covers in a single pass */
  seq_tensor *big, *ob;
  TRY(input(c, &big, SEQ_F32, SHAPE(300, 1111), -1, 1));
  seq_tensor *bt = view_t(c, big, 0, 1);
  NEED(bt);
  TRY(output(c, &ob, "large transposed", SEQ_F32, SHAPE(1111, 300)));
  return c->be->copy(ob, bt);
}

static seq_status c_fill(ctx *c) {
  const double vals[] = {3.5, -2.25, -7, 123456789, 200};
  for (int i = 0; i < COUNT(ALL_DTYPES); i++) {
    seq_tensor *o;
    char name[48];
    snprintf(name, sizeof name, "fill %s", seq_dtype_name(ALL_DTYPES[i]));
    TRY(output(c, &o, name, ALL_DTYPES[i], SHAPE(100003)));
    TRY(c->be->fill(o, vals[i]));
  }
  seq_tensor *z;
  TRY(output(c, &z, "fill empty", SEQ_F32, SHAPE(0, 3)));
  return c->be->fill(z, 1.0);
}

static const char *binop_name(seq_binop op) {
  static const char *names[] = {"add", "sub", "mul", "div", "pow", "max", "min",
                                "eq",  "ne",  "lt",  "le",  "gt",  "ge"};
  return op < SEQ_NBINOPS ? names[op] : "?";
}

/* Every op on every dtype, on broadcast operands ([4,1,5] with [3,1] ->
 * [4,3,5], as the op layer passes them: stride-0 views of out's shape). */
static seq_status c_binary_broadcast(ctx *c) {
  for (int op = 0; op < SEQ_NBINOPS; op++)
    for (int i = 0; i < COUNT(ALL_DTYPES); i++) {
      seq_dtype dt = ALL_DTYPES[i];
      bool f = seq_dtype_is_float(dt);
      double lo = dt == SEQ_U8 ? 0 : -6, hi = dt == SEQ_U8 ? 15 : 6;
      seq_tensor *a, *b, *o;
      TRY(input(c, &a, dt, SHAPE(4, 1, 5), lo, hi));
      /* divisors and exponents: no zero (integer division by zero is
       * undefined), and small exponents for integers */
      if (op == SEQ_BIN_DIV || op == SEQ_BIN_POW) TRY(input(c, &b, dt, SHAPE(3, 1), 1, f ? 3 : 4));
      else TRY(input(c, &b, dt, SHAPE(3, 1), lo, hi));
      if (op == SEQ_BIN_POW && f) { /* positive base for fractional exponents */
        seq_tensor *pa;
        TRY(input(c, &pa, dt, SHAPE(4, 1, 5), 0.1, 4));
        a = pa;
      }
      const int64_t full[3] = {4, 3, 5};
      seq_tensor *ea = view_expand(c, a, 3, full), *eb = view_expand(c, b, 3, full);
      NEED(ea && eb);
      char name[48];
      snprintf(name, sizeof name, "%s %s", binop_name((seq_binop)op), seq_dtype_name(dt));
      int mark = c->nout;
      TRY(output(c, &o, name, op >= SEQ_BIN_EQ ? SEQ_U8 : dt, 3, full));
      status_output(c, name, c->be->binary((seq_binop)op, o, ea, eb), mark);
    }
  return SEQ_OK;
}

static seq_status c_binary_strided(ctx *c) {
  seq_tensor *a, *b, *o, *z1, *z2, *oz;
  TRY(input(c, &a, SEQ_F32, SHAPE(6, 9), -2, 2));
  TRY(input(c, &b, SEQ_F32, SHAPE(9, 6), -2, 2));
  seq_tensor *at = view_t(c, a, 0, 1);
  NEED(at);
  TRY(output(c, &o, "transposed + contiguous", SEQ_F32, SHAPE(9, 6)));
  TRY(c->be->binary(SEQ_BIN_MUL, o, at, b));
  TRY(input(c, &z1, SEQ_F64, SHAPE(0, 4), 0, 1));
  TRY(input(c, &z2, SEQ_F64, SHAPE(0, 4), 0, 1));
  TRY(output(c, &oz, "empty", SEQ_F64, SHAPE(0, 4)));
  TRY(c->be->binary(SEQ_BIN_ADD, oz, z1, z2));
  /* one long broadcast row: the paths that split a row between threads */
  seq_tensor *r, *s, *ol;
  TRY(input(c, &r, SEQ_F32, SHAPE(200003), -1, 1));
  TRY(input(c, &s, SEQ_F32, SHAPE(1), -1, 1));
  seq_tensor *es = view_expand(c, s, 1, (int64_t[]){200003});
  NEED(es);
  TRY(output(c, &ol, "long row", SEQ_F32, SHAPE(200003)));
  TRY(c->be->binary(SEQ_BIN_SUB, ol, r, es));
  /* integer wrap-around, as documented for the CPU (two's complement) */
  seq_tensor *w1, *w2, *ow;
  TRY(values(c, &w1, SEQ_I32, SHAPE(3), (double[]){2147483647, -2147483647 - 1.0, 65536}));
  TRY(values(c, &w2, SEQ_I32, SHAPE(3), (double[]){1, 1, 65536}));
  TRY(output(c, &ow, "i32 wraps", SEQ_I32, SHAPE(3)));
  TRY(c->be->binary(SEQ_BIN_ADD, ow, w1, w2));
  seq_tensor *ow2;
  TRY(output(c, &ow2, "i32 mul wraps", SEQ_I32, SHAPE(3)));
  return c->be->binary(SEQ_BIN_MUL, ow2, w1, w2);
}

static seq_status c_unary(ctx *c) {
  for (int op = 0; op < SEQ_NUNOPS; op++)
    for (int i = 0; i < COUNT(ALL_DTYPES); i++) {
      seq_dtype dt = ALL_DTYPES[i];
      bool f = seq_dtype_is_float(dt);
      bool positive = op == SEQ_UN_LOG || op == SEQ_UN_SQRT || op == SEQ_UN_POW_SCALAR ||
                      op == SEQ_UN_RECIPROCAL || dt == SEQ_U8;
      seq_tensor *a, *o;
      TRY(input(c, &a, dt, SHAPE(7, 3), positive ? (f ? 0.05 : 1) : -5, positive ? 5 : 5));
      seq_tensor *at = view_t(c, a, 0, 1);
      NEED(at);
      double p0 = 0, p1 = 0;
      if (op == SEQ_UN_CLAMP) p0 = -1.5, p1 = 2.5;
      if (op == SEQ_UN_POW_SCALAR) p0 = f ? 1.5 : 2;
      if (op == SEQ_UN_AFFINE) p0 = -0.5, p1 = f ? 0.25 : 3;
      if (op == SEQ_UN_SCALAR_BASE_POW) p0 = 1.7;
      char name[48];
      snprintf(name, sizeof name, "unary %d %s", op, seq_dtype_name(dt));
      int mark = c->nout;
      TRY(output(c, &o, name, dt, SHAPE(3, 7)));
      status_output(c, name, c->be->unary((seq_unop)op, o, at, p0, p1), mark);
    }
  /* extremes: exp/tanh/sigmoid outside the polynomial ranges, big lengths */
  seq_tensor *x, *o;
  TRY(input(c, &x, SEQ_F32, SHAPE(70001), -120, 120));
  const seq_unop ops[] = {SEQ_UN_EXP, SEQ_UN_TANH, SEQ_UN_SIGMOID, SEQ_UN_RELU};
  for (int k = 0; k < COUNT(ops); k++) {
    char name[48];
    snprintf(name, sizeof name, "large unary %d", (int)ops[k]);
    TRY(output(c, &o, name, SEQ_F32, SHAPE(70001)));
    TRY(c->be->unary(ops[k], o, x, 0, 0));
  }
  return SEQ_OK;
}

static seq_status c_where(ctx *c) {
  const seq_dtype dts[] = {SEQ_F32, SEQ_F64, SEQ_I32, SEQ_I64, SEQ_U8};
  for (int i = 0; i < COUNT(dts); i++) {
    seq_tensor *cond, *a, *b, *o;
    TRY(input(c, &cond, SEQ_U8, SHAPE(4, 1), 0, 1));
    TRY(input(c, &a, dts[i], SHAPE(5, 4), 0, 100));
    TRY(input(c, &b, dts[i], SHAPE(1, 5), 0, 100));
    const int64_t full[2] = {4, 5};
    seq_tensor *ec = view_expand(c, cond, 2, full), *at = view_t(c, a, 0, 1),
               *eb = view_expand(c, b, 2, full);
    NEED(ec && at && eb);
    char name[48];
    snprintf(name, sizeof name, "where %s", seq_dtype_name(dts[i]));
    TRY(output(c, &o, name, dts[i], 2, full));
    TRY(c->be->where(o, ec, at, eb));
  }
  return SEQ_OK;
}

/* ---- reductions ---- */

static seq_dtype red_out_dtype(seq_redop op, seq_dtype dt) {
  if (op == SEQ_RED_ARGMAX || op == SEQ_RED_ARGMIN) return SEQ_I64;
  if (op == SEQ_RED_MEAN && !seq_dtype_is_float(dt)) return SEQ_F32;
  if (op == SEQ_RED_SUM && (dt == SEQ_U8 || dt == SEQ_I32)) return SEQ_I64;
  return dt;
}

static seq_status reduce_case(ctx *c, seq_redop op, seq_tensor *a, int dim, const char *what) {
  int64_t shape[SEQ_MAX_DIM];
  int nd = a->ndim;
  for (int i = 0; i < nd; i++) shape[i] = dim < 0 ? 1 : (i == dim ? 1 : a->shape[i]);
  if (dim < 0) nd = 1, shape[0] = 1;
  seq_tensor *o;
  char name[48];
  snprintf(name, sizeof name, "%s op %d dim %d", what, (int)op, dim);
  int mark = c->nout;
  TRY(output(c, &o, name, red_out_dtype(op, a->dtype), nd, shape));
  status_output(c, name, c->be->reduce(op, o, a, dim), mark);
  return SEQ_OK;
}

static seq_status c_reduce(ctx *c) {
  for (int i = 0; i < COUNT(ALL_DTYPES); i++) {
    seq_dtype dt = ALL_DTYPES[i];
    seq_tensor *a;
    /* integer values with ties: arg-reductions must pick the first */
    TRY(input(c, &a, dt, SHAPE(5, 7, 3), dt == SEQ_U8 ? 0 : -4, 4));
    for (int op = 0; op < SEQ_NREDOPS; op++)
      for (int dim = -1; dim < 3; dim++) TRY(reduce_case(c, (seq_redop)op, a, dim, seq_dtype_name(dt)));
  }
  /* whole-tensor and column reductions that span many blocks */
  seq_tensor *big, *cols;
  TRY(input(c, &big, SEQ_F32, SHAPE(100003), -1, 1));
  TRY(input(c, &cols, SEQ_F64, SHAPE(4099, 65), -1, 1));
  for (int op = 0; op < SEQ_NREDOPS; op++) {
    TRY(reduce_case(c, (seq_redop)op, big, -1, "large"));
    TRY(reduce_case(c, (seq_redop)op, cols, 0, "columns"));
    TRY(reduce_case(c, (seq_redop)op, cols, 1, "rows"));
  }
  seq_tensor *z;
  TRY(input(c, &z, SEQ_F32, SHAPE(0, 4), 0, 1));
  for (int op = 0; op < SEQ_NREDOPS; op++) {
    TRY(reduce_case(c, (seq_redop)op, z, 0, "empty dim"));
    TRY(reduce_case(c, (seq_redop)op, z, 1, "empty rows"));
  }
  return SEQ_OK;
}

/* ---- GEMM on raw pointers ---- */

static seq_status gemm_case(ctx *c, seq_dtype dt, bool ta, bool tb, int64_t m, int64_t n,
                            int64_t k, double alpha, double beta, int64_t batch, bool bcast_b,
                            int64_t pad) {
  /* row-major, leading dimensions padded by `pad` elements */
  int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  int64_t lda = ac + pad, ldb = bc + pad, ldc = n + pad;
  int64_t sa = ar * lda, sb = bcast_b ? 0 : br * ldb, sc = m * ldc;
  seq_tensor *a, *b, *o;
  TRY(input(c, &a, dt, SHAPE(batch, ar > 0 ? ar : 1, lda), -1, 1));
  TRY(input(c, &b, dt, SHAPE(bcast_b ? 1 : batch, br > 0 ? br : 1, ldb), -1, 1));
  char name[48];
  snprintf(name, sizeof name, "gemm %s %d%d %lldx%lldx%lld b%lld", seq_dtype_name(dt), ta, tb,
           (long long)m, (long long)n, (long long)k, (long long)batch);
  /* C: poisoned (beta == 0: it must not be read), or values to scale */
  if (beta != 0) TRY(input(c, &o, dt, SHAPE(batch, m, ldc), -1, 1));
  else {
    TRY(poisoned(c, &o, dt, SHAPE(batch, m, ldc)));
    keep(c, o);
  }
  int mark = c->nout;
  seq_status st = c->be->gemm(dt, ta, tb, m, n, k, alpha, seq_tensor_data(a), lda, sa,
                              seq_tensor_data(b), ldb, sb, beta, seq_tensor_data(o), ldc, sc,
                              batch);
  if (st == SEQ_OK) { /* the m x n part; the padding is not the kernel's */
    seq_tensor *part = view_narrow(c, o, 2, 0, n), *res;
    NEED(part);
    TRY(output(c, &res, name, dt, SHAPE(batch, m, n)));
    TRY(c->be->copy(res, part));
  }
  status_output(c, name, st, mark);
  return SEQ_OK;
}

static seq_status c_gemm(ctx *c) {
  for (int i = 0; i < COUNT(FLOATS); i++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        TRY(gemm_case(c, FLOATS[i], ta, tb, 5, 7, 3, 1.0, 0.0, 1, false, 0));
        TRY(gemm_case(c, FLOATS[i], ta, tb, 4, 6, 9, 0.5, 1.0, 3, false, 2));
        TRY(gemm_case(c, FLOATS[i], ta, tb, 3, 5, 4, 1.0, 0.0, 4, true, 1));
      }
  TRY(gemm_case(c, SEQ_F32, false, false, 33, 65, 129, 1.0, 0.0, 2, false, 0));
  TRY(gemm_case(c, SEQ_F32, false, true, 3, 4, 0, 1.0, 0.5, 1, false, 1)); /* k = 0: C = beta*C */
  TRY(gemm_case(c, SEQ_I32, false, false, 2, 2, 2, 1.0, 0.0, 1, false, 0)); /* rejected on both */
  return SEQ_OK;
}

/* ---- indexing ---- */

static const seq_dtype IDX[] = {SEQ_I32, SEQ_I64};

static seq_status c_index_select(ctx *c) {
  const seq_dtype srcs[] = {SEQ_F32, SEQ_F64, SEQ_I64, SEQ_U8};
  for (int s = 0; s < COUNT(srcs); s++)
    for (int i = 0; i < COUNT(IDX); i++) {
      seq_tensor *idx, *o0, *o1;
      /* operands of the indexing slots are contiguous (seq_backend.h) */
      seq_tensor *st;
      TRY(input(c, &st, srcs[s], SHAPE(4, 6, 5), 0, 200));
      TRY(values(c, &idx, IDX[i], SHAPE(5), (double[]){3, 0, 3, 5, 1}));
      TRY(output(c, &o0, "index_select dim 1", srcs[s], SHAPE(4, 5, 5)));
      TRY(c->be->index_select(o0, st, 1, idx));
      seq_tensor *idx2;
      TRY(values(c, &idx2, IDX[i], SHAPE(3), (double[]){4, 4, 0}));
      TRY(output(c, &o1, "index_select dim 2", srcs[s], SHAPE(4, 6, 3)));
      TRY(c->be->index_select(o1, st, 2, idx2));
    }
  seq_tensor *src, *none, *oz;
  TRY(input(c, &src, SEQ_F32, SHAPE(3, 2), -1, 1));
  TRY(input(c, &none, SEQ_I64, SHAPE(0), 0, 0));
  TRY(output(c, &oz, "no ids", SEQ_F32, SHAPE(0, 2)));
  TRY(c->be->index_select(oz, src, 0, none));
  /* the last row of a tall table */
  seq_tensor *tall, *last, *ol;
  TRY(input(c, &tall, SEQ_F32, SHAPE(70000, 3), -1, 1));
  TRY(values(c, &last, SEQ_I64, SHAPE(2), (double[]){69999, 65536}));
  TRY(output(c, &ol, "tall", SEQ_F32, SHAPE(2, 3)));
  return c->be->index_select(ol, tall, 0, last);
}

/* An i64 id of 2^32 + 1 is out of range; a backend that narrows ids to 32
 * bits would read row 1 instead. */
static seq_status c_index_select_large_id(ctx *c) {
  snprintf(c->err_expected, sizeof c->err_expected, "out of range");
  seq_tensor *src, *idx, *o;
  TRY(input(c, &src, SEQ_F32, SHAPE(3, 2), -1, 1));
  TRY(values(c, &idx, SEQ_I64, SHAPE(2), (double[]){0, 4294967297.0}));
  TRY(output(c, &o, "out", SEQ_F32, SHAPE(2, 2)));
  TRY(c->be->index_select(o, src, 0, idx));
  return c->be->synchronize();
}

static seq_status c_index_add(ctx *c) {
  for (int f = 0; f < COUNT(FLOATS); f++)
    for (int i = 0; i < COUNT(IDX); i++) {
      seq_tensor *dst, *idx, *src, *dst1, *idx1, *src1;
      TRY(input(c, &dst, FLOATS[f], SHAPE(6, 4), -1, 1));
      TRY(values(c, &idx, IDX[i], SHAPE(5), (double[]){2, 0, 2, 5, 2}));
      TRY(input(c, &src, FLOATS[f], SHAPE(5, 4), -1, 1));
      TRY(c->be->index_add(dst, 0, idx, src));
      result(c, "index_add dim 0", dst);
      TRY(input(c, &dst1, FLOATS[f], SHAPE(3, 4), -1, 1));
      TRY(values(c, &idx1, IDX[i], SHAPE(6), (double[]){3, 3, 3, 0, 1, 3}));
      TRY(input(c, &src1, FLOATS[f], SHAPE(3, 6), -1, 1));
      TRY(c->be->index_add(dst1, 1, idx1, src1));
      result(c, "index_add dim 1", dst1);
    }
  /* many rows onto few: the accumulation order differs between devices */
  seq_tensor *dst, *idx, *src;
  TRY(input(c, &dst, SEQ_F32, SHAPE(7, 3), 0, 0));
  TRY(input(c, &idx, SEQ_I64, SHAPE(20000), 0, 6));
  TRY(input(c, &src, SEQ_F32, SHAPE(20000, 3), -1, 1));
  TRY(c->be->index_add(dst, 0, idx, src));
  result(c, "index_add many", dst);
  return SEQ_OK;
}

static seq_status c_gather(ctx *c) {
  const seq_dtype srcs[] = {SEQ_F32, SEQ_F64, SEQ_I32, SEQ_U8};
  for (int s = 0; s < COUNT(srcs); s++)
    for (int i = 0; i < COUNT(IDX); i++) {
      seq_tensor *src, *idx, *o, *idx0, *o0;
      TRY(input(c, &src, srcs[s], SHAPE(4, 6), 0, 100));
      TRY(input(c, &idx, IDX[i], SHAPE(4, 3), 0, 5));
      TRY(output(c, &o, "gather dim 1", srcs[s], SHAPE(4, 3)));
      TRY(c->be->gather(o, src, 1, idx));
      TRY(input(c, &idx0, IDX[i], SHAPE(2, 6), 0, 3));
      TRY(output(c, &o0, "gather dim 0", srcs[s], SHAPE(2, 6)));
      TRY(c->be->gather(o0, src, 0, idx0));
    }
  return SEQ_OK;
}

static seq_status c_gather_bad_id(ctx *c) {
  snprintf(c->err_expected, sizeof c->err_expected, "out of range");
  seq_tensor *src, *idx, *o;
  TRY(input(c, &src, SEQ_F32, SHAPE(2, 3), -1, 1));
  TRY(values(c, &idx, SEQ_I32, SHAPE(2, 1), (double[]){2, -1}));
  TRY(output(c, &o, "out", SEQ_F32, SHAPE(2, 1)));
  TRY(c->be->gather(o, src, 1, idx));
  return c->be->synchronize();
}

static seq_status c_scatter_add(ctx *c) {
  for (int f = 0; f < COUNT(FLOATS); f++)
    for (int i = 0; i < COUNT(IDX); i++) {
      seq_tensor *dst, *idx, *src, *dst0, *idx0, *src0;
      TRY(input(c, &dst, FLOATS[f], SHAPE(4, 6), -1, 1));
      TRY(input(c, &idx, IDX[i], SHAPE(4, 5), 0, 5));
      TRY(input(c, &src, FLOATS[f], SHAPE(4, 5), -1, 1));
      TRY(c->be->scatter_add(dst, 1, idx, src));
      result(c, "scatter_add dim 1", dst);
      TRY(input(c, &dst0, FLOATS[f], SHAPE(3, 6), -1, 1));
      TRY(input(c, &idx0, IDX[i], SHAPE(5, 6), 0, 2));
      TRY(input(c, &src0, FLOATS[f], SHAPE(5, 6), -1, 1));
      TRY(c->be->scatter_add(dst0, 0, idx0, src0));
      result(c, "scatter_add dim 0", dst0);
    }
  return SEQ_OK;
}

/* ---- random ---- */

static seq_status c_rand(ctx *c, bool normal) {
  for (int f = 0; f < COUNT(FLOATS); f++) {
    const int64_t sizes[] = {1, 7, 100003, 0};
    const uint64_t offsets[] = {0, 3, 1ull << 33, 5};
    for (int k = 0; k < 4; k++) {
      seq_tensor *o;
      char name[48];
      snprintf(name, sizeof name, "%s %s n=%lld off=%llu", normal ? "normal" : "uniform",
               seq_dtype_name(FLOATS[f]), (long long)sizes[k], (unsigned long long)offsets[k]);
      TRY(output(c, &o, name, FLOATS[f], 1, &sizes[k]));
      if (normal) TRY(c->be->rand_normal(o, 1234567, offsets[k], 0.5, 2.0));
      else TRY(c->be->rand_uniform(o, 1234567, offsets[k], -0.1, 0.3));
    }
  }
  return SEQ_OK;
}
static seq_status c_rand_uniform(ctx *c) { return c_rand(c, false); }
static seq_status c_rand_normal(ctx *c) { return c_rand(c, true); }

/* ---- softmax and losses ---- */

static seq_status c_softmax(ctx *c) {
  const int64_t colss[] = {7, 1, 3000};
  for (int f = 0; f < COUNT(FLOATS); f++)
    for (int k = 0; k < 3; k++)
      for (int lg = 0; lg < 2; lg++) {
        seq_tensor *x, *o;
        TRY(input(c, &x, FLOATS[f], SHAPE(5, colss[k]), -30, 30));
        char name[48];
        snprintf(name, sizeof name, "softmax %s cols %lld log %d", seq_dtype_name(FLOATS[f]),
                 (long long)colss[k], lg);
        TRY(output(c, &o, name, FLOATS[f], SHAPE(5, colss[k])));
        TRY(c->be->softmax(o, x, lg));
      }
  seq_tensor *z, *oz;
  TRY(input(c, &z, SEQ_F32, SHAPE(0, 4), 0, 1));
  TRY(output(c, &oz, "no rows", SEQ_F32, SHAPE(0, 4)));
  return c->be->softmax(oz, z, false);
}

static seq_status c_softmax_backward(ctx *c) {
  const int64_t colss[] = {7, 3000};
  for (int f = 0; f < COUNT(FLOATS); f++)
    for (int k = 0; k < 2; k++)
      for (int lg = 0; lg < 2; lg++) {
        seq_tensor *x, *y, *dy, *dx;
        TRY(input(c, &x, FLOATS[f], SHAPE(4, colss[k]), -5, 5));
        TRY(seq_softmax(&y, x, lg)); /* the forward through the op layer */
        keep(c, y);
        TRY(input(c, &dy, FLOATS[f], SHAPE(4, colss[k]), -1, 1));
        char name[48];
        snprintf(name, sizeof name, "softmax_backward %s cols %lld log %d",
                 seq_dtype_name(FLOATS[f]), (long long)colss[k], lg);
        TRY(output(c, &dx, name, FLOATS[f], SHAPE(4, colss[k])));
        TRY(c->be->softmax_backward(dx, y, dy, lg));
      }
  return SEQ_OK;
}

static seq_status c_softmax_xent(ctx *c) {
  for (int f = 0; f < COUNT(FLOATS); f++) {
    for (int i = 0; i < COUNT(IDX); i++) {
      seq_tensor *logits, *ids, *loss, *probs;
      TRY(input(c, &logits, FLOATS[f], SHAPE(9, 5), -20, 20));
      TRY(input(c, &ids, IDX[i], SHAPE(9), 0, 4));
      TRY(output(c, &loss, "xent ids loss", FLOATS[f], SHAPE(9)));
      TRY(output(c, &probs, "xent ids probs", FLOATS[f], SHAPE(9, 5)));
      TRY(c->be->softmax_xent(loss, probs, logits, ids));
    }
    seq_tensor *logits, *target, *loss, *probs;
    TRY(input(c, &logits, FLOATS[f], SHAPE(6, 3000), -8, 8));
    TRY(input(c, &target, FLOATS[f], SHAPE(6, 3000), 0, 1.0 / 1500));
    TRY(output(c, &loss, "xent probs loss", FLOATS[f], SHAPE(6)));
    TRY(output(c, &probs, "xent probs probs", FLOATS[f], SHAPE(6, 3000)));
    TRY(c->be->softmax_xent(loss, probs, logits, target));
  }
  return SEQ_OK;
}

static seq_status c_softmax_xent_bad_id(ctx *c) {
  snprintf(c->err_expected, sizeof c->err_expected, "out of range");
  seq_tensor *logits, *ids, *loss, *probs;
  TRY(input(c, &logits, SEQ_F32, SHAPE(2, 4), -1, 1));
  TRY(values(c, &ids, SEQ_I64, SHAPE(2), (double[]){1, 4294967296.0 + 2}));
  TRY(output(c, &loss, "loss", SEQ_F32, SHAPE(2)));
  TRY(output(c, &probs, "probs", SEQ_F32, SHAPE(2, 4)));
  TRY(c->be->softmax_xent(loss, probs, logits, ids));
  return c->be->synchronize();
}

static seq_status c_sigmoid_bce(ctx *c) {
  for (int f = 0; f < COUNT(FLOATS); f++) {
    seq_tensor *logits, *target, *loss, *sig;
    TRY(input(c, &logits, FLOATS[f], SHAPE(1001), -60, 60));
    TRY(input(c, &target, FLOATS[f], SHAPE(1001), 0, 1));
    TRY(output(c, &loss, "bce loss", FLOATS[f], SHAPE(1001)));
    TRY(output(c, &sig, "bce sigmoid", FLOATS[f], SHAPE(1001)));
    TRY(c->be->sigmoid_bce(loss, sig, logits, target));
  }
  return SEQ_OK;
}

/* ---- the fused LSTM ---- */

/* mask: a recurrent dropout mask (CUDA: the step loop instead of cuDNN). */
static seq_status lstm_inputs(ctx *c, seq_lstm_args *a, seq_dtype dt, int64_t B, int64_t T,
                              int64_t I, int64_t H, bool index, bool states, bool mask) {
  memset(a, 0, sizeof *a);
  a->B = B, a->T = T, a->I = I, a->H = H;
  a->x_is_index = index;
  if (index) TRY(input(c, &a->x, SEQ_I32, SHAPE(B, T), 0, (double)I - 1));
  else TRY(input(c, &a->x, dt, SHAPE(B, T, I), -1, 1));
  TRY(input(c, &a->kernel, dt, SHAPE(I, 4 * H), -0.5, 0.5));
  TRY(input(c, &a->recurrent, dt, SHAPE(H, 4 * H), -0.5, 0.5));
  TRY(input(c, &a->bias, dt, SHAPE(4 * H), -0.5, 0.5));
  if (states) {
    TRY(input(c, &a->h0, dt, SHAPE(B, H), -1, 1));
    TRY(input(c, &a->c0, dt, SHAPE(B, H), -1, 1));
  }
  if (mask) TRY(input(c, &a->recurrent_mask, dt, SHAPE(B, H), 0, 2));
  TRY(output(c, &a->y, "y", dt, SHAPE(B, T, H)));
  TRY(output(c, &a->h_n, "h_n", dt, SHAPE(B, H)));
  TRY(output(c, &a->c_n, "c_n", dt, SHAPE(B, H)));
  return SEQ_OK;
}

/* Per-sample lengths (padded sequences): a full, an empty and a partial row. */
static const int32_t LSTM_LENGTHS_T5[3] = {5, 0, 3}, LSTM_LENGTHS_T4[3] = {2, 4, 0};

static seq_status c_lstm_forward(ctx *c) {
  for (int f = 0; f < COUNT(FLOATS); f++)
    for (int index = 0; index < 2; index++)
      for (int states = 0; states < 8; states++) {
        seq_lstm_args a;
        TRY(lstm_inputs(c, &a, FLOATS[f], 3, 5, 4, 6, index, states & 1, states & 4));
        if (states & 2) a.lengths = LSTM_LENGTHS_T5;
        a.training = false;
        TRY(c->be->lstm_forward(&a));
        if (a.saved) c->be->lstm_free_saved(a.saved);
      }
  return SEQ_OK;
}

/* Training forward whose saved state is dropped without a backward (an
 * evaluation under recording, an exception between the passes). */
static seq_status c_lstm_free_saved(ctx *c) {
  seq_lstm_args a;
  for (int mask = 0; mask < 2; mask++) {
    TRY(lstm_inputs(c, &a, SEQ_F32, 2, 3, 4, 5, false, true, mask));
    a.training = true;
    TRY(c->be->lstm_forward(&a));
    if (!a.saved) return seq_fail(SEQ_EARG, "lstm: training forward saved nothing");
    c->be->lstm_free_saved(a.saved);
  }
  return SEQ_OK;
}

static seq_status c_lstm_backward(ctx *c) {
  for (int f = 0; f < COUNT(FLOATS); f++)
    for (int index = 0; index < 2; index++)
      for (int upstream = 0; upstream < 8; upstream++) {
        seq_dtype dt = FLOATS[f];
        const int64_t B = 3, T = 4, I = 5, H = 6;
        seq_lstm_args a;
        TRY(lstm_inputs(c, &a, dt, B, T, I, H, index, true, upstream & 4));
        if (upstream & 2) a.lengths = LSTM_LENGTHS_T4;
        a.training = true;
        TRY(c->be->lstm_forward(&a));
        seq_lstm_grads g;
        memset(&g, 0, sizeof g);
        seq_status st = input(c, &g.dy, dt, SHAPE(B, T, H), -1, 1);
        if (st == SEQ_OK && (upstream & 1)) st = input(c, &g.dh_n, dt, SHAPE(B, H), -1, 1);
        if (st == SEQ_OK && (upstream & 1)) st = input(c, &g.dc_n, dt, SHAPE(B, H), -1, 1);
        if (st == SEQ_OK && !index) st = output(c, &g.dx, "dx", dt, SHAPE(B, T, I));
        if (st == SEQ_OK) st = output(c, &g.dkernel, "dkernel", dt, SHAPE(I, 4 * H));
        if (st == SEQ_OK) st = output(c, &g.drecurrent, "drecurrent", dt, SHAPE(H, 4 * H));
        if (st == SEQ_OK) st = output(c, &g.dbias, "dbias", dt, SHAPE(4 * H));
        if (st == SEQ_OK) st = output(c, &g.dh0, "dh0", dt, SHAPE(B, H));
        if (st == SEQ_OK) st = output(c, &g.dc0, "dc0", dt, SHAPE(B, H));
        if (st == SEQ_OK) st = c->be->lstm_backward(&a, &g);
        c->be->lstm_free_saved(a.saved);
        TRY(st);
      }
  return SEQ_OK;
}

/* ---- the fused GRU and simple RNN ---- */

static const seq_rnn_mode RNN_MODES[] = {SEQ_RNN_GRU, SEQ_RNN_TANH, SEQ_RNN_RELU};

static seq_status rnn_inputs(ctx *c, seq_rnn_args *a, seq_rnn_mode mode, seq_dtype dt, int64_t B,
                             int64_t T, int64_t I, int64_t H, bool index, bool states, bool mask) {
  memset(a, 0, sizeof *a);
  const int64_t GH = (mode == SEQ_RNN_GRU ? 3 : 1) * H;
  a->mode = mode;
  a->B = B, a->T = T, a->I = I, a->H = H;
  a->x_is_index = index;
  if (index) TRY(input(c, &a->x, SEQ_I32, SHAPE(B, T), 0, (double)I - 1));
  else TRY(input(c, &a->x, dt, SHAPE(B, T, I), -1, 1));
  TRY(input(c, &a->kernel, dt, SHAPE(I, GH), -0.5, 0.5));
  TRY(input(c, &a->recurrent, dt, SHAPE(H, GH), -0.5, 0.5));
  if (mode == SEQ_RNN_GRU) TRY(input(c, &a->bias, dt, SHAPE(2, GH), -0.5, 0.5));
  else TRY(input(c, &a->bias, dt, SHAPE(H), -0.5, 0.5));
  if (states) TRY(input(c, &a->h0, dt, SHAPE(B, H), -1, 1));
  /* a recurrent dropout mask (CUDA: the step loop instead of cuDNN) */
  if (mask) TRY(input(c, &a->rmask, dt, SHAPE(B, H), 0, 2));
  TRY(output(c, &a->y, "y", dt, SHAPE(B, T, H)));
  TRY(output(c, &a->h_n, "h_n", dt, SHAPE(B, H)));
  return SEQ_OK;
}

static seq_status c_rnn_forward(ctx *c) {
  for (int m = 0; m < COUNT(RNN_MODES); m++)
    for (int f = 0; f < COUNT(FLOATS); f++)
      for (int index = 0; index < 2; index++)
        for (int states = 0; states < 4; states++) {
          seq_rnn_args a;
          TRY(rnn_inputs(c, &a, RNN_MODES[m], FLOATS[f], 3, 5, 4, 6, index, states & 1, states & 2));
          if (states & 2) a.lengths = LSTM_LENGTHS_T5;
          a.training = false;
          TRY(c->be->rnn_forward(&a));
          if (a.saved) c->be->rnn_free_saved(a.saved);
        }
  return SEQ_OK;
}

static seq_status c_rnn_free_saved(ctx *c) {
  for (int m = 0; m < COUNT(RNN_MODES); m++) {
    seq_rnn_args a;
    TRY(rnn_inputs(c, &a, RNN_MODES[m], SEQ_F32, 2, 3, 4, 5, false, false, m == 0));
    a.training = true;
    TRY(c->be->rnn_forward(&a));
    if (!a.saved) return seq_fail(SEQ_EARG, "rnn: training forward saved nothing");
    c->be->rnn_free_saved(a.saved);
  }
  return SEQ_OK;
}

static seq_status c_rnn_backward(ctx *c) {
  for (int m = 0; m < COUNT(RNN_MODES); m++)
    for (int f = 0; f < COUNT(FLOATS); f++)
      for (int index = 0; index < 2; index++)
        for (int upstream = 0; upstream < 4; upstream++) {
          const seq_dtype dt = FLOATS[f];
          const seq_rnn_mode mode = RNN_MODES[m];
          const int64_t B = 3, T = 4, I = 5, H = 6, GH = (mode == SEQ_RNN_GRU ? 3 : 1) * H;
          seq_rnn_args a;
          TRY(rnn_inputs(c, &a, mode, dt, B, T, I, H, index, upstream & 1, upstream & 2));
          if (upstream & 2) a.lengths = LSTM_LENGTHS_T4;
          a.training = true;
          TRY(c->be->rnn_forward(&a));
          seq_rnn_grads g;
          memset(&g, 0, sizeof g);
          seq_status st = input(c, &g.dy, dt, SHAPE(B, T, H), -1, 1);
          if (st == SEQ_OK && (upstream & 1)) st = input(c, &g.dh_n, dt, SHAPE(B, H), -1, 1);
          if (st == SEQ_OK && !index) st = output(c, &g.dx, "dx", dt, SHAPE(B, T, I));
          if (st == SEQ_OK) st = output(c, &g.dkernel, "dkernel", dt, SHAPE(I, GH));
          if (st == SEQ_OK) st = output(c, &g.drecurrent, "drecurrent", dt, SHAPE(H, GH));
          if (st == SEQ_OK && mode == SEQ_RNN_GRU)
            st = output(c, &g.dbias, "dbias", dt, SHAPE(2, GH));
          else if (st == SEQ_OK) st = output(c, &g.dbias, "dbias", dt, SHAPE(H));
          if (st == SEQ_OK) st = output(c, &g.dh0, "dh0", dt, SHAPE(B, H));
          if (st == SEQ_OK) st = c->be->rnn_backward(&a, &g);
          c->be->rnn_free_saved(a.saved);
          TRY(st);
        }
  return SEQ_OK;
}

/* ---- optimizer steps ---- */

static seq_status c_optim_step(ctx *c) {
  seq_optim_hparams hps[9];
  memset(hps, 0, sizeof hps);
  hps[0] = (seq_optim_hparams){.kind = SEQ_OPTIM_SGD, .lr = 0.1};
  hps[1] = (seq_optim_hparams){.kind = SEQ_OPTIM_SGD, .lr = 0.05, .momentum = 0.9, .nesterov = true};
  hps[2] = (seq_optim_hparams){.kind = SEQ_OPTIM_RMSPROP, .lr = 0.01, .rho = 0.9, .eps = 1e-7};
  hps[3] = (seq_optim_hparams){.kind = SEQ_OPTIM_RMSPROP, .lr = 0.01, .rho = 0.9, .eps = 1e-7,
                               .eps_outside = true, .clipvalue = 0.5};
  hps[4] = (seq_optim_hparams){.kind = SEQ_OPTIM_ADAM, .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999,
                               .eps = 1e-7, .step = 3};
  hps[5] = (seq_optim_hparams){.kind = SEQ_OPTIM_ADAM, .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999,
                               .eps = 1e-7, .step = 1, .weight_decay = 0.01, .clipvalue = 0.3};
  hps[6] = (seq_optim_hparams){.kind = SEQ_OPTIM_ADAGRAD, .lr = 0.01, .eps = 1e-7};
  hps[7] = (seq_optim_hparams){.kind = SEQ_OPTIM_ADADELTA, .lr = 0.5, .rho = 0.95, .eps = 1e-7};
  hps[8] = (seq_optim_hparams){.kind = SEQ_OPTIM_NADAM, .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999,
                               .eps = 1e-7, .step = 4, .weight_decay = 0.004};
  const bool two_states[9] = {false, false, false, false, true, true, false, true, true};
  const bool one_state[9] = {false, true, true, true, true, true, true, true, true};
  for (int f = 0; f < COUNT(FLOATS); f++)
    for (int k = 0; k < 9; k++) {
      seq_tensor *p, *g, *s0 = NULL, *s1 = NULL;
      TRY(input(c, &p, FLOATS[f], SHAPE(37, 3), -1, 1));
      TRY(input(c, &g, FLOATS[f], SHAPE(37, 3), -1, 1));
      if (one_state[k]) TRY(input(c, &s0, FLOATS[f], SHAPE(37, 3), 0, 0.5));
      if (two_states[k]) TRY(input(c, &s1, FLOATS[f], SHAPE(37, 3), 0, 0.5));
      /* the parameter in two items of one call, the second with a clip factor */
      seq_tensor *pa, *pb, *ga, *gb, *s0a = NULL, *s0b = NULL, *s1a = NULL, *s1b = NULL;
      TRY(seq_narrow(&pa, p, 0, 0, 20));
      TRY(seq_narrow(&pb, p, 0, 20, 17));
      TRY(seq_narrow(&ga, g, 0, 0, 20));
      TRY(seq_narrow(&gb, g, 0, 20, 17));
      if (s0) TRY(seq_narrow(&s0a, s0, 0, 0, 20));
      if (s0) TRY(seq_narrow(&s0b, s0, 0, 20, 17));
      if (s1) TRY(seq_narrow(&s1a, s1, 0, 0, 20));
      if (s1) TRY(seq_narrow(&s1b, s1, 0, 20, 17));
      const seq_optim_item items[2] = {
          {.param = pa, .grad = ga, .state0 = s0a, .state1 = s1a, .grad_scale = 1.0},
          {.param = pb, .grad = gb, .state0 = s0b, .state1 = s1b, .grad_scale = 0.625}};
      seq_status st = c->be->optim_step(&hps[k], 2, items);
      seq_tensor *views[8] = {pa, pb, ga, gb, s0a, s0b, s1a, s1b};
      for (int v = 0; v < 8; v++) seq_tensor_release(views[v]);
      TRY(st);
      result(c, "param", p);
      if (s0) result(c, "state0", s0);
      if (s1) result(c, "state1", s1);
    }
  return SEQ_OK;
}

/* ---- host threads ---- */

/* Results must not depend on the thread count: the same large reductions
 * and elementwise op with one thread and with three; the count read back
 * is at least 1, and the previous one is restored. */
static seq_status c_threads(ctx *c) {
  const int before = c->be->get_threads();
  if (before < 1) return seq_fail(SEQ_EARG, "get_threads: %d", before);
  seq_tensor *x;
  TRY(input(c, &x, SEQ_F64, SHAPE(300001), -1, 1));
  const int counts[2] = {1, 3};
  seq_status st = SEQ_OK;
  for (int k = 0; k < 2 && st == SEQ_OK; k++) {
    c->be->set_threads(counts[k]);
    if (c->be->get_threads() < 1) st = seq_fail(SEQ_EARG, "get_threads after set_threads(%d)", counts[k]);
    seq_tensor *s, *e;
    char name[48];
    snprintf(name, sizeof name, "sum, %d threads", counts[k]);
    if (st == SEQ_OK) st = output(c, &s, name, SEQ_F64, SHAPE(1));
    if (st == SEQ_OK) st = c->be->reduce(SEQ_RED_SUM, s, x, -1);
    snprintf(name, sizeof name, "exp, %d threads", counts[k]);
    if (st == SEQ_OK) st = output(c, &e, name, SEQ_F64, SHAPE(300001));
    if (st == SEQ_OK) st = c->be->unary(SEQ_UN_EXP, e, x, 0, 0);
  }
  c->be->set_threads(before);
  if (st == SEQ_OK && c->be->get_threads() != before)
    st = seq_fail(SEQ_EARG, "set_threads(%d) did not restore the count (get_threads: %d)", before,
                  c->be->get_threads());
  return st;
}

/* ---- the table ---- */

#define CASE(slot, fn, f32tol, f64tol) {SEQ_SLOT_##slot, #fn, fn, f32tol, f64tol}
/* brace initialisers, not the const objects above: a static initializer may
 * not read an object, even a const one (GCC allows it, clang does not) */
#define TOL_EXACT {0, 0}
#define TOL_F32TOL {1e-5, 1e-5}
#define TOL_F64TOL {1e-12, 1e-12}
#define TOL_LSTM32 {1e-5, 1e-4}
#define TOL_LOSS32 {1e-6, 1e-5}
#define TOL_ACC32 {1e-5, 1e-4}
#define TOL_NORMAL32 {0, 1e-6}
#define TOL_NORMAL64 {0, 1e-14}
static const bo_case CASES[] = {
    CASE(alloc, c_memory, TOL_EXACT, TOL_EXACT),
    CASE(free, c_memory, TOL_EXACT, TOL_EXACT),
    CASE(memset_zero, c_memory, TOL_EXACT, TOL_EXACT),
    CASE(upload, c_memory, TOL_EXACT, TOL_EXACT),
    CASE(download, c_memory, TOL_EXACT, TOL_EXACT),
    CASE(upload, c_memory_zero_bytes, TOL_EXACT, TOL_EXACT),
    CASE(synchronize, c_synchronize_reports_errors, TOL_EXACT, TOL_EXACT),
    CASE(copy, c_copy_casts, TOL_EXACT, TOL_EXACT),
    CASE(copy, c_copy_views, TOL_EXACT, TOL_EXACT),
    CASE(fill, c_fill, TOL_EXACT, TOL_EXACT),
    /* elementwise float results: the same formula, libm vs CUDA's math
     * library (exp, log, pow, tanh within a few ulp) */
    CASE(binary, c_binary_broadcast, TOL_F32TOL, TOL_F64TOL),
    CASE(binary, c_binary_strided, TOL_F32TOL, TOL_F64TOL),
    CASE(unary, c_unary, TOL_F32TOL, TOL_F64TOL),
    CASE(where, c_where, TOL_EXACT, TOL_EXACT),
    /* sums in a different order: relative 1e-5 (f32) on sums of ~1e5 terms */
    CASE(reduce, c_reduce, TOL_ACC32, TOL_F64TOL),
    CASE(gemm, c_gemm, TOL_ACC32, TOL_F64TOL),
    CASE(index_select, c_index_select, TOL_EXACT, TOL_EXACT),
    CASE(index_select, c_index_select_large_id, TOL_EXACT, TOL_EXACT),
    CASE(index_add, c_index_add, TOL_ACC32, TOL_F64TOL),
    CASE(gather, c_gather, TOL_EXACT, TOL_EXACT),
    CASE(gather, c_gather_bad_id, TOL_EXACT, TOL_EXACT),
    CASE(scatter_add, c_scatter_add, TOL_ACC32, TOL_F64TOL),
    /* Philox: the same bits; normal goes through log/cos (last-bit libm
     * differences survive rounding to f32 only rarely) */
    CASE(rand_uniform, c_rand_uniform, TOL_EXACT, TOL_EXACT),
    CASE(rand_normal, c_rand_normal, TOL_NORMAL32, TOL_NORMAL64),
    CASE(softmax, c_softmax, TOL_LOSS32, TOL_F64TOL),
    CASE(softmax_backward, c_softmax_backward, TOL_LOSS32, TOL_F64TOL),
    CASE(softmax_xent, c_softmax_xent, TOL_LOSS32, TOL_F64TOL),
    CASE(softmax_xent, c_softmax_xent_bad_id, TOL_EXACT, TOL_EXACT),
    CASE(sigmoid_bce, c_sigmoid_bce, TOL_LOSS32, TOL_F64TOL),
    /* cuDNN computes the gates with its own GEMMs (TF32 off) */
    CASE(lstm_forward, c_lstm_forward, TOL_LSTM32, TOL_F64TOL),
    CASE(lstm_backward, c_lstm_backward, TOL_LSTM32, TOL_F64TOL),
    CASE(lstm_free_saved, c_lstm_free_saved, TOL_LSTM32, TOL_F64TOL),
    CASE(rnn_forward, c_rnn_forward, TOL_LSTM32, TOL_F64TOL),
    CASE(rnn_backward, c_rnn_backward, TOL_LSTM32, TOL_F64TOL),
    CASE(rnn_free_saved, c_rnn_free_saved, TOL_LSTM32, TOL_F64TOL),
    CASE(optim_step, c_optim_step, TOL_LOSS32, TOL_F64TOL),
    /* a sum split across threads adds in another order */
    CASE(set_threads, c_threads, TOL_ACC32, TOL_F64TOL),
    CASE(get_threads, c_threads, TOL_ACC32, TOL_F64TOL),
};

static const char *SLOT_NAMES[] = {
#define SLOT_NAME_(name) #name,
    SEQ_BACKEND_SLOTS(SLOT_NAME_)
#undef SLOT_NAME_
};

/* ---- running and comparing ---- */

typedef struct run_result {
  seq_status st;
  char msg[256];
  seq_tensor *out[MAX_OUT]; /* f64 host copies (integers exact up to 2^53) */
  seq_dtype dtype[MAX_OUT];
  char name[MAX_OUT][48];
  int nout;
} run_result;

static void run_case(const bo_case *k, const seq_backend *be, int pass, run_result *r) {
  ctx c;
  memset(&c, 0, sizeof c);
  memset(r, 0, sizeof *r);
  c.poison = pass ? 0x5A : 0xA5; /* NaN-like floats, different integers */
  c.be = be;
  c.dev = be->device;
  c.rng = 0x5eed0000u + (uint64_t)(k - CASES);
  r->st = k->run(&c);
  if (r->st != SEQ_OK) snprintf(r->msg, sizeof r->msg, "%s", seq_last_error());
  /* fetch outputs: the download reports errors kernels deferred */
  for (int i = 0; i < c.nout; i++) {
    seq_tensor *h = NULL, *f = NULL;
    seq_status st = seq_to_device(&h, c.out[i], SEQ_CPU);
    if (st == SEQ_OK) st = seq_cast(&f, h, SEQ_F64);
    seq_tensor_release(h);
    if (st != SEQ_OK && r->st == SEQ_OK) {
      r->st = st;
      snprintf(r->msg, sizeof r->msg, "%s", seq_last_error());
    }
    r->dtype[r->nout] = c.out[i]->dtype;
    snprintf(r->name[r->nout], sizeof r->name[0], "%s", c.out_name[i]);
    r->out[r->nout++] = f;
    seq_tensor_release(c.out[i]);
  }
  for (int i = 0; i < c.nkeep; i++) seq_tensor_release(c.keep[i]);
  if (c.err_expected[0]) {
    if (r->st == SEQ_OK)
      fail("%s on %s: expected an error containing '%s', got none", k->name, be->name,
           c.err_expected);
    else if (!strstr(r->msg, c.err_expected))
      fail("%s on %s: error '%s' does not contain '%s'", k->name, be->name, r->msg,
           c.err_expected);
    else
      r->st = SEQ_OK; /* the expected failure: the outputs are not compared */
    r->nout = 0;
  } else if (r->st != SEQ_OK) {
    fail("%s on %s: %s", k->name, be->name, r->msg);
  }
}

static void free_result(run_result *r) {
  for (int i = 0; i < r->nout; i++) seq_tensor_release(r->out[i]);
}

static bool close_enough(double x, double y, tol t) {
  if (isnan(x) || isnan(y)) return isnan(x) && isnan(y);
  if (isinf(x) || isinf(y)) return x == y;
  return fabs(x - y) <= t.atol + t.rtol * fabs(x);
}

static void compare(const bo_case *k, const run_result *a, const run_result *b, const char *bn) {
  if (a->nout != b->nout) {
    fail("%s: cpu gave %d outputs, %s %d", k->name, a->nout, bn, b->nout);
    return;
  }
  for (int i = 0; i < a->nout; i++) {
    const seq_tensor *x = a->out[i], *y = b->out[i];
    if (!x || !y || !seq_shape_equal(x, y) || a->dtype[i] != b->dtype[i]) {
      fail("%s: output %d (%s) differs in shape or dtype: cpu %s, %s %s", k->name, i, a->name[i],
           x ? seq_tshape(x) : "missing", bn, y ? seq_tshape(y) : "missing");
      continue;
    }
    tol t = a->dtype[i] == SEQ_F32 ? k->f32 : a->dtype[i] == SEQ_F64 ? k->f64 : EXACT;
    const double *xv = seq_tensor_data(x), *yv = seq_tensor_data(y);
    int64_t bad = 0, first = -1;
    for (int64_t j = 0; j < x->numel; j++)
      if (!close_enough(xv[j], yv[j], t)) {
        if (first < 0) first = j;
        bad++;
      }
    if (bad)
      fail("%s: output %d (%s): %lld of %lld elements differ beyond atol %g rtol %g; first at "
           "%lld: cpu %.17g, %s %.17g",
           k->name, i, a->name[i], (long long)bad, (long long)x->numel, t.atol, t.rtol,
           (long long)first, xv[first], bn, yv[first]);
  }
}

/* ---- gradients through the op layer (autograd) ---- */

typedef struct grad_case {
  const char *name;
  /* builds a scalar loss from the leaves on the leaves' device */
  seq_status (*loss)(seq_tensor **loss, seq_tensor **leaf, seq_tensor **aux);
  int nleaf;
  struct { seq_dtype dt; int nd; int64_t shape[4]; double lo, hi; bool grad; } in[6];
} grad_case;

static seq_status sum_all(seq_tensor **out, seq_tensor *t) {
  return seq_reduce(out, SEQ_RED_SUM, t, SEQ_ALL_DIMS, false);
}

#define G_TRY(expr)                      \
  do {                                   \
    st = (expr);                         \
    if (st != SEQ_OK) goto done;         \
  } while (0)

/* weighted sum of a broadcast expression: a [4,1,5] * b [3,1] + a / (b^2+1) */
static seq_status g_broadcast(seq_tensor **loss, seq_tensor **l, seq_tensor **aux) {
  (void)aux;
  seq_tensor *m = NULL, *b2 = NULL, *d = NULL, *s = NULL, *mx = NULL, *e = NULL;
  seq_status st;
  G_TRY(seq_binary(&m, SEQ_BIN_MUL, l[0], l[1]));
  G_TRY(seq_binary_scalar(&b2, SEQ_BIN_POW, l[1], 2, false));
  seq_tensor *b2p = NULL;
  G_TRY(seq_binary_scalar(&b2p, SEQ_BIN_ADD, b2, 1, false));
  seq_tensor_release(b2);
  b2 = b2p;
  G_TRY(seq_binary(&d, SEQ_BIN_DIV, l[0], b2));
  G_TRY(seq_binary(&s, SEQ_BIN_ADD, m, d));
  G_TRY(seq_binary(&mx, SEQ_BIN_MAX, s, l[2]));
  G_TRY(seq_unary(&e, SEQ_UN_TANH, mx, 0, 0));
  G_TRY(sum_all(loss, e));
done:
  seq_tensor_release(m), seq_tensor_release(b2), seq_tensor_release(d);
  seq_tensor_release(s), seq_tensor_release(mx), seq_tensor_release(e);
  return st;
}

/* batched matmul with a transposed operand, then softmax cross-entropy */
static seq_status g_matmul_xent(seq_tensor **loss, seq_tensor **l, seq_tensor **aux) {
  seq_tensor *wt = NULL, *y = NULL, *r = NULL;
  seq_status st;
  G_TRY(seq_transpose(&wt, l[1], 0, 1)); /* [7,5] -> [5,7] view */
  G_TRY(seq_matmul(&y, l[0], wt));       /* [2,3,5] @ [5,7] */
  int64_t shape[2] = {6, 7};
  G_TRY(seq_reshape(&r, y, 2, shape));
  G_TRY(seq_softmax_cross_entropy(loss, r, aux[0]));
done:
  seq_tensor_release(wt), seq_tensor_release(y), seq_tensor_release(r);
  return st;
}

/* reductions over dims, log-softmax, gather */
static seq_status g_reduce_softmax(seq_tensor **loss, seq_tensor **l, seq_tensor **aux) {
  seq_tensor *mx = NULL, *mn = NULL, *ls = NULL, *g = NULL, *a = NULL, *b = NULL, *c = NULL;
  seq_status st;
  G_TRY(seq_reduce(&mx, SEQ_RED_MAX, l[0], 1, true));
  G_TRY(seq_reduce(&mn, SEQ_RED_MEAN, l[0], 0, false));
  G_TRY(seq_softmax(&ls, l[0], true));
  G_TRY(seq_gather(&g, ls, 1, aux[0]));
  G_TRY(sum_all(&a, mx));
  G_TRY(sum_all(&b, mn));
  G_TRY(seq_binary(&c, SEQ_BIN_SUB, a, b));
  seq_tensor *gs = NULL;
  G_TRY(sum_all(&gs, g));
  st = seq_binary(loss, SEQ_BIN_ADD, c, gs);
  seq_tensor_release(gs);
done:
  seq_tensor_release(mx), seq_tensor_release(mn), seq_tensor_release(ls), seq_tensor_release(g);
  seq_tensor_release(a), seq_tensor_release(b), seq_tensor_release(c);
  return st;
}

/* embedding rows (repeated ids) -> LSTM from (h0, c0) -> sigmoid BCE */
static seq_status g_embedding_lstm(seq_tensor **loss, seq_tensor **l, seq_tensor **aux) {
  seq_tensor *e = NULL, *y = NULL, *h = NULL, *c = NULL, *hs = NULL;
  seq_status st;
  G_TRY(seq_embedding(&e, l[0], aux[0]));        /* [3,4] ids -> [3,4,5] */
  G_TRY(seq_lstm(&y, &h, &c, e, l[1], l[2], l[3], l[4], l[5]));
  G_TRY(seq_reduce(&hs, SEQ_RED_SUM, y, 1, false)); /* [3,6] */
  seq_tensor *t = NULL, *flat = NULL, *sum_hc = NULL;
  int64_t n = 18;
  G_TRY(seq_binary(&sum_hc, SEQ_BIN_ADD, hs, c));
  G_TRY(seq_reshape(&flat, sum_hc, 1, &n));
  st = seq_tensor_zeros(&t, flat->dtype, flat->device, 1, &n);
  if (st == SEQ_OK) st = seq_fill_(t, 0.25);
  if (st == SEQ_OK) st = seq_sigmoid_binary_cross_entropy(loss, flat, t);
  seq_tensor_release(t), seq_tensor_release(flat), seq_tensor_release(sum_hc);
done:
  seq_tensor_release(e), seq_tensor_release(y), seq_tensor_release(h), seq_tensor_release(c);
  seq_tensor_release(hs);
  return st;
}

/* LSTM on integer input (ids: rows of the kernel gathered) with h0/c0 */
static seq_status g_index_lstm(seq_tensor **loss, seq_tensor **l, seq_tensor **aux) {
  seq_tensor *y = NULL, *h = NULL, *c = NULL, *sq = NULL;
  seq_status st;
  G_TRY(seq_lstm(&y, &h, &c, aux[0], l[0], l[1], l[2], l[3], l[4]));
  G_TRY(seq_unary(&sq, SEQ_UN_SQUARE, y, 0, 0));
  seq_tensor *a = NULL, *b = NULL;
  G_TRY(sum_all(&a, sq));
  st = sum_all(&b, c);
  if (st == SEQ_OK) st = seq_binary(loss, SEQ_BIN_ADD, a, b);
  seq_tensor_release(a), seq_tensor_release(b);
done:
  seq_tensor_release(y), seq_tensor_release(h), seq_tensor_release(c), seq_tensor_release(sq);
  return st;
}

typedef struct grad_def {
  grad_case g;
  /* integer auxiliary inputs (ids), not differentiated */
  int naux;
  struct { seq_dtype dt; int nd; int64_t shape[4]; int64_t hi; } aux[2];
} grad_def;

static const grad_def GRADS[] = {
    {{"broadcast binary/unary", g_broadcast, 3,
      {{SEQ_F64, 3, {4, 1, 5}, -2, 2, true}, {SEQ_F64, 2, {3, 1}, -2, 2, true},
       {SEQ_F64, 1, {5}, -1, 1, true}}}, 0, {{0}}},
    {{"matmul (transposed weight) + softmax cross-entropy f32", g_matmul_xent, 2,
      {{SEQ_F32, 3, {2, 3, 5}, -1, 1, true}, {SEQ_F32, 2, {7, 5}, -1, 1, true}}},
     1, {{SEQ_I64, 1, {6}, 6}}},
    {{"reductions, log-softmax, gather", g_reduce_softmax, 1,
      {{SEQ_F64, 2, {5, 6}, -3, 3, true}}},
     1, {{SEQ_I32, 2, {5, 2}, 5}}},
    {{"embedding + LSTM with h0, c0 + BCE f32", g_embedding_lstm, 6,
      {{SEQ_F32, 2, {9, 5}, -1, 1, true}, {SEQ_F32, 2, {5, 24}, -0.5, 0.5, true},
       {SEQ_F32, 2, {6, 24}, -0.5, 0.5, true}, {SEQ_F32, 1, {24}, -0.5, 0.5, true},
       {SEQ_F32, 2, {3, 6}, -1, 1, true}, {SEQ_F32, 2, {3, 6}, -1, 1, true}}},
     1, {{SEQ_I64, 2, {3, 4}, 8}}},
    {{"index LSTM with h0, c0 f64", g_index_lstm, 5,
      {{SEQ_F64, 2, {7, 16}, -0.5, 0.5, true}, {SEQ_F64, 2, {4, 16}, -0.5, 0.5, true},
       {SEQ_F64, 1, {16}, -0.5, 0.5, true}, {SEQ_F64, 2, {2, 4}, -1, 1, true},
       {SEQ_F64, 2, {2, 4}, -1, 1, true}}},
     1, {{SEQ_I32, 2, {2, 5}, 6}}},
};

/* Runs one gradient case on `dev`; returns host f64 copies of the loss and
 * every leaf's gradient in `out` (1 + nleaf tensors). */
static seq_status run_grad(const grad_def *d, seq_device dev, seq_tensor **out) {
  ctx c;
  memset(&c, 0, sizeof c);
  c.dev = dev;
  c.be = seq_backend_get(dev);
  c.rng = 0x9a11;
  seq_tensor *leaf[6] = {0}, *aux[2] = {0}, *loss = NULL;
  seq_status st = SEQ_OK;
  for (int i = 0; i < d->g.nleaf && st == SEQ_OK; i++) {
    st = input(&c, &leaf[i], d->g.in[i].dt, d->g.in[i].nd, d->g.in[i].shape, d->g.in[i].lo,
               d->g.in[i].hi);
    if (st == SEQ_OK) leaf[i]->requires_grad = true;
  }
  for (int i = 0; i < d->naux && st == SEQ_OK; i++)
    st = input(&c, &aux[i], d->aux[i].dt, d->aux[i].nd, d->aux[i].shape, 0, (double)d->aux[i].hi);
  if (st == SEQ_OK) st = d->g.loss(&loss, leaf, aux);
  if (st == SEQ_OK) st = seq_backward(loss, NULL);
  for (int i = 0; i <= d->g.nleaf && st == SEQ_OK; i++) {
    seq_tensor *src = i == 0 ? loss : leaf[i - 1]->grad, *h = NULL;
    if (!src) {
      st = seq_fail(SEQ_EGRAD, "leaf %d has no gradient", i);
      break;
    }
    st = seq_to_device(&h, src, SEQ_CPU);
    if (st == SEQ_OK) st = seq_cast(&out[i], h, SEQ_F64);
    seq_tensor_release(h);
  }
  seq_tensor_release(loss);
  for (int i = 0; i < c.nkeep; i++) seq_tensor_release(c.keep[i]);
  return st;
}

static void check_grads(const seq_backend *other, int *ncompared) {
  for (int k = 0; k < COUNT(GRADS); k++) {
    const grad_def *d = &GRADS[k];
    seq_tensor *a[7] = {0}, *b[7] = {0};
    seq_status sa = run_grad(d, SEQ_CPU, a);
    if (sa != SEQ_OK) fail("grad %s on cpu: %s", d->g.name, seq_last_error());
    seq_status sb = other ? run_grad(d, other->device, b) : SEQ_OK;
    if (other && sb != SEQ_OK) fail("grad %s on %s: %s", d->g.name, other->name, seq_last_error());
    if (other && sa == SEQ_OK && sb == SEQ_OK) {
      (*ncompared)++;
      bool f32 = d->g.in[0].dt == SEQ_F32;
      tol t = f32 ? (tol){1e-5, 1e-4} : (tol){1e-10, 1e-10};
      for (int i = 0; i <= d->g.nleaf; i++) {
        const double *x = seq_tensor_data(a[i]), *y = seq_tensor_data(b[i]);
        int64_t bad = 0, first = -1;
        for (int64_t j = 0; j < a[i]->numel; j++)
          if (!close_enough(x[j], y[j], t)) {
            if (first < 0) first = j;
            bad++;
          }
        if (bad)
          fail("grad %s: %s %d: %lld elements differ; first at %lld: cpu %.17g, %s %.17g",
               d->g.name, i ? "leaf" : "loss", i, (long long)bad, (long long)first, x[first],
               other->name, y[first]);
      }
    }
    for (int i = 0; i < 7; i++) seq_tensor_release(a[i]), seq_tensor_release(b[i]);
  }
}

int main(void) {
  /* 1. coverage: every slot has a case */
  int per_slot[SEQ_NSLOTS] = {0};
  for (int k = 0; k < COUNT(CASES); k++) per_slot[CASES[k].slot]++;
  for (int s = 0; s < SEQ_NSLOTS; s++)
    if (!per_slot[s])
      fail("backend slot '%s' has no case in test/c/test_backend_ops.c: add one", SLOT_NAMES[s]);

  /* 2. the other backend */
  const char *self = getenv("SEQ_BACKEND_OPS_SELFTEST");
  const seq_backend *other = NULL;
  char why[512] = "";
  if (self && strcmp(self, "1") == 0) {
    other = &seq_cpu_backend;
  } else {
    other = seq_backend_get(SEQ_CUDA);
    if (!other) snprintf(why, sizeof why, "%s", seq_last_error());
  }

  /* 3. every case on the CPU, and on the other backend when there is one.
   * Cases listed under several slots run once. */
  int ncompared = 0;
  for (int k = 0; k < COUNT(CASES); k++) {
    bool seen = false;
    for (int j = 0; j < k; j++) seen = seen || CASES[j].run == CASES[k].run;
    if (seen) continue;
    int before = failures;
    run_result a, b;
    run_case(&CASES[k], &seq_cpu_backend, 0, &a);
    if (other) {
      run_case(&CASES[k], other, 1, &b);
      if (failures == before) {
        compare(&CASES[k], &a, &b, other->name);
        ncompared++;
      }
      free_result(&b);
    }
    free_result(&a);
  }
  check_grads(other, &ncompared);

  printf("%d backend slots, %d cases, %d gradient checks\n", SEQ_NSLOTS, COUNT(CASES),
         COUNT(GRADS));
  if (other)
    printf("compared cpu with %s%s: %d case groups\n", other->name,
           other == &seq_cpu_backend ? " (self-test)" : "", ncompared);
  else
    printf("cross-backend comparison skipped: %s\n", why);
  if (failures) fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
