/* l_io.c - safetensors bindings (core/engine/seq_safetensors.h) into seq.core:
 *   save_tensors(path, {name = tensor, ...} [, {key = 'value', ...}])
 *   load_tensors(path) -> {name = tensor, ...}, {key = 'value', ...}
 *   wall_time() -> seconds (monotonic clock, for progress bars and timing)
 * Tensor names are written sorted so the same table gives the same bytes. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seq_lua.h"
#include "seq_safetensors.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collects the string keys of the table at idx (values checked by `check`)
 * into a userdata-backed array kept on the stack; returns the count. */
static int collect_keys(lua_State *L, int idx, const char ***keys, const char *what, bool tensors) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      return luaL_error(L, "save_tensors: %s keys must be strings, got %s", what, luaL_typename(L, -2));
    if (tensors ? !seq_lua_to_tensor(L, -1) : lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "save_tensors: %s '%s' must be a %s, got %s", what, lua_tostring(L, -2),
                        tensors ? "tensor" : "string", luaL_typename(L, -1));
    n++;
    lua_pop(L, 1);
  }
  const char **k = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n ? n : 1), 0);
  int i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    k[i++] = lua_tostring(L, -2); /* kept alive by the table */
    lua_pop(L, 1);
  }
  qsort(k, (size_t)n, sizeof *k, cmp_str);
  *keys = k;
  return n;
}

static int l_save_tensors(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  const char **names, **mkeys = NULL;
  int n = collect_keys(L, 2, &names, "tensor", true);
  int nm = lua_isnil(L, 3) ? 0 : collect_keys(L, 3, &mkeys, "metadata", false);
  seq_tensor **ts = lua_newuserdatauv(L, sizeof(seq_tensor *) * (size_t)(n ? n : 1), 0);
  const char **mvals = lua_newuserdatauv(L, sizeof(char *) * (size_t)(nm ? nm : 1), 0);
  for (int i = 0; i < n; i++) {
    lua_getfield(L, 2, names[i]);
    ts[i] = seq_lua_to_tensor(L, -1);
    lua_pop(L, 1);
  }
  for (int i = 0; i < nm; i++) {
    lua_getfield(L, 3, mkeys[i]);
    mvals[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  SEQ_LUA_CHECK(L, seq_safetensors_write(path, n, names, ts, nm, mkeys, mvals));
  return 0;
}

static int l_load_tensors(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  seq_safetensors st;
  SEQ_LUA_CHECK(L, seq_safetensors_read(path, &st));
  lua_createtable(L, 0, st.n);
  for (int i = 0; i < st.n; i++) {
    seq_lua_push_tensor(L, st.tensors[i]); /* takes the reference */
    st.tensors[i] = NULL;
    lua_setfield(L, -2, st.names[i]);
  }
  lua_createtable(L, 0, st.nmeta);
  for (int i = 0; i < st.nmeta; i++) {
    lua_pushstring(L, st.meta_values[i]);
    lua_setfield(L, -2, st.meta_keys[i]);
  }
  seq_safetensors_free(&st);
  return 2;
}

static int l_wall_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
  return 1;
}

void seq_lua_register_io(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"save_tensors", l_save_tensors},
      {"load_tensors", l_load_tensors},
      {"wall_time", l_wall_time},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
