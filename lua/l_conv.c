/* l_conv.c - bindings of the sequence convolution ops (core/engine/seq_conv.h)
 * into seq.core:
 *   conv1d(x, kernel, bias|nil, stride, dilation, pad_left, pad_right) -> y
 *   unfold1d(x, size, step, dilation, pad_left, pad_right [, pad_value=0]) -> windows
 * Padding amounts are computed by the layers (lua/seq/nn_conv.lua). */
#include "seq_conv.h"
#include "seq_lua.h"

static int l_conv1d(lua_State *L) {
  seq_tensor *x = seq_lua_check_tensor(L, 1);
  seq_tensor *k = seq_lua_check_tensor(L, 2);
  seq_tensor *b = lua_isnoneornil(L, 3) ? NULL : seq_lua_check_tensor(L, 3);
  lua_Integer stride = luaL_checkinteger(L, 4), dilation = luaL_checkinteger(L, 5);
  lua_Integer pl = luaL_checkinteger(L, 6), pr = luaL_checkinteger(L, 7);
  seq_tensor *y = NULL;
  SEQ_LUA_CHECK(L, seq_conv1d(&y, x, k, b, stride, dilation, pl, pr));
  seq_lua_push_tensor(L, y);
  return 1;
}

static int l_unfold1d(lua_State *L) {
  seq_tensor *x = seq_lua_check_tensor(L, 1);
  lua_Integer size = luaL_checkinteger(L, 2), step = luaL_checkinteger(L, 3);
  lua_Integer dilation = luaL_checkinteger(L, 4);
  lua_Integer pl = luaL_checkinteger(L, 5), pr = luaL_checkinteger(L, 6);
  double value = luaL_optnumber(L, 7, 0.0);
  seq_tensor *out = NULL;
  SEQ_LUA_CHECK(L, seq_unfold1d(&out, x, size, step, dilation, pl, pr, value));
  seq_lua_push_tensor(L, out);
  return 1;
}

void seq_lua_register_conv(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"conv1d", l_conv1d},
      {"unfold1d", l_unfold1d},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
