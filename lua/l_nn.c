/* l_nn.c - bindings of the fused nn ops (core/engine/seq_nn.h) into seq.core:
 *   lstm(x, kernel, recurrent, bias [, h0, c0 [, {lengths =, recurrent_mask =}]])
 *       -> y, h_n, c_n (integer x: ids; lengths [B]: padded sequences;
 *       recurrent_mask [B,H]: recurrent dropout; see seq_lstm_ex)
 *   gru(x, kernel, recurrent, bias [, h0, rmask, lengths]) -> y, h_n
 *   simple_rnn(x, kernel, recurrent, bias [, h0, rmask, activation, lengths]) -> y, h_n
 *       (lengths [B]: padded sequences, see seq_gru)
 *     (activation 'tanh' (default) or 'relu')
 *   mask_plan(mask [, reverse, zero_masked]) -> lengths, gather, scatter
 *   embedding(weight, ids) -> out
 *   dropout(x, rate [, training=true]) -> out
 *   softmax_cross_entropy(logits, target) -> loss (0-d)
 *   sigmoid_bce(logits, target) -> loss (0-d)
 *   optim_hparams{kind=, lr=, ...} -> hparams (converted once per optimizer)
 *   optim_step(hparams, param [, state0, state1])
 *   optim_step_all(hparams, params, slots, clipnorm, global_clipnorm) -> nil | missing slot
 *   clip_grad_norm(params, max_norm) -> norm before clipping
 * All Lua-side checks happen before any core object is created, so a Lua
 * error never leaks a tensor. */
#include <stddef.h>
#include <string.h>

#include "seq_lua.h"
#include "seq_mask.h"
#include "seq_nn.h"

static seq_tensor *opt_tensor(lua_State *L, int idx) {
  return lua_isnoneornil(L, idx) ? NULL : seq_lua_check_tensor(L, idx);
}

static int l_lstm(lua_State *L) {
  seq_tensor *x = seq_lua_check_tensor(L, 1);
  seq_tensor *k = seq_lua_check_tensor(L, 2);
  seq_tensor *r = seq_lua_check_tensor(L, 3);
  seq_tensor *b = seq_lua_check_tensor(L, 4);
  seq_tensor *h0 = opt_tensor(L, 5);
  seq_tensor *c0 = opt_tensor(L, 6);
  /* 7: {lengths =, recurrent_mask =}; a boolean there is the older index
   * flag, ignored (integer x means ids) */
  seq_tensor *lengths = NULL, *rmask = NULL;
  if (lua_istable(L, 7)) {
    lua_pushnil(L);
    while (lua_next(L, 7)) {
      const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      if (strcmp(key, "lengths") != 0 && strcmp(key, "recurrent_mask") != 0)
        return luaL_error(L, "lstm: unknown option '%s' (valid: lengths, recurrent_mask)", key);
      lua_pop(L, 1);
    }
    /* the table keeps the tensors alive while they are used */
    lua_getfield(L, 7, "lengths");
    if (!lua_isnil(L, -1)) lengths = seq_lua_check_tensor(L, lua_gettop(L));
    lua_getfield(L, 7, "recurrent_mask");
    if (!lua_isnil(L, -1)) rmask = seq_lua_check_tensor(L, lua_gettop(L));
  } else if (!lua_isnoneornil(L, 7) && !lua_isboolean(L, 7)) {
    return luaL_argerror(L, 7, "options table {lengths =, recurrent_mask =} expected");
  }
  seq_tensor *y = NULL, *hn = NULL, *cn = NULL;
  SEQ_LUA_CHECK(L, seq_lstm_ex(&y, &hn, &cn, x, k, r, b, h0, c0, lengths, rmask));
  seq_lua_push_tensor(L, y);
  seq_lua_push_tensor(L, hn);
  seq_lua_push_tensor(L, cn);
  return 3;
}

static int l_gru(lua_State *L) {
  seq_tensor *x = seq_lua_check_tensor(L, 1);
  seq_tensor *k = seq_lua_check_tensor(L, 2);
  seq_tensor *r = seq_lua_check_tensor(L, 3);
  seq_tensor *b = seq_lua_check_tensor(L, 4);
  seq_tensor *h0 = opt_tensor(L, 5);
  seq_tensor *mask = opt_tensor(L, 6);
  seq_tensor *lengths = opt_tensor(L, 7);
  seq_tensor *y = NULL, *hn = NULL;
  SEQ_LUA_CHECK(L, seq_gru(&y, &hn, x, k, r, b, h0, mask, lengths));
  seq_lua_push_tensor(L, y);
  seq_lua_push_tensor(L, hn);
  return 2;
}

static int l_simple_rnn(lua_State *L) {
  static const char *const acts[] = {"tanh", "relu", NULL};
  seq_tensor *x = seq_lua_check_tensor(L, 1);
  seq_tensor *k = seq_lua_check_tensor(L, 2);
  seq_tensor *r = seq_lua_check_tensor(L, 3);
  seq_tensor *b = seq_lua_check_tensor(L, 4);
  seq_tensor *h0 = opt_tensor(L, 5);
  seq_tensor *mask = opt_tensor(L, 6);
  const bool relu = luaL_checkoption(L, 7, "tanh", acts) == 1;
  seq_tensor *lengths = opt_tensor(L, 8);
  seq_tensor *y = NULL, *hn = NULL;
  SEQ_LUA_CHECK(L, seq_simple_rnn(&y, &hn, x, k, r, b, h0, mask, relu, lengths));
  seq_lua_push_tensor(L, y);
  seq_lua_push_tensor(L, hn);
  return 2;
}

static int l_mask_plan(lua_State *L) {
  seq_tensor *mask = seq_lua_check_tensor(L, 1);
  bool reverse = lua_toboolean(L, 2), zero_masked = lua_toboolean(L, 3);
  seq_tensor *len = NULL, *gather = NULL, *scatter = NULL;
  SEQ_LUA_CHECK(L, seq_mask_plan(&len, &gather, &scatter, mask, reverse, zero_masked));
  seq_lua_push_tensor(L, len);
  seq_lua_push_tensor(L, gather);
  seq_lua_push_tensor(L, scatter);
  return 3;
}

static int l_embedding(lua_State *L) {
  seq_tensor *w = seq_lua_check_tensor(L, 1);
  seq_tensor *ids = seq_lua_check_tensor(L, 2);
  seq_tensor *out = NULL;
  SEQ_LUA_CHECK(L, seq_embedding(&out, w, ids));
  seq_lua_push_tensor(L, out);
  return 1;
}

static int l_dropout(lua_State *L) {
  seq_tensor *x = seq_lua_check_tensor(L, 1);
  double rate = luaL_checknumber(L, 2);
  bool training = lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3);
  seq_tensor *out = NULL;
  SEQ_LUA_CHECK(L, seq_dropout(&out, x, rate, training));
  seq_lua_push_tensor(L, out);
  return 1;
}

static int l_softmax_xent(lua_State *L) {
  seq_tensor *z = seq_lua_check_tensor(L, 1);
  seq_tensor *t = seq_lua_check_tensor(L, 2);
  seq_tensor *out = NULL;
  SEQ_LUA_CHECK(L, seq_softmax_cross_entropy(&out, z, t));
  seq_lua_push_tensor(L, out);
  return 1;
}

static int l_sigmoid_bce(lua_State *L) {
  seq_tensor *z = seq_lua_check_tensor(L, 1);
  seq_tensor *t = seq_lua_check_tensor(L, 2);
  seq_tensor *out = NULL;
  SEQ_LUA_CHECK(L, seq_sigmoid_binary_cross_entropy(&out, z, t));
  seq_lua_push_tensor(L, out);
  return 1;
}

/* ---- optimizer hyper-parameters: converted from Lua once, then reused ----
 * seq.optim builds one seq.OptimHparams per optimizer (with its defaults:
 * they live in optim.lua only) and before each step sets lr and step, the
 * two fields that change; optim_step then reads no Lua table at all. */
#define OPTIM_HPARAMS_MT "seq.OptimHparams"

static const char *const optim_kinds[] = {"sgd", "rmsprop", "adam", "adagrad", "adadelta", "nadam", NULL};

typedef struct hparam_field {
  const char *name;
  size_t offset;
  enum { HP_NUMBER, HP_INTEGER, HP_BOOLEAN } type;
} hparam_field;

#define HP_FIELD(name, type) {#name, offsetof(seq_optim_hparams, name), type}
static const hparam_field hparam_fields[] = {
    HP_FIELD(lr, HP_NUMBER),          HP_FIELD(momentum, HP_NUMBER),   HP_FIELD(rho, HP_NUMBER),
    HP_FIELD(beta1, HP_NUMBER),       HP_FIELD(beta2, HP_NUMBER),      HP_FIELD(eps, HP_NUMBER),
    HP_FIELD(clipvalue, HP_NUMBER),   HP_FIELD(weight_decay, HP_NUMBER), HP_FIELD(step, HP_INTEGER),
    HP_FIELD(nesterov, HP_BOOLEAN),   HP_FIELD(eps_outside, HP_BOOLEAN),
};
#undef HP_FIELD
#define N_HPARAM_FIELDS (sizeof hparam_fields / sizeof hparam_fields[0])

static const hparam_field *find_hparam(const char *name) {
  for (size_t i = 0; i < N_HPARAM_FIELDS; i++)
    if (strcmp(hparam_fields[i].name, name) == 0) return &hparam_fields[i];
  return NULL;
}

/* Which numbers a kind's update reads: those must be given (no C defaults);
 * the rest are 0 and unused. */
static bool kind_reads(seq_optim_kind kind, const char *name) {
  if (strcmp(name, "lr") == 0 || strcmp(name, "step") == 0) return true;
  if (kind == SEQ_OPTIM_RMSPROP) return strcmp(name, "rho") == 0 || strcmp(name, "eps") == 0;
  if (kind == SEQ_OPTIM_ADAM || kind == SEQ_OPTIM_NADAM)
    return strcmp(name, "beta1") == 0 || strcmp(name, "beta2") == 0 || strcmp(name, "eps") == 0;
  if (kind == SEQ_OPTIM_ADAGRAD) return strcmp(name, "eps") == 0;
  if (kind == SEQ_OPTIM_ADADELTA) return strcmp(name, "rho") == 0 || strcmp(name, "eps") == 0;
  return false;
}

/* optim_hparams{kind=, lr=, step=, rho=, beta1=, beta2=, eps= (as the kind
 * needs), momentum=, clipvalue=, weight_decay= (0: off), nesterov=,
 * eps_outside=} -> hparams (fields readable and writable: hp.lr = 0.1) */
static int l_optim_hparams(lua_State *L) {
  const char *op = "optim_hparams";
  luaL_checktype(L, 1, LUA_TTABLE);
  seq_optim_hparams *hp = lua_newuserdatauv(L, sizeof *hp, 0);
  memset(hp, 0, sizeof *hp);
  hp->kind = (seq_optim_kind)seq_lua_optfield_option(L, 1, op, "kind", NULL, optim_kinds);
  for (size_t i = 0; i < N_HPARAM_FIELDS; i++) {
    const hparam_field *f = &hparam_fields[i];
    char *at = (char *)hp + f->offset;
    if (f->type == HP_BOOLEAN) {
      *(bool *)at = seq_lua_optfield_boolean(L, 1, f->name, false);
    } else {
      double v = kind_reads(hp->kind, f->name) ? seq_lua_checkfield_number(L, 1, op, f->name)
                                                : seq_lua_optfield_number(L, 1, op, f->name, 0);
      if (f->type == HP_INTEGER) *(int64_t *)at = (int64_t)v;
      else *(double *)at = v;
    }
  }
  luaL_setmetatable(L, OPTIM_HPARAMS_MT);
  return 1;
}

static const hparam_field *check_hparam_key(lua_State *L, seq_optim_hparams **hp) {
  *hp = luaL_checkudata(L, 1, OPTIM_HPARAMS_MT);
  const char *key = luaL_checkstring(L, 2);
  const hparam_field *f = find_hparam(key);
  if (!f && strcmp(key, "kind") != 0)
    luaL_error(L, "optimizer hyper-parameters have no field '%s'", key);
  return f;
}

static int l_hparams_index(lua_State *L) {
  seq_optim_hparams *hp;
  const hparam_field *f = check_hparam_key(L, &hp);
  if (!f) {
    lua_pushstring(L, optim_kinds[hp->kind]);
    return 1;
  }
  const char *at = (const char *)hp + f->offset;
  if (f->type == HP_BOOLEAN) lua_pushboolean(L, *(const bool *)at);
  else if (f->type == HP_INTEGER) lua_pushinteger(L, (lua_Integer) * (const int64_t *)at);
  else lua_pushnumber(L, *(const double *)at);
  return 1;
}

static int l_hparams_newindex(lua_State *L) {
  seq_optim_hparams *hp;
  const hparam_field *f = check_hparam_key(L, &hp);
  if (!f) return luaL_error(L, "optimizer hyper-parameters: the kind is fixed");
  char *at = (char *)hp + f->offset;
  if (f->type == HP_BOOLEAN) *(bool *)at = lua_toboolean(L, 3);
  else if (f->type == HP_INTEGER) *(int64_t *)at = (int64_t)luaL_checkinteger(L, 3);
  else *(double *)at = luaL_checknumber(L, 3);
  return 0;
}

/* optim_step(hparams, param [, state0, state1]) */
static int l_optim_step(lua_State *L) {
  const seq_optim_hparams *hp = luaL_checkudata(L, 1, OPTIM_HPARAMS_MT);
  seq_tensor *p = seq_lua_check_tensor(L, 2);
  seq_tensor *s0 = opt_tensor(L, 3);
  seq_tensor *s1 = opt_tensor(L, 4);
  SEQ_LUA_CHECK(L, seq_optim_step(hp, p, s0, s1));
  return 0;
}

/* optim_step_all(hparams, params, slots, clipnorm, global_clipnorm) -> nil,
 * or the position of the first param that has a grad but no slot table
 * (slots[i] = {state0, state1}, either may be nil); then nothing was
 * updated, and the caller makes the slots and calls again.  clipnorm and
 * global_clipnorm: 0 is off.  slots is the optimizer's own plain table,
 * read raw (no Lua code runs while its tensors are used). */
static int l_optim_step_all(lua_State *L) {
  const seq_optim_hparams *hp = luaL_checkudata(L, 1, OPTIM_HPARAMS_MT);
  seq_tensor **ps;
  int n = seq_lua_tensor_list(L, 2, "optim_step_all: params", 0, &ps);
  luaL_checktype(L, 3, LUA_TTABLE);
  double clipnorm = luaL_checknumber(L, 4), global_clipnorm = luaL_checknumber(L, 5);
  size_t room = (size_t)(n ? n : 1);
  seq_tensor **s0 = lua_newuserdatauv(L, sizeof(seq_tensor *) * 2 * room, 0), **s1 = s0 + room;
  for (int i = 0; i < n; i++) {
    s0[i] = s1[i] = NULL;
    if (!ps[i]->grad) continue;
    if (lua_rawgeti(L, 3, i + 1) != LUA_TTABLE) {
      lua_pushinteger(L, i + 1);
      return 1;
    }
    seq_tensor **dst[2] = {&s0[i], &s1[i]};
    for (int k = 0; k < 2; k++) {
      if (lua_rawgeti(L, -1 - k, k + 1) != LUA_TNIL) {
        *dst[k] = seq_lua_to_tensor(L, -1);
        if (!*dst[k])
          return luaL_error(L, "optim_step_all: slots[%d][%d] is not an open tensor", i + 1, k + 1);
      }
    }
    lua_pop(L, 3);
  }
  SEQ_LUA_CHECK(L, seq_optim_step_all(hp, n, ps, s0, s1, clipnorm, global_clipnorm));
  return 0;
}

static int l_clip_grad_norm(lua_State *L) {
  double max_norm = luaL_checknumber(L, 2);
  seq_tensor **ps;
  int n = seq_lua_tensor_list(L, 1, "clip_grad_norm: params", 0, &ps);
  double norm = 0;
  SEQ_LUA_CHECK(L, seq_clip_grad_norm(n, ps, max_norm, &norm));
  lua_pushnumber(L, norm);
  return 1;
}

static int l_orthonormalize_rows(lua_State *L) {
  SEQ_LUA_CHECK(L, seq_orthonormalize_rows_(seq_lua_check_tensor(L, 1)));
  lua_settop(L, 1);
  return 1;
}

void seq_lua_register_nn(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"lstm", l_lstm},
      {"gru", l_gru},
      {"simple_rnn", l_simple_rnn},
      {"mask_plan", l_mask_plan},
      {"embedding", l_embedding},
      {"dropout", l_dropout},
      {"softmax_cross_entropy", l_softmax_xent},
      {"sigmoid_bce", l_sigmoid_bce},
      {"optim_hparams", l_optim_hparams},
      {"optim_step", l_optim_step},
      {"optim_step_all", l_optim_step_all},
      {"clip_grad_norm", l_clip_grad_norm},
      {"orthonormalize_rows_", l_orthonormalize_rows},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
  luaL_newmetatable(L, OPTIM_HPARAMS_MT);
  lua_pushcfunction(L, l_hparams_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_hparams_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);
}
