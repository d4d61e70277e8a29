/* l_core.c - the `seq.core` module: one table with every binding. */
#include "seq_backend.h"
#include "seq_cuda_loader.h"
#include "seq_lua.h"

int luaopen_seq_core(lua_State *L) {
  lua_newtable(L);
#define SEQ_LUA_CALL(name) seq_lua_register_##name(L);
  SEQ_LUA_MODULES(SEQ_LUA_CALL)
#undef SEQ_LUA_CALL
  lua_pushstring(L, SEQ_VERSION_STRING);
  lua_setfield(L, -2, "version");
  lua_pushboolean(L, seq_cuda_built());
  lua_setfield(L, -2, "built_with_cuda");
  return 1;
}
