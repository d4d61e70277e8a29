/* l_tensor.c - the Tensor userdata: constructors, methods, operators.
 *
 * Lua conventions (see ARCHITECTURE.md): dims and positions given as
 * arguments are 1-based, negative dims count from the end; tensors of ids
 * hold 0-based values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_backend.h"
#include "seq_lua.h"
#include "seq_ops.h"
#include "seq_cuda_loader.h"

/* ---- argument helpers ---- */

static seq_dtype check_dtype(lua_State *L, int idx, seq_dtype def) {
  if (lua_isnoneornil(L, idx)) return def;
  const char *name = luaL_checkstring(L, idx);
  seq_dtype d;
  if (!seq_dtype_from_name(name, &d))
    luaL_argerror(L, idx, lua_pushfstring(L, "unknown dtype '%s' (f32, f64, i32, i64, u8)", name));
  return d;
}

static seq_device check_device(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return seq_lua_default_device(L);
  const char *name = luaL_checkstring(L, idx);
  seq_device d;
  if (!seq_device_from_name(name, &d))
    luaL_argerror(L, idx, lua_pushfstring(L, "unknown device '%s' (cpu or cuda)", name));
  if (!seq_device_available(d)) seq_lua_error(L, SEQ_EDEVICE);
  return d;
}

/* 1-based Lua dim -> core dim (negative kept). */
static int64_t check_dim(lua_State *L, int idx) {
  lua_Integer d = luaL_checkinteger(L, idx);
  if (d == 0) luaL_argerror(L, idx, "dim 0 is invalid: dims are 1-based (use 1 for the first, -1 for the last)");
  return d > 0 ? d - 1 : d;
}

static int64_t opt_dim(lua_State *L, int idx) {
  return lua_isnoneornil(L, idx) ? SEQ_ALL_DIMS : check_dim(L, idx);
}

/* Calls op(&result, args...) -- the ops' out-parameter first convention --
 * and returns the result to Lua (or raises the op's error). */
#define PUSH_RESULT(L, op, ...)                                                \
  do {                                                                         \
    seq_tensor *result_ = NULL;                                                \
    SEQ_LUA_CHECK((L), op(&result_, __VA_ARGS__));                             \
    seq_lua_push_tensor((L), result_);                                         \
    return 1;                                                                  \
  } while (0)

/* A tensor operand: a tensor, or a number turned into a 0-d tensor of the
 * other operand's dtype family. */
static seq_tensor *operand(lua_State *L, int idx, const seq_tensor *like) {
  seq_tensor *t = seq_lua_to_tensor(L, idx);
  if (t) return seq_tensor_retain(t);
  if (lua_type(L, idx) == LUA_TNUMBER) {
    seq_dtype dt = like->dtype;
    seq_tensor *s = NULL;
    if (lua_isinteger(L, idx)) {
      SEQ_LUA_CHECK(L, seq_full_int(&s, dt, like->device, 0, NULL, lua_tointeger(L, idx)));
      return s;
    }
    if (!seq_dtype_is_float(dt)) dt = SEQ_F32;
    SEQ_LUA_CHECK(L, seq_tensor_full(&s, dt, like->device, 0, NULL, lua_tonumber(L, idx)));
    return s;
  }
  return seq_lua_tensor_arg(L, idx, like->dtype, like->device);
}

/* ---- constructors (seq.core.*) ---- */

/* new(kind, shape_table, dtype, device, value) */
static int l_new(lua_State *L) {
  static const char *const kinds[] = {"empty", "zeros", "ones", "full", NULL};
  int kind = luaL_checkoption(L, 1, NULL, kinds);
  int64_t shape[SEQ_MAX_DIM];
  luaL_checktype(L, 2, LUA_TTABLE);
  int nd = seq_lua_check_shape(L, 2, shape);
  seq_dtype dt = check_dtype(L, 3, SEQ_F32);
  seq_device dev = check_device(L, 4);
  seq_tensor *r = NULL;
  seq_status st;
  switch (kind) {
  case 0: st = seq_tensor_empty(&r, dt, dev, nd, shape); break;
  case 1: st = seq_tensor_zeros(&r, dt, dev, nd, shape); break;
  case 2: st = seq_tensor_full(&r, dt, dev, nd, shape, 1.0); break;
  default:
    if (lua_isinteger(L, 5)) st = seq_full_int(&r, dt, dev, nd, shape, lua_tointeger(L, 5));
    else st = seq_tensor_full(&r, dt, dev, nd, shape, luaL_checknumber(L, 5));
    break;
  }
  SEQ_LUA_CHECK(L, st);
  seq_lua_push_tensor(L, r);
  return 1;
}

/* rand(shape, dtype, device, lo, hi) / randn(shape, dtype, device, mean, std) */
static int l_rand(lua_State *L) {
  int64_t shape[SEQ_MAX_DIM];
  luaL_checktype(L, 1, LUA_TTABLE);
  int nd = seq_lua_check_shape(L, 1, shape);
  seq_dtype dt = check_dtype(L, 2, SEQ_F32);
  seq_device dev = check_device(L, 3);
  PUSH_RESULT(L, seq_rand_uniform, dt, dev, nd, shape, luaL_optnumber(L, 4, 0.0), luaL_optnumber(L, 5, 1.0));
}

static int l_randn(lua_State *L) {
  int64_t shape[SEQ_MAX_DIM];
  luaL_checktype(L, 1, LUA_TTABLE);
  int nd = seq_lua_check_shape(L, 1, shape);
  seq_dtype dt = check_dtype(L, 2, SEQ_F32);
  seq_device dev = check_device(L, 3);
  PUSH_RESULT(L, seq_rand_normal, dt, dev, nd, shape, luaL_optnumber(L, 4, 0.0), luaL_optnumber(L, 5, 1.0));
}

/* arange(start, stop, step, dtype, device) */
static int l_arange(lua_State *L) {
  double start = luaL_checknumber(L, 1), stop = luaL_checknumber(L, 2), step = luaL_optnumber(L, 3, 1.0);
  bool ints = lua_isinteger(L, 1) && lua_isinteger(L, 2) && (lua_isnoneornil(L, 3) || lua_isinteger(L, 3));
  seq_dtype dt = check_dtype(L, 4, ints ? SEQ_I64 : SEQ_F32);
  seq_device dev = check_device(L, 5);
  PUSH_RESULT(L, seq_arange, start, stop, step, dt, dev);
}

/* tensor(data, dtype|nil, device|nil) */
static int l_tensor(lua_State *L) {
  seq_dtype dt = check_dtype(L, 2, SEQ_NDTYPES);
  seq_device dev = check_device(L, 3);
  seq_tensor *t = seq_lua_to_tensor(L, 1);
  seq_tensor *r;
  if (t) { /* a copy, like torch.tensor(t) */
    seq_tensor *c = NULL;
    bool prev = seq_set_grad_enabled(false);
    seq_status st = seq_cast(&c, t, dt == SEQ_NDTYPES ? t->dtype : dt);
    seq_tensor *moved = NULL;
    if (st == SEQ_OK) st = seq_to_device(&moved, c, dev);
    seq_tensor_release(c);
    if (st == SEQ_OK) st = seq_clone(&r, moved);
    seq_tensor_release(moved);
    seq_set_grad_enabled(prev);
    SEQ_LUA_CHECK(L, st);
  } else {
    r = seq_lua_tensor_arg(L, 1, dt, dev);
  }
  seq_lua_push_tensor(L, r);
  return 1;
}

/* from_bytes(string, dtype, shape_table|nil) -> tensor over the raw bytes */
static int l_from_bytes(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  seq_dtype dt = check_dtype(L, 2, SEQ_U8);
  size_t es = seq_dtype_size(dt);
  int64_t shape[SEQ_MAX_DIM];
  int nd;
  if (lua_istable(L, 3)) nd = seq_lua_check_shape(L, 3, shape);
  else {
    if (len % es) return luaL_error(L, "from_bytes: %d bytes is not a whole number of %s elements", (int)len, seq_dtype_name(dt));
    nd = 1;
    shape[0] = (int64_t)(len / es);
  }
  PUSH_RESULT(L, seq_tensor_from_host, dt, nd, shape, s, len);
}

static int l_manual_seed(lua_State *L) {
  seq_manual_seed((uint64_t)luaL_checkinteger(L, 1));
  return 0;
}

static int l_rng_state(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)seq_rng_seed());
  lua_pushinteger(L, (lua_Integer)seq_rng_offset());
  return 2;
}

static int l_set_rng_state(lua_State *L) {
  seq_rng_set_state((uint64_t)luaL_checkinteger(L, 1), (uint64_t)luaL_checkinteger(L, 2));
  return 0;
}

/* Reserves n counters of the global stream: for Lua-side sampling that must
 * follow the same seed (returns seed, first counter). */
static int l_rng_reserve(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  if (n < 0) return luaL_argerror(L, 1, "count must be >= 0");
  lua_pushinteger(L, (lua_Integer)seq_rng_seed());
  lua_pushinteger(L, (lua_Integer)seq_rng_reserve((uint64_t)n));
  return 2;
}

static int l_set_grad_enabled(lua_State *L) {
  lua_pushboolean(L, seq_set_grad_enabled(lua_toboolean(L, 1)));
  return 1;
}

static int l_grad_enabled(lua_State *L) {
  lua_pushboolean(L, seq_grad_enabled());
  return 1;
}

static int l_set_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  if (n < 1 || n > 1024) return luaL_argerror(L, 1, "thread count must be between 1 and 1024");
  SEQ_LUA_CHECK(L, seq_set_threads(SEQ_CPU, (int)n));
  return 0;
}

static int l_get_threads(lua_State *L) {
  int n;
  SEQ_LUA_CHECK(L, seq_get_threads(SEQ_CPU, &n));
  lua_pushinteger(L, n);
  return 1;
}

static int l_cpu_vmath_isa(lua_State *L) {
  lua_pushstring(L, seq_cpu_vmath_isa());
  return 1;
}

static int l_cpu_gemm_path(lua_State *L) {
  lua_pushstring(L, seq_cpu_gemm_path());
  return 1;
}

static int l_device_available(lua_State *L) {
  seq_device d;
  if (!seq_device_from_name(luaL_checkstring(L, 1), &d)) return luaL_argerror(L, 1, "unknown device");
  lua_pushboolean(L, seq_device_available(d));
  return 1;
}

static int l_live_bytes(lua_State *L) {
  seq_device d = SEQ_CPU;
  if (!lua_isnoneornil(L, 1) && !seq_device_from_name(luaL_checkstring(L, 1), &d))
    return luaL_argerror(L, 1, "unknown device");
  lua_pushinteger(L, (lua_Integer)seq_storage_live_bytes(d));
  return 1;
}

static int l_set_default_device(lua_State *L) {
  seq_device d = check_device(L, 1);
  lua_pushstring(L, seq_device_name(d));
  lua_setfield(L, LUA_REGISTRYINDEX, "seq.default_device");
  return 0;
}

static int l_default_device(lua_State *L) {
  lua_pushstring(L, seq_device_name(seq_lua_default_device(L)));
  return 1;
}

/* CUDA switches; without the backend they report "no device" honestly. */
static int l_cuda_set_tf32(lua_State *L) {
  seq_cuda_set_tf32(lua_toboolean(L, 1));
  return 0;
}

static int l_cuda_memory(lua_State *L) {
  size_t in_use = 0, cached = 0;
  seq_cuda_memory_stats(&in_use, &cached); /* zeros while the plugin is not loaded */
  lua_pushinteger(L, (lua_Integer)in_use);
  lua_pushinteger(L, (lua_Integer)cached);
  return 2;
}

static int l_cuda_empty_cache(lua_State *L) {
  seq_cuda_empty_cache();
  (void)L;
  return 0;
}

/* Where the CUDA plugin stands (and the device count, which loads it). */
static int l_cuda_status(lua_State *L) {
  const int n = seq_cuda_device_count();
  lua_pushstring(L, seq_cuda_status());
  lua_pushinteger(L, n);
  return 2;
}

static int l_synchronize(lua_State *L) {
  seq_device d = SEQ_CPU;
  if (!lua_isnoneornil(L, 1) && !seq_device_from_name(luaL_checkstring(L, 1), &d))
    return luaL_argerror(L, 1, "unknown device");
  const seq_backend *be = seq_backend_get(d);
  if (!be) return seq_lua_error(L, SEQ_EDEVICE);
  SEQ_LUA_CHECK(L, be->synchronize());
  return 0;
}

static int l_is_tensor(lua_State *L) {
  lua_pushboolean(L, seq_lua_to_tensor(L, 1) != NULL);
  return 1;
}

static int l_cat(lua_State *L) {
  seq_tensor **ts;
  int64_t dim = lua_isnoneornil(L, 2) ? 0 : check_dim(L, 2);
  int n = seq_lua_tensor_list(L, 1, "cat: tensors", 1, &ts);
  PUSH_RESULT(L, seq_cat, n, ts, dim);
}

static int l_stack(lua_State *L) {
  seq_tensor **ts;
  int64_t dim = lua_isnoneornil(L, 2) ? 0 : check_dim(L, 2);
  int n = seq_lua_tensor_list(L, 1, "stack: tensors", 1, &ts);
  PUSH_RESULT(L, seq_stack, n, ts, dim);
}

static int l_where(lua_State *L) {
  seq_tensor *c = seq_lua_check_tensor(L, 1);
  seq_tensor *a = seq_lua_to_tensor(L, 2), *b = seq_lua_to_tensor(L, 3);
  const seq_tensor *like = a ? a : b;
  if (!like) return luaL_error(L, "where: at least one of the two values must be a tensor");
  /* Converted operands go onto the Lua stack at once, so that an error
   * converting the second one cannot leak the first. */
  seq_tensor *ops[2];
  for (int k = 0; k < 2; k++) {
    ops[k] = operand(L, 2 + k, like);
    seq_lua_push_tensor(L, ops[k]);
    lua_replace(L, 2 + k);
  }
  seq_tensor *r = NULL;
  SEQ_LUA_CHECK(L, seq_where(&r, c, ops[0], ops[1]));
  seq_lua_push_tensor(L, r);
  return 1;
}

/* ---- methods ---- */

static int m_shape(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  lua_createtable(L, t->ndim, 0);
  for (int i = 0; i < t->ndim; i++) {
    lua_pushinteger(L, t->shape[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int m_size(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  if (lua_isnoneornil(L, 2)) return m_shape(L);
  int d;
  SEQ_LUA_CHECK(L, seq_check_dim("size", t, check_dim(L, 2), &d));
  lua_pushinteger(L, t->shape[d]);
  return 1;
}

static int m_dim(lua_State *L) {
  lua_pushinteger(L, seq_lua_check_tensor(L, 1)->ndim);
  return 1;
}

static int m_numel(lua_State *L) {
  lua_pushinteger(L, seq_lua_check_tensor(L, 1)->numel);
  return 1;
}

static int m_len(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  if (t->ndim == 0) return luaL_error(L, "#: a 0-d tensor has no length");
  lua_pushinteger(L, t->shape[0]);
  return 1;
}


/* An element on its way to Lua: integer tensors go through int64, never
 * through a double (an i64 above 2^53 would round, 2^63 would not convert). */
typedef union {
  double d;
  int64_t i;
} host_value;

static void push_host_value(lua_State *L, seq_dtype dt, host_value v) {
  if (seq_dtype_is_float(dt)) lua_pushnumber(L, v.d);
  else lua_pushinteger(L, (lua_Integer)v.i);
}

/* The element at `index` pushed as a Lua integer or float. */
static void push_element(lua_State *L, const seq_tensor *t, const int64_t *index) {
  host_value v;
  if (seq_dtype_is_float(t->dtype)) SEQ_LUA_CHECK(L, seq_tensor_get(t, index, &v.d));
  else SEQ_LUA_CHECK(L, seq_tensor_get_int(t, index, &v.i));
  push_host_value(L, t->dtype, v);
}

/* Copies the tensor to a contiguous host buffer, f64 for float tensors and
 * i64 for integer ones (caller frees). */
static host_value *host_values(lua_State *L, seq_tensor *t) {
  seq_tensor *c = NULL, *h = NULL;
  bool prev = seq_set_grad_enabled(false);
  seq_status st = seq_to_device(&h, t, SEQ_CPU);
  if (st == SEQ_OK) st = seq_cast(&c, h, seq_dtype_is_float(t->dtype) ? SEQ_F64 : SEQ_I64);
  seq_set_grad_enabled(prev);
  seq_tensor_release(h);
  SEQ_LUA_CHECK(L, st);
  seq_tensor *cc = NULL;
  st = seq_contiguous(&cc, c);
  seq_tensor_release(c);
  SEQ_LUA_CHECK(L, st);
  host_value *buf = malloc(sizeof *buf * (size_t)(t->numel ? t->numel : 1));
  if (!buf) {
    seq_tensor_release(cc);
    luaL_error(L, "out of memory");
  }
  memcpy(buf, seq_tensor_data(cc), sizeof *buf * (size_t)t->numel);
  seq_tensor_release(cc);
  return buf;
}

static void push_list(lua_State *L, const seq_tensor *t, const host_value *v, int depth, int64_t *pos) {
  if (depth == t->ndim) {
    push_host_value(L, t->dtype, v[(*pos)++]);
    return;
  }
  lua_createtable(L, (int)t->shape[depth], 0);
  for (int64_t i = 0; i < t->shape[depth]; i++) {
    push_list(L, t, v, depth + 1, pos);
    lua_rawseti(L, -2, i + 1);
  }
}

static int m_tolist(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  luaL_checkstack(L, t->ndim + 4, "tolist");
  host_value *v = host_values(L, t);
  int64_t pos = 0;
  push_list(L, t, v, 0, &pos);
  free(v);
  return 1;
}

static int m_item(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  if (t->numel != 1)
    return luaL_error(L, "item: tensor of shape %s has %d elements, not 1", seq_tshape(t), (int)t->numel);
  if (!seq_dtype_is_float(t->dtype)) { /* exact: through int64 */
    int64_t zeros[SEQ_MAX_DIM] = {0};
    push_element(L, t, zeros);
    return 1;
  }
  double v = 0;
  seq_status st = seq_tensor_read_flat(t, 0, &v);
  if (st != SEQ_OK) return seq_lua_error(L, seq_fail_context(st, "item"));
  lua_pushnumber(L, v);
  return 1;
}

static int read_index(lua_State *L, seq_tensor *t, int first, int count, int64_t *index) {
  if (count != t->ndim)
    return luaL_error(L, "index: %d positions given for a tensor of shape %s", count, seq_tshape(t));
  for (int i = 0; i < count; i++) {
    lua_Integer p = luaL_checkinteger(L, first + i);
    if (p < 0) p += t->shape[i] + 1;
    index[i] = p - 1;
  }
  return 0;
}

static int m_get(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int64_t index[SEQ_MAX_DIM];
  read_index(L, t, 2, lua_gettop(L) - 1, index);
  push_element(L, t, index);
  return 1;
}

static int m_set(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int top = lua_gettop(L);
  if (top < 2) return luaL_error(L, "set: value expected");
  double v = luaL_checknumber(L, top);
  int64_t index[SEQ_MAX_DIM];
  read_index(L, t, 2, top - 2, index);
  if (lua_isinteger(L, top)) SEQ_LUA_CHECK(L, seq_tensor_set_int(t, index, lua_tointeger(L, top)));
  else SEQ_LUA_CHECK(L, seq_tensor_set(t, index, v));
  lua_settop(L, 1);
  return 1;
}

static int m_reshape(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int64_t shape[SEQ_MAX_DIM];
  int n = 0;
  if (lua_istable(L, 2)) {
    n = (int)seq_lua_list(L, 2, "reshape: shape", SEQ_MAX_DIM, LUA_TNUMBER);
    for (int i = 0; i < n; i++) {
      lua_rawgeti(L, -1, i + 1);
      shape[i] = luaL_checkinteger(L, -1);
      lua_pop(L, 1);
    }
  } else {
    int top = lua_gettop(L);
    if (top - 1 > SEQ_MAX_DIM) return luaL_argerror(L, 2, "too many dims");
    for (int i = 2; i <= top; i++) shape[n++] = luaL_checkinteger(L, i);
  }
  PUSH_RESULT(L, seq_reshape, t, n, shape);
}

static int m_permute(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int perm[SEQ_MAX_DIM];
  int n = 0;
  if (lua_istable(L, 2)) {
    n = (int)seq_lua_list(L, 2, "permute: dims", SEQ_MAX_DIM, LUA_TNUMBER);
    for (int i = 0; i < n; i++) {
      lua_rawgeti(L, -1, i + 1);
      lua_Integer d = luaL_checkinteger(L, -1);
      perm[i] = (int)(d > 0 ? d - 1 : d + t->ndim);
      lua_pop(L, 1);
    }
  } else {
    int top = lua_gettop(L);
    if (top - 1 > SEQ_MAX_DIM) return luaL_argerror(L, 2, "too many dims");
    for (int i = 2; i <= top; i++) {
      lua_Integer d = luaL_checkinteger(L, i);
      perm[n++] = (int)(d > 0 ? d - 1 : d + t->ndim);
    }
  }
  PUSH_RESULT(L, seq_permute, t, n, perm);
}

static int m_transpose(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  if (lua_isnoneornil(L, 2)) {
    if (t->ndim != 2) return luaL_error(L, "transpose: dims required for a tensor of shape %s", seq_tshape(t));
    PUSH_RESULT(L, seq_transpose, t, 0, 1);
  }
  PUSH_RESULT(L, seq_transpose, t, check_dim(L, 2), check_dim(L, 3));
}

static int m_contiguous(lua_State *L) { PUSH_RESULT(L, seq_contiguous, seq_lua_check_tensor(L, 1)); }
static int m_is_contiguous(lua_State *L) {
  lua_pushboolean(L, seq_tensor_is_contiguous(seq_lua_check_tensor(L, 1)));
  return 1;
}
static int m_clone(lua_State *L) { PUSH_RESULT(L, seq_clone, seq_lua_check_tensor(L, 1)); }
static int m_detach(lua_State *L) { PUSH_RESULT(L, seq_detach, seq_lua_check_tensor(L, 1)); }

static int m_narrow(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int64_t dim = check_dim(L, 2);
  lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
  int d;
  SEQ_LUA_CHECK(L, seq_check_dim("narrow", t, dim, &d));
  if (start < 0) start += t->shape[d] + 1;
  PUSH_RESULT(L, seq_narrow, t, dim, start - 1, len);
}

static int m_select(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int64_t dim = check_dim(L, 2);
  lua_Integer idx = luaL_checkinteger(L, 3);
  if (idx == 0) return luaL_argerror(L, 3, "positions are 1-based");
  PUSH_RESULT(L, seq_select, t, dim, idx > 0 ? idx - 1 : idx);
}

static int m_squeeze(lua_State *L) {
  PUSH_RESULT(L, seq_squeeze, seq_lua_check_tensor(L, 1), opt_dim(L, 2));
}

static int m_unsqueeze(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  lua_Integer d = luaL_checkinteger(L, 2);
  if (d == 0) return luaL_argerror(L, 2, "dims are 1-based");
  PUSH_RESULT(L, seq_unsqueeze, t, d > 0 ? d - 1 : d);
}

static int m_expand(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int64_t shape[SEQ_MAX_DIM];
  int n = seq_lua_check_shape(L, 2, shape);
  PUSH_RESULT(L, seq_expand, t, n, shape);
}

static int m_index_select(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int64_t d = check_dim(L, 2);
  PUSH_RESULT(L, seq_index_select, t, d, seq_lua_check_tensor(L, 3));
}

static int m_gather(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int64_t d = check_dim(L, 2);
  PUSH_RESULT(L, seq_gather, t, d, seq_lua_check_tensor(L, 3));
}

static int m_scatter_add(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int64_t d = check_dim(L, 2);
  PUSH_RESULT(L, seq_scatter_add, t, d, seq_lua_check_tensor(L, 3), seq_lua_check_tensor(L, 4));
}

/* binary methods and operators: either side may be a number */
static int binary_op(lua_State *L, seq_binop op) {
  seq_tensor *a = seq_lua_to_tensor(L, 1), *b = seq_lua_to_tensor(L, 2);
  seq_tensor *r = NULL;
  seq_status st;
  if (a && b) st = seq_binary(&r, op, a, b);
  else if (a && lua_isinteger(L, 2)) st = seq_binary_scalar_int(&r, op, a, lua_tointeger(L, 2), false);
  else if (b && lua_isinteger(L, 1)) st = seq_binary_scalar_int(&r, op, b, lua_tointeger(L, 1), true);
  else if (a && lua_type(L, 2) == LUA_TNUMBER) st = seq_binary_scalar(&r, op, a, lua_tonumber(L, 2), false);
  else if (b && lua_type(L, 1) == LUA_TNUMBER) st = seq_binary_scalar(&r, op, b, lua_tonumber(L, 1), true);
  else if (a) {
    seq_tensor *tb = seq_lua_tensor_arg(L, 2, a->dtype, a->device);
    st = seq_binary(&r, op, a, tb);
    seq_tensor_release(tb);
  } else return luaL_error(L, "arithmetic on a tensor and a %s", luaL_typename(L, a ? 2 : 1));
  SEQ_LUA_CHECK(L, st);
  seq_lua_push_tensor(L, r);
  return 1;
}

#define BINARY(name, op) static int m_##name(lua_State *L) { return binary_op(L, op); }
BINARY(add, SEQ_BIN_ADD)
BINARY(sub, SEQ_BIN_SUB)
BINARY(mul, SEQ_BIN_MUL)
BINARY(div, SEQ_BIN_DIV)
BINARY(pow, SEQ_BIN_POW)
BINARY(maximum, SEQ_BIN_MAX)
BINARY(minimum, SEQ_BIN_MIN)
BINARY(eq, SEQ_BIN_EQ)
BINARY(ne, SEQ_BIN_NE)
BINARY(lt, SEQ_BIN_LT)
BINARY(le, SEQ_BIN_LE)
BINARY(gt, SEQ_BIN_GT)
BINARY(ge, SEQ_BIN_GE)

static int m_unm(lua_State *L) { PUSH_RESULT(L, seq_unary, SEQ_UN_NEG, seq_lua_check_tensor(L, 1), 0, 0); }

#define UNARY(name, op) \
  static int m_##name(lua_State *L) { PUSH_RESULT(L, seq_unary, op, seq_lua_check_tensor(L, 1), 0, 0); }
UNARY(exp, SEQ_UN_EXP)
UNARY(log, SEQ_UN_LOG)
UNARY(sqrt, SEQ_UN_SQRT)
UNARY(tanh, SEQ_UN_TANH)
UNARY(sigmoid, SEQ_UN_SIGMOID)
UNARY(relu, SEQ_UN_RELU)
UNARY(abs, SEQ_UN_ABS)
UNARY(sign, SEQ_UN_SIGN)
UNARY(square, SEQ_UN_SQUARE)
UNARY(reciprocal, SEQ_UN_RECIPROCAL)

static int m_clamp(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  double lo = luaL_optnumber(L, 2, -HUGE_VAL), hi = luaL_optnumber(L, 3, HUGE_VAL);
  if (isnan(lo) || isnan(hi)) return luaL_error(L, "clamp: bounds must not be NaN");
  PUSH_RESULT(L, seq_unary, SEQ_UN_CLAMP, t, lo, hi);
}

static int reduce(lua_State *L, seq_redop op) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int64_t d = opt_dim(L, 2);
  PUSH_RESULT(L, seq_reduce, op, t, d, lua_toboolean(L, 3));
}
#define REDUCE(name, op) static int m_##name(lua_State *L) { return reduce(L, op); }
REDUCE(sum, SEQ_RED_SUM)
REDUCE(mean, SEQ_RED_MEAN)
REDUCE(max, SEQ_RED_MAX)
REDUCE(min, SEQ_RED_MIN)
REDUCE(argmax, SEQ_RED_ARGMAX)
REDUCE(argmin, SEQ_RED_ARGMIN)

static int m_matmul(lua_State *L) {
  PUSH_RESULT(L, seq_matmul, seq_lua_check_tensor(L, 1), seq_lua_check_tensor(L, 2));
}

/* t:softmax([dim]): over the last dim by default; another dim is moved last
 * by a transposed view (autograd flows through the views) and back. */
static int softmax_over(lua_State *L, bool log) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  int d = t->ndim - 1;
  if (!lua_isnoneornil(L, 2)) SEQ_LUA_CHECK(L, seq_check_dim(log ? "log_softmax" : "softmax", t, check_dim(L, 2), &d));
  if (d == t->ndim - 1 || t->ndim == 0) PUSH_RESULT(L, seq_softmax, t, log);
  int last = t->ndim - 1;
  seq_tensor *moved = NULL, *y = NULL, *r = NULL;
  seq_status st = seq_transpose(&moved, t, d, last);
  if (st == SEQ_OK) st = seq_softmax(&y, moved, log);
  if (st == SEQ_OK) st = seq_transpose(&r, y, d, last);
  seq_tensor_release(moved);
  seq_tensor_release(y);
  SEQ_LUA_CHECK(L, st);
  seq_lua_push_tensor(L, r);
  return 1;
}
static int m_softmax(lua_State *L) { return softmax_over(L, false); }
static int m_log_softmax(lua_State *L) { return softmax_over(L, true); }

static int m_cast(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  PUSH_RESULT(L, seq_cast, t, check_dtype(L, 2, t->dtype));
}

/* to(device_or_dtype) */
static int m_to(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  const char *what = luaL_checkstring(L, 2);
  seq_device dev;
  seq_dtype dt;
  if (seq_device_from_name(what, &dev)) {
    if (!seq_device_available(dev)) seq_lua_error(L, SEQ_EDEVICE);
    PUSH_RESULT(L, seq_to_device, t, dev);
  }
  if (seq_dtype_from_name(what, &dt)) PUSH_RESULT(L, seq_cast, t, dt);
  return luaL_argerror(L, 2, lua_pushfstring(L, "unknown device or dtype '%s'", what));
}

static int m_cuda(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  if (!seq_device_available(SEQ_CUDA)) seq_lua_error(L, SEQ_EDEVICE);
  PUSH_RESULT(L, seq_to_device, t, SEQ_CUDA);
}
static int m_cpu(lua_State *L) { PUSH_RESULT(L, seq_to_device, seq_lua_check_tensor(L, 1), SEQ_CPU); }

static int m_backward(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  seq_tensor *g = lua_isnoneornil(L, 2) ? NULL : seq_lua_check_tensor(L, 2);
  SEQ_LUA_CHECK(L, seq_backward(t, g));
  return 0;
}

static int m_fill_(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  if (lua_isinteger(L, 2)) SEQ_LUA_CHECK(L, seq_fill_int_(t, lua_tointeger(L, 2)));
  else SEQ_LUA_CHECK(L, seq_fill_(t, luaL_checknumber(L, 2)));
  lua_settop(L, 1);
  return 1;
}

static int m_zero_(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  SEQ_LUA_CHECK(L, seq_fill_(t, 0.0));
  lua_settop(L, 1);
  return 1;
}

static int m_copy_(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  seq_tensor *src = seq_lua_tensor_arg(L, 2, t->dtype, t->device);
  seq_status st = seq_copy_(t, src);
  seq_tensor_release(src);
  SEQ_LUA_CHECK(L, st);
  lua_settop(L, 1);
  return 1;
}

/* In-place update used by optimizers and weight loading: t = t + alpha*o,
 * outside of autograd. */
static int m_add_(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  double alpha = luaL_optnumber(L, 3, 1.0); /* before any C allocation: it may raise */
  seq_tensor *o = seq_lua_tensor_arg(L, 2, t->dtype, t->device);
  bool prev = seq_set_grad_enabled(false);
  seq_tensor *scaled = NULL, *sum = NULL;
  seq_status st = seq_unary(&scaled, SEQ_UN_AFFINE, o, alpha, 0.0);
  if (st == SEQ_OK) st = seq_binary(&sum, SEQ_BIN_ADD, t, scaled);
  if (st == SEQ_OK) st = seq_copy_(t, sum);
  seq_set_grad_enabled(prev);
  seq_tensor_release(o);
  seq_tensor_release(scaled);
  seq_tensor_release(sum);
  SEQ_LUA_CHECK(L, st);
  lua_settop(L, 1);
  return 1;
}

/* Raw contiguous bytes of the tensor as a Lua string (for serialisation). */
static int m_bytes(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  seq_tensor *h = NULL, *c = NULL;
  seq_status st = seq_to_device(&h, t, SEQ_CPU);
  if (st == SEQ_OK) st = seq_contiguous(&c, h);
  seq_tensor_release(h);
  SEQ_LUA_CHECK(L, st);
  lua_pushlstring(L, seq_tensor_data(c), (size_t)c->numel * seq_dtype_size(c->dtype));
  seq_tensor_release(c);
  return 1;
}

/* ---- tostring ---- */

static void fmt_value(char *buf, size_t n, seq_dtype dt, host_value hv) {
  double v = hv.d;
  if (seq_dtype_is_float(dt)) {
    if (isnan(v)) snprintf(buf, n, "nan");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-4)) snprintf(buf, n, "%.4e", v);
    else snprintf(buf, n, "%.4f", v);
  } else {
    snprintf(buf, n, "%lld", (long long)hv.i);
  }
}

static void format_dim(luaL_Buffer *b, const seq_tensor *t, const host_value *v, int depth, int64_t base,
                       int64_t *strides, bool elide, int indent) {
  if (depth == t->ndim) {
    char num[64];
    fmt_value(num, sizeof num, t->dtype, v[base]);
    luaL_addstring(b, num);
    return;
  }
  luaL_addchar(b, '[');
  int64_t n = t->shape[depth];
  for (int64_t i = 0; i < n; i++) {
    if (elide && n > 6 && i == 3) {
      luaL_addstring(b, depth == t->ndim - 1 ? "..., " : "...,\n");
      if (depth != t->ndim - 1)
        for (int k = 0; k < indent + depth + 1; k++) luaL_addchar(b, ' ');
      i = n - 3;
    }
    format_dim(b, t, v, depth + 1, base + i * strides[depth], strides, elide, indent);
    if (i + 1 < n) {
      if (depth == t->ndim - 1) luaL_addstring(b, ", ");
      else {
        luaL_addstring(b, ",\n");
        for (int k = 0; k < indent + depth + 1; k++) luaL_addchar(b, ' ');
      }
    }
  }
  luaL_addchar(b, ']');
}

static int m_tostring(lua_State *L) {
  seq_tensor *t = seq_lua_check_tensor(L, 1);
  host_value *v = host_values(L, t);
  int64_t strides[SEQ_MAX_DIM];
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= t->shape[i];
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "tensor(");
  format_dim(&b, t, v, 0, 0, strides, t->numel > 1000, 7);
  free(v);
  char tail[160];
  snprintf(tail, sizeof tail, ", shape=%s, dtype=%s, device=%s%s)", seq_tshape(t), seq_dtype_name(t->dtype),
           seq_device_name(t->device), t->requires_grad ? ", requires_grad=true" : "");
  luaL_addstring(&b, tail);
  luaL_pushresult(&b);
  return 1;
}

static int m_gc(lua_State *L) {
  seq_tensor **box = luaL_checkudata(L, 1, SEQ_TENSOR_MT);
  seq_tensor_release(*box);
  *box = NULL;
  return 0;
}

/* A collected-or-closed tensor used again gives an error, not a crash. */
static seq_tensor *live(lua_State *L, int idx) {
  seq_tensor **box = luaL_checkudata(L, idx, SEQ_TENSOR_MT);
  if (!*box) luaL_error(L, "tensor was closed");
  return *box;
}

static const luaL_Reg methods[] = {
    {"shape", m_shape}, {"size", m_size}, {"dim", m_dim}, {"numel", m_numel},
    {"tolist", m_tolist}, {"item", m_item}, {"get", m_get}, {"set", m_set},
    {"reshape", m_reshape}, {"view", m_reshape}, {"permute", m_permute}, {"transpose", m_transpose},
    {"contiguous", m_contiguous}, {"is_contiguous", m_is_contiguous}, {"clone", m_clone},
    {"detach", m_detach}, {"narrow", m_narrow}, {"select", m_select}, {"squeeze", m_squeeze},
    {"unsqueeze", m_unsqueeze}, {"expand", m_expand}, {"index_select", m_index_select},
    {"gather", m_gather}, {"scatter_add", m_scatter_add},
    {"add", m_add}, {"sub", m_sub}, {"mul", m_mul}, {"div", m_div}, {"pow", m_pow},
    {"maximum", m_maximum}, {"minimum", m_minimum},
    {"eq", m_eq}, {"ne", m_ne}, {"lt", m_lt}, {"le", m_le}, {"gt", m_gt}, {"ge", m_ge},
    {"neg", m_unm}, {"exp", m_exp}, {"log", m_log}, {"sqrt", m_sqrt}, {"tanh", m_tanh},
    {"sigmoid", m_sigmoid}, {"relu", m_relu}, {"abs", m_abs}, {"sign", m_sign},
    {"square", m_square}, {"reciprocal", m_reciprocal}, {"clamp", m_clamp},
    {"sum", m_sum}, {"mean", m_mean}, {"max", m_max}, {"min", m_min}, {"argmax", m_argmax},
    {"argmin", m_argmin}, {"matmul", m_matmul}, {"softmax", m_softmax}, {"log_softmax", m_log_softmax},
    {"cast", m_cast}, {"to", m_to}, {"cuda", m_cuda}, {"cpu", m_cpu},
    {"backward", m_backward}, {"fill_", m_fill_}, {"zero_", m_zero_}, {"copy_", m_copy_},
    {"add_", m_add_}, {"bytes", m_bytes},
    {NULL, NULL}};

static int m_index(lua_State *L) {
  seq_tensor *t = live(L, 1);
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "dtype") == 0) { lua_pushstring(L, seq_dtype_name(t->dtype)); return 1; }
    if (strcmp(k, "device") == 0) { lua_pushstring(L, seq_device_name(t->device)); return 1; }
    if (strcmp(k, "requires_grad") == 0) { lua_pushboolean(L, t->requires_grad); return 1; }
    if (strcmp(k, "ndim") == 0) { lua_pushinteger(L, t->ndim); return 1; }
    if (strcmp(k, "is_leaf") == 0) { lua_pushboolean(L, t->grad_fn == NULL); return 1; }
    if (strcmp(k, "grad_fn") == 0) {
      if (t->grad_fn) lua_pushstring(L, t->grad_fn->name);
      else lua_pushnil(L);
      return 1;
    }
    if (strcmp(k, "grad") == 0) {
      if (t->grad) seq_lua_push_tensor(L, seq_tensor_retain(t->grad));
      else lua_pushnil(L);
      return 1;
    }
  }
  /* methods, then the Lua-side extensions table (seq.Tensor) */
  lua_getfield(L, LUA_REGISTRYINDEX, "seq.Tensor.methods");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

static int m_newindex(lua_State *L) {
  seq_tensor *t = live(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "requires_grad") == 0) {
    bool v = lua_toboolean(L, 3);
    if (v && !seq_dtype_is_float(t->dtype))
      return luaL_error(L, "requires_grad: only float tensors can require gradients (this one is %s)",
                        seq_dtype_name(t->dtype));
    if (!v && t->grad_fn) return luaL_error(L, "requires_grad: cannot turn off on a non-leaf tensor; use detach()");
    t->requires_grad = v;
    return 0;
  }
  if (strcmp(k, "grad") == 0) {
    seq_tensor *g = lua_isnil(L, 3) ? NULL : seq_lua_check_tensor(L, 3);
    if (g && (!seq_shape_equal(g, t) || g->dtype != t->dtype || g->device != t->device))
      return luaL_error(L, "grad: %s %s on %s does not match the tensor (%s %s on %s)", seq_dtype_name(g->dtype),
                        seq_tshape(g), seq_device_name(g->device), seq_dtype_name(t->dtype), seq_tshape(t),
                        seq_device_name(t->device));
    seq_tensor *alias = NULL;
    if (g) SEQ_LUA_CHECK(L, seq_detach(&alias, g)); /* see seq_grad_accumulate */
    seq_tensor_release(t->grad);
    t->grad = alias;
    return 0;
  }
  return luaL_error(L, "cannot set field '%s' of a tensor", k);
}

static const luaL_Reg meta[] = {
    {"__index", m_index}, {"__newindex", m_newindex}, {"__gc", m_gc}, {"__close", m_gc},
    {"__tostring", m_tostring}, {"__len", m_len}, {"__add", m_add}, {"__sub", m_sub},
    {"__mul", m_mul}, {"__div", m_div}, {"__pow", m_pow}, {"__unm", m_unm},
    {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"new", l_new}, {"rand", l_rand}, {"randn", l_randn}, {"arange", l_arange},
    {"tensor", l_tensor}, {"from_bytes", l_from_bytes}, {"manual_seed", l_manual_seed},
    {"rng_state", l_rng_state}, {"set_rng_state", l_set_rng_state}, {"rng_reserve", l_rng_reserve},
    {"set_grad_enabled", l_set_grad_enabled}, {"grad_enabled", l_grad_enabled},
    {"set_threads", l_set_threads}, {"get_threads", l_get_threads},
    {"cpu_gemm_path", l_cpu_gemm_path}, {"cpu_vmath_isa", l_cpu_vmath_isa}, {"device_available", l_device_available}, {"live_bytes", l_live_bytes},
    {"set_default_device", l_set_default_device}, {"default_device", l_default_device},
    {"is_tensor", l_is_tensor}, {"cat", l_cat}, {"stack", l_stack}, {"where", l_where},
    {"matmul", m_matmul}, {"cuda_set_tf32", l_cuda_set_tf32}, {"cuda_memory", l_cuda_memory},
    {"cuda_empty_cache", l_cuda_empty_cache},
    {"cuda_status", l_cuda_status}, {"synchronize", l_synchronize},
    {NULL, NULL}};

void seq_lua_register_tensor(lua_State *L) {
  /* methods table, reachable from Lua as seq.core.Tensor so the Lua library
   * can add methods written in Lua */
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "seq.Tensor.methods");
  lua_setfield(L, -2, "Tensor");
  luaL_newmetatable(L, SEQ_TENSOR_MT);
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 0);
  /* keep a default chosen before `require 'seq'` (seqlua's --device,
   * SEQLUA_DEVICE, or the GPU when one is present) */
  if (lua_getfield(L, LUA_REGISTRYINDEX, "seq.default_device") == LUA_TNIL) {
    lua_pushstring(L, "cpu");
    lua_setfield(L, LUA_REGISTRYINDEX, "seq.default_device");
  }
  lua_pop(L, 1);
}
