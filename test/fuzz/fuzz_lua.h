/* fuzz_lua.h - one Lua state with `seq` loaded from the source tree, for
 * harnesses of the readers written in Lua (JSON, model configs). */
#ifndef SEQ_FUZZ_LUA_H
#define SEQ_FUZZ_LUA_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>

int luaopen_seq_core(lua_State *L);

static lua_State *fuzz_lua_state(void) {
  static lua_State *L;
  if (L) return L;
  L = luaL_newstate();
  if (!L) abort();
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushstring(L, SEQ_FUZZ_LUA_DIR "/?.lua;" SEQ_FUZZ_LUA_DIR "/?/init.lua");
  lua_setfield(L, -2, "path");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_seq_core);
  lua_setfield(L, -2, "seq.core");
  lua_pop(L, 2);
  if (luaL_dostring(L, "seq = require 'seq'; seq.set_threads(1)") != LUA_OK) abort();
  return L;
}

/* The state with the harness's Lua `setup` run once; the global function it
 * defines is pushed, ready for its arguments. */
static lua_State *fuzz_lua_function(const char *setup, const char *name) {
  static int ready;
  lua_State *L = fuzz_lua_state();
  if (!ready) {
    if (luaL_dostring(L, setup) != LUA_OK) abort();
    ready = 1;
  }
  lua_getglobal(L, name);
  return L;
}


#endif
