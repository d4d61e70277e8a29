/* cpu_rnn.c - the fused whole-sequence GRU and simple RNN on the CPU (Keras
 * layout, see seq_rnn_args).  Same plan as cpu_lstm.c, whose helpers
 * (cpu_recurrent.h) it shares: one OpenMP team in which every thread owns a
 * slice of the batch for all T steps, the input projection of all steps as
 * one product, one product per step against the recurrent matrix (packed
 * once per call for the f32 panels), and the weight gradients over
 * all B*T rows at the end with the columns split between the threads.
 *
 * GRU workspace W [B,T,4H], per row (z, r, u, hh) where u = h.Rh + rbh is
 * the recurrent part of the candidate (reset_after keeps it apart from
 * x.Wh).  The input projection goes to the z, r and hh slots; per step
 * U = h_{t-1}.R goes to a per-thread [rows,3H] scratch and the gate pass
 * writes the activated row and h_t = y[:,t].  Backward turns each row into
 * (dz, dr, du, dhh) pre-activation gradients in place, so that
 *   dU = W[:, 0:3H] (contiguous)        -> dh_{t-1}, drecurrent
 *   dX = W[:, {0:2H, 3H:4H}]            -> dx, dkernel
 * The simple RNN needs no workspace in forward: y[:,t] gets x.W, then
 * h_{t-1}.R, then is activated in place (the derivative of tanh and relu is
 * a function of the output).
 *
 * drecurrent = sum_t (m*h_{t-1})^T dU_t reads a [B,T,H] copy of the shifted,
 * masked states built by the backward (one pass over y; the LSTM's rank-B
 * fix-up trick does not survive a recurrent dropout mask). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "cpu_recurrent.h"
#include "cpu_vmath.h"

typedef struct rnn_saved {
  seq_dtype dtype;
  seq_rnn_mode mode;
  int64_t B, T, H;
  void *ws;      /* GRU workspace [B,T,4H]; NULL for the simple RNN */
  bool consumed; /* backward overwrites the workspace with gradients */
} rnn_saved;

static int64_t rnn_gates(seq_rnn_mode m) { return m == SEQ_RNN_GRU ? 3 : 1; }

/* ------------------------------------------------------------ gate passes
 * Generic over the float type as in cpu_lstm.c: f32 vectorised with
 * cpu_vmath.h, f64 (gradient checks) with libm. */

/* GRU forward over `rows` rows of one step.  w: the workspace rows (stride
 * ldw) holding the input projection in the z, r, hh slots; u: h_{t-1}.R
 * (stride 3H; NULL at t = 0 without h0); bias [6H]; hp: h_{t-1} (stride
 * ldhp, 0 = one zero row); h: h_t (stride ldh).
 *
 * GRU backward over `rows` rows of one step.  w: activated row -> gradients
 * (dz, dr, du, dhh) in place; hp as above; dy (stride lddy, 0 = zero row);
 * dh [rows,H]: dh_t from the step after (in), the direct part z*dh_t of
 * dh_{t-1} (out); bacc: dbias sums [6H] in double. */
#define RNN_GRU_PASSES(sfx, real, SIGMOID, TANH, CLONES, SIMD)                                     \
  CLONES                                                                                         \
  static void gru_fwd_rows_##sfx(int64_t rows, int64_t H, real *w, int64_t ldw, const real *u,   \
                                 const real *bias, const real *hp, int64_t ldhp, real *h,        \
                                 int64_t ldh) {                                                  \
    const real one = 1;                                                                          \
    for (int64_t r = 0; r < rows; r++) {                                                         \
      real *wz = w + r * ldw, *wr = wz + H, *wu = wr + H, *wh = wu + H;                          \
      const real *hpr = hp + r * ldhp;                                                           \
      real *hr = h + r * ldh;                                                                    \
      if (u) {                                                                                   \
        const real *uz = u + r * 3 * H, *ur = uz + H, *uh = ur + H;                              \
        SIMD                                                                                     \
        for (int64_t j = 0; j < H; j++) {                                                        \
          real z = SIGMOID(wz[j] + bias[j] + uz[j] + bias[3 * H + j]);                           \
          real rr = SIGMOID(wr[j] + bias[H + j] + ur[j] + bias[4 * H + j]);                      \
          real uu = uh[j] + bias[5 * H + j];                                                     \
          real hh = TANH(wh[j] + bias[2 * H + j] + rr * uu);                                     \
          hr[j] = z * hpr[j] + (one - z) * hh;                                                   \
          wz[j] = z;                                                                             \
          wr[j] = rr;                                                                            \
          wu[j] = uu;                                                                            \
          wh[j] = hh;                                                                            \
        }                                                                                        \
      } else { /* h_{t-1} = 0: the recurrent products are 0 */                                   \
        SIMD                                                                                     \
        for (int64_t j = 0; j < H; j++) {                                                        \
          real z = SIGMOID(wz[j] + bias[j] + bias[3 * H + j]);                                   \
          real rr = SIGMOID(wr[j] + bias[H + j] + bias[4 * H + j]);                              \
          real uu = bias[5 * H + j];                                                             \
          real hh = TANH(wh[j] + bias[2 * H + j] + rr * uu);                                     \
          hr[j] = (one - z) * hh;                                                                \
          wz[j] = z;                                                                             \
          wr[j] = rr;                                                                            \
          wu[j] = uu;                                                                            \
          wh[j] = hh;                                                                            \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
  }                                                                                              \
                                                                                                 \
  CLONES                                                                                         \
  static void gru_bwd_rows_##sfx(int64_t rows, int64_t H, real *w, int64_t ldw, const real *hp,  \
                                 int64_t ldhp, const real *dy, int64_t lddy, real *dh,           \
                                 double *bacc) {                                                 \
    const real one = 1;                                                                          \
    for (int64_t r = 0; r < rows; r++) {                                                         \
      real *wz = w + r * ldw, *wr = wz + H, *wu = wr + H, *wh = wu + H;                          \
      const real *hpr = hp + r * ldhp, *dyr = dy + r * lddy;                                     \
      real *dhr = dh + r * H;                                                                    \
      SIMD                                                                                       \
      for (int64_t j = 0; j < H; j++) {                                                          \
        real z = wz[j], rr = wr[j], uu = wu[j], hh = wh[j];                                      \
        real dht = dhr[j] + dyr[j];                                                              \
        real dah = dht * (one - z) * (one - hh * hh);                                            \
        real dz = dht * (hpr[j] - hh) * z * (one - z);                                           \
        real dr = dah * uu * rr * (one - rr);                                                    \
        dhr[j] = dht * z;                                                                        \
        wz[j] = dz;                                                                              \
        wr[j] = dr;                                                                              \
        wu[j] = dah * rr;                                                                        \
        wh[j] = dah;                                                                             \
      }                                                                                          \
      /* input bias: (dz, dr, dhh); recurrent bias: (dz, dr, du) */                              \
      SIMD                                                                                       \
      for (int64_t j = 0; j < 2 * H; j++) {                                                      \
        bacc[j] += (double)wz[j];                                                                \
        bacc[3 * H + j] += (double)wz[j];                                                        \
      }                                                                                          \
      SIMD                                                                                       \
      for (int64_t j = 0; j < H; j++) {                                                          \
        bacc[2 * H + j] += (double)wh[j];                                                        \
        bacc[5 * H + j] += (double)wu[j];                                                        \
      }                                                                                          \
    }                                                                                            \
  }

RNN_GRU_PASSES(f32, float, seq_vsigmoidf, seq_vtanhf, SEQ_VMATH_CLONES, _Pragma("omp simd"))
RNN_GRU_PASSES(f64, double, seq_sigmoid_f64, tanh, , )
#undef RNN_GRU_PASSES

/* Simple RNN forward: y (stride ldy) holds x.W + h.R; adds the bias and
 * activates in place.  Backward: g = (dh + dy) * act'(y) into dg (stride
 * ldg), summed into bacc [H]. */
#define RNN_SIMPLE_PASSES(sfx, real, TANH, CLONES, SIMD)                                            \
  CLONES                                                                                         \
  static void rnn_fwd_rows_##sfx(int64_t rows, int64_t H, real *y, int64_t ldy, const real *bias, \
                                 bool relu) {                                                    \
    for (int64_t r = 0; r < rows; r++) {                                                         \
      real *yr = y + r * ldy;                                                                    \
      if (relu) {                                                                                \
        SIMD                                                                                     \
        for (int64_t j = 0; j < H; j++) {                                                        \
          real v = yr[j] + bias[j];                                                              \
          yr[j] = v > 0 ? v : 0;                                                                 \
        }                                                                                        \
      } else {                                                                                   \
        SIMD                                                                                     \
        for (int64_t j = 0; j < H; j++) yr[j] = TANH(yr[j] + bias[j]);                           \
      }                                                                                          \
    }                                                                                            \
  }                                                                                              \
                                                                                                 \
  CLONES                                                                                         \
  static void rnn_bwd_rows_##sfx(int64_t rows, int64_t H, const real *y, int64_t ldy,            \
                                 const real *dy, int64_t lddy, const real *dh, real *dg,         \
                                 int64_t ldg, bool relu, double *bacc) {                          \
    const real one = 1;                                                                          \
    for (int64_t r = 0; r < rows; r++) {                                                         \
      const real *yr = y + r * ldy, *dyr = dy + r * lddy, *dhr = dh + r * H;                     \
      real *dgr = dg + r * ldg;                                                                  \
      if (relu) {                                                                                \
        SIMD                                                                                     \
        for (int64_t j = 0; j < H; j++) dgr[j] = yr[j] > 0 ? dhr[j] + dyr[j] : 0;                \
      } else {                                                                                   \
        SIMD                                                                                     \
        for (int64_t j = 0; j < H; j++) dgr[j] = (dhr[j] + dyr[j]) * (one - yr[j] * yr[j]);      \
      }                                                                                          \
      SIMD                                                                                       \
      for (int64_t j = 0; j < H; j++) bacc[j] += (double)dgr[j];                                 \
    }                                                                                            \
  }

RNN_SIMPLE_PASSES(f32, float, seq_vtanhf, SEQ_VMATH_CLONES, _Pragma("omp simd"))
RNN_SIMPLE_PASSES(f64, double, tanh, , )
#undef RNN_SIMPLE_PASSES

/* ------------------------------------------------------- preconditions */

static void rnn_assert_args(const seq_rnn_args *a) {
#ifndef NDEBUG
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H, GH = rnn_gates(a->mode) * H;
  seq_backend_assert(B > 0 && T > 0 && I > 0 && H > 0, "rnn: sizes are positive");
  const seq_dtype dt = a->kernel->dtype;
  seq_backend_assert(dt == SEQ_F32 || dt == SEQ_F64, "rnn: f32 or f64");
  const int64_t sk[2] = {I, GH}, sr[2] = {H, GH}, sbg[2] = {2, GH}, sb[1] = {H},
                sx[3] = {B, T, I}, sid[2] = {B, T}, sy[3] = {B, T, H}, sh[2] = {B, H};
  seq_backend_assert(rec_is(a->kernel, dt, 2, sk), "rnn: kernel [I,G*H]");
  seq_backend_assert(rec_is(a->recurrent, dt, 2, sr), "rnn: recurrent [H,G*H]");
  seq_backend_assert(a->mode == SEQ_RNN_GRU ? rec_is(a->bias, dt, 2, sbg) : rec_is(a->bias, dt, 1, sb),
                     "rnn: bias [2,3H] or [H]");
  seq_backend_assert(a->x_is_index ? rec_is(a->x, SEQ_I32, 2, sid) || rec_is(a->x, SEQ_I64, 2, sid)
                                   : rec_is(a->x, dt, 3, sx),
                     "rnn: x [B,T,I], or ids [B,T]");
  seq_backend_assert(rec_is(a->y, dt, 3, sy), "rnn: y [B,T,H]");
  const seq_tensor *states[3] = {a->h0, a->rmask, a->h_n};
  for (int k = 0; k < 3; k++)
    seq_backend_assert(!states[k] || rec_is(states[k], dt, 2, sh), "rnn: states [B,H]");
#else
  (void)a;
#endif
}

static void rnn_assert_grads(const seq_rnn_args *a, const seq_rnn_grads *gr) {
#ifndef NDEBUG
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H, GH = rnn_gates(a->mode) * H;
  const seq_dtype dt = a->kernel->dtype;
  const int64_t sy[3] = {B, T, H}, sx[3] = {B, T, I}, sh[2] = {B, H}, sk[2] = {I, GH},
                sr[2] = {H, GH};
  const struct { const seq_tensor *t; int ndim; const int64_t *shape; } g[] = {
      {gr->dy, 3, sy}, {gr->dh_n, 2, sh}, {gr->dx, 3, sx}, {gr->dkernel, 2, sk},
      {gr->drecurrent, 2, sr}, {gr->dh0, 2, sh}, {gr->dbias, a->bias->ndim, a->bias->shape}};
  for (size_t k = 0; k < sizeof g / sizeof *g; k++)
    seq_backend_assert(!g[k].t || rec_is(g[k].t, dt, g[k].ndim, g[k].shape),
                       "rnn backward: gradient shapes");
  seq_backend_assert(!(gr->dx && a->x_is_index), "rnn backward: ids have no gradient");
#else
  (void)a;
  (void)gr;
#endif
}

/* ---------------------------------------------------------------- forward */

/* What every forward thread reads, set up once per call. */
typedef struct rnn_fwd {
  const seq_rnn_args *a;
  seq_dtype dt;
  size_t es;
  int64_t T, I, H, GH; /* GH = gates * H */
  bool gru;
  char *ws;            /* GRU workspace [B,T,4H] */
  const char *zero;    /* one zero row of H */
  const float *rp;     /* recurrent packed for the f32 fast path, or NULL */
  const char *R, *bias, *h0, *mask;
  char *y;
} rnn_fwd;

/* Copies kernel columns c0..c0+n of the rows the ids pick into dst rows
 * (stride ldd): the one-hot product without the one-hot matrix. */
static void rnn_gather_rows(const rnn_fwd *f, int64_t xr, int64_t nrows, int64_t c0, int64_t n,
                            char *dst, int64_t ldd) {
  const seq_tensor *x = f->a->x;
  const void *ids = seq_tensor_data(x);
  const char *k = seq_tensor_data(f->a->kernel);
  const size_t es = f->es;
  for (int64_t r = 0; r < nrows; r++)
    memcpy(dst + (size_t)(r * ldd) * es, k + (size_t)(rec_id(x, ids, xr + r) * f->GH + c0) * es,
           (size_t)n * es);
}

/* Step 1 for rows b0.. (all their steps): the input projection into the
 * GRU workspace's z, r and hh slots, or into y for the simple RNN. */
static void rnn_project_inputs(const rnn_fwd *f, float *buf, int64_t b0, int64_t rows) {
  const seq_rnn_args *a = f->a;
  const int64_t T = f->T, I = f->I, H = f->H, GH = f->GH, n = rows * T, r0 = b0 * T;
  const size_t es = f->es;
  const char *x = (const char *)seq_tensor_data(a->x) + (a->x_is_index ? 0 : (size_t)(r0 * I) * es);
  const char *k = seq_tensor_data(a->kernel);
  if (!f->gru) {
    char *y = f->y + (size_t)(r0 * H) * es;
    if (a->x_is_index) rnn_gather_rows(f, r0, n, 0, H, y, H);
    else rec_big_gemm(f->dt, buf, n, H, I, x, I, 1, k, GH, false, false, y, H);
    return;
  }
  char *w = f->ws + (size_t)(r0 * 4 * H) * es;
  if (a->x_is_index) {
    rnn_gather_rows(f, r0, n, 0, 2 * H, w, 4 * H);
    rnn_gather_rows(f, r0, n, 2 * H, H, w + (size_t)(3 * H) * es, 4 * H);
    return;
  }
  rec_big_gemm(f->dt, buf, n, 2 * H, I, x, I, 1, k, GH, false, false, w, 4 * H);
  rec_big_gemm(f->dt, buf, n, H, I, x, I, 1, k + (size_t)(2 * H) * es, GH, false, false,
               w + (size_t)(3 * H) * es, 4 * H);
}

/* h_{t-1} of rows b0.. at step t (row stride in *ld; 0 = the zero row). */
static const char *rnn_prev_state(const rnn_fwd *f, int64_t b0, int64_t t, int64_t *ld) {
  const size_t es = f->es;
  if (t > 0) {
    *ld = f->T * f->H;
    return f->y + (size_t)((b0 * f->T + t - 1) * f->H) * es;
  }
  if (f->h0) {
    *ld = f->H;
    return f->h0 + (size_t)(b0 * f->H) * es;
  }
  *ld = 0;
  return f->zero;
}

/* Steps rows b0.. need: all T, or with lengths the longest of them (the
 * later steps are padding for every row of the slice). */
static int64_t rnn_slice_steps(const seq_rnn_args *a, int64_t b0, int64_t rows) {
  if (!a->lengths) return a->T;
  int64_t n = 0;
  for (int64_t r = 0; r < rows; r++)
    if (a->lengths[b0 + r] > n) n = a->lengths[b0 + r];
  return n;
}

/* hm = hp * mask for rows b0.. (the recurrent dropout), in `out` [rows,H]. */
static void rnn_mask_rows(seq_dtype dt, int64_t rows, int64_t H, const char *hp, int64_t ldhp,
                          const char *mask, char *out) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < H; j++) {
      if (dt == SEQ_F32)
        ((float *)out)[r * H + j] =
            ((const float *)hp)[r * ldhp + j] * ((const float *)mask)[r * H + j];
      else
        ((double *)out)[r * H + j] =
            ((const double *)hp)[r * ldhp + j] * ((const double *)mask)[r * H + j];
    }
}

/* Step 2, one step t of rows b0..: the recurrent product, then the pass.
 * scratch: u [rows,3H] (GRU) then hm [rows,H] (masked state). */
static void rnn_forward_step(const rnn_fwd *f, int64_t b0, int64_t rows, int64_t t,
                             char *scratch) {
  const seq_dtype dt = f->dt;
  const size_t es = f->es;
  const int64_t T = f->T, H = f->H, GH = f->GH;
  int64_t ldhp;
  const char *hp = rnn_prev_state(f, b0, t, &ldhp);
  const bool have_prev = ldhp != 0;
  char *u = scratch, *hm = scratch + (size_t)(rows * 3 * H) * es;
  const char *hin = hp;
  int64_t ldin = ldhp;
  if (have_prev && f->mask) {
    rnn_mask_rows(dt, rows, H, hp, ldhp, f->mask + (size_t)(b0 * H) * es, hm);
    hin = hm;
    ldin = H;
  }
  char *h = f->y + (size_t)((b0 * T + t) * H) * es;
  if (!f->gru) {
    if (have_prev) rec_step_gemm(dt, f->rp, rows, H, H, hin, ldin, false, f->R, GH, true, h, T * H);
    if (dt == SEQ_F32)
      rnn_fwd_rows_f32(rows, H, (float *)h, T * H, (const float *)f->bias,
                       f->a->mode == SEQ_RNN_RELU);
    else
      rnn_fwd_rows_f64(rows, H, (double *)h, T * H, (const double *)f->bias,
                       f->a->mode == SEQ_RNN_RELU);
    return;
  }
  if (have_prev) rec_step_gemm(dt, f->rp, rows, GH, H, hin, ldin, false, f->R, GH, false, u, GH);
  char *w = f->ws + (size_t)((b0 * T + t) * 4 * H) * es;
  if (dt == SEQ_F32)
    gru_fwd_rows_f32(rows, H, (float *)w, T * 4 * H, have_prev ? (const float *)u : NULL,
                     (const float *)f->bias, (const float *)hp, ldhp, (float *)h, T * H);
  else
    gru_fwd_rows_f64(rows, H, (double *)w, T * 4 * H, have_prev ? (const double *)u : NULL,
                     (const double *)f->bias, (const double *)hp, ldhp, (double *)h, T * H);
}

static seq_status rnn_forward_impl(seq_rnn_args *a) {
  rnn_assert_args(a);
  a->saved = NULL;
  const int64_t B = a->B, T = a->T, H = a->H;
  if (a->x_is_index) SEQ_TRY(rec_check_ids(a->mode == SEQ_RNN_GRU ? "gru" : "simple_rnn", a->x,
                                           B * T, a->I));
  rnn_fwd f = {.a = a, .dt = a->kernel->dtype, .T = T, .I = a->I, .H = H,
               .GH = rnn_gates(a->mode) * H, .gru = a->mode == SEQ_RNN_GRU};
  f.es = seq_dtype_size(f.dt);
  f.R = seq_tensor_data(a->recurrent);
  f.bias = seq_tensor_data(a->bias);
  f.h0 = a->h0 ? seq_tensor_data(a->h0) : NULL;
  f.mask = a->rmask ? seq_tensor_data(a->rmask) : NULL;
  f.y = seq_tensor_data(a->y);
  /* the GRU workspace (inference needs it too: one product per step into
   * it), then one zero row */
  const size_t n_ws = f.gru ? (size_t)(B * T) * (size_t)(4 * H) : 0;
  char *block = rec_alloc_big((n_ws + (size_t)H) * f.es);
  if (!block)
    return seq_fail(SEQ_ENOMEM, "%s: out of memory for the workspace (B=%lld T=%lld H=%lld)",
                    f.gru ? "gru" : "simple_rnn", (long long)B, (long long)T, (long long)H);
  f.ws = block;
  memset(block + n_ws * f.es, 0, (size_t)H * f.es);
  f.zero = block + n_ws * f.es;

  float *rp = NULL;
  if (f.dt == SEQ_F32 && T >= REC_PACK_MIN_T && rec_packed_ok()) {
    rp = rec_alloc(rec_packed_floats(H, f.GH) * sizeof(float));
#if REC_HAVE_PACKED
    if (rp) rec_pack_f32((const float *)f.R, f.GH, false, H, f.GH, rp);
#endif
  }
  f.rp = rp;

  const int nt = rec_team_size(B);
  const int saved_threads = nt > 1 ? rec_blas_single_begin() : 1;
  bool oom = false;
#pragma omp parallel num_threads(nt)
  {
    seq_cpu_ftz_enter(); /* per thread; the caller's mode is restored below */
    int64_t b0, b1;
    rec_slice(B, omp_get_thread_num(), omp_get_num_threads(), &b0, &b1);
    const int64_t rows = b1 - b0;
    float *buf = (!a->x_is_index && rows > 0) ? rec_big_buf(f.dt, f.GH, false) : NULL;
    char *scratch = rows > 0 ? rec_alloc((size_t)(rows * 4 * H) * f.es) : NULL;
    if (rows > 0 && !scratch) {
#pragma omp atomic write
      oom = true;
    } else if (rows > 0) {
      rnn_project_inputs(&f, buf, b0, rows);
      const int64_t steps = rnn_slice_steps(a, b0, rows);
      for (int64_t t = 0; t < steps; t++) rnn_forward_step(&f, b0, rows, t, scratch);
    }
    free(scratch);
    free(buf);
  }
  if (nt > 1) rec_blas_single_end(saved_threads);
  free(rp);
  if (oom) {
    rec_release_big(block);
    return seq_fail(SEQ_ENOMEM, "%s: out of memory", f.gru ? "gru" : "simple_rnn");
  }
  /* h_n is row b's last real step (h0 for length 0); with lengths y is
   * zeroed after it, so the steps run past a sample's length never leave */
  const size_t row = (size_t)H * f.es;
  for (int64_t b = 0; b < B; b++) {
    const int64_t last = a->lengths ? a->lengths[b] - 1 : T - 1;
    const char *h = last >= 0 ? f.y + (size_t)((b * T + last) * H) * f.es
                    : f.h0    ? f.h0 + (size_t)b * row
                              : f.zero;
    if (a->h_n) memcpy((char *)seq_tensor_data(a->h_n) + (size_t)b * row, h, row);
    if (a->lengths) memset(f.y + (size_t)((b * T + last + 1) * H) * f.es, 0, (size_t)(T - 1 - last) * row);
  }
  if (!a->training) {
    rec_release_big(block);
    return SEQ_OK;
  }
  rnn_saved *s = calloc(1, sizeof *s);
  if (!s) {
    rec_release_big(block);
    return seq_fail(SEQ_ENOMEM, "rnn: out of memory");
  }
  *s = (rnn_saved){f.dt, a->mode, B, T, H, NULL, false};
  if (f.gru) s->ws = block;
  else rec_release_big(block);
  a->saved = s;
  return SEQ_OK;
}

void seq_cpu_rnn_free_saved(void *saved) {
  rnn_saved *s = saved;
  if (!s) return;
  rec_release_big(s->ws);
  free(s);
}

/* --------------------------------------------------------------- backward */

typedef struct rnn_bwd {
  const seq_rnn_args *a;
  const seq_rnn_grads *gr;
  rnn_fwd f;         /* the forward's view of the operands (prev states) */
  char *dg;          /* GRU: the workspace, now gradients; RNN: dG [B,T,H] */
  int64_t ldg;       /* 4H or H */
  char *dh;          /* running dh [B,H] */
  char *hprev;       /* masked h_{t-1} of every row [B,T,H] */
  double *bacc;      /* per-thread dbias sums [nt, 6H or H] */
  int64_t nb;        /* bias elements */
  const float *rtp;  /* recurrent^T packed for the f32 fast path, or NULL */
  const char *dy;    /* dy [B,T,H] (zero after each sample's length), or NULL */
  char *stash;       /* with lengths: parked dh rows [B,H] */
} rnn_bwd;

/* Rows past their length at step t pass dh through unchanged and get zero
 * gate gradients: their dh is parked in `stash` and zeroed (with dy zero
 * there too the pass yields exactly zero and adds nothing to dh_{t-1}), then
 * put back after the step.  Returns whether any row of b0.. is past. */
static bool rnn_park_rows(const rnn_bwd *w, int64_t b0, int64_t rows, int64_t t, bool restore) {
  const int32_t *len = w->a->lengths;
  const size_t hr = (size_t)w->f.H * w->f.es;
  bool any = false;
  for (int64_t r = 0; r < rows; r++) {
    if (t < len[b0 + r]) continue;
    any = true;
    char *dh = w->dh + (size_t)(b0 + r) * hr, *sh = w->stash + (size_t)(b0 + r) * hr;
    if (restore) {
      memcpy(dh, sh, hr);
    } else {
      memcpy(sh, dh, hr);
      memset(dh, 0, hr);
    }
  }
  return any;
}

/* BPTT over rows b0..: per step the pass turns the row into gradients and
 * leaves the direct part of dh_{t-1} in dh, then dh_{t-1} += m*(dU.R^T). */
static void rnn_bptt(const rnn_bwd *w, int64_t b0, int64_t rows, double *acc, char *scratch) {
  const rnn_fwd *f = &w->f;
  const seq_dtype dt = f->dt;
  const size_t es = f->es;
  const int64_t T = f->T, H = f->H, GH = f->GH, ldg = w->ldg;
  const char *dy = w->dy;
  const bool want_dh0 = w->gr->dh0 != NULL, relu = w->a->mode == SEQ_RNN_RELU;
  char *dhr = w->dh + (size_t)(b0 * H) * es;
  const char *mask = f->mask ? f->mask + (size_t)(b0 * H) * es : NULL;
  const int64_t steps = rnn_slice_steps(w->a, b0, rows);
  for (int64_t t = T - 1; t >= steps; t--) /* padding for the whole slice: no gradient */
    for (int64_t r = 0; r < rows; r++)
      memset(w->dg + (size_t)(((b0 + r) * T + t) * ldg) * es, 0, (size_t)ldg * es);
  for (int64_t t = steps - 1; t >= 0; t--) {
    const bool parked = w->stash && rnn_park_rows(w, b0, rows, t, false);
    char *g = w->dg + (size_t)((b0 * T + t) * ldg) * es;
    const char *dyr = dy ? dy + (size_t)((b0 * T + t) * H) * es : f->zero;
    const int64_t lddy = dy ? T * H : 0;
    if (f->gru) {
      int64_t ldhp;
      const char *hp = rnn_prev_state(f, b0, t, &ldhp);
      if (dt == SEQ_F32)
        gru_bwd_rows_f32(rows, H, (float *)g, T * ldg, (const float *)hp, ldhp,
                         (const float *)dyr, lddy, (float *)dhr, acc);
      else
        gru_bwd_rows_f64(rows, H, (double *)g, T * ldg, (const double *)hp, ldhp,
                         (const double *)dyr, lddy, (double *)dhr, acc);
    } else {
      const char *yr = f->y + (size_t)((b0 * T + t) * H) * es;
      if (dt == SEQ_F32)
        rnn_bwd_rows_f32(rows, H, (const float *)yr, T * H, (const float *)dyr, lddy,
                         (const float *)dhr, (float *)g, T * ldg, relu, acc);
      else
        rnn_bwd_rows_f64(rows, H, (const double *)yr, T * H, (const double *)dyr, lddy,
                         (const double *)dhr, (double *)g, T * ldg, relu, acc);
    }
    if (t == 0 && !want_dh0) {
      if (parked) rnn_park_rows(w, b0, rows, t, true);
      break;
    }
    /* the simple RNN has no direct term: dh_{t-1} is the product alone */
    const bool acc_dh = f->gru && !mask;
    char *dst = mask ? scratch : dhr;
    rec_step_gemm(dt, w->rtp, rows, H, GH, g, T * ldg, true, f->R, GH, acc_dh, dst, H);
    if (mask) {
      for (int64_t k = 0; k < rows * H; k++) {
        if (dt == SEQ_F32) {
          float v = ((float *)scratch)[k] * ((const float *)mask)[k];
          ((float *)dhr)[k] = f->gru ? ((float *)dhr)[k] + v : v;
        } else {
          double v = ((double *)scratch)[k] * ((const double *)mask)[k];
          ((double *)dhr)[k] = f->gru ? ((double *)dhr)[k] + v : v;
        }
      }
    }
    if (parked) rnn_park_rows(w, b0, rows, t, true);
  }
}

/* hprev rows of b0..b1: h_{t-1} * mask, the left operand of drecurrent. */
static void rnn_fill_hprev(const rnn_bwd *w, int64_t b0, int64_t b1) {
  const rnn_fwd *f = &w->f;
  const size_t es = f->es;
  const int64_t T = f->T, H = f->H;
  for (int64_t b = b0; b < b1; b++)
    for (int64_t t = 0; t < T; t++) {
      int64_t ld;
      const char *hp = rnn_prev_state(f, b, t, &ld);
      char *dst = w->hprev + (size_t)((b * T + t) * H) * es;
      if (f->mask) rnn_mask_rows(f->dt, 1, H, hp, 0, f->mask + (size_t)(b * H) * es, dst);
      else memcpy(dst, hp, (size_t)H * es);
    }
}

/* dkernel columns j0..j1 (of G*H): x^T . dX, where the GRU's dX column j is
 * the workspace's j for z, r and j + H for hh; index input scatters rows. */
static void rnn_kernel_grad(const rnn_bwd *w, float *buf, int64_t j0, int64_t j1) {
  const rnn_fwd *f = &w->f;
  const seq_rnn_args *a = w->a;
  const seq_dtype dt = f->dt;
  const size_t es = f->es;
  const int64_t I = f->I, GH = f->GH, BT = a->B * f->T, ldg = w->ldg;
  char *dk = seq_tensor_data(w->gr->dkernel);
  /* at most two runs of columns with a constant workspace offset */
  int64_t runs[2][3], nr = 0; /* first column, count, workspace offset */
  const int64_t split = f->gru ? 2 * f->H : GH;
  if (j0 < split) runs[nr][0] = j0, runs[nr][1] = (j1 < split ? j1 : split) - j0, runs[nr++][2] = 0;
  if (j1 > split) {
    const int64_t s0 = j0 > split ? j0 : split;
    runs[nr][0] = s0, runs[nr][1] = j1 - s0, runs[nr++][2] = f->H;
  }
  for (int64_t q = 0; q < nr; q++) {
    const int64_t c0 = runs[q][0], nc = runs[q][1], off = runs[q][2];
    if (!a->x_is_index) {
      rec_big_gemm(dt, buf, I, nc, BT, seq_tensor_data(a->x), 1, I,
                   w->dg + (size_t)(c0 + off) * es, ldg, false, false, dk + (size_t)c0 * es, GH);
      continue;
    }
    const void *ids = seq_tensor_data(a->x);
    for (int64_t i = 0; i < I; i++) memset(dk + (size_t)(i * GH + c0) * es, 0, (size_t)nc * es);
    for (int64_t r = 0; r < BT; r++) {
      const int64_t id = rec_id(a->x, ids, r);
      for (int64_t j = 0; j < nc; j++) {
        if (dt == SEQ_F32)
          ((float *)dk)[id * GH + c0 + j] += ((const float *)w->dg)[r * ldg + c0 + off + j];
        else
          ((double *)dk)[id * GH + c0 + j] += ((const double *)w->dg)[r * ldg + c0 + off + j];
      }
    }
  }
}

static void rnn_finish_grads(const rnn_bwd *w, int nt) {
  const seq_rnn_grads *gr = w->gr;
  if (gr->dh0) memcpy(seq_tensor_data(gr->dh0), w->dh, (size_t)(w->a->B * w->f.H) * w->f.es);
  if (!gr->dbias) return;
  void *db = seq_tensor_data(gr->dbias);
  for (int64_t j = 0; j < w->nb; j++) {
    double v = 0;
    for (int k = 0; k < nt; k++) v += w->bacc[(size_t)k * (size_t)w->nb + (size_t)j];
    if (w->f.dt == SEQ_F32) ((float *)db)[j] = (float)v;
    else ((double *)db)[j] = v;
  }
}

static seq_status rnn_backward_impl(seq_rnn_args *a, seq_rnn_grads *gr) {
  rnn_saved *s = a->saved;
  seq_backend_assert(s && !s->consumed, "rnn backward: one backward per training forward");
  rnn_assert_args(a);
  rnn_assert_grads(a, gr);
  const seq_dtype dt = s->dtype;
  const size_t es = seq_dtype_size(dt);
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H;
  seq_backend_assert(s->B == B && s->T == T && s->H == H && s->mode == a->mode &&
                         a->kernel->dtype == dt,
                     "rnn backward: the forward's arguments");
  const char *op = a->mode == SEQ_RNN_GRU ? "gru" : "simple_rnn";
  if (a->x_is_index && gr->dkernel) SEQ_TRY(rec_check_ids(op, a->x, B * T, I));

  rnn_bwd w = {.a = a, .gr = gr};
  w.f = (rnn_fwd){.a = a, .dt = dt, .es = es, .T = T, .I = I, .H = H,
                  .GH = rnn_gates(a->mode) * H, .gru = a->mode == SEQ_RNN_GRU};
  w.f.R = seq_tensor_data(a->recurrent);
  w.f.h0 = a->h0 ? seq_tensor_data(a->h0) : NULL;
  w.f.mask = a->rmask ? seq_tensor_data(a->rmask) : NULL;
  w.f.y = seq_tensor_data(a->y);
  w.nb = w.f.gru ? 6 * H : H;
  w.ldg = w.f.gru ? 4 * H : H;
  const int nt = rec_team_size(B);
  /* scratch: dh [B,H], zero row [H], then hprev [B,T,H] and (simple RNN)
   * dG [B,T,H] in one big block */
  const bool want_w = gr->drecurrent != NULL;
  const size_t n_hprev = want_w ? (size_t)(B * T) * (size_t)H : 0;
  const size_t n_dg = w.f.gru ? 0 : (size_t)(B * T) * (size_t)H;
  const size_t n_stash = a->lengths ? (size_t)(B * H) : 0;
  const size_t n_dy = a->lengths && gr->dy ? (size_t)(B * T) * (size_t)H : 0;
  char *small = rec_alloc(((size_t)(B * H + H) + n_stash) * es);
  char *big = rec_alloc_big((n_hprev + n_dg + n_dy + 1) * es);
  w.bacc = calloc((size_t)nt * (size_t)w.nb, sizeof(double));
  if (!small || !big || !w.bacc) {
    free(small);
    rec_release_big(big);
    free(w.bacc);
    return seq_fail(SEQ_ENOMEM, "%s backward: out of memory", op);
  }
  w.dh = small;
  char *zero = small + (size_t)(B * H) * es;
  memset(zero, 0, (size_t)H * es);
  w.f.zero = zero;
  w.hprev = big;
  w.dg = w.f.gru ? s->ws : big + n_hprev * es;
  w.stash = a->lengths ? zero + (size_t)H * es : NULL;
  /* y is zero after each sample's length, so dy there is ignored */
  w.dy = gr->dy ? seq_tensor_data(gr->dy) : NULL;
  if (n_dy) {
    char *dy_real = big + (n_hprev + n_dg) * es;
    memcpy(dy_real, w.dy, n_dy * es);
    for (int64_t b = 0; b < B; b++) {
      const int64_t l = a->lengths[b];
      memset(dy_real + (size_t)((b * T + l) * H) * es, 0, (size_t)((T - l) * H) * es);
    }
    w.dy = dy_real;
  }
  if (gr->dh_n) memcpy(w.dh, seq_tensor_data(gr->dh_n), (size_t)(B * H) * es);
  else memset(w.dh, 0, (size_t)(B * H) * es);
  s->consumed = true;

  float *rtp = NULL; /* packed recurrent^T [GH,H] */
  if (dt == SEQ_F32 && T >= REC_PACK_MIN_T && rec_packed_ok()) {
    rtp = rec_alloc(rec_packed_floats(w.f.GH, H) * sizeof(float));
#if REC_HAVE_PACKED
    if (rtp) rec_pack_f32((const float *)w.f.R, w.f.GH, true, w.f.GH, H, rtp);
#endif
  }
  w.rtp = rtp;

  bool oom = false;
  const int saved_threads = nt > 1 ? rec_blas_single_begin() : 1;
#pragma omp parallel num_threads(nt)
  {
    seq_cpu_ftz_enter(); /* per thread; the caller's mode is restored below */
    const int tid = omp_get_thread_num(), team = omp_get_num_threads();
    int64_t b0, b1;
    rec_slice(B, tid, team, &b0, &b1);
    const int64_t rows = b1 - b0;
    char *scratch = (rows > 0 && w.f.mask) ? rec_alloc((size_t)(rows * H) * es) : NULL;
    if (rows > 0 && w.f.mask && !scratch) {
#pragma omp atomic write
      oom = true;
    } else if (rows > 0) {
      rnn_bptt(&w, b0, rows, w.bacc + (size_t)tid * (size_t)w.nb, scratch);
    }
    free(scratch);
    const int64_t GH = w.f.GH, ncmax = (GH + team - 1) / team;
    float *buf = rec_big_buf(dt, I > ncmax ? I : ncmax, true);
    /* dx = dX . kernel^T over this thread's rows */
    if (gr->dx && rows > 0) {
      const char *dgr = w.dg + (size_t)(b0 * T * w.ldg) * es;
      char *dx = (char *)seq_tensor_data(gr->dx) + (size_t)(b0 * T * I) * es;
      const char *k = seq_tensor_data(a->kernel);
      const int64_t n0 = w.f.gru ? 2 * H : H;
      rec_big_gemm(dt, buf, rows * T, I, n0, dgr, w.ldg, 1, k, GH, true, false, dx, I);
      if (w.f.gru)
        rec_big_gemm(dt, buf, rows * T, I, H, dgr + (size_t)(3 * H) * es, w.ldg, 1,
                     k + (size_t)(2 * H) * es, GH, true, true, dx, I);
    }
    if (want_w) rnn_fill_hprev(&w, b0, b1);
#pragma omp barrier
    int64_t j0, j1;
    rec_slice(GH, tid, team, &j0, &j1);
    if (!oom && gr->dkernel && j1 > j0) rnn_kernel_grad(&w, buf, j0, j1);
    if (!oom && want_w && j1 > j0) /* dU = the workspace's first GH columns */
      rec_big_gemm(dt, buf, H, j1 - j0, B * T, w.hprev, 1, H, w.dg + (size_t)j0 * es, w.ldg,
                   false, false, (char *)seq_tensor_data(gr->drecurrent) + (size_t)j0 * es, GH);
    free(buf);
  }
  if (nt > 1) rec_blas_single_end(saved_threads);
  free(rtp);
  if (!oom) rnn_finish_grads(&w, nt);
  free(w.bacc);
  free(small);
  rec_release_big(big);
  if (oom) return seq_fail(SEQ_ENOMEM, "%s backward: out of memory", op);
  return SEQ_OK;
}

seq_status seq_cpu_rnn_forward(seq_rnn_args *a) {
  const unsigned saved = seq_cpu_ftz_enter();
  seq_status st = rnn_forward_impl(a);
  seq_cpu_ftz_leave(saved);
  return st;
}

seq_status seq_cpu_rnn_backward(seq_rnn_args *a, seq_rnn_grads *gr) {
  const unsigned saved = seq_cpu_ftz_enter();
  seq_status st = rnn_backward_impl(a, gr);
  seq_cpu_ftz_leave(saved);
  return st;
}
