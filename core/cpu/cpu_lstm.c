/* cpu_lstm.c - the fused whole-sequence LSTM on the CPU (Keras layout).
 *
 * Layout.  Everything is batch-major like x and y: the gate workspace G is
 * [B,T,4H] with gates (i, f, c, o) side by side in each row.
 *
 * Threads.  Rows of different batch elements never interact, so forward and
 * backward each run as ONE OpenMP team in which every thread owns a slice of
 * the batch for all T steps: no barrier per step (backward has one barrier
 * before the weight gradients).  Inside the team every product runs
 * single-threaded; the BLAS's own threads are parked for the call, so the
 * two never oversubscribe the cores.
 *
 * Products.  f32 (the training path) uses our own register-blocked kernel
 * over packed panels of the right operand (rec_sgemm_panels: 8x32 tiles on
 * AVX-512, 6x16 on AVX2+FMA, picked by CPU feature): the recurrent matrix
 * is packed once per call and reused by all T steps, which the BLAS cannot
 * do (it re-packs it on every call), and on AVX-512 the all-steps products
 * read dG in place in L2-sized chunks of rows (on AVX2 the backward's
 * all-steps products stay with the BLAS, see rec_big_buf).  This also makes
 * the per-step products independent of the BLAS's CPU detection.  f64
 * (gradient checks) and CPUs without AVX2+FMA use the BLAS with the same
 * leading-dimension addressing.
 *
 * Forward.
 *   1. G = x . kernel over all of a thread's B*T rows at once (index input:
 *      a row gather of kernel; the one-hot matrix never exists).
 *   2. For t = 0..T-1: G[:,t] += h_{t-1} . recurrent (one product per step:
 *      rows of step t are T*4H apart, h_{t-1} is y[:,t-1] with stride T*H),
 *      then one fused pass adds the bias, activates the gates in place and
 *      writes c_t and h_t = y[:,t].
 *   Saved for backward: the activated gates G and the cell states [B,T,H]
 *   in one allocation; h_t is y itself (the op layer keeps y alive).
 *   Inference keeps a window of 32 steps of G and only the running c.
 *
 * Backward (BPTT), same thread split:
 *   per step, the fused pass turns G[:,t] into pre-activation gate gradients
 *   dG[:,t] in place (the saved state is consumed) and accumulates dbias;
 *   then dh_{t-1} = dG[:,t] . recurrent^T (one product per step).
 *   Then, with all steps' dG at hand:
 *     dx         = dG . kernel^T       own rows, only when wanted
 *     dkernel    = x^T . dG            over all B*T rows, threads split the
 *                                       4H columns (index input: scatter-add
 *                                       of dG rows)
 *     drecurrent = sum_t h_{t-1}^T dG_t over B*T-1 rows of the shifted y,
 *                                       plus a rank-B fix-up for the rows
 *                                       that start a sequence. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "cpu_recurrent.h"
#include "cpu_vmath.h"


typedef struct lstm_saved {
  seq_dtype dtype;
  int64_t B, T, H;
  void *block;   /* one allocation: gates [B,T,4H] then cells [B,T,H] */
  void *gates;
  void *cells;
  bool consumed; /* backward overwrites gates with their gradients */
} lstm_saved;


/* --------------------------------------------------------- gate passes
 * One body for both float types, instantiated below as Torch7's TH generic
 * files do.  f32 (training) uses cpu_vmath.h's vectorisable sigmoid and tanh
 * in loops cloned for AVX-512, AVX2 and the baseline; f64 exists for
 * gradient checks and uses the exact libm functions. */


/* Forward pass over `rows` rows of one step.
 * g: pre-activations without bias (row stride ldg) -> activated gates;
 * cp: c_{t-1} (stride ldcp, 0 = the same zero row for all); c, h: outputs.
 *
 * Backward pass over `rows` rows of one step.
 * g: activated gates -> pre-activation gradients (in place); c: c_t;
 * cp: c_{t-1}; dy: upstream dh from y (stride lddy, 0 = zero row);
 * dh: recurrent dh (stride H, read); dc: dc_t in, dc_{t-1} out (stride H);
 * bacc: running dbias sums [4H] in double. */
#define LSTM_INFER_WINDOW 32 /* steps projected at a time in inference */

#define LSTM_GATE_PASSES(sfx, real, SIGMOID, TANH, CLONES, SIMD)                                 \
  CLONES                                                                                         \
  static void lstm_fwd_rows_##sfx(int64_t rows, int64_t H, real *g, int64_t ldg,                 \
                                  const real *bias, const real *cp, int64_t ldcp, real *c,      \
                                  int64_t ldc, real *h, int64_t ldh) {                           \
    for (int64_t r = 0; r < rows; r++) {                                                         \
      real *gi = g + r * ldg, *gf = gi + H, *gc = gf + H, *go = gc + H;                          \
      const real *cpr = cp + r * ldcp;                                                           \
      real *cr = c + r * ldc, *hr = h + r * ldh;                                                 \
      SIMD                                                                                       \
      for (int64_t j = 0; j < H; j++) {                                                          \
        real i = SIGMOID(gi[j] + bias[j]);                                                       \
        real f = SIGMOID(gf[j] + bias[H + j]);                                                   \
        real cc = TANH(gc[j] + bias[2 * H + j]);                                                 \
        real o = SIGMOID(go[j] + bias[3 * H + j]);                                               \
        real cn = f * cpr[j] + i * cc;                                                           \
        cr[j] = cn;                                                                              \
        hr[j] = o * TANH(cn);                                                                    \
        gi[j] = i;                                                                               \
        gf[j] = f;                                                                               \
        gc[j] = cc;                                                                              \
        go[j] = o;                                                                               \
      }                                                                                          \
    }                                                                                            \
  }                                                                                              \
                                                                                                 \
  CLONES                                                                                         \
  static void lstm_bwd_rows_##sfx(int64_t rows, int64_t H, real *g, int64_t ldg, const real *c,  \
                                  int64_t ldc, const real *cp, int64_t ldcp, const real *dy,    \
                                  int64_t lddy, const real *dh, real *dc, double *bacc) {       \
    const real one = 1;                                                                          \
    for (int64_t r = 0; r < rows; r++) {                                                         \
      real *gi = g + r * ldg, *gf = gi + H, *gc = gf + H, *go = gc + H;                          \
      const real *cr = c + r * ldc, *cpr = cp + r * ldcp, *dyr = dy + r * lddy;                  \
      const real *dhr = dh + r * H;                                                              \
      real *dcr = dc + r * H;                                                                    \
      SIMD                                                                                       \
      for (int64_t j = 0; j < H; j++) {                                                          \
        real i = gi[j], f = gf[j], cc = gc[j], o = go[j];                                        \
        real tc = TANH(cr[j]);                                                                   \
        real dht = dhr[j] + dyr[j];                                                              \
        real dct = dcr[j] + dht * o * (one - tc * tc);                                           \
        real di = dct * cc, dcc = dct * i, df = dct * cpr[j], dout = dht * tc;                   \
        dcr[j] = dct * f;                                                                        \
        gi[j] = di * i * (one - i);                                                              \
        gf[j] = df * f * (one - f);                                                              \
        gc[j] = dcc * (one - cc * cc);                                                           \
        go[j] = dout * o * (one - o);                                                            \
      }                                                                                          \
      SIMD                                                                                       \
      for (int64_t j = 0; j < 4 * H; j++) bacc[j] += (double)gi[j];                              \
    }                                                                                            \
  }

LSTM_GATE_PASSES(f32, float, seq_vsigmoidf, seq_vtanhf, SEQ_VMATH_CLONES, _Pragma("omp simd"))
LSTM_GATE_PASSES(f64, double, seq_sigmoid_f64, tanh, , )
#undef LSTM_GATE_PASSES

/* ------------------------------------------------- preconditions and ids */


/* What the op layer guarantees (seq_lstm_args): asserted, never reported. */
static void lstm_assert_args(const seq_lstm_args *a) {
#ifndef NDEBUG
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H;
  seq_backend_assert(B > 0 && T > 0 && I > 0 && H > 0, "lstm: sizes are positive");
  const seq_dtype dt = a->kernel->dtype;
  seq_backend_assert(dt == SEQ_F32 || dt == SEQ_F64, "lstm: f32 or f64");
  const int64_t sk[2] = {I, 4 * H}, sr[2] = {H, 4 * H}, sb[1] = {4 * H}, sx[3] = {B, T, I},
                sid[2] = {B, T}, sy[3] = {B, T, H}, sh[2] = {B, H};
  seq_backend_assert(rec_is(a->kernel, dt, 2, sk), "lstm: kernel [I,4H]");
  seq_backend_assert(rec_is(a->recurrent, dt, 2, sr), "lstm: recurrent [H,4H]");
  seq_backend_assert(rec_is(a->bias, dt, 1, sb), "lstm: bias [4H]");
  seq_backend_assert(a->x_is_index ? rec_is(a->x, SEQ_I32, 2, sid) || rec_is(a->x, SEQ_I64, 2, sid)
                                   : rec_is(a->x, dt, 3, sx),
                     "lstm: x [B,T,I], or ids [B,T]");
  seq_backend_assert(rec_is(a->y, dt, 3, sy), "lstm: y [B,T,H]");
  const seq_tensor *states[4] = {a->h0, a->c0, a->h_n, a->c_n};
  for (int k = 0; k < 4; k++)
    seq_backend_assert(!states[k] || rec_is(states[k], dt, 2, sh), "lstm: states [B,H]");
#else
  (void)a;
#endif
}

static void lstm_assert_grads(const seq_lstm_args *a, const seq_lstm_grads *gr) {
#ifndef NDEBUG
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H;
  const seq_dtype dt = a->kernel->dtype;
  const int64_t sy[3] = {B, T, H}, sx[3] = {B, T, I}, sh[2] = {B, H}, sk[2] = {I, 4 * H},
                sr[2] = {H, 4 * H}, sb[1] = {4 * H};
  const struct { const seq_tensor *t; int ndim; const int64_t *shape; } g[] = {
      {gr->dy, 3, sy},      {gr->dh_n, 2, sh},       {gr->dc_n, 2, sh},   {gr->dx, 3, sx},
      {gr->dkernel, 2, sk}, {gr->drecurrent, 2, sr}, {gr->dbias, 1, sb},  {gr->dh0, 2, sh},
      {gr->dc0, 2, sh}};
  for (size_t k = 0; k < sizeof g / sizeof *g; k++)
    seq_backend_assert(!g[k].t || rec_is(g[k].t, dt, g[k].ndim, g[k].shape),
                       "lstm backward: gradient shapes");
  seq_backend_assert(!(gr->dx && a->x_is_index), "lstm backward: ids have no gradient");
#else
  (void)a;
  (void)gr;
#endif
}


/* Steps rows b0.. need: all T, or with lengths the longest of them (the
 * later steps are padding for every row of the slice). */
static int64_t lstm_slice_steps(const seq_lstm_args *a, int64_t b0, int64_t rows) {
  if (!a->lengths) return a->T;
  int64_t n = 0;
  for (int64_t r = 0; r < rows; r++)
    if (a->lengths[b0 + r] > n) n = a->lengths[b0 + r];
  return n;
}

/* ---------------------------------------------------------------- forward */

/* What every forward thread reads, set up once per call. */
typedef struct lstm_fwd {
  const seq_lstm_args *a;
  seq_dtype dt;
  size_t es;
  int64_t T, I, H, G4;
  int64_t TW;          /* steps of gates held at once: T, or a window in inference */
  bool train;
  char *block;         /* the workspace allocation: */
  char *gates, *cells; /*   gates [B,TW,4H], cells [B,T,H] ([B,H] in inference) */
  const char *zero;    /*   one zero row: the initial state without h0/c0 */
  int64_t cs_b, cs_t;  /* cell strides between batch rows and between steps */
  const float *rp;     /* recurrent kernel packed for the f32 fast path, or NULL */
  const char *R, *bias, *h0, *c0; /* the operands' data (h0, c0 may be NULL) */
  char *y;
  const char *rmask;   /* recurrent dropout mask [B,H], or NULL */
  char *hm;            /*   room for h_{t-1} * mask [B,H] (in the workspace) */
} lstm_fwd;

/* dst = src * mask for rows b0.. (mask rows [B,H] from b0; dst ld H). */
static void lstm_mask_rows(seq_dtype dt, int64_t rows, int64_t H, const char *src, int64_t lds,
                           const char *mask, char *dst) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < H; j++) {
      if (dt == SEQ_F32)
        ((float *)dst)[r * H + j] = ((const float *)src)[r * lds + j] * ((const float *)mask)[r * H + j];
      else
        ((double *)dst)[r * H + j] = ((const double *)src)[r * lds + j] * ((const double *)mask)[r * H + j];
    }
}

/* Training keeps every step's gates for backward (TW = T); inference only
 * needs a window of steps, projected a window at a time, so its workspace
 * does not grow with the sequence (205 MB -> 13 MB for batch 256 x 500
 * steps x 100 units) and keeps only the running cell state. */
static seq_status lstm_fwd_workspace(lstm_fwd *f, int64_t B) {
  const int64_t T = f->T, H = f->H;
  const size_t es = f->es;
  f->TW = f->train ? T : (T < LSTM_INFER_WINDOW ? T : LSTM_INFER_WINDOW);
  const size_t n_gates = (size_t)(B * f->TW) * (size_t)f->G4;
  const size_t n_cells = f->train ? (size_t)(B * T) * (size_t)H : (size_t)B * (size_t)H;
  const size_t n_hm = f->rmask ? (size_t)B * (size_t)H : 0;
  f->block = rec_alloc_big((n_gates + n_cells + (size_t)H + n_hm) * es);
  if (!f->block)
    return seq_fail(SEQ_ENOMEM, "lstm: out of memory for the workspace (B=%lld T=%lld H=%lld)",
                    (long long)B, (long long)T, (long long)H);
  f->gates = f->block;
  f->cells = f->gates + n_gates * es;
  char *zero = f->cells + n_cells * es;
  memset(zero, 0, (size_t)H * es);
  f->zero = zero;
  f->hm = f->rmask ? zero + (size_t)H * es : NULL;
  f->cs_b = f->train ? T * H : H;
  f->cs_t = f->train ? H : 0;
  if (!f->train) { /* the running cell state starts as c0 */
    for (int64_t b = 0; b < B; b++)
      memcpy(f->cells + (size_t)(b * H) * es, f->c0 ? f->c0 + (size_t)(b * H) * es : f->zero,
             (size_t)H * es);
  }
  return SEQ_OK;
}

/* Step 1: G = x . kernel for rows b0.. of steps t0..t0+tc-1.  Training: all
 * steps at once (rows b0*T .. are contiguous in x and in the gates);
 * inference: one product per batch row.  Index input gathers kernel rows. */
static void lstm_project_inputs(const lstm_fwd *f, float *buf, int64_t b0, int64_t rows,
                                int64_t t0, int64_t tc) {
  const seq_lstm_args *a = f->a;
  const int64_t T = f->T, TW = f->TW, I = f->I, G4 = f->G4;
  const size_t es = f->es;
  const int64_t nblk = TW == T ? 1 : rows, blk_rows = TW == T ? rows * T : tc;
  for (int64_t q = 0; q < nblk; q++) {
    const int64_t xr = TW == T ? b0 * T : (b0 + q) * T + t0; /* first row of x */
    const int64_t gr0 = TW == T ? b0 * T : (b0 + q) * TW;     /* first gates row */
    if (a->x_is_index) {
      const void *ids = seq_tensor_data(a->x);
      const char *k = seq_tensor_data(a->kernel);
      const size_t row = (size_t)G4 * es;
      for (int64_t r = 0; r < blk_rows; r++)
        memcpy(f->gates + (size_t)(gr0 + r) * row, k + (size_t)rec_id(a->x, ids, xr + r) * row,
               row);
    } else {
      rec_big_gemm(f->dt, buf, blk_rows, G4, I,
                    (const char *)seq_tensor_data(a->x) + (size_t)(xr * I) * es, I, 1,
                    seq_tensor_data(a->kernel), G4, false, false,
                    f->gates + (size_t)(gr0 * G4) * es, G4);
    }
  }
}

/* Step 2, one step t of rows b0..: G[:,t] += h_{t-1} . recurrent, then the
 * gate pass writes c_t and h_t = y[:,t]. */
static void lstm_forward_step(const lstm_fwd *f, int64_t b0, int64_t rows, int64_t t,
                              int64_t t0) {
  const seq_dtype dt = f->dt;
  const size_t es = f->es;
  const int64_t T = f->T, TW = f->TW, H = f->H, G4 = f->G4, cs_b = f->cs_b, cs_t = f->cs_t;
  const char *R = f->R;
  char *y = f->y;
  char *g = f->gates + (size_t)((b0 * TW + (t - t0)) * G4) * es;
  /* rows of step t are TW*4H apart; h_{t-1} is y[:,t-1] with stride T*H */
  const char *hp = t > 0 ? y + (size_t)((b0 * T + t - 1) * H) * es
                   : f->h0 ? f->h0 + (size_t)(b0 * H) * es
                           : NULL;
  int64_t ldhp = t > 0 ? T * H : H;
  if (hp && f->rmask) { /* recurrent dropout: the product sees h_{t-1} * mask */
    char *hm = f->hm + (size_t)(b0 * H) * es;
    lstm_mask_rows(dt, rows, H, hp, ldhp, f->rmask + (size_t)(b0 * H) * es, hm);
    hp = hm;
    ldhp = H;
  }
  if (hp) rec_step_gemm(dt, f->rp, rows, G4, H, hp, ldhp, false, R, G4, true, g, TW * G4);
  /* previous cell state */
  const char *cp;
  int64_t ldcp;
  if (!f->train) {
    cp = f->cells + (size_t)(b0 * H) * es;
    ldcp = H;
  } else if (t > 0) {
    cp = f->cells + (size_t)(b0 * cs_b + (t - 1) * cs_t) * es;
    ldcp = cs_b;
  } else if (f->c0) {
    cp = f->c0 + (size_t)(b0 * H) * es;
    ldcp = H;
  } else {
    cp = f->zero;
    ldcp = 0;
  }
  char *c = f->cells + (size_t)(b0 * cs_b + t * cs_t) * es;
  char *h = y + (size_t)((b0 * T + t) * H) * es;
  const char *bias = f->bias;
  if (dt == SEQ_F32)
    lstm_fwd_rows_f32(rows, H, (float *)g, TW * G4, (const float *)bias, (const float *)cp, ldcp,
                      (float *)c, cs_b, (float *)h, T * H);
  else
    lstm_fwd_rows_f64(rows, H, (double *)g, TW * G4, (const double *)bias, (const double *)cp,
                      ldcp, (double *)c, cs_b, (double *)h, T * H);
}

/* Step 3: h_n and c_n are the last step's (in inference the running cell
 * state, which the same strides address).  With lengths, row b's last real
 * step is lengths[b]-1 (all steps are kept then) and y is zeroed after it:
 * the steps run past a sample's length never leave the kernel. */
static void lstm_final_states(const lstm_fwd *f, int64_t B) {
  const seq_lstm_args *a = f->a;
  const int64_t T = f->T, H = f->H;
  const size_t es = f->es, len = (size_t)H * es;
  char *y = f->y;
  for (int64_t b = 0; b < B; b++) {
    const size_t hb = (size_t)(b * H) * es;
    const int64_t last = a->lengths ? a->lengths[b] - 1 : T - 1;
    const char *h = last >= 0 ? y + (size_t)((b * T + last) * H) * es : f->h0 ? f->h0 + hb : f->zero;
    const char *c = last >= 0 ? f->cells + (size_t)(b * f->cs_b + last * f->cs_t) * es
                    : f->c0   ? f->c0 + hb
                              : f->zero;
    if (a->h_n) memcpy((char *)seq_tensor_data(a->h_n) + hb, h, len);
    if (a->c_n) memcpy((char *)seq_tensor_data(a->c_n) + hb, c, len);
    if (a->lengths)
      memset(y + (size_t)((b * T + last + 1) * H) * es, 0, (size_t)((T - 1 - last) * H) * es);
  }
}

static seq_status lstm_forward_impl(seq_lstm_args *a) {
  lstm_assert_args(a);
  a->saved = NULL;
  const int64_t B = a->B, T = a->T;
  if (a->x_is_index) SEQ_TRY(rec_check_ids("lstm", a->x, B * T, a->I));
  /* lengths keep every step's cells too: the final state is a middle step's */
  lstm_fwd f = {.a = a, .dt = a->kernel->dtype, .T = T, .I = a->I, .H = a->H, .G4 = 4 * a->H,
                .train = a->training || a->lengths};
  f.es = seq_dtype_size(f.dt);
  f.R = seq_tensor_data(a->recurrent);
  f.bias = seq_tensor_data(a->bias);
  f.h0 = a->h0 ? seq_tensor_data(a->h0) : NULL;
  f.c0 = a->c0 ? seq_tensor_data(a->c0) : NULL;
  f.y = seq_tensor_data(a->y);
  f.rmask = a->recurrent_mask ? seq_tensor_data(a->recurrent_mask) : NULL;
  SEQ_TRY(lstm_fwd_workspace(&f, B));

  float *rp = NULL;
  /* packing costs about one step's product: worth it over several steps
   * (a stateful one-step call, as in text generation, goes to the BLAS) */
  if (f.dt == SEQ_F32 && T >= REC_PACK_MIN_T && rec_packed_ok()) {
    rp = rec_alloc(rec_packed_floats(f.H, f.G4) * sizeof(float));
#if REC_HAVE_PACKED
    if (rp) rec_pack_f32(seq_tensor_data(a->recurrent), f.G4, false, f.H, f.G4, rp);
#endif
  }
  f.rp = rp;

  const int nt = rec_team_size(B);
  const int saved_threads = nt > 1 ? rec_blas_single_begin() : 1;
#pragma omp parallel num_threads(nt)
  {
    seq_cpu_ftz_enter(); /* per thread; the caller's mode is restored below */
    int64_t b0, b1;
    rec_slice(B, omp_get_thread_num(), omp_get_num_threads(), &b0, &b1);
    const int64_t rows = b1 - b0;
    float *buf = (!a->x_is_index && rows > 0) ? rec_big_buf(f.dt, f.G4, false) : NULL;
    const int64_t steps = rows > 0 ? lstm_slice_steps(a, b0, rows) : 0;
    for (int64_t t0 = 0; t0 < steps; t0 += f.TW) {
      const int64_t tc = steps - t0 < f.TW ? steps - t0 : f.TW;
      lstm_project_inputs(&f, buf, b0, rows, t0, tc);
      for (int64_t t = t0; t < t0 + tc; t++) lstm_forward_step(&f, b0, rows, t, t0);
    }
    free(buf);
  }
  if (nt > 1) rec_blas_single_end(saved_threads);
  free(rp);
  lstm_final_states(&f, B);

  if (!a->training) {
    rec_release_big(f.block);
    return SEQ_OK;
  }
  lstm_saved *s = calloc(1, sizeof *s);
  if (!s) {
    rec_release_big(f.block);
    return seq_fail(SEQ_ENOMEM, "lstm: out of memory");
  }
  *s = (lstm_saved){f.dt, B, T, f.H, f.block, f.gates, f.cells, false};
  a->saved = s;
  return SEQ_OK;
}

void seq_cpu_lstm_free_saved(void *saved) {
  lstm_saved *s = saved;
  if (!s) return;
  rec_release_big(s->block);
  free(s);
}

/* --------------------------------------------------------------- backward */

/* What every backward thread reads and writes, set up once per call. */
typedef struct lstm_bwd {
  const seq_lstm_args *a;
  const seq_lstm_grads *gr;
  seq_dtype dt;
  size_t es;
  int64_t B, T, I, H, G4;
  char *dg;          /* the saved gates, overwritten with their gradients */
  const char *cells; /* the saved cell states [B,T,H] */
  char *dh, *dc;     /* running dh, dc [B,H] */
  const char *zero;  /* one zero row of H */
  char *fix;         /* h0[b] - y[b*T-1] rows for drecurrent [B,H] */
  double *bacc;      /* per-thread dbias sums [nt,4H] */
  const float *rtp;  /* recurrent^T packed for the f32 fast path, or NULL */
  const char *dy;    /* dy [B,T,H] (zero after each sample's length), or NULL */
  char *stash;       /* with lengths: room for parked dh, dc rows [B,2H] */
  const char *rmask; /* recurrent dropout mask [B,H], or NULL */
  const char *yr;    /* the h_{t-1} rows drecurrent pairs: y, or y * mask */
} lstm_bwd;

/* Rows past their length at step t keep dh and dc unchanged and get zero
 * gate gradients: their dh, dc are parked in `stash` and zeroed (so the
 * gate pass, with dy zero there too, yields exactly zero), and put back
 * after the step (lstm_bptt).  Returns whether any row of b0.. is past. */
static bool lstm_park_rows(const lstm_bwd *w, int64_t b0, int64_t rows, int64_t t, char *stash,
                           bool restore) {
  const int32_t *len = w->a->lengths;
  const size_t hr = (size_t)w->H * w->es;
  bool any = false;
  for (int64_t r = 0; r < rows; r++) {
    if (t < len[b0 + r]) continue;
    any = true;
    char *dh = w->dh + (size_t)(b0 + r) * hr, *dc = w->dc + (size_t)(b0 + r) * hr;
    char *sh = stash + (size_t)(2 * r) * hr, *sc = sh + hr;
    if (restore) {
      memcpy(dh, sh, hr);
      memcpy(dc, sc, hr);
    } else {
      memcpy(sh, dh, hr);
      memcpy(sc, dc, hr);
      memset(dh, 0, hr);
      memset(dc, 0, hr);
    }
  }
  return any;
}

/* BPTT over rows b0..: per step the gate pass turns G[:,t] into dG[:,t] in
 * place and adds to the dbias sums, then dh_{t-1} = dG_t . R^T. */
static void lstm_bptt(const lstm_bwd *w, int64_t b0, int64_t rows, double *acc) {
  const seq_lstm_args *a = w->a;
  const seq_dtype dt = w->dt;
  const size_t es = w->es;
  const int64_t T = w->T, H = w->H, G4 = w->G4;
  const char *R = seq_tensor_data(a->recurrent);
  const char *dy = w->dy;
  const char *c0 = a->c0 ? seq_tensor_data(a->c0) : NULL;
  const bool want_dh0 = w->gr->dh0 != NULL;
  char *dhr = w->dh + (size_t)(b0 * H) * es, *dcr = w->dc + (size_t)(b0 * H) * es;
  /* with lengths: parked dh, dc of the rows past their length (2 rows each) */
  char *stash = a->lengths ? w->stash + (size_t)(2 * b0 * H) * es : NULL;
  const int64_t steps = lstm_slice_steps(a, b0, rows);
  for (int64_t t = T - 1; t >= steps; t--) /* padding for the whole slice: no gradient */
    for (int64_t r = 0; r < rows; r++)
      memset(w->dg + (size_t)(((b0 + r) * T + t) * G4) * es, 0, (size_t)G4 * es);
  for (int64_t t = steps - 1; t >= 0; t--) {
    const bool parked = stash && lstm_park_rows(w, b0, rows, t, stash, false);
    char *g = w->dg + (size_t)((b0 * T + t) * G4) * es;
    const char *c = w->cells + (size_t)((b0 * T + t) * H) * es;
    const char *cp;
    int64_t ldcp;
    if (t > 0) {
      cp = c - (size_t)H * es;
      ldcp = T * H;
    } else if (c0) {
      cp = c0 + (size_t)(b0 * H) * es;
      ldcp = H;
    } else {
      cp = w->zero;
      ldcp = 0;
    }
    const char *dyr = dy ? dy + (size_t)((b0 * T + t) * H) * es : w->zero;
    const int64_t lddy = dy ? T * H : 0;
    if (dt == SEQ_F32)
      lstm_bwd_rows_f32(rows, H, (float *)g, T * G4, (const float *)c, T * H, (const float *)cp,
                        ldcp, (const float *)dyr, lddy, (const float *)dhr, (float *)dcr, acc);
    else
      lstm_bwd_rows_f64(rows, H, (double *)g, T * G4, (const double *)c, T * H,
                        (const double *)cp, ldcp, (const double *)dyr, lddy, (const double *)dhr,
                        (double *)dcr, acc);
    if (t > 0 || want_dh0) {
      rec_step_gemm(dt, w->rtp, rows, H, G4, g, T * G4, true, R, G4, false, dhr, H);
      if (w->rmask) lstm_mask_rows(dt, rows, H, dhr, H, w->rmask + (size_t)(b0 * H) * es, dhr);
    }
    if (parked) lstm_park_rows(w, b0, rows, t, stash, true);
  }
}

/* drecurrent = sum over rows r = b*T+t of h_{t-1}^T dG_r.  One GEMM pairs
 * dG row r with y row r-1 for all r >= 1; that is right except where r
 * starts a sequence (t = 0), whose h_{-1} is h0[b] (or 0) rather than the
 * last output of the previous sequence, so a rank-B GEMM with rows
 * fix[b] = h0[b] - y[b*T-1] corrects those terms.  This fills rows b0..b1. */
static void lstm_first_step_fix(const lstm_bwd *w, int64_t b0, int64_t b1) {
  const seq_dtype dt = w->dt;
  const int64_t T = w->T, H = w->H;
  const void *h0 = w->a->h0 ? seq_tensor_data(w->a->h0) : NULL;
  const void *y = w->yr, *m = w->rmask;
  for (int64_t b = b0; b < b1; b++) {
    for (int64_t j = 0; j < H; j++) {
      double v = 0;
      if (h0) v = dt == SEQ_F32 ? ((const float *)h0)[b * H + j] : ((const double *)h0)[b * H + j];
      if (h0 && m) v *= dt == SEQ_F32 ? ((const float *)m)[b * H + j] : ((const double *)m)[b * H + j];
      if (b > 0) {
        int64_t idx = (b * T - 1) * H + j;
        v -= dt == SEQ_F32 ? ((const float *)y)[idx] : ((const double *)y)[idx];
      }
      if (dt == SEQ_F32) ((float *)w->fix)[b * H + j] = (float)v;
      else ((double *)w->fix)[b * H + j] = v;
    }
  }
}

/* dkernel columns j0..j1 over all B*T rows: x^T . dG, or for index input a
 * scatter-add of dG rows into the rows the ids picked. */
static void lstm_kernel_grad(const lstm_bwd *w, float *buf, int64_t j0, int64_t j1) {
  const seq_lstm_args *a = w->a;
  const seq_dtype dt = w->dt;
  const size_t es = w->es;
  const int64_t I = w->I, G4 = w->G4, BT = w->B * w->T, nc = j1 - j0;
  char *dk = seq_tensor_data(w->gr->dkernel);
  if (!a->x_is_index) {
    rec_big_gemm(dt, buf, I, nc, BT, seq_tensor_data(a->x), 1, I, w->dg + (size_t)j0 * es, G4,
                  false, false, dk + (size_t)j0 * es, G4);
    return;
  }
  const void *ids = seq_tensor_data(a->x);
  for (int64_t i = 0; i < I; i++) memset(dk + (size_t)(i * G4 + j0) * es, 0, (size_t)nc * es);
  for (int64_t r = 0; r < BT; r++) {
    int64_t id = rec_id(a->x, ids, r);
    if (dt == SEQ_F32) {
      float *dst = (float *)dk + id * G4;
      const float *src = (const float *)w->dg + r * G4;
      for (int64_t j = j0; j < j1; j++) dst[j] += src[j];
    } else {
      double *dst = (double *)dk + id * G4;
      const double *src = (const double *)w->dg + r * G4;
      for (int64_t j = j0; j < j1; j++) dst[j] += src[j];
    }
  }
}

/* drecurrent columns j0..j1: the shifted-y product plus the fix-up rows. */
static void lstm_recurrent_grad(const lstm_bwd *w, float *buf, int64_t j0, int64_t j1) {
  const seq_dtype dt = w->dt;
  const size_t es = w->es;
  const int64_t B = w->B, T = w->T, H = w->H, G4 = w->G4, nc = j1 - j0;
  char *dr = (char *)seq_tensor_data(w->gr->drecurrent) + (size_t)j0 * es;
  rec_big_gemm(dt, buf, H, nc, B * T - 1, w->yr, 1, H,
                w->dg + (size_t)(G4 + j0) * es, G4, false, false, dr, G4);
  rec_big_gemm(dt, buf, H, nc, B, w->fix, 1, H, w->dg + (size_t)j0 * es, T * G4, false, true, dr,
                G4);
}

/* The gradients that are per-call sums: dh0, dc0 and dbias (over threads). */
static void lstm_finish_grads(const lstm_bwd *w, int nt) {
  const seq_lstm_grads *gr = w->gr;
  const size_t bh = (size_t)(w->B * w->H) * w->es;
  const int64_t G4 = w->G4;
  if (gr->dh0) memcpy(seq_tensor_data(gr->dh0), w->dh, bh);
  if (gr->dc0) memcpy(seq_tensor_data(gr->dc0), w->dc, bh);
  if (gr->dbias) {
    void *db = seq_tensor_data(gr->dbias);
    for (int64_t j = 0; j < G4; j++) {
      double v = 0;
      for (int k = 0; k < nt; k++) v += w->bacc[(size_t)k * (size_t)G4 + (size_t)j];
      if (w->dt == SEQ_F32) ((float *)db)[j] = (float)v;
      else ((double *)db)[j] = v;
    }
  }
}

static seq_status lstm_backward_impl(seq_lstm_args *a, seq_lstm_grads *gr) {
  lstm_saved *s = a->saved;
  seq_backend_assert(s && !s->consumed, "lstm backward: one backward per training forward");
  lstm_assert_args(a);
  lstm_assert_grads(a, gr);
  const seq_dtype dt = s->dtype;
  const size_t es = seq_dtype_size(dt);
  const int64_t B = a->B, T = a->T, I = a->I, H = a->H, G4 = 4 * H;
  seq_backend_assert(s->B == B && s->T == T && s->H == H && a->kernel->dtype == dt,
                     "lstm backward: the forward's arguments");
  /* the ids were checked by the forward, but may have been overwritten in
   * place since; a bad one would write outside dkernel */
  if (a->x_is_index && gr->dkernel) SEQ_TRY(rec_check_ids("lstm", a->x, B * T, I));

  const int nt = rec_team_size(B);
  /* scratch: dh [B,H], dc [B,H], zero row [H], fix-up rows [B,H], and with
   * lengths the parked rows [B,2H] */
  const int64_t nstash = a->lengths ? 2 * B * H : 0;
  char *scratch = rec_alloc((size_t)(3 * B * H + H + nstash) * es);
  double *bacc = calloc((size_t)nt * (size_t)G4, sizeof(double));
  if (!scratch || !bacc) {
    free(scratch);
    free(bacc);
    return seq_fail(SEQ_ENOMEM, "lstm backward: out of memory");
  }
  lstm_bwd w = {.a = a, .gr = gr, .dt = dt, .es = es, .B = B, .T = T, .I = I, .H = H, .G4 = G4,
                .dg = s->gates, .cells = s->cells, .bacc = bacc};
  w.dh = scratch;
  w.dc = w.dh + (size_t)(B * H) * es;
  char *zero = w.dc + (size_t)(B * H) * es;
  w.fix = zero + (size_t)H * es;
  w.stash = a->lengths ? w.fix + (size_t)(B * H) * es : NULL;
  memset(zero, 0, (size_t)H * es);
  w.zero = zero;
  if (gr->dh_n) memcpy(w.dh, seq_tensor_data(gr->dh_n), (size_t)(B * H) * es);
  else memset(w.dh, 0, (size_t)(B * H) * es);
  if (gr->dc_n) memcpy(w.dc, seq_tensor_data(gr->dc_n), (size_t)(B * H) * es);
  else memset(w.dc, 0, (size_t)(B * H) * es);
  /* recurrent dropout: drecurrent pairs dG with the masked h_{t-1} */
  char *y_masked = NULL;
  w.rmask = a->recurrent_mask ? seq_tensor_data(a->recurrent_mask) : NULL;
  w.yr = seq_tensor_data(a->y);
  if (w.rmask && gr->drecurrent) {
    if (!(y_masked = rec_alloc((size_t)(B * T * H) * es))) {
      free(scratch);
      free(bacc);
      return seq_fail(SEQ_ENOMEM, "lstm backward: out of memory");
    }
    for (int64_t b = 0; b < B; b++)
      for (int64_t t = 0; t < T; t++)
        lstm_mask_rows(dt, 1, H, (const char *)w.yr + (size_t)((b * T + t) * H) * es, H,
                       w.rmask + (size_t)(b * H) * es, y_masked + (size_t)((b * T + t) * H) * es);
    w.yr = y_masked;
  }
  /* y is zero after each sample's length, so dy there is ignored */
  char *dy_real = NULL;
  w.dy = gr->dy ? seq_tensor_data(gr->dy) : NULL;
  if (gr->dy && a->lengths) {
    const size_t n = (size_t)(B * T * H) * es;
    if (!(dy_real = rec_alloc(n))) {
      free(y_masked);
      free(scratch);
      free(bacc);
      return seq_fail(SEQ_ENOMEM, "lstm backward: out of memory");
    }
    memcpy(dy_real, w.dy, n);
    for (int64_t b = 0; b < B; b++) {
      const int64_t l = a->lengths[b];
      memset(dy_real + (size_t)((b * T + l) * H) * es, 0, (size_t)((T - l) * H) * es);
    }
    w.dy = dy_real;
  }
  s->consumed = true;

  float *rtp = NULL; /* packed recurrent^T [4H,H], f32 fast path */
  if (dt == SEQ_F32 && T >= REC_PACK_MIN_T && rec_packed_ok()) {
    rtp = rec_alloc(rec_packed_floats(G4, H) * sizeof(float));
#if REC_HAVE_PACKED
    if (rtp) rec_pack_f32(seq_tensor_data(a->recurrent), G4, true, G4, H, rtp);
#endif
  }
  w.rtp = rtp;

  const int saved_threads = nt > 1 ? rec_blas_single_begin() : 1;
#pragma omp parallel num_threads(nt)
  {
    seq_cpu_ftz_enter(); /* per thread; the caller's mode is restored below */
    const int tid = omp_get_thread_num(), team = omp_get_num_threads();
    int64_t b0, b1;
    rec_slice(B, tid, team, &b0, &b1);
    const int64_t rows = b1 - b0;
    if (rows > 0) lstm_bptt(&w, b0, rows, bacc + (size_t)tid * (size_t)G4);

    /* pack buffer for the big products of this thread (NULL: BLAS path) */
    const int64_t ncmax = (G4 + team - 1) / team;
    float *buf = rec_big_buf(dt, I > ncmax ? I : ncmax, true);
    /* dx = dG . kernel^T needs only this thread's rows of dG */
    if (gr->dx && rows > 0)
      rec_big_gemm(dt, buf, rows * T, I, G4, w.dg + (size_t)(b0 * T * G4) * es, G4, 1,
                    seq_tensor_data(a->kernel), G4, true, false,
                    (char *)seq_tensor_data(gr->dx) + (size_t)(b0 * T * I) * es, I);
    if (gr->drecurrent) lstm_first_step_fix(&w, b0, b1);
#pragma omp barrier
    /* weight gradients over all B*T rows: each thread owns a slice of the
     * 4H columns, so nothing is shared and no reduction is needed */
    int64_t j0, j1;
    rec_slice(G4, tid, team, &j0, &j1);
    if (gr->dkernel && j1 > j0) lstm_kernel_grad(&w, buf, j0, j1);
    if (gr->drecurrent && j1 > j0) lstm_recurrent_grad(&w, buf, j0, j1);
    free(buf);
  }
  if (nt > 1) rec_blas_single_end(saved_threads);
  free(rtp);
  lstm_finish_grads(&w, nt);
  free(dy_real);
  free(y_masked);
  free(bacc);
  free(scratch);
  return SEQ_OK;
}

/* Public entry points: run the kernels with denormals flushed to zero. */
seq_status seq_cpu_lstm_forward(seq_lstm_args *a) {
  const unsigned saved = seq_cpu_ftz_enter();
  seq_status st = lstm_forward_impl(a);
  seq_cpu_ftz_leave(saved);
  return st;
}

seq_status seq_cpu_lstm_backward(seq_lstm_args *a, seq_lstm_grads *gr) {
  const unsigned saved = seq_cpu_ftz_enter();
  seq_status st = lstm_backward_impl(a, gr);
  seq_cpu_ftz_leave(saved);
  return st;
}

const char *seq_cpu_recurrent_gemm(void) {
  switch (rec_packed_isa()) {
  case REC_ISA_AVX512: return "seqlua avx512 panels";
  case REC_ISA_AVX2: return "seqlua avx2/fma panels";
  default: return "BLAS";
  }
}
