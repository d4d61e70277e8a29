/* module.c - `require 'seq.core'` from a plain lua5.4: this shared module
 * only re-exports luaopen_seq_core from the bindings library. */
#include "seq_lua.h"

int luaopen_seq_core(lua_State *L);

/* Referencing the symbol makes the linker keep l_core.o and everything it
 * needs from the static bindings library. */
int (*const seq_core_module_entry)(lua_State *L) = luaopen_seq_core;
