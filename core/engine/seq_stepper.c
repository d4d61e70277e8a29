/* seq_stepper.c - the generation plan of seq_stepper.h: checks a model's
 * layers once, lays their weights out on the host for cpu_stepper.h's row
 * kernels, and steps them one id at a time with nothing allocated. */
#define _POSIX_C_SOURCE 200112L /* posix_memalign */
#include "seq_stepper.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_stepper.h"
#include "seq_autograd.h"
#include "seq_checked.h"
#include "seq_ops.h"
#include "seq_philox.h"

typedef struct step_op {
  seq_step_kind kind;
  seq_cpu_row_act act;
  int64_t in, units, ld; /* input width, output width, padded gate columns */
  char *W, *R;           /* [in, ld], [units, ld] */
  char *b, *b2;          /* bias [ld] (GRU: input bias), GRU recurrent bias [ld] */
  char *z, *z2;          /* pre-activations [ld] (GRU: x part, h part) */
  char *h, *c;           /* state [units pad], LSTM cell; Dense/Activation: output */
} step_op;

struct seq_stepper {
  seq_dtype dtype;
  size_t es;
  int nops;
  step_op *ops;
  int64_t vocab, width;
  bool simd;
  bool primed; /* an output exists */
  char *block; /* every array of the plan */
  size_t block_bytes;
  double *scratch; /* the sampler's e_i [width] */
};

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

static const char *kind_name(seq_step_kind k) {
  switch (k) {
    case SEQ_STEP_LSTM: return "LSTM";
    case SEQ_STEP_GRU: return "GRU";
    case SEQ_STEP_SIMPLE_RNN: return "SimpleRNN";
    case SEQ_STEP_DENSE: return "Dense";
    default: return "Activation";
  }
}

static bool is_recurrent(seq_step_kind k) { return k <= SEQ_STEP_SIMPLE_RNN; }

static int64_t gates_of(seq_step_kind k) { return k == SEQ_STEP_LSTM ? 4 : k == SEQ_STEP_GRU ? 3 : 1; }

/* "stepper: layer 2 (lstm_1, LSTM): " */
#define LAYER_FMT "stepper: layer %d (%s, %s): "
#define LAYER_ARGS(i, l) (i) + 1, (l)->name ? (l)->name : "?", kind_name((l)->kind)

static bool has_shape(const seq_tensor *t, int ndim, int64_t d0, int64_t d1) {
  if (!t || t->ndim != ndim || t->shape[0] != d0) return false;
  return ndim == 1 || t->shape[1] == d1;
}

/* Checks layer i against the width of what comes before (prev, -1 for the
 * first: any vocabulary) and the plan's dtype; sets *units. */
static seq_status check_layer(int i, const seq_step_layer *l, int64_t prev, seq_dtype dt, int64_t *units) {
  if ((int)l->kind < 0 || l->kind > SEQ_STEP_ACTIVATION) return seq_fail(SEQ_EARG, "stepper: layer %d: unknown kind", i + 1);
  if ((int)l->activation < 0 || l->activation > SEQ_STEP_RELU)
    return seq_fail(SEQ_EARG, LAYER_FMT "unknown activation", LAYER_ARGS(i, l));
  if (l->kind == SEQ_STEP_ACTIVATION) {
    *units = prev;
    return SEQ_OK;
  }
  const seq_tensor *k = l->kernel, *r = l->recurrent_kernel, *b = l->bias;
  if (!k) return seq_fail(SEQ_EARG, LAYER_FMT "has no kernel (is it built?)", LAYER_ARGS(i, l));
  const seq_tensor *all[3] = {k, r, b};
  for (int j = 0; j < 3; j++)
    if (all[j] && all[j]->dtype != dt)
      return seq_fail(SEQ_EDTYPE, LAYER_FMT "weights are %s, the first layer's %s (one float dtype per model)",
                      LAYER_ARGS(i, l), seq_dtype_name(all[j]->dtype), seq_dtype_name(dt));
  if (k->ndim != 2 || k->shape[0] < 1 || k->shape[1] < 1)
    return seq_fail(SEQ_ESHAPE, LAYER_FMT "kernel %s is not a matrix", LAYER_ARGS(i, l), seq_tshape(k));
  if (prev >= 0 && k->shape[0] != prev)
    return seq_fail(SEQ_ESHAPE, LAYER_FMT "kernel %s takes %lld inputs, the layer before gives %lld",
                    LAYER_ARGS(i, l), seq_tshape(k), (long long)k->shape[0], (long long)prev);
  if (l->kind == SEQ_STEP_DENSE) {
    const int64_t U = k->shape[1];
    if (b && !has_shape(b, 1, U, 0))
      return seq_fail(SEQ_ESHAPE, LAYER_FMT "bias %s does not match kernel %s", LAYER_ARGS(i, l), seq_tshape(b),
                      seq_tshape(k));
    if (r) return seq_fail(SEQ_EARG, LAYER_FMT "a Dense layer has no recurrent kernel", LAYER_ARGS(i, l));
    *units = U;
    return SEQ_OK;
  }
  const int64_t G = gates_of(l->kind);
  if (!r || r->ndim != 2 || r->shape[1] % G != 0 || r->shape[1] / G != r->shape[0] || r->shape[0] < 1)
    return seq_fail(SEQ_ESHAPE, LAYER_FMT "recurrent kernel %s is not [units, %lld*units]", LAYER_ARGS(i, l),
                    r ? seq_tshape(r) : "(none)", (long long)G);
  const int64_t H = r->shape[0];
  if (k->shape[1] != G * H)
    return seq_fail(SEQ_ESHAPE, LAYER_FMT "kernel %s does not match recurrent kernel %s", LAYER_ARGS(i, l),
                    seq_tshape(k), seq_tshape(r));
  bool bias_ok = l->kind == SEQ_STEP_GRU ? (!b || has_shape(b, 2, 2, G * H))
                 : l->kind == SEQ_STEP_LSTM ? has_shape(b, 1, G * H, 0)
                                            : (!b || has_shape(b, 1, H, 0));
  if (!bias_ok)
    return seq_fail(SEQ_ESHAPE, LAYER_FMT "bias %s does not match recurrent kernel %s", LAYER_ARGS(i, l),
                    b ? seq_tshape(b) : "(none)", seq_tshape(r));
  if (l->kind == SEQ_STEP_SIMPLE_RNN && l->activation != SEQ_STEP_TANH && l->activation != SEQ_STEP_RELU)
    return seq_fail(SEQ_EARG, LAYER_FMT "activation must be tanh or relu", LAYER_ARGS(i, l));
  *units = H;
  return SEQ_OK;
}

/* Copies rows x cols of `t` (rows from row0, any device) into dst: with
 * row stride ld (the padding stays zero), or packed for the row kernel
 * (seq_cpu_rowmv_pack, padded to ld columns). */
static seq_status copy_rows(seq_tensor *t, int64_t row0, int64_t rows, int64_t cols, int64_t ld, size_t es,
                            bool packed, char *dst) {
  seq_tensor *host = NULL, *flat = NULL;
  bool was = seq_set_grad_enabled(false);
  seq_status st = t->device == SEQ_CPU ? (host = seq_tensor_retain(t), SEQ_OK) : seq_to_device(&host, t, SEQ_CPU);
  if (st == SEQ_OK) st = seq_contiguous(&flat, host);
  seq_set_grad_enabled(was);
  if (st == SEQ_OK) {
    const char *src = (const char *)seq_tensor_data(flat) + (size_t)(row0 * cols) * es;
    if (packed) seq_cpu_rowmv_pack(es, rows, cols, ld, src, dst);
    else
      for (int64_t r = 0; r < rows; r++)
        memcpy(dst + (size_t)(r * ld) * es, src + (size_t)(r * cols) * es, (size_t)cols * es);
  }
  seq_tensor_release(flat);
  seq_tensor_release(host);
  return st == SEQ_OK ? SEQ_OK : seq_fail_context(st, "stepper: copying weights to the host");
}

/* Carves 64-byte aligned arrays of `n` elements out of the block (base
 * NULL: only counts). */
static char *take(char *base, size_t *off, int64_t n, size_t es, bool *overflow) {
  size_t bytes;
  if (!seq_mul_size((size_t)n, es, &bytes) || !seq_add_size(bytes, 63, &bytes) || !seq_add_size(*off, bytes & ~(size_t)63, &bytes)) {
    *overflow = true;
    return NULL;
  }
  char *p = base ? base + *off : NULL;
  *off = bytes;
  return p;
}

/* Lays the ops' arrays out in `base` (NULL: sizes only); returns the size. */
static size_t layout(seq_stepper *s, char *base, bool *overflow) {
  size_t off = 0;
  const size_t es = s->es;
  for (int i = 0; i < s->nops; i++) {
    step_op *o = &s->ops[i];
    const int64_t pu = round_up(o->units, SEQ_ROWMV_PAD);
    if (o->kind != SEQ_STEP_ACTIVATION) {
      int64_t nW, nR;
      if (!seq_mul_i64(o->in, o->ld, &nW) || !seq_mul_i64(o->units, o->ld, &nR)) *overflow = true;
      if (*overflow) return 0;
      o->W = take(base, &off, nW, es, overflow);
      o->R = is_recurrent(o->kind) ? take(base, &off, nR, es, overflow) : NULL;
      o->b = take(base, &off, o->ld, es, overflow);
      o->b2 = o->kind == SEQ_STEP_GRU ? take(base, &off, o->ld, es, overflow) : NULL;
      o->z = take(base, &off, o->ld, es, overflow);
      o->z2 = o->kind == SEQ_STEP_GRU ? take(base, &off, o->ld, es, overflow) : NULL;
    }
    o->h = take(base, &off, pu, es, overflow);
    o->c = o->kind == SEQ_STEP_LSTM ? take(base, &off, pu, es, overflow) : NULL;
  }
  return off;
}

static seq_cpu_row_act row_act(seq_step_act a) {
  switch (a) {
    case SEQ_STEP_SOFTMAX: return SEQ_CPU_ROW_SOFTMAX;
    case SEQ_STEP_SIGMOID: return SEQ_CPU_ROW_SIGMOID;
    case SEQ_STEP_TANH: return SEQ_CPU_ROW_TANH;
    case SEQ_STEP_RELU: return SEQ_CPU_ROW_RELU;
    default: return SEQ_CPU_ROW_LINEAR;
  }
}

/* The weights of layer l into op o (its arrays laid out, zeroed).  The
 * first layer's kernel stays row-major: a step reads row `id` of it. */
static seq_status load_weights(const seq_step_layer *l, step_op *o, bool first, size_t es) {
  if (o->kind == SEQ_STEP_ACTIVATION) return SEQ_OK;
  const int64_t G = o->kind == SEQ_STEP_DENSE ? 1 : gates_of(o->kind), GH = G * o->units;
  SEQ_TRY(copy_rows(l->kernel, 0, o->in, GH, o->ld, es, !first, o->W));
  if (o->R) SEQ_TRY(copy_rows(l->recurrent_kernel, 0, o->units, GH, o->ld, es, true, o->R));
  if (l->bias) {
    SEQ_TRY(copy_rows(l->bias, 0, 1, GH, o->ld, es, false, o->b));
    if (o->kind == SEQ_STEP_GRU) SEQ_TRY(copy_rows(l->bias, 1, 1, GH, o->ld, es, false, o->b2));
  }
  return SEQ_OK;
}

seq_status seq_stepper_new(seq_stepper **out, int nlayers, const seq_step_layer *layers) {
  *out = NULL;
  if (nlayers < 1 || !layers) return seq_fail(SEQ_EARG, "stepper: no layers");
  if (!is_recurrent(layers[0].kind))
    return seq_fail(SEQ_EARG, "stepper: the first layer must be an LSTM, GRU or SimpleRNN over class ids, got %s",
                    kind_name(layers[0].kind));
  if (!layers[0].kernel) return seq_fail(SEQ_EARG, "stepper: layer 1 has no kernel (is it built?)");
  const seq_dtype dt = layers[0].kernel->dtype;
  if (dt != SEQ_F32 && dt != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "stepper: weights must be f32 or f64, got %s", seq_dtype_name(dt));
  seq_stepper *s = calloc(1, sizeof *s);
  if (!s) return seq_fail(SEQ_ENOMEM, "stepper: out of memory");
  s->ops = calloc((size_t)nlayers, sizeof *s->ops);
  if (!s->ops) {
    free(s);
    return seq_fail(SEQ_ENOMEM, "stepper: out of memory");
  }
  s->dtype = dt;
  s->es = seq_dtype_size(dt);
  s->nops = nlayers;
  s->simd = seq_cpu_rowmv_simd_supported();
  int64_t prev = -1;
  seq_status st = SEQ_OK;
  for (int i = 0; i < nlayers && st == SEQ_OK; i++) {
    const seq_step_layer *l = &layers[i];
    step_op *o = &s->ops[i];
    int64_t units = 0;
    st = check_layer(i, l, prev, dt, &units);
    if (st != SEQ_OK) break;
    o->kind = l->kind;
    o->act = row_act(l->kind == SEQ_STEP_LSTM || l->kind == SEQ_STEP_GRU ? SEQ_STEP_LINEAR : l->activation);
    o->units = units;
    if (l->kind != SEQ_STEP_ACTIVATION) {
      o->in = l->kernel->shape[0];
      o->ld = round_up(l->kernel->shape[1], SEQ_ROWMV_PAD);
    }
    if (i == 0) s->vocab = o->in;
    prev = units;
  }
  if (st == SEQ_OK) {
    s->width = prev;
    bool overflow = false;
    s->block_bytes = layout(s, NULL, &overflow);
    void *block = NULL;
    if (overflow) st = seq_fail(SEQ_ENOMEM, "stepper: the model is too large");
    else if (posix_memalign(&block, 64, s->block_bytes ? s->block_bytes : 64) != 0)
      st = seq_fail(SEQ_ENOMEM, "stepper: out of memory for %zu bytes of weights", s->block_bytes);
    else {
      s->block = block;
      memset(s->block, 0, s->block_bytes);
      layout(s, s->block, &overflow);
      s->scratch = malloc((size_t)s->width * sizeof(double));
      if (!s->scratch) st = seq_fail(SEQ_ENOMEM, "stepper: out of memory");
    }
  }
  for (int i = 0; i < nlayers && st == SEQ_OK; i++) st = load_weights(&layers[i], &s->ops[i], i == 0, s->es);
  if (st != SEQ_OK) {
    seq_stepper_free(s);
    return st;
  }
  *out = s;
  return SEQ_OK;
}

void seq_stepper_free(seq_stepper *s) {
  if (!s) return;
  free(s->block);
  free(s->ops);
  free(s->scratch);
  free(s);
}

seq_dtype seq_stepper_dtype(const seq_stepper *s) { return s->dtype; }
int64_t seq_stepper_vocab(const seq_stepper *s) { return s->vocab; }
int64_t seq_stepper_width(const seq_stepper *s) { return s->width; }
const char *seq_stepper_kernel_name(const seq_stepper *s) { return s->simd ? "avx2-fma" : "scalar"; }

void seq_stepper_reset(seq_stepper *s) {
  for (int i = 0; i < s->nops; i++) {
    step_op *o = &s->ops[i];
    if (!is_recurrent(o->kind)) continue;
    memset(o->h, 0, (size_t)o->units * s->es);
    if (o->c) memset(o->c, 0, (size_t)o->units * s->es);
  }
  s->primed = false;
}

/* One step of the plan for `id` (checked), written generic over the float
 * type: T the scalar, SFX the kernels' suffix. */
#define STEPPER_STEP(SFX, T)                                                                        \
  static void step_##SFX(seq_stepper *s, int64_t id) {                                              \
    const T *x = NULL; /* the previous op's output; NULL: the id */                                 \
    const bool simd = s->simd;                                                                      \
    for (int i = 0; i < s->nops; i++) {                                                             \
      step_op *o = &s->ops[i];                                                                      \
      T *z = (T *)o->z, *h = (T *)o->h;                                                             \
      const T *W = (const T *)o->W, *b = (const T *)o->b;                                           \
      const T *row = x ? NULL : W + id * o->ld;                                                     \
      switch (o->kind) {                                                                            \
        case SEQ_STEP_LSTM:                                                                         \
        case SEQ_STEP_SIMPLE_RNN:                                                                   \
          if (row) {                                                                                \
            seq_cpu_rowmv_##SFX(o->ld, o->units, h, (const T *)o->R, b, row, z, simd);        \
          } else {                                                                                  \
            seq_cpu_rowmv_##SFX(o->ld, o->in, x, W, b, NULL, z, simd);                       \
            seq_cpu_rowmv_##SFX(o->ld, o->units, h, (const T *)o->R, z, NULL, z, simd);       \
          }                                                                                         \
          if (o->kind == SEQ_STEP_LSTM) {                                                           \
            seq_cpu_lstm_row_##SFX(o->units, z, (T *)o->c, h);                                      \
          } else {                                                                                  \
            memcpy(h, z, (size_t)o->units * sizeof(T));                                             \
            seq_cpu_row_activate_##SFX(o->act, o->units, h);                                        \
          }                                                                                         \
          break;                                                                                    \
        case SEQ_STEP_GRU:                                                                          \
          if (row) seq_cpu_rowmv_##SFX(o->ld, 0, NULL, W, b, row, z, simd);                  \
          else seq_cpu_rowmv_##SFX(o->ld, o->in, x, W, b, NULL, z, simd);                    \
          seq_cpu_rowmv_##SFX(o->ld, o->units, h, (const T *)o->R, (const T *)o->b2, NULL,   \
                              (T *)o->z2, simd);                                                    \
          seq_cpu_gru_row_##SFX(o->units, z, (const T *)o->z2, h);                                  \
          break;                                                                                    \
        case SEQ_STEP_DENSE:                                                                        \
          seq_cpu_rowmv_##SFX(o->ld, o->in, x, W, b, NULL, z, simd);                         \
          memcpy(h, z, (size_t)o->units * sizeof(T));                                               \
          seq_cpu_row_activate_##SFX(o->act, o->units, h);                                          \
          break;                                                                                    \
        case SEQ_STEP_ACTIVATION:                                                                   \
          memcpy(h, x, (size_t)o->units * sizeof(T));                                               \
          seq_cpu_row_activate_##SFX(o->act, o->units, h);                                          \
          break;                                                                                    \
      }                                                                                             \
      x = h;                                                                                        \
    }                                                                                               \
  }
STEPPER_STEP(f32, float)
STEPPER_STEP(f64, double)
#undef STEPPER_STEP

static seq_status check_id(const seq_stepper *s, int64_t id) {
  if (id < 0 || id >= s->vocab)
    return seq_fail(SEQ_EARG, "stepper: id %lld is outside the vocabulary 0..%lld", (long long)id,
                    (long long)(s->vocab - 1));
  return SEQ_OK;
}

static void step(seq_stepper *s, int64_t id) {
  if (s->dtype == SEQ_F32) step_f32(s, id);
  else step_f64(s, id);
  s->primed = true;
}

seq_status seq_stepper_feed(seq_stepper *s, int64_t n, const int64_t *ids) {
  for (int64_t i = 0; i < n; i++) SEQ_TRY(check_id(s, ids[i])); /* all or nothing */
  for (int64_t i = 0; i < n; i++) step(s, ids[i]);
  return SEQ_OK;
}

static const char *output_of(const seq_stepper *s) { return s->ops[s->nops - 1].h; }

seq_status seq_stepper_output(const seq_stepper *s, double *out) {
  if (!s->primed) return seq_fail(SEQ_EARG, "stepper: no output yet (feed some ids first)");
  const char *y = output_of(s);
  for (int64_t j = 0; j < s->width; j++)
    out[j] = s->dtype == SEQ_F32 ? (double)((const float *)y)[j] : ((const double *)y)[j];
  return SEQ_OK;
}

/* seq_stepper.h's sampler over p[0..n-1] (float or double rows). */
static int64_t sample(const seq_stepper *s, double temperature, double u) {
  const int64_t n = s->width;
  const char *y = output_of(s);
  double *e = s->scratch, top = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    double p = s->dtype == SEQ_F32 ? (double)((const float *)y)[i] : ((const double *)y)[i];
    if (p < 1e-30) p = 1e-30; /* Lua's math.max(p, 1e-30): NaN stays NaN */
    e[i] = log(p) / temperature;
    if (top < e[i]) top = e[i];
  }
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    e[i] = exp(e[i] - top);
    sum = sum + e[i];
  }
  double r = u * sum;
  for (int64_t i = 0; i < n; i++) {
    r = r - e[i];
    if (r <= 0) return i;
  }
  return n - 1;
}

seq_status seq_stepper_generate(seq_stepper *s, int64_t n, double temperature, bool own_seed, uint64_t seed,
                                int64_t *ids) {
  if (n < 0) return seq_fail(SEQ_EARG, "stepper: cannot generate %lld ids", (long long)n);
  if (!(temperature > 0) || isinf(temperature))
    return seq_fail(SEQ_EARG, "stepper: temperature must be a finite number > 0, got %g", temperature);
  if (!s->primed) return seq_fail(SEQ_EARG, "stepper: feed a seed before generating (there is no output yet)");
  uint64_t first = 0;
  if (!own_seed) {
    seed = seq_rng_seed();
    first = seq_rng_reserve((uint64_t)n);
  }
  for (int64_t k = 0; k < n; k++) {
    const double u = seq_philox_uniform_f64(first + (uint64_t)k, seed);
    const int64_t id = sample(s, temperature, u);
    ids[k] = id;
    step(s, id);
  }
  return SEQ_OK;
}
