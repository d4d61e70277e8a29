/* l_stepper.c - bindings of the generation stepper (core/engine/seq_stepper.h)
 * into seq.core; seq.charlm.Generator (lua/seq/charlm.lua) is its face:
 *   stepper_new(layers) -> stepper, where layers is a list of
 *       {kind = 'LSTM'|'GRU'|'SimpleRNN'|'Dense'|'Activation', name =,
 *        kernel =, recurrent_kernel =, bias =, activation =}
 *   stepper:reset()
 *   stepper:feed(ids)                  ids: a list of 0-based integers
 *   stepper:output() -> list           the output after the last id
 *   stepper:generate(n, temperature [, seed]) -> list of n ids
 *   stepper.vocab, .width, .dtype, .kernel (the row kernel's name) */
#include <stdlib.h>
#include <string.h>

#include "seq_lua.h"
#include "seq_stepper.h"

#define STEPPER_MT "seq.Stepper"
#define STEPPER_MAX_LAYERS 1024
#define STEPPER_MAX_IDS ((lua_Integer)1 << 28)

static seq_stepper **check_box(lua_State *L) {
  seq_stepper **box = luaL_checkudata(L, 1, STEPPER_MT);
  if (!*box) luaL_error(L, "stepper: closed");
  return box;
}

static seq_tensor *opt_field_tensor(lua_State *L, int t, const char *key, int i) {
  lua_getfield(L, t, key); /* stays on the stack: it holds the tensor while the plan is built */
  if (lua_isnil(L, -1)) return NULL;
  seq_tensor *x = seq_lua_to_tensor(L, -1);
  if (!x) luaL_error(L, "stepper_new: layers[%d].%s is %s, expected a tensor", i, key, luaL_typename(L, -1));
  return x;
}

static int l_stepper_new(lua_State *L) {
  static const char *const kinds[] = {"LSTM", "GRU", "SimpleRNN", "Dense", "Activation", NULL};
  static const char *const acts[] = {"linear", "softmax", "sigmoid", "tanh", "relu", NULL};
  int n = (int)seq_lua_list(L, 1, "stepper_new: layers", STEPPER_MAX_LAYERS, LUA_TTABLE);
  int copy = lua_gettop(L);
  if (n < 1) return luaL_error(L, "stepper_new: no layers");
  luaL_checkstack(L, 8 * n + 8, "stepper_new: too many layers");
  seq_step_layer *ls = lua_newuserdatauv(L, sizeof *ls * (size_t)n, 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, copy, i + 1);
    int t = lua_gettop(L);
    ls[i].kind = (seq_step_kind)seq_lua_optfield_option(L, t, "stepper_new", "kind", NULL, kinds);
    ls[i].activation =
        (seq_step_act)seq_lua_optfield_option(L, t, "stepper_new", "activation", "linear", acts);
    ls[i].name = seq_lua_optfield_string(L, t, "stepper_new", "name", "?");
    ls[i].kernel = opt_field_tensor(L, t, "kernel", i + 1);
    ls[i].recurrent_kernel = opt_field_tensor(L, t, "recurrent_kernel", i + 1);
    ls[i].bias = opt_field_tensor(L, t, "bias", i + 1);
  }
  seq_stepper **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, STEPPER_MT);
  SEQ_LUA_CHECK(L, seq_stepper_new(box, n, ls));
  return 1;
}

static int m_gc(lua_State *L) {
  seq_stepper **box = luaL_checkudata(L, 1, STEPPER_MT);
  seq_stepper_free(*box);
  *box = NULL;
  return 0;
}

static int m_reset(lua_State *L) {
  seq_stepper_reset(*check_box(L));
  return 0;
}

static int m_feed(lua_State *L) {
  seq_stepper *s = *check_box(L);
  lua_Integer n = seq_lua_list(L, 2, "feed: ids", STEPPER_MAX_IDS, LUA_TNUMBER);
  int copy = lua_gettop(L);
  int64_t *ids = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n ? n : 1), 0);
  for (lua_Integer i = 0; i < n; i++) {
    lua_rawgeti(L, copy, i + 1);
    int isint = 0;
    ids[i] = (int64_t)lua_tointegerx(L, -1, &isint);
    if (!isint) return luaL_error(L, "feed: ids[%I] is %s, expected an integer id", i + 1, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  SEQ_LUA_CHECK(L, seq_stepper_feed(s, (int64_t)n, ids));
  return 0;
}

static int m_output(lua_State *L) {
  seq_stepper *s = *check_box(L);
  const int64_t w = seq_stepper_width(s);
  double *y = lua_newuserdatauv(L, sizeof(double) * (size_t)w, 0);
  SEQ_LUA_CHECK(L, seq_stepper_output(s, y));
  lua_createtable(L, (int)w, 0);
  for (int64_t j = 0; j < w; j++) {
    lua_pushnumber(L, y[j]);
    lua_rawseti(L, -2, (lua_Integer)j + 1);
  }
  return 1;
}

static int m_generate(lua_State *L) {
  seq_stepper *s = *check_box(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  double temperature = luaL_checknumber(L, 3);
  bool own_seed = !lua_isnoneornil(L, 4);
  lua_Integer seed = own_seed ? luaL_checkinteger(L, 4) : 0;
  if (n < 0) return luaL_error(L, "generate: n must be >= 0, got %I", n);
  if (n > STEPPER_MAX_IDS) return luaL_error(L, "generate: n = %I is more than %I ids", n, STEPPER_MAX_IDS);
  int64_t *ids = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n ? n : 1), 0);
  SEQ_LUA_CHECK(L, seq_stepper_generate(s, (int64_t)n, temperature, own_seed, (uint64_t)seed, ids));
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 0; i < n; i++) {
    lua_pushinteger(L, ids[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int m_index(lua_State *L) {
  seq_stepper *s = *check_box(L);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "vocab") == 0) lua_pushinteger(L, seq_stepper_vocab(s));
  else if (strcmp(key, "width") == 0) lua_pushinteger(L, seq_stepper_width(s));
  else if (strcmp(key, "dtype") == 0) lua_pushstring(L, seq_dtype_name(seq_stepper_dtype(s)));
  else if (strcmp(key, "kernel") == 0) lua_pushstring(L, seq_stepper_kernel_name(s));
  else {
    luaL_getmetafield(L, 1, "methods");
    lua_getfield(L, -1, key);
  }
  return 1;
}

void seq_lua_register_stepper(lua_State *L) {
  static const luaL_Reg fns[] = {{"stepper_new", l_stepper_new}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
      {"reset", m_reset}, {"feed", m_feed}, {"output", m_output}, {"generate", m_generate}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  luaL_newmetatable(L, STEPPER_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "methods");
  lua_pushcfunction(L, m_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, m_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, m_gc);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}
