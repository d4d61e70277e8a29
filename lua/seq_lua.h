/* seq_lua.h - conventions shared by the Lua bindings (lua/l_*.c).
 *
 * The bindings are thin: check arguments, call core, and turn a failed
 * seq_status into a Lua error carrying seq_last_error().  Tensors are full
 * userdata holding one reference to a seq_tensor (metatable "seq.Tensor"). */
#ifndef SEQ_LUA_H
#define SEQ_LUA_H

#include <lauxlib.h>
#include <lua.h>

#include "seq_tensor.h"

#define SEQ_TENSOR_MT "seq.Tensor"

/* Raises a Lua error with the core's last message (never returns). */
int seq_lua_error(lua_State *L, seq_status s);
#define SEQ_LUA_CHECK(L, expr)                                                 \
  do {                                                                         \
    seq_status seq_lua_status_ = (expr);                                       \
    if (seq_lua_status_ != SEQ_OK) seq_lua_error((L), seq_lua_status_);        \
  } while (0)

/* The tensor at stack index `idx`, or a Lua error naming the argument. */
seq_tensor *seq_lua_check_tensor(lua_State *L, int idx);
seq_tensor *seq_lua_to_tensor(lua_State *L, int idx); /* NULL if not a tensor */
/* Pushes `t` as userdata, taking over the caller's reference. */
void seq_lua_push_tensor(lua_State *L, seq_tensor *t);
/* Converts a Lua number, nested table or tensor at `idx` to a tensor (new
 * reference) of `dtype` (SEQ_NDTYPES: infer). */
seq_tensor *seq_lua_tensor_arg(lua_State *L, int idx, seq_dtype dtype, seq_device dev);
/* The same as a contiguous tensor, pushed on the stack (Lua owns it: valid
 * while it stays there).  Pushes one or two values. */
seq_tensor *seq_lua_contiguous_arg(lua_State *L, int idx, seq_dtype dtype, seq_device dev);
/* Lists: the one way bindings read a Lua list.  seq_lua_list reads the
 * length of the table at `idx` once (through __len) and copies entries 1..n
 * (through __index) into a plain table pushed on the stack, which holds every
 * entry alive while the binding uses it; read that copy back with
 * lua_rawgeti, which runs no Lua code.  Fails with an error naming `what`
 * when the length is negative or above `max`, or an entry's type is not
 * `elem_type` (LUA_TNONE: any).  Returns n. */
lua_Integer seq_lua_list(lua_State *L, int idx, const char *what, lua_Integer max, int elem_type);
/* A list of at least `min` tensors: pushes the copy and then a C array of
 * its tensors (userdata, *out) that stays valid while both are on the stack. */
#define SEQ_LUA_MAX_TENSORS (1 << 24)
int seq_lua_tensor_list(lua_State *L, int idx, const char *what, int min, seq_tensor ***out);
/* Reads a shape from varargs (n1, n2, ...) or a table {n1, n2} at `idx`. */
int seq_lua_check_shape(lua_State *L, int idx, int64_t *shape);
seq_device seq_lua_default_device(lua_State *L);

/* Option tables ({maxlen = 100, padding = 'post'}), read the way lauxlib's
 * luaL_opt* and luaL_checkoption read arguments: field `key` of the table at
 * `t`, `def` when the field is nil.  A value of the wrong kind raises
 * "<op>: option '<key>' must be <kind>, got <value>" (the checkoption form
 * lists the valid choices).  A string is held by the table, or, when an
 * __index metamethod made it, left on the stack (one more slot), so the
 * pointer lives until the binding returns either way. */
const char *seq_lua_optfield_string(lua_State *L, int t, const char *op, const char *key,
                                    const char *def);
lua_Number seq_lua_optfield_number(lua_State *L, int t, const char *op, const char *key,
                                   lua_Number def);
lua_Integer seq_lua_optfield_integer(lua_State *L, int t, const char *op, const char *key,
                                     lua_Integer def);
/* Any Lua value, by truthiness (as Lua's own `if`); nil -> def. */
bool seq_lua_optfield_boolean(lua_State *L, int t, const char *key, bool def);
/* The index in `names` (NULL-terminated) of the string at `key`; def (a
 * name, or NULL: the option is required) when nil. */
int seq_lua_optfield_option(lua_State *L, int t, const char *op, const char *key,
                            const char *def, const char *const names[]);
/* A number that must be present (no default on the C side). */
lua_Number seq_lua_checkfield_number(lua_State *L, int t, const char *op, const char *key);

/* Every binding file exports one registration function that adds its
 * functions to the table on top of the stack (the `seq.core` module). */
#define SEQ_LUA_MODULES(X)                                                     \
  X(tensor)                                                                    \
  X(nn)                                                                        \
  X(stepper)                                                                   \
  X(conv)                                                                      \
  X(io)                                                                        \
  X(text)                                                                      \
  X(plot)                                                                      \
  X(data)                                                                      \
  X(imdb)                                                                      \
  X(dist)
#define SEQ_LUA_DECLARE(name) void seq_lua_register_##name(lua_State *L);
SEQ_LUA_MODULES(SEQ_LUA_DECLARE)
#undef SEQ_LUA_DECLARE

#endif
