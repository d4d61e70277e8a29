/* l_nn.c - bindings of the fused nn ops (core/engine/seq_nn.h) into seq.core:
 *   lstm(x, kernel, recurrent, bias [, h0, c0]) -> y, h_n, c_n (integer x: ids)
 *   embedding(weight, ids) -> out
 *   dropout(x, rate [, training=true]) -> out
 *   softmax_cross_entropy(logits, target) -> loss (0-d)
 *   sigmoid_bce(logits, target) -> loss (0-d)
 *   optim_step(hparams, param [, state0, state1])
 *   clip_grad_norm(params, max_norm) -> norm before clipping
 * All Lua-side checks happen before any core object is created, so a Lua
 * error never leaks a tensor. */
#include <string.h>

#include "seq_lua.h"
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
  seq_tensor *y = NULL, *hn = NULL, *cn = NULL;
  SEQ_LUA_CHECK(L, seq_lstm(&y, &hn, &cn, x, k, r, b, h0, c0));
  seq_lua_push_tensor(L, y);
  seq_lua_push_tensor(L, hn);
  seq_lua_push_tensor(L, cn);
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

static double field_number(lua_State *L, int t, const char *name, double dflt) {
  lua_getfield(L, t, name);
  double v = dflt;
  if (!lua_isnil(L, -1)) {
    int ok;
    v = lua_tonumberx(L, -1, &ok);
    if (!ok) luaL_error(L, "optim_step: field '%s' must be a number, got %s", name,
                        luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return v;
}

static int l_optim_step(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  seq_tensor *p = seq_lua_check_tensor(L, 2);
  seq_tensor *s0 = opt_tensor(L, 3);
  seq_tensor *s1 = opt_tensor(L, 4);
  seq_optim_hparams hp;
  memset(&hp, 0, sizeof hp);
  lua_getfield(L, 1, "kind");
  const char *kind = lua_tostring(L, -1);
  double lr_default;
  if (kind && strcmp(kind, "sgd") == 0) {
    hp.kind = SEQ_OPTIM_SGD;
    lr_default = 0.01;
  } else if (kind && strcmp(kind, "rmsprop") == 0) {
    hp.kind = SEQ_OPTIM_RMSPROP;
    lr_default = 0.001;
  } else if (kind && strcmp(kind, "adam") == 0) {
    hp.kind = SEQ_OPTIM_ADAM;
    lr_default = 0.001;
  } else {
    return luaL_error(L, "optim_step: unknown optimizer kind '%s' (expected sgd, rmsprop or adam)",
                      kind ? kind : "nil");
  }
  lua_pop(L, 1);
  hp.lr = field_number(L, 1, "lr", lr_default);
  hp.momentum = field_number(L, 1, "momentum", 0.0);
  hp.rho = field_number(L, 1, "rho", 0.9);
  hp.beta1 = field_number(L, 1, "beta1", 0.9);
  hp.beta2 = field_number(L, 1, "beta2", 0.999);
  hp.eps = field_number(L, 1, "eps", 1e-7);
  hp.clipvalue = field_number(L, 1, "clipvalue", 0.0);
  hp.weight_decay = field_number(L, 1, "weight_decay", 0.0);
  hp.step = (int64_t)field_number(L, 1, "step", 1.0);
  lua_getfield(L, 1, "nesterov");
  hp.nesterov = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "eps_outside");
  hp.eps_outside = lua_toboolean(L, -1);
  lua_pop(L, 1);
  SEQ_LUA_CHECK(L, seq_optim_step(&hp, p, s0, s1));
  return 0;
}

static int l_clip_grad_norm(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  double max_norm = luaL_checknumber(L, 2);
  int n = (int)luaL_len(L, 1);
  seq_tensor **ps = lua_newuserdatauv(L, sizeof(seq_tensor *) * (size_t)(n > 0 ? n : 1), 0);
  for (int i = 0; i < n; i++) {
    lua_geti(L, 1, i + 1);
    ps[i] = seq_lua_to_tensor(L, -1);
    if (!ps[i]) return luaL_error(L, "clip_grad_norm: params[%d] is not a tensor", i + 1);
    lua_pop(L, 1); /* the table keeps the tensor alive */
  }
  double norm = 0;
  SEQ_LUA_CHECK(L, seq_clip_grad_norm(n, ps, max_norm, &norm));
  lua_pushnumber(L, norm);
  return 1;
}

void seq_lua_register_nn(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"lstm", l_lstm},
      {"embedding", l_embedding},
      {"dropout", l_dropout},
      {"softmax_cross_entropy", l_softmax_xent},
      {"sigmoid_bce", l_sigmoid_bce},
      {"optim_step", l_optim_step},
      {"clip_grad_norm", l_clip_grad_norm},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
