/* test_lstm.c - the fused CPU LSTM against a naive reference.
 *
 * Forward: a straightforward step-by-step LSTM in double (Keras layout,
 * gates i,f,c,o) vs the fused kernel in f64 and f32, with and without
 * initial state, float and index input, several thread splits.
 * Backward: the fused f64 gradients of every input vs central finite
 * differences of the fused forward, and the f32 backward vs the f64 one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "seq_nn.h"
#include "check.h"

static uint64_t rng_state = 88172645463325252ull;

static double urand(void) { /* xorshift64, uniform in [-1, 1) */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static seq_tensor *make(seq_dtype dt, int ndim, const int64_t *shape, double scale) {
  seq_tensor *t = NULL;
  if (seq_tensor_empty(&t, dt, SEQ_CPU, ndim, shape) != SEQ_OK) {
    fprintf(stderr, "alloc failed: %s\n", seq_last_error());
    exit(2);
  }
  for (int64_t k = 0; k < t->numel; k++) {
    double v = urand() * scale;
    if (dt == SEQ_F32) ((float *)seq_tensor_data(t))[k] = (float)v;
    else if (dt == SEQ_F64) ((double *)seq_tensor_data(t))[k] = v;
  }
  return t;
}

static double get(const seq_tensor *t, int64_t k) {
  return t->dtype == SEQ_F32 ? ((const float *)seq_tensor_data(t))[k]
                             : ((const double *)seq_tensor_data(t))[k];
}
static void set(seq_tensor *t, int64_t k, double v) {
  if (t->dtype == SEQ_F32) ((float *)seq_tensor_data(t))[k] = (float)v;
  else ((double *)seq_tensor_data(t))[k] = v;
}

static seq_tensor *cast(const seq_tensor *src, seq_dtype dt) {
  if (!src) return NULL;
  seq_tensor *t = NULL;
  seq_tensor_empty(&t, dt, SEQ_CPU, src->ndim, src->shape);
  for (int64_t k = 0; k < t->numel; k++) set(t, k, get(src, k));
  return t;
}

static void expect_close(const char *what, const seq_tensor *a, const double *ref, int64_t n,
                         double tol) {
  double worst = 0;
  int64_t at = 0;
  for (int64_t k = 0; k < n; k++) {
    double d = fabs(get(a, k) - ref[k]) / (1.0 + fabs(ref[k]));
    if (!(d <= worst)) {
      worst = d;
      at = k;
    }
  }
  if (!(worst <= tol)) {
    fprintf(stderr, "FAIL %s: element %lld: %.10g vs %.10g (tol %g)\n", what, (long long)at,
            get(a, at), ref[at], tol);
    failures++;
  }
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Naive reference forward in double. x float [B,T,I] or ids [B,T]. */
static void reference(int64_t B, int64_t T, int64_t I, int64_t H, const seq_tensor *x, bool idx,
                      const seq_tensor *k, const seq_tensor *r, const seq_tensor *bias,
                      const seq_tensor *h0, const seq_tensor *c0, double *y, double *hn,
                      double *cn) {
  double *h = calloc((size_t)H, sizeof *h), *c = calloc((size_t)H, sizeof *c);
  double *z = malloc(sizeof(double) * (size_t)(4 * H));
  for (int64_t b = 0; b < B; b++) {
    for (int64_t j = 0; j < H; j++) {
      h[j] = h0 ? get(h0, b * H + j) : 0;
      c[j] = c0 ? get(c0, b * H + j) : 0;
    }
    for (int64_t t = 0; t < T; t++) {
      for (int64_t g = 0; g < 4 * H; g++) {
        double s = get(bias, g);
        if (idx) {
          int64_t id = x->dtype == SEQ_I32 ? ((const int32_t *)seq_tensor_data(x))[b * T + t]
                                           : ((const int64_t *)seq_tensor_data(x))[b * T + t];
          s += get(k, id * 4 * H + g);
        } else {
          for (int64_t i = 0; i < I; i++) s += get(x, (b * T + t) * I + i) * get(k, i * 4 * H + g);
        }
        for (int64_t j = 0; j < H; j++) s += h[j] * get(r, j * 4 * H + g);
        z[g] = s;
      }
      for (int64_t j = 0; j < H; j++) {
        double ig = sigm(z[j]), fg = sigm(z[H + j]), cc = tanh(z[2 * H + j]), og = sigm(z[3 * H + j]);
        c[j] = fg * c[j] + ig * cc;
        h[j] = og * tanh(c[j]);
        y[(b * T + t) * H + j] = h[j];
      }
    }
    for (int64_t j = 0; j < H; j++) {
      hn[b * H + j] = h[j];
      cn[b * H + j] = c[j];
    }
  }
  free(h);
  free(c);
  free(z);
}

typedef struct problem {
  int64_t B, T, I, H;
  bool idx, state;
  seq_tensor *x, *k, *r, *b, *h0, *c0; /* f64 masters */
  seq_tensor *wy, *wh, *wc;           /* upstream gradients (f64) */
} problem;

static problem make_problem(int64_t B, int64_t T, int64_t I, int64_t H, bool idx, bool state) {
  problem p = {B, T, I, H, idx, state, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  if (idx) {
    int64_t s[2] = {B, T};
    seq_tensor_empty(&p.x, SEQ_I64, SEQ_CPU, 2, s);
    for (int64_t q = 0; q < B * T; q++)
      ((int64_t *)seq_tensor_data(p.x))[q] = (int64_t)((urand() + 1) * 0.5 * (double)I) % I;
  } else {
    int64_t s[3] = {B, T, I};
    p.x = make(SEQ_F64, 3, s, 1.0);
  }
  int64_t sk[2] = {I, 4 * H}, sr[2] = {H, 4 * H}, sb[1] = {4 * H}, sh[2] = {B, H},
          sy[3] = {B, T, H};
  p.k = make(SEQ_F64, 2, sk, 0.5);
  p.r = make(SEQ_F64, 2, sr, 0.5);
  p.b = make(SEQ_F64, 1, sb, 0.5);
  if (state) {
    p.h0 = make(SEQ_F64, 2, sh, 0.8);
    p.c0 = make(SEQ_F64, 2, sh, 0.8);
  }
  p.wy = make(SEQ_F64, 3, sy, 1.0);
  p.wh = make(SEQ_F64, 2, sh, 1.0);
  p.wc = make(SEQ_F64, 2, sh, 1.0);
  return p;
}

static void free_problem(problem *p) {
  seq_tensor *all[] = {p->x, p->k, p->r, p->b, p->h0, p->c0, p->wy, p->wh, p->wc};
  for (size_t q = 0; q < sizeof all / sizeof *all; q++) seq_tensor_release(all[q]);
}

/* Runs the fused forward (+ backward when g != NULL) in dtype dt. */
typedef struct run_out {
  seq_tensor *y, *hn, *cn, *dx, *dk, *dr, *db, *dh0, *dc0;
} run_out;

static void free_run(run_out *o) {
  seq_tensor *all[] = {o->y, o->hn, o->cn, o->dx, o->dk, o->dr, o->db, o->dh0, o->dc0};
  for (size_t q = 0; q < sizeof all / sizeof *all; q++) seq_tensor_release(all[q]);
}

static run_out run(const problem *p, seq_dtype dt, bool backward, bool training) {
  run_out o = {0};
  int64_t sy[3] = {p->B, p->T, p->H}, sh[2] = {p->B, p->H};
  seq_tensor *x = p->idx ? seq_tensor_retain(p->x) : cast(p->x, dt);
  seq_tensor *k = cast(p->k, dt), *r = cast(p->r, dt), *b = cast(p->b, dt);
  seq_tensor *h0 = cast(p->h0, dt), *c0 = cast(p->c0, dt);
  seq_tensor_empty(&o.y, dt, SEQ_CPU, 3, sy);
  seq_tensor_empty(&o.hn, dt, SEQ_CPU, 2, sh);
  seq_tensor_empty(&o.cn, dt, SEQ_CPU, 2, sh);
  seq_lstm_args a = {p->B, p->T, p->I, p->H, p->idx, x, k, r, b, h0, c0,
                     o.y, o.hn, o.cn, NULL, training || backward, NULL, NULL};
  if (seq_cpu_lstm_forward(&a) != SEQ_OK) {
    fprintf(stderr, "FAIL forward: %s\n", seq_last_error());
    failures++;
  } else if (backward) {
    seq_lstm_grads g = {0};
    g.dy = cast(p->wy, dt);
    g.dh_n = cast(p->wh, dt);
    g.dc_n = cast(p->wc, dt);
    if (!p->idx) seq_tensor_empty_like(&o.dx, x);
    seq_tensor_empty_like(&o.dk, k);
    seq_tensor_empty_like(&o.dr, r);
    seq_tensor_empty_like(&o.db, b);
    seq_tensor_empty(&o.dh0, dt, SEQ_CPU, 2, sh);
    seq_tensor_empty(&o.dc0, dt, SEQ_CPU, 2, sh);
    g.dx = o.dx;
    g.dkernel = o.dk;
    g.drecurrent = o.dr;
    g.dbias = o.db;
    g.dh0 = o.dh0;
    g.dc0 = o.dc0;
    if (seq_cpu_lstm_backward(&a, &g) != SEQ_OK) {
      fprintf(stderr, "FAIL backward: %s\n", seq_last_error());
      failures++;
    }
    seq_tensor_release(g.dy);
    seq_tensor_release(g.dh_n);
    seq_tensor_release(g.dc_n);
  }
  seq_cpu_lstm_free_saved(a.saved);
  seq_tensor *all[] = {x, k, r, b, h0, c0};
  for (size_t q = 0; q < 6; q++) seq_tensor_release(all[q]);
  return o;
}

static double objective(const problem *p) {
  run_out o = run(p, SEQ_F64, false, false);
  double s = 0;
  for (int64_t q = 0; q < o.y->numel; q++) s += get(o.y, q) * get(p->wy, q);
  for (int64_t q = 0; q < o.hn->numel; q++) s += get(o.hn, q) * get(p->wh, q);
  for (int64_t q = 0; q < o.cn->numel; q++) s += get(o.cn, q) * get(p->wc, q);
  free_run(&o);
  return s;
}

static void fd_check(const char *name, problem *p, seq_tensor *param, const seq_tensor *grad) {
  const double eps = 1e-6;
  double *num = malloc(sizeof(double) * (size_t)param->numel);
  for (int64_t q = 0; q < param->numel; q++) {
    double v = get(param, q);
    set(param, q, v + eps);
    double fp = objective(p);
    set(param, q, v - eps);
    double fm = objective(p);
    set(param, q, v);
    num[q] = (fp - fm) / (2 * eps);
  }
  char what[128];
  snprintf(what, sizeof what, "%s (B=%lld T=%lld idx=%d state=%d)", name, (long long)p->B,
           (long long)p->T, p->idx, p->state);
  expect_close(what, grad, num, param->numel, 1e-6);
  free(num);
}

static void check_problem_opt(int64_t B, int64_t T, int64_t I, int64_t H, bool idx, bool state,
                              bool fd) {
  problem p = make_problem(B, T, I, H, idx, state);
  size_t ny = (size_t)(B * T * H), nh = (size_t)(B * H);
  double *y = malloc(sizeof(double) * (ny + 1)), *hn = malloc(sizeof(double) * nh),
         *cn = malloc(sizeof(double) * nh);
  reference(B, T, I, H, p.x, idx, p.k, p.r, p.b, p.h0, p.c0, y, hn, cn);
  char what[128];
  for (int d = 0; d < 2; d++) {
    seq_dtype dt = d == 0 ? SEQ_F64 : SEQ_F32;
    double tol = d == 0 ? 1e-12 : 2e-5;
    for (int tr = 0; tr < 2; tr++) {
      run_out o = run(&p, dt, false, tr == 1);
      snprintf(what, sizeof what, "forward %s training=%d B=%lld T=%lld idx=%d state=%d",
               seq_dtype_name(dt), tr, (long long)B, (long long)T, idx, state);
      expect_close(what, o.y, y, (int64_t)ny, tol);
      expect_close(what, o.hn, hn, (int64_t)nh, tol);
      expect_close(what, o.cn, cn, (int64_t)nh, tol);
      free_run(&o);
    }
  }
  /* gradients: f64 vs finite differences */
  run_out g = run(&p, SEQ_F64, true, true);
  if (fd && !idx) fd_check("dx", &p, p.x, g.dx);
  if (fd) {
    fd_check("dkernel", &p, p.k, g.dk);
    fd_check("drecurrent", &p, p.r, g.dr);
    fd_check("dbias", &p, p.b, g.db);
  }
  if (fd && state) {
    fd_check("dh0", &p, p.h0, g.dh0);
    fd_check("dc0", &p, p.c0, g.dc0);
  }
  /* f32 backward vs f64 backward */
  run_out g32 = run(&p, SEQ_F32, true, true);
  seq_tensor *pairs[][2] = {{g32.dx, g.dx}, {g32.dk, g.dk}, {g32.dr, g.dr},
                            {g32.db, g.db}, {g32.dh0, g.dh0}, {g32.dc0, g.dc0}};
  for (size_t q = 0; q < 6; q++) {
    if (!pairs[q][0]) continue;
    double *ref = malloc(sizeof(double) * (size_t)pairs[q][1]->numel + 8);
    for (int64_t e = 0; e < pairs[q][1]->numel; e++) ref[e] = get(pairs[q][1], e);
    snprintf(what, sizeof what, "f32 backward grad %zu (B=%lld T=%lld idx=%d state=%d)", q,
             (long long)B, (long long)T, idx, state);
    expect_close(what, pairs[q][0], ref, pairs[q][1]->numel, 5e-5);
    free(ref);
  }
  free_run(&g);
  free_run(&g32);
  free(y);
  free(hn);
  free(cn);
  free_problem(&p);
}

static void check_problem(int64_t B, int64_t T, int64_t I, int64_t H, bool idx, bool state) {
  check_problem_opt(B, T, I, H, idx, state, true);
}

static void check_errors(void) {
  problem p = make_problem(2, 3, 4, 5, true, false);
  ((int64_t *)seq_tensor_data(p.x))[4] = 4; /* == I: out of range */
  int64_t sy[3] = {2, 3, 5};
  seq_tensor *y = NULL;
  seq_tensor_empty(&y, SEQ_F64, SEQ_CPU, 3, sy);
  seq_lstm_args a = {2, 3, 4, 5, true, p.x, p.k, p.r, p.b, NULL, NULL, y, NULL, NULL, NULL, true, NULL, NULL};
  if (seq_cpu_lstm_forward(&a) == SEQ_OK || !strstr(seq_last_error(), "out of range")) {
    fprintf(stderr, "FAIL: out-of-range id not reported (%s)\n", seq_last_error());
    failures++;
  }
  seq_cpu_lstm_free_saved(a.saved);
  ((int64_t *)seq_tensor_data(p.x))[4] = 0;
  /* shapes are the op layer's to check (the backend only asserts them) */
  seq_tensor *dense = NULL;
  int64_t sx[3] = {2, 3, 3}; /* kernel has 4 rows */
  seq_tensor_zeros(&dense, SEQ_F64, SEQ_CPU, 3, sx);
  if (seq_lstm(NULL, NULL, NULL, dense, p.k, p.r, p.b, NULL, NULL) == SEQ_OK ||
      !strstr(seq_last_error(), "kernel")) {
    fprintf(stderr, "FAIL: kernel shape mismatch not reported (%s)\n", seq_last_error());
    failures++;
  }
  seq_tensor_release(dense);
  seq_tensor_release(y);
  free_problem(&p);
}

int main(void) {
  int threads[] = {1, 2, 3};
  for (int q = 0; q < 3; q++) {
    seq_cpu_set_threads(threads[q]);
    check_problem(3, 5, 4, 6, false, false);
    check_problem(3, 5, 4, 6, false, true);
    check_problem(4, 4, 7, 3, true, false);
    check_problem(2, 3, 5, 4, true, true);
    check_problem(1, 1, 2, 2, false, true);
    check_problem(3, 6, 1, 1, false, true); /* one feature, one unit */
  }
  seq_cpu_set_threads(2);
  /* more than one 256-row chunk in the all-steps products, ragged panels
   * (4H = 36, 132: not multiples of 32) and row blocks (B/threads not a
   * multiple of 8): f32 against f64, forward against the reference */
  check_problem_opt(19, 40, 5, 9, false, true, false);
  check_problem_opt(9, 70, 6, 33, true, false, false);
  seq_cpu_set_threads(1);
  check_problem_opt(17, 33, 4, 8, false, false, false);
  check_errors();
  if (failures) {
    fprintf(stderr, "test_lstm: %d failure(s)\n", failures);
    return 1;
  }
  printf("test_lstm: ok\n");
  return 0;
}
