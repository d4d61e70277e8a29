/* l_common.c - helpers shared by all bindings (declared in seq_lua.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "seq_backend.h"
#include "seq_checked.h"
#include "seq_lua.h"
#include "seq_ops.h"

int seq_lua_error(lua_State *L, seq_status s) {
  (void)s;
  return luaL_error(L, "%s", seq_last_error());
}

seq_tensor *seq_lua_to_tensor(lua_State *L, int idx) {
  seq_tensor **box = luaL_testudata(L, idx, SEQ_TENSOR_MT);
  return box ? *box : NULL;
}

seq_tensor *seq_lua_check_tensor(lua_State *L, int idx) {
  seq_tensor *t = seq_lua_to_tensor(L, idx);
  if (!t) {
    const char *got = luaL_testudata(L, idx, SEQ_TENSOR_MT) ? "a closed tensor" : luaL_typename(L, idx);
    luaL_argerror(L, idx, lua_pushfstring(L, "tensor expected, got %s", got));
  }
  return t;
}

/* ---- lists ---- */

lua_Integer seq_lua_list(lua_State *L, int idx, const char *what, lua_Integer max, int elem_type) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer n = luaL_len(L, idx); /* may call __len: read once */
  if (n < 0 || n > max)
    luaL_error(L, "%s: a list of %I entries (at most %I allowed)", what, n, max);
  lua_createtable(L, (int)(n < 64 ? n : 64), 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, idx, i); /* may call __index, which may run a collection */
    if (elem_type != LUA_TNONE && lua_type(L, -1) != elem_type)
      luaL_error(L, "%s[%I] is %s, expected %s", what, i, luaL_typename(L, -1), lua_typename(L, elem_type));
    lua_rawseti(L, -2, i); /* from here on the copy keeps it alive */
  }
  return n;
}

int seq_lua_tensor_list(lua_State *L, int idx, const char *what, int min, seq_tensor ***out) {
  int n = (int)seq_lua_list(L, idx, what, SEQ_LUA_MAX_TENSORS, LUA_TNONE);
  if (n < min) luaL_error(L, "%s: at least %d tensor%s expected, got %d", what, min, min == 1 ? "" : "s", n);
  int copy = lua_gettop(L);
  seq_tensor **ts = lua_newuserdatauv(L, sizeof(seq_tensor *) * (size_t)(n ? n : 1), 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, copy, i + 1); /* raw: no Lua code runs until the caller is done */
    ts[i] = seq_lua_to_tensor(L, -1);
    if (!ts[i])
      luaL_error(L, "%s[%d] is %s, expected a tensor", what, i + 1,
                 luaL_testudata(L, -1, SEQ_TENSOR_MT) ? "a closed tensor" : luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  *out = ts;
  return n;
}

/* External memory (tensor storage) is invisible to Lua's collector, so a
 * loop that drops large tensors could grow without bound before Lua feels
 * any pressure.  We count bytes handed to Lua since the last full collection
 * and force one when they pass a limit.  A full collection costs time in
 * proportion to the Lua heap, not to tensor bytes, so the limit scales with
 * the heap: 64 tensor bytes per byte of Lua heap (a training loop's heap is a
 * few hundred KiB, so a collection every ~16 MiB costs about a tenth of a
 * millisecond and keeps garbage tensors to one batch or so; see
 * test/bench/RESULTS.md, "memory").  It never exceeds what was live after the
 * last collection unless that is below the floor, so memory stays within about
 * twice what is live even for a program with a large Lua heap.  The floor is
 * 32 bytes per heap byte, between 2 and 16 MiB: a small program (a loop of
 * small ops, heap ~70 KiB) then reuses its dead tensors' memory while it is
 * still in the cache, where a 16 MiB floor had every op write fresh lines
 * (64x400 add: 14 -> 7 us; RESULTS.md, 2026-12-02 "small ops"). */
static size_t pending_bytes;
static size_t live_after_gc;

static void gc_pressure(lua_State *L, size_t nbytes) {
  pending_bytes += nbytes;
  const size_t min_floor = (size_t)2 << 20, max_floor = (size_t)16 << 20;
  if (pending_bytes <= min_floor) return;
  size_t heap = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
  size_t floor_bytes = heap * 32;
  if (floor_bytes < min_floor) floor_bytes = min_floor;
  if (floor_bytes > max_floor) floor_bytes = max_floor;
  size_t limit = heap * 64;
  if (limit > live_after_gc) limit = live_after_gc;
  if (limit < floor_bytes) limit = floor_bytes;
  if (pending_bytes > limit) {
    lua_gc(L, LUA_GCCOLLECT);
    pending_bytes = 0;
    live_after_gc = seq_storage_live_bytes(SEQ_CPU) + seq_storage_live_bytes(SEQ_CUDA);
  }
}

void seq_lua_push_tensor(lua_State *L, seq_tensor *t) {
  gc_pressure(L, (size_t)t->numel * seq_dtype_size(t->dtype));
  seq_tensor **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = t;
  luaL_setmetatable(L, SEQ_TENSOR_MT);
}

int seq_lua_check_shape(lua_State *L, int idx, int64_t *shape) {
  int n = 0;
  if (lua_istable(L, idx)) {
    n = (int)seq_lua_list(L, idx, "shape", SEQ_MAX_DIM, LUA_TNUMBER);
    for (int i = 0; i < n; i++) {
      lua_rawgeti(L, -1, i + 1);
      int ok;
      lua_Integer v = lua_tointegerx(L, -1, &ok);
      if (!ok) luaL_argerror(L, idx, "shape entries must be integers");
      shape[i] = v;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  } else {
    int top = lua_gettop(L);
    for (int i = idx; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
      if (n >= SEQ_MAX_DIM) luaL_argerror(L, i, "too many dims");
      int ok;
      lua_Integer v = lua_tointegerx(L, i, &ok);
      if (!ok) luaL_argerror(L, i, "size must be an integer");
      shape[n++] = v;
    }
  }
  for (int i = 0; i < n; i++)
    if (shape[i] < 0) luaL_argerror(L, idx, lua_pushfstring(L, "negative size %I", (lua_Integer)shape[i]));
  if (seq_shape_numel(n, shape) < 0) luaL_argerror(L, idx, "shape too large");
  return n;
}

/* ---- option tables ---- */

/* The field's value as the user wrote it, for messages (pushed). */
static const char *field_repr(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING) return lua_pushfstring(L, "'%s'", lua_tostring(L, idx));
  return luaL_tolstring(L, idx, NULL);
}

static int field_error(lua_State *L, const char *op, const char *key, const char *kind) {
  const char *got = field_repr(L, -1);
  return luaL_error(L, "%s: option '%s' must be %s, got %s", op, key, kind, got);
}

/* Pushes t[key]; returns true when it is nil (and pops it). */
static bool push_field_is_nil(lua_State *L, int t, const char *key) {
  if (lua_getfield(L, t, key) != LUA_TNIL) return false;
  lua_pop(L, 1);
  return true;
}

const char *seq_lua_optfield_string(lua_State *L, int t, const char *op, const char *key,
                                    const char *def) {
  t = lua_absindex(L, t);
  luaL_checkstack(L, 2, "too many options");
  if (push_field_is_nil(L, t, key)) return def;
  if (lua_type(L, -1) != LUA_TSTRING) field_error(L, op, key, "a string");
  const char *s = lua_tostring(L, -1);
  /* The pointer must outlive this call: a string the table holds itself
   * lives as long as the table; one made by an __index metamethod is held
   * by nothing else, so it stays on the stack until the binding returns. */
  lua_pushstring(L, key);
  lua_rawget(L, t);
  bool held = lua_rawequal(L, -1, -2);
  lua_pop(L, held ? 2 : 1);
  return s;
}

lua_Number seq_lua_optfield_number(lua_State *L, int t, const char *op, const char *key,
                                   lua_Number def) {
  if (push_field_is_nil(L, t, key)) return def;
  int ok;
  lua_Number v = lua_tonumberx(L, -1, &ok);
  if (!ok) field_error(L, op, key, "a number");
  lua_pop(L, 1);
  return v;
}

lua_Integer seq_lua_optfield_integer(lua_State *L, int t, const char *op, const char *key,
                                     lua_Integer def) {
  if (push_field_is_nil(L, t, key)) return def;
  int ok;
  lua_Integer v = lua_tointegerx(L, -1, &ok);
  if (!ok) field_error(L, op, key, "an integer");
  lua_pop(L, 1);
  return v;
}

bool seq_lua_optfield_boolean(lua_State *L, int t, const char *key, bool def) {
  if (push_field_is_nil(L, t, key)) return def;
  bool v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

int seq_lua_optfield_option(lua_State *L, int t, const char *op, const char *key,
                            const char *def, const char *const names[]) {
  const char *name = seq_lua_optfield_string(L, t, op, key, def);
  if (name)
    for (int i = 0; names[i]; i++)
      if (strcmp(names[i], name) == 0) return i;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; names[i]; i++) {
    if (i) luaL_addstring(&b, names[i + 1] ? ", " : " or ");
    lua_pushfstring(L, "'%s'", names[i]);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  const char *choices = lua_tostring(L, -1);
  if (!name) return luaL_error(L, "%s: option '%s' is required (%s)", op, key, choices);
  return luaL_error(L, "%s: option '%s' must be %s, got '%s'", op, key, choices, name);
}

lua_Number seq_lua_checkfield_number(lua_State *L, int t, const char *op, const char *key) {
  if (push_field_is_nil(L, t, key)) luaL_error(L, "%s: option '%s' is required", op, key);
  lua_pop(L, 1);
  return seq_lua_optfield_number(L, t, op, key, 0);
}

seq_device seq_lua_default_device(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "seq.default_device");
  const char *name = lua_tostring(L, -1);
  seq_device d = SEQ_CPU;
  if (name) seq_device_from_name(name, &d);
  lua_pop(L, 1);
  return d;
}

/* ---- nested Lua tables -> tensor ---- */

static void table_shape(lua_State *L, int idx, int *ndim, int64_t *shape) {
  int n = 0;
  lua_pushvalue(L, idx);
  while (lua_istable(L, -1)) {
    if (n >= SEQ_MAX_DIM) luaL_error(L, "tensor: nested tables deeper than %d", SEQ_MAX_DIM);
    shape[n++] = (int64_t)luaL_len(L, -1);
    if (shape[n - 1] == 0) break;
    lua_geti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  *ndim = n;
}

/* Staging slots hold int64 while every value so far is an integer (so
 * integers above 2^53 stay exact) and doubles from the first float on. */
typedef union {
  int64_t i;
  double d;
} stage_slot;

static void stage_put(stage_slot *out, int64_t *pos, bool *all_int, lua_State *L, int idx) {
  if (lua_isinteger(L, idx) || lua_isboolean(L, idx)) {
    int64_t v = lua_isboolean(L, idx) ? lua_toboolean(L, idx) : (int64_t)lua_tointeger(L, idx);
    if (*all_int) out[*pos].i = v;
    else out[*pos].d = (double)v;
  } else {
    if (*all_int) { /* the first float: what was staged so far becomes double */
      for (int64_t k = 0; k < *pos; k++) out[k].d = (double)out[k].i;
      *all_int = false;
    }
    out[*pos].d = lua_tonumber(L, idx);
  }
  (*pos)++;
}

static void table_fill(lua_State *L, int idx, int depth, int ndim, const int64_t *shape,
                       stage_slot *out, int64_t *pos, bool *all_int) {
  if (!lua_istable(L, idx)) luaL_error(L, "tensor: ragged nested table (expected a table at depth %d)", depth + 1);
  lua_Integer len = luaL_len(L, idx);
  if (len != shape[depth])
    luaL_error(L, "tensor: ragged nested table (length %I at depth %d, expected %I)", len, depth + 1,
               (lua_Integer)shape[depth]);
  for (int64_t i = 1; i <= shape[depth]; i++) {
    lua_geti(L, idx, i);
    if (depth + 1 < ndim) {
      table_fill(L, lua_gettop(L), depth + 1, ndim, shape, out, pos, all_int);
    } else {
      int t = lua_type(L, -1);
      if (t == LUA_TNUMBER || t == LUA_TBOOLEAN) {
        stage_put(out, pos, all_int, L, lua_gettop(L));
      } else {
        luaL_error(L, "tensor: expected numbers in the nested table, got %s", luaL_typename(L, -1));
      }
    }
    lua_pop(L, 1);
  }
}

seq_tensor *seq_lua_tensor_arg(lua_State *L, int idx, seq_dtype dtype, seq_device dev) {
  idx = lua_absindex(L, idx);
  seq_tensor *t = seq_lua_to_tensor(L, idx);
  seq_tensor *r = NULL;
  if (t) {
    seq_tensor *c = NULL;
    SEQ_LUA_CHECK(L, seq_cast(&c, t, dtype == SEQ_NDTYPES ? t->dtype : dtype));
    seq_status st = seq_to_device(&r, c, dev);
    seq_tensor_release(c);
    SEQ_LUA_CHECK(L, st);
    return r;
  }
  int ndim = 0;
  int64_t shape[SEQ_MAX_DIM];
  bool all_int = true;
  int64_t n = 1;
  size_t nbytes = 0;
  if (lua_type(L, idx) == LUA_TNUMBER) {
  } else if (lua_istable(L, idx)) {
    table_shape(L, idx, &ndim, shape); /* lengths may come from a lying __len */
    n = seq_shape_numel(ndim, shape);
    if (n < 0 || !seq_mul_size(sizeof(stage_slot), (size_t)n, &nbytes)) {
      char b[96];
      luaL_error(L, "tensor: nested table of impossible shape %s", seq_shape_str(b, sizeof b, ndim, shape));
    }
  } else {
    luaL_argerror(L, idx, lua_pushfstring(L, "number, table or tensor expected, got %s", luaL_typename(L, idx)));
    return NULL;
  }
  /* The staging buffer is Lua userdata so an error while reading the
   * table cannot leak it. */
  stage_slot *buf = lua_newuserdatauv(L, nbytes ? nbytes : sizeof(stage_slot), 0);
  int64_t pos = 0;
  if (ndim == 0) stage_put(buf, &pos, &all_int, L, idx);
  else if (n > 0) table_fill(L, idx, 0, ndim, shape, buf, &pos, &all_int);
  if (dtype == SEQ_NDTYPES) dtype = all_int ? SEQ_I64 : SEQ_F32;
  seq_tensor *host = NULL;
  seq_status st = seq_tensor_from_host(&host, all_int ? SEQ_I64 : SEQ_F64, ndim, shape, buf,
                                       ndim ? nbytes : sizeof(stage_slot));
  lua_pop(L, 1);
  SEQ_LUA_CHECK(L, st);
  seq_tensor *c = NULL;
  st = seq_cast(&c, host, dtype);
  seq_tensor_release(host);
  SEQ_LUA_CHECK(L, st);
  st = seq_to_device(&r, c, dev);
  seq_tensor_release(c);
  SEQ_LUA_CHECK(L, st);
  return r;
}

seq_tensor *seq_lua_contiguous_arg(lua_State *L, int idx, seq_dtype dtype, seq_device dev) {
  seq_tensor *t = seq_lua_tensor_arg(L, idx, dtype, dev);
  seq_lua_push_tensor(L, t);
  if (seq_tensor_is_contiguous(t)) return t;
  seq_tensor *c;
  SEQ_LUA_CHECK(L, seq_contiguous(&c, t));
  seq_lua_push_tensor(L, c);
  return c;
}
