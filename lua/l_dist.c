/* l_dist.c - bindings of seq.dist (core/engine/seq_dist.h). */
#include <string.h>

#include "seq_dist.h"
#include "seq_lua.h"

static int l_dist_init(lua_State *L) {
  SEQ_LUA_CHECK(L, seq_dist_init());
  return 0;
}

static int l_dist_info(lua_State *L) {
  lua_createtable(L, 0, 9);
  lua_pushboolean(L, seq_dist_built());
  lua_setfield(L, -2, "built");
  lua_pushboolean(L, seq_dist_launched());
  lua_setfield(L, -2, "launched");
  lua_pushboolean(L, seq_dist_is_initialized());
  lua_setfield(L, -2, "initialized");
  lua_pushinteger(L, seq_dist_rank());
  lua_setfield(L, -2, "rank");
  lua_pushinteger(L, seq_dist_size());
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, seq_dist_local_rank());
  lua_setfield(L, -2, "local_rank");
  lua_pushstring(L, seq_dist_library());
  lua_setfield(L, -2, "library");
  lua_pushstring(L, seq_dist_plugin_path());
  lua_setfield(L, -2, "plugin");
  lua_pushstring(L, seq_dist_gpu_path());
  lua_setfield(L, -2, "gpu_path");
  return 1;
}

static int l_dist_allreduce(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  const char *op = luaL_optstring(L, 2, "sum");
  seq_dist_op o;
  if (strcmp(op, "sum") == 0) o = SEQ_DIST_OP_SUM;
  else if (strcmp(op, "mean") == 0) o = SEQ_DIST_OP_MEAN;
  else return luaL_error(L, "dist.allreduce: unknown op '%s' (sum or mean)", op);
  SEQ_LUA_CHECK(L, seq_dist_allreduce(t, o));
  lua_settop(L, 1);
  return 1;
}

static int l_dist_broadcast(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  lua_Integer root = luaL_optinteger(L, 2, 0);
  if (root < 0 || root > 1 << 30) return luaL_error(L, "dist.broadcast: root must be a rank, got %d", (int)root);
  SEQ_LUA_CHECK(L, seq_dist_broadcast(t, (int)root));
  lua_settop(L, 1);
  return 1;
}

static int l_dist_barrier(lua_State *L) {
  SEQ_LUA_CHECK(L, seq_dist_barrier());
  return 0;
}

static int l_dist_abort(lua_State *L) {
  seq_dist_abort((int)luaL_optinteger(L, 1, 1));
  return 0;
}

void seq_lua_register_dist(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"dist_init", l_dist_init},         {"dist_info", l_dist_info},       {"dist_allreduce", l_dist_allreduce},
      {"dist_broadcast", l_dist_broadcast}, {"dist_barrier", l_dist_barrier}, {"dist_abort", l_dist_abort},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
