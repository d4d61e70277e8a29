/* l_imdb.c - Lua bindings for core/io/seq_imdb and core/engine/seq_pad (prefixes
 * imdb_, ragged_, pad_).  The Lua face is lua/seq/imdb.lua and
 * lua/seq/ragged.lua.
 *
 * A list of sequences crosses into Lua "ragged": values (1-D tensor, i32 ids
 * for IMDB) and offsets (i64 tensor of n+1 entries; sequence i, 1-based, is
 * values[offsets[i]+1 .. offsets[i+1]] in Lua positions).  25,000 reviews
 * stay two tensors instead of 25,000 Lua tables. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seq_checked.h"
#include "seq_convert.h"
#include "seq_imdb.h"
#include "seq_lua.h"
#include "seq_pad.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* An integer option where false means Keras's None (SEQ_IMDB_NONE). */
static int64_t opt_count(lua_State *L, int t, const char *op, const char *key, int64_t def) {
  bool is_false = lua_getfield(L, t, key) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  return is_false ? SEQ_IMDB_NONE : (int64_t)seq_lua_optfield_integer(L, t, op, key, def);
}

/* ---- split -> Lua table {x = {values, offsets}, values=, offsets=, y=} ---- */
static void push_split(lua_State *L, const seq_imdb_split *s) {
  seq_tensor *values, *offsets, *y;
  int64_t nv = s->ntokens, no = s->n + 1, ys[2] = {s->n, 1};
  SEQ_LUA_CHECK(L, seq_tensor_from_host(&values, SEQ_I32, 1, &nv, s->values,
                                        (size_t)nv * sizeof(int32_t)));
  lua_createtable(L, 0, 4);
  seq_lua_push_tensor(L, values);
  lua_setfield(L, -2, "values");
  SEQ_LUA_CHECK(L, seq_tensor_from_host(&offsets, SEQ_I64, 1, &no, s->offsets,
                                        (size_t)no * sizeof(int64_t)));
  seq_lua_push_tensor(L, offsets);
  lua_setfield(L, -2, "offsets");
  SEQ_LUA_CHECK(L, seq_tensor_empty(&y, SEQ_F32, SEQ_CPU, 2, ys));
  float *yd = seq_tensor_data(y);
  for (int64_t i = 0; i < s->n; i++) yd[i] = (float)s->labels[i];
  seq_lua_push_tensor(L, y);
  lua_setfield(L, -2, "y");
  lua_pushinteger(L, (lua_Integer)s->n);
  lua_setfield(L, -2, "n");
}

/* imdb_load{archive= | train=, test=, word_index=, cache=path|nil, num_words=, skip_top=,
 *           maxlen=, seed=, start_char=, oov_char=, index_from=, limit=}
 *   -> train, test, info
 * train/test = {values = i32 [T], offsets = i64 [n+1], y = f32 [n,1], n = n};
 * info = {from_cache = bool, load_seconds = s, prepare_seconds = s}.
 * start_char / oov_char = false mean Keras's None. */
static void read_opts(lua_State *L, int t, seq_imdb_opts *o) {
  const char *op = "imdb.load";
  *o = seq_imdb_default_opts();
  o->num_words = opt_count(L, t, op, "num_words", SEQ_IMDB_NONE);
  o->skip_top = seq_lua_optfield_integer(L, t, op, "skip_top", 0);
  o->maxlen = opt_count(L, t, op, "maxlen", SEQ_IMDB_NONE);
  int64_t seed = seq_lua_optfield_integer(L, t, op, "seed", 113);
  if (seed < 0 || seed > 0xffffffffLL)
    luaL_error(L, "%s: seed must be between 0 and 2^32-1 (got %I)", op, (lua_Integer)seed);
  o->seed = (uint32_t)seed;
  o->start_char = opt_count(L, t, op, "start_char", 1);
  o->oov_char = opt_count(L, t, op, "oov_char", 2);
  o->index_from = seq_lua_optfield_integer(L, t, op, "index_from", 3);
  o->limit = opt_count(L, t, op, "limit", SEQ_IMDB_NONE);
  /* Bad options fail before any (slow) file work. */
  SEQ_LUA_CHECK(L, seq_imdb_check_opts(o));
}

/* imdb_check_opts(opts) -> true, or a Lua error naming the bad option */
static int l_imdb_check_opts(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  seq_imdb_opts o;
  read_opts(L, 1, &o);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_imdb_load(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  seq_imdb_opts o;
  read_opts(L, 1, &o);
  seq_imdb_paths p;
  p.train = seq_lua_optfield_string(L, 1, "imdb.load", "train", NULL);
  p.test = seq_lua_optfield_string(L, 1, "imdb.load", "test", NULL);
  p.word_index = seq_lua_optfield_string(L, 1, "imdb.load", "word_index", NULL);
  p.cache = seq_lua_optfield_string(L, 1, "imdb.load", "cache", NULL);
  p.archive = seq_lua_optfield_string(L, 1, "imdb.load", "archive", NULL);
  if ((!p.archive && (!p.train || !p.test)) || !p.word_index)
    return luaL_error(L, "imdb.load: the word_index path and the archive (or the train and test TSV) paths are required");
  seq_imdb_split tr, te;
  double t0 = now_s();
  seq_imdb_corpus c;
  bool from_cache;
  SEQ_LUA_CHECK(L, seq_imdb_corpus_load(&p, &c, &from_cache));
  double t1 = now_s();
  seq_status st = seq_imdb_prepare(&c, &o, &tr, &te);
  seq_imdb_corpus_free(&c);
  SEQ_LUA_CHECK(L, st);
  double t2 = now_s();
  push_split(L, &tr);
  seq_imdb_split_free(&tr);
  push_split(L, &te);
  seq_imdb_split_free(&te);
  lua_createtable(L, 0, 3);
  lua_pushboolean(L, from_cache);
  lua_setfield(L, -2, "from_cache");
  lua_pushnumber(L, t1 - t0);
  lua_setfield(L, -2, "load_seconds");
  lua_pushnumber(L, t2 - t1);
  lua_setfield(L, -2, "prepare_seconds");
  return 3;
}

/* imdb_word_index(path) -> {word = rank}, {rank -> word} */
static int l_imdb_word_index(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  seq_imdb_vocab *v;
  SEQ_LUA_CHECK(L, seq_imdb_vocab_read(path, &v));
  int64_t n = seq_imdb_vocab_size(v);
  lua_createtable(L, 0, (int)n);
  lua_createtable(L, (int)n, 0);
  for (int64_t r = 1; r <= n; r++) {
    size_t len;
    const char *w = seq_imdb_vocab_word(v, r, &len);
    lua_pushlstring(L, w, len);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, (lua_Integer)r);
    lua_pushinteger(L, (lua_Integer)r);
    lua_rawset(L, -4);
  }
  seq_imdb_vocab_free(v);
  return 2;
}

static void push_token(void *ctx, const char *tok, size_t n) {
  lua_State *L = ctx;
  lua_pushlstring(L, tok, n);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
}

/* imdb_tokenize(text) -> {token, ...} with the tokeniser the word index was
 * built with (for encoding one's own reviews). */
static int l_imdb_tokenize(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char *scratch = lua_newuserdatauv(L, n + 1, 0);
  lua_newtable(L);
  seq_imdb_tokenize(s, n, scratch, push_token, L);
  return 1;
}

/* ---- ragged helpers ---- */
typedef struct ragged {
  seq_tensor *values, *offsets;
  const int64_t *off;
  int64_t n;
} ragged;

/* values: 1-D, or with steps of any shape when `steps` (pad_sequences) */
static void check_ragged_steps(lua_State *L, int vi, int oi, ragged *r, bool steps) {
  r->values = seq_lua_check_tensor(L, vi);
  r->offsets = seq_lua_check_tensor(L, oi);
  if (r->values->device != SEQ_CPU || r->offsets->device != SEQ_CPU)
    luaL_error(L, "ragged sequences must be on the cpu");
  if ((steps ? r->values->ndim < 1 : r->values->ndim != 1) || !seq_tensor_is_contiguous(r->values))
    luaL_error(L, "ragged values must be a contiguous %s tensor, got %s", steps ? "[steps, ...]" : "1-D",
               seq_tshape(r->values));
  if (r->offsets->dtype != SEQ_I64 || r->offsets->ndim != 1 || r->offsets->numel < 1 ||
      !seq_tensor_is_contiguous(r->offsets))
    luaL_error(L, "ragged offsets must be a contiguous 1-D i64 tensor of n+1 entries, got %s %s",
               seq_dtype_name(r->offsets->dtype), seq_tshape(r->offsets));
  r->off = seq_tensor_data(r->offsets);
  r->n = r->offsets->numel - 1;
  SEQ_LUA_CHECK(L, seq_pad_check_offsets("ragged", r->off, r->n, r->values->shape[0]));
}

static void check_ragged(lua_State *L, int vi, int oi, ragged *r) { check_ragged_steps(L, vi, oi, r, false); }

static void push_number_of(lua_State *L, const seq_tensor *t, int64_t k) {
  const void *d = seq_tensor_data(t);
  switch (t->dtype) {
  case SEQ_I32: lua_pushinteger(L, ((const int32_t *)d)[k]); break;
  case SEQ_I64: lua_pushinteger(L, (lua_Integer)((const int64_t *)d)[k]); break;
  case SEQ_U8: lua_pushinteger(L, ((const uint8_t *)d)[k]); break;
  case SEQ_F32: lua_pushnumber(L, ((const float *)d)[k]); break;
  default: lua_pushnumber(L, ((const double *)d)[k]); break;
  }
}

/* ragged_get(values, offsets, i) -> Lua table of sequence i (1-based), or
 * nil when i is out of range (so ipairs stops). */
static int l_ragged_get(lua_State *L) {
  ragged r;
  check_ragged(L, 1, 2, &r);
  lua_Integer i = luaL_checkinteger(L, 3);
  if (i < 1 || i > r.n) {
    lua_pushnil(L);
    return 1;
  }
  int64_t a = r.off[i - 1], b = r.off[i];
  lua_createtable(L, (int)(b - a), 0);
  for (int64_t k = a; k < b; k++) {
    push_number_of(L, r.values, k);
    lua_rawseti(L, -2, (lua_Integer)(k - a + 1));
  }
  return 1;
}

/* ragged_slice(values, offsets, first, last) -> values, offsets of sequences
 * first..last (1-based, inclusive), copied and rebased to start at 0. */
static int l_ragged_slice(lua_State *L) {
  ragged r;
  check_ragged(L, 1, 2, &r);
  lua_Integer first = luaL_checkinteger(L, 3), last = luaL_optinteger(L, 4, r.n);
  if (first < 1) first = 1;
  if (last > r.n) last = r.n;
  int64_t m = last >= first ? last - first + 1 : 0;
  int64_t a = m ? r.off[first - 1] : 0, b = m ? r.off[last] : 0;
  int64_t nv = b - a, no = m + 1;
  size_t es = seq_dtype_size(r.values->dtype);
  seq_tensor *v, *o;
  SEQ_LUA_CHECK(L, seq_tensor_from_host(&v, r.values->dtype, 1, &nv,
                                        (const char *)seq_tensor_data(r.values) + (size_t)a * es,
                                        (size_t)nv * es));
  seq_lua_push_tensor(L, v);
  SEQ_LUA_CHECK(L, seq_tensor_empty(&o, SEQ_I64, SEQ_CPU, 1, &no));
  int64_t *od = seq_tensor_data(o);
  od[0] = 0;
  for (int64_t k = 0; k < m; k++) od[k + 1] = r.off[first + k] - a;
  seq_lua_push_tensor(L, o);
  return 2;
}

/* ragged_lengths(values, offsets) -> i64 tensor [n] of sequence lengths */
static int l_ragged_lengths(lua_State *L) {
  ragged r;
  check_ragged(L, 1, 2, &r);
  seq_tensor *t;
  int64_t n = r.n;
  SEQ_LUA_CHECK(L, seq_tensor_empty(&t, SEQ_I64, SEQ_CPU, 1, &n));
  int64_t *d = seq_tensor_data(t);
  for (int64_t i = 0; i < n; i++) d[i] = r.off[i + 1] - r.off[i];
  seq_lua_push_tensor(L, t);
  return 1;
}

/* ---- a Lua list of sequences -> ragged values/offsets ----
 * Keras's pad_sequences reads each sequence with numpy's asarray: a step
 * (item) is a number or an array of a fixed shape, taken from the first
 * step of the first non-empty sequence.  That sequence is checked whole
 * (asarray of it must succeed), the others only in the steps kept after
 * truncation (what Keras converts). */

/* a padded result is [n, maxlen, step...] within SEQ_MAX_DIM dims */
#define PAD_MAX_STEP_DIMS (SEQ_MAX_DIM - 2)

typedef struct step_shape {
  int ndim;
  int64_t dim[SEQ_MAX_DIM];
} step_shape;

typedef struct flat_sink {
  const char *what;
  lua_Integer seqno; /* 1-based, for messages */
  int64_t stepno;
  const step_shape *step;
  seq_dtype dtype;
  void *data; /* NULL: only check (and see whether every number is an integer) */
  int64_t at, cap;
  bool all_int;
} flat_sink;

static const char *shape_text(const int64_t *dims, int nd, char *buf, size_t size) {
  size_t k = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < nd && k < size; d++)
    k += (size_t)snprintf(buf + k, size - k, d ? ",%lld" : "%lld", (long long)dims[d]);
  if (k < size) snprintf(buf + k, size - k, "]");
  return buf;
}

static void step_error(lua_State *L, const flat_sink *k, const char *fmt, const char *detail) {
  char want[160];
  shape_text(k->step->dim, k->step->ndim, want, sizeof want);
  luaL_error(L, fmt, k->what, (int)(k->stepno + 1), (int)k->seqno, detail, want);
}

static void sink_put(lua_State *L, flat_sink *k, bool isint, lua_Integer xi, double x) {
  if (k->at >= k->cap) luaL_error(L, "%s: sequence %d changed while it was read", k->what, (int)k->seqno);
  if (!isint) k->all_int = false;
  if (!k->data) {
    k->at++;
    return;
  }
  int64_t at = k->at++;
  switch (k->dtype) {
  case SEQ_I64: ((int64_t *)k->data)[at] = isint ? (int64_t)xi : seq_f2i64(x); break;
  case SEQ_I32: ((int32_t *)k->data)[at] = isint ? (int32_t)xi : seq_f2i32(x); break;
  case SEQ_U8: ((uint8_t *)k->data)[at] = isint ? (uint8_t)xi : seq_f2u8(x); break;
  case SEQ_F32: ((float *)k->data)[at] = (float)x; break;
  default: ((double *)k->data)[at] = x; break;
  }
}

static void sink_put_tensor(lua_State *L, flat_sink *k, const seq_tensor *t, int64_t first, int64_t count) {
  bool isint = !seq_dtype_is_float(t->dtype);
  for (int64_t j = 0; j < count; j++) {
    double x = 0;
    if (k->data) SEQ_LUA_CHECK(L, seq_tensor_read_flat(t, first + j, &x));
    sink_put(L, k, isint, (lua_Integer)seq_f2i64(x), x);
  }
}

/* Checks the value on top of the stack against dims[0..nd) and puts its
 * numbers into the sink; pops it. */
static void visit_step(lua_State *L, flat_sink *k, const int64_t *dims, int nd) {
  char got[160];
  seq_tensor *t = seq_lua_to_tensor(L, -1);
  if (t) {
    bool ok = t->ndim == nd;
    for (int d = 0; ok && d < nd; d++) ok = t->shape[d] == dims[d];
    if (!ok)
      step_error(L, k, "%s: item %d of sequence %d is a tensor of shape %s, expected %s like the items of the first non-empty sequence",
                 shape_text(t->shape, t->ndim, got, sizeof got));
    sink_put_tensor(L, k, t, 0, t->numel);
  } else if (lua_type(L, -1) == LUA_TNUMBER) {
    if (nd != 0)
      step_error(L, k, "%s: item %d of sequence %d is %s, expected shape %s like the items of the first non-empty sequence",
                 "a number");
    bool isint = lua_isinteger(L, -1);
    sink_put(L, k, isint, isint ? lua_tointeger(L, -1) : 0, lua_tonumber(L, -1));
  } else if (lua_istable(L, -1)) {
    lua_Integer len = luaL_len(L, -1);
    if (nd == 0 || len != dims[0]) {
      char what[64];
      snprintf(what, sizeof what, "a table of %lld entries", (long long)len);
      step_error(L, k, "%s: item %d of sequence %d is %s, expected shape %s like the items of the first non-empty sequence",
                 nd == 0 ? "a table" : what);
    }
    luaL_checkstack(L, 2, "pad_sequences: nesting");
    for (lua_Integer j = 1; j <= len; j++) {
      lua_geti(L, -1, j);
      visit_step(L, k, dims + 1, nd - 1);
    }
  } else {
    char what[64];
    snprintf(what, sizeof what, "a %s", luaL_typename(L, -1));
    step_error(L, k, "%s: item %d of sequence %d holds %s, expected numbers (item shape %s)", what);
  }
  lua_pop(L, 1);
}

/* The shape of the value on top of the stack as numpy's asarray would see
 * it, following first entries; pops it. */
static void infer_step_shape(lua_State *L, const char *what, lua_Integer seqno, step_shape *s) {
  s->ndim = 0;
  for (;;) {
    seq_tensor *t = seq_lua_to_tensor(L, -1);
    if (t || lua_istable(L, -1)) {
      int more = t ? t->ndim : 1;
      if (s->ndim + more > PAD_MAX_STEP_DIMS)
        luaL_error(L, "%s: the items of sequence %d nest deeper than %d dims", what, (int)seqno,
                   PAD_MAX_STEP_DIMS);
    }
    if (t) {
      for (int d = 0; d < t->ndim; d++) s->dim[s->ndim++] = t->shape[d];
      break;
    }
    if (!lua_istable(L, -1)) break; /* a number, or a wrong type visit_step names */
    lua_Integer len = luaL_len(L, -1);
    s->dim[s->ndim++] = len;
    if (len <= 0) break;
    lua_geti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
}

/* Puts steps [first, first+count) of the sequence on top of the stack (a
 * table or a tensor of len steps) into the sink. */
static void visit_steps(lua_State *L, flat_sink *k, int64_t first, int64_t count) {
  seq_tensor *t = seq_lua_to_tensor(L, -1);
  if (t) {
    char got[160];
    bool ok = t->ndim == k->step->ndim + 1;
    for (int d = 0; ok && d < k->step->ndim; d++) ok = t->shape[d + 1] == k->step->dim[d];
    k->stepno = first;
    if (!ok)
      step_error(L, k, "%s: items from %d of sequence %d: the sequence is a tensor of shape %s, its items must have shape %s like those of the first non-empty sequence",
                 shape_text(t->shape, t->ndim, got, sizeof got));
    int64_t row = 1;
    for (int d = 0; d < k->step->ndim; d++) row *= k->step->dim[d];
    sink_put_tensor(L, k, t, first * row, count * row);
    return;
  }
  luaL_checkstack(L, 2, "pad_sequences: nesting");
  for (int64_t j = first; j < first + count; j++) {
    k->stepno = j;
    lua_geti(L, -1, (lua_Integer)(j + 1));
    visit_step(L, k, k->step->dim, k->step->ndim);
  }
}

/* Flattens a Lua list of sequences (each a Lua list of steps or a tensor)
 * at `idx` into new values/offsets tensors pushed on the stack.  A step is
 * a number or, when max_step_dims > 0, an array of up to that many dims;
 * values is [steps, step shape...].  maxlen > 0 keeps only the steps that
 * truncation keeps.  Values are i64 when every item is an integer, else
 * f64, unless `want` is given. */
static void flatten_table(lua_State *L, int idx, const char *what, seq_dtype want, int max_step_dims,
                          int64_t maxlen, seq_pad_side truncating) {
  /* the outer list is read once into a copy that keeps each sequence alive */
  lua_Integer n = seq_lua_list(L, idx, what, (lua_Integer)1 << 40, LUA_TNONE);
  idx = lua_gettop(L);
  int64_t no = (int64_t)n + 1;
  seq_tensor *o;
  SEQ_LUA_CHECK(L, seq_tensor_empty(&o, SEQ_I64, SEQ_CPU, 1, &no));
  seq_lua_push_tensor(L, o); /* owned by Lua from here on: errors cannot leak it */
  int64_t *off = seq_tensor_data(o);
  off[0] = 0;
  step_shape step = {0, {0}};
  flat_sink k = {what, 0, 0, &step, SEQ_F64, NULL, 0, INT64_MAX, true};
  bool found = false;
  /* pass 1: lengths, the step shape, every kept step checked */
  for (lua_Integer i = 1; i <= n; i++) {
    k.seqno = i;
    lua_rawgeti(L, idx, i);
    seq_tensor *t = seq_lua_to_tensor(L, -1);
    int64_t len;
    if (t) {
      if (t->ndim < 1)
        luaL_error(L, "%s: sequence %d is a tensor of shape [], expected one item per step", what, (int)i);
      len = t->shape[0];
    } else if (lua_istable(L, -1)) {
      len = (int64_t)luaL_len(L, -1);
    } else {
      luaL_error(L, "%s: sequence %d must be a table or a tensor, got %s", what, (int)i,
                 luaL_typename(L, -1));
      return;
    }
    if (len < 0) luaL_error(L, "%s: sequence %d has an impossible length", what, (int)i);
    int64_t first = 0, take = len;
    if (maxlen > 0 && len > maxlen) {
      take = maxlen;
      if (truncating == SEQ_PAD_PRE) first = len - maxlen;
    }
    if (!found && len > 0) {
      found = true;
      if (t) {
        step.ndim = t->ndim - 1;
        for (int d = 1; d < t->ndim; d++) step.dim[d - 1] = t->shape[d];
      } else {
        lua_geti(L, -1, 1);
        infer_step_shape(L, what, i, &step);
      }
      if (step.ndim > max_step_dims) {
        if (max_step_dims == 0 && t)
          luaL_error(L, "%s: sequence %d is a tensor of shape %s, expected 1-D", what, (int)i, seq_tshape(t));
        if (max_step_dims == 0)
          luaL_error(L, "%s: item 1 of sequence %d is not a number", what, (int)i);
        luaL_error(L, "%s: the items of sequence %d nest deeper than %d dims", what, (int)i, max_step_dims);
      }
      visit_steps(L, &k, 0, len); /* asarray of the whole first sequence */
    } else if (take > 0) {
      visit_steps(L, &k, first, take);
    }
    if (!seq_add_i64(off[i - 1], take, &off[i])) luaL_error(L, "%s: too many items", what);
    lua_pop(L, 1);
  }
  seq_dtype vd = want != SEQ_NDTYPES ? want : (k.all_int ? SEQ_I64 : SEQ_F64);
  int64_t vshape[SEQ_MAX_DIM] = {off[n]};
  for (int d = 0; d < step.ndim; d++) vshape[d + 1] = step.dim[d];
  seq_tensor *v;
  SEQ_LUA_CHECK(L, seq_tensor_empty(&v, vd, SEQ_CPU, step.ndim + 1, vshape));
  seq_lua_push_tensor(L, v);
  /* pass 2: the kept steps into values; re-checked, so a table that changes
   * between the passes gets an error, never a write past the end */
  k.dtype = vd;
  k.data = seq_tensor_data(v);
  k.at = 0;
  k.cap = v->numel;
  for (lua_Integer i = 1; i <= n; i++) {
    k.seqno = i;
    lua_rawgeti(L, idx, i);
    seq_tensor *t = seq_lua_to_tensor(L, -1);
    int64_t len = t ? (t->ndim ? t->shape[0] : 0) : (lua_istable(L, -1) ? (int64_t)luaL_len(L, -1) : 0);
    int64_t take = off[i] - off[i - 1];
    int64_t first = maxlen > 0 && len > maxlen && truncating == SEQ_PAD_PRE ? len - take : 0;
    if (len < first + take) luaL_error(L, "%s: sequence %d changed while it was read", what, (int)i);
    visit_steps(L, &k, first, take);
    lua_pop(L, 1);
  }
  if (k.at != k.cap) luaL_error(L, "%s: the sequences changed while they were read", what);
  /* stack: ... copy offsets values -> ... values offsets */
  lua_rotate(L, -2, 1);
  lua_remove(L, -3);
}

/* ragged_from_table(list [, dtype]) -> values, offsets */
static int l_ragged_from_table(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  seq_dtype d = SEQ_NDTYPES;
  if (!lua_isnoneornil(L, 2) && !seq_dtype_from_name(luaL_checkstring(L, 2), &d))
    return luaL_error(L, "ragged_from_table: unknown dtype '%s'", lua_tostring(L, 2));
  flatten_table(L, 1, "ragged_from_table", d, 0, -1, SEQ_PAD_PRE);
  return 2;
}

/* pad_sequences(seqs, opts) or pad_sequences(values, offsets, opts)
 *   seqs: a Lua list of sequences (tables of items or tensors [steps, ...];
 *         an item is a number or a feature array of a fixed shape) or a
 *         ragged table {values = tensor [steps, ...], offsets = tensor};
 *   opts: maxlen (nil = longest), padding 'pre'|'post', truncating
 *         'pre'|'post', value (0), dtype ('i32').
 *   -> [n, maxlen, item shape...] tensor */
static int l_pad_sequences(lua_State *L) {
  const char *op = "pad_sequences";
  bool ragged_args = seq_lua_to_tensor(L, 1) != NULL;
  int opts = ragged_args ? 3 : 2;
  if (!ragged_args) luaL_argexpected(L, lua_istable(L, 1), 1, "list of sequences or ragged {values=, offsets=}");
  int64_t maxlen = -1;
  seq_pad_side padding = SEQ_PAD_PRE, truncating = SEQ_PAD_PRE;
  double value = 0;
  seq_dtype dtype = SEQ_I32;
  if (!lua_isnoneornil(L, opts)) {
    static const char *const sides[] = {"pre", "post", NULL};
    static const seq_pad_side side_of[] = {SEQ_PAD_PRE, SEQ_PAD_POST};
    luaL_checktype(L, opts, LUA_TTABLE);
    lua_Integer m = seq_lua_optfield_integer(L, opts, op, "maxlen", -1);
    if (m != -1 && m < 1)
      return luaL_error(L, "%s: option 'maxlen' must be a positive integer or nil, got %I", op, m);
    maxlen = (int64_t)m;
    padding = side_of[seq_lua_optfield_option(L, opts, op, "padding", "pre", sides)];
    truncating = side_of[seq_lua_optfield_option(L, opts, op, "truncating", "pre", sides)];
    value = seq_lua_optfield_number(L, opts, op, "value", 0);
    const char *s = seq_lua_optfield_string(L, opts, op, "dtype", "i32");
    if (!seq_dtype_from_name(s, &dtype)) return luaL_error(L, "%s: unknown dtype '%s'", op, s);
  }
  int vi = 1, oi = 2;
  if (!ragged_args) {
    lua_getfield(L, 1, "values");
    lua_getfield(L, 1, "offsets");
    if (seq_lua_to_tensor(L, -2) && seq_lua_to_tensor(L, -1)) {
      vi = lua_gettop(L) - 1;
      oi = lua_gettop(L);
    } else {
      lua_pop(L, 2);
      /* truncated while read, as Keras converts only the kept steps */
      flatten_table(L, 1, op, SEQ_NDTYPES, PAD_MAX_STEP_DIMS, maxlen, truncating);
      vi = lua_gettop(L) - 1;
      oi = lua_gettop(L);
    }
  }
  ragged r;
  check_ragged_steps(L, vi, oi, &r, true);
  seq_tensor *out;
  SEQ_LUA_CHECK(L, seq_pad_sequences(&out, r.values, r.offsets, maxlen, padding, truncating, value, dtype));
  seq_lua_push_tensor(L, out);
  return 1;
}

void seq_lua_register_imdb(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"imdb_load", l_imdb_load},
      {"imdb_check_opts", l_imdb_check_opts},
      {"imdb_word_index", l_imdb_word_index},
      {"imdb_tokenize", l_imdb_tokenize},
      {"ragged_get", l_ragged_get},
      {"ragged_slice", l_ragged_slice},
      {"ragged_lengths", l_ragged_lengths},
      {"ragged_from_table", l_ragged_from_table},
      {"pad_sequences", l_pad_sequences},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
