/* l_plot.c - Lua bindings for core/io/seq_plot and seq_png (prefix plot_).
 * The Lua face is lua/seq/plot.lua. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "seq_checked.h"
#include "seq_lua.h"
#include "seq_ops.h"
#include "seq_plot.h"
#include "seq_png.h"

/* Colour from 0xRRGGBB or "#rrggbb". */
static int opt_color(lua_State *L, int idx, const char *key, uint32_t *out) {
  lua_getfield(L, idx, key);
  int ok = 1;
  if (lua_isinteger(L, -1)) {
    *out = (uint32_t)lua_tointeger(L, -1) & 0xFFFFFF;
  } else if (lua_type(L, -1) == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    char *end;
    if (s[0] != '#' || strlen(s) != 7) luaL_error(L, "plot: colour must be '#rrggbb', got '%s'", s);
    *out = (uint32_t)strtoul(s + 1, &end, 16);
    if (*end) luaL_error(L, "plot: colour must be '#rrggbb', got '%s'", s);
  } else {
    ok = 0;
  }
  lua_pop(L, 1);
  return ok;
}

/* A list of strings at field `key` as a C array (userdata on the stack). */
static const char **opt_labels(lua_State *L, int idx, const char *key, int expect) {
  lua_getfield(L, idx, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  int n = (int)seq_lua_list(L, -1, "plot.heatmap: labels", SEQ_LUA_MAX_TENSORS, LUA_TNONE);
  if (n != expect) luaL_error(L, "plot.heatmap: %s has %d entries, the matrix needs %d", key, n, expect);
  int t = lua_gettop(L);
  const char **arr = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n ? n : 1), 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, t, i + 1);
    if (!lua_isstring(L, -1)) luaL_error(L, "plot.heatmap: %s[%d] must be a string", key, i + 1);
    lua_tostring(L, -1);     /* numbers become strings on the stack... */
    lua_pushvalue(L, -1);
    lua_rawseti(L, t, i + 1); /* ...and in the copy, which keeps them alive */
    arr[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  /* keep the table and the array on the stack until the call returns */
  return arr;
}

/* A 2-D f64 contiguous CPU copy of a tensor or nested table, pushed. */
static seq_tensor *check_matrix(lua_State *L, int idx) {
  seq_tensor *t = seq_lua_contiguous_arg(L, idx, SEQ_F64, SEQ_CPU);
  if (t->ndim != 2) luaL_error(L, "plot.heatmap: values must be 2-D, got %s", seq_tshape(t));
  return t;
}

static seq_tensor *check_vector(lua_State *L, int idx) {
  seq_tensor *t = seq_lua_contiguous_arg(L, idx, SEQ_F64, SEQ_CPU);
  if (t->ndim != 1) luaL_error(L, "plot.lines: series values must be 1-D, got %s", seq_tshape(t));
  return t;
}

/* The text options both plots share (opts table at index 3). */
static void read_text_opts(lua_State *L, const char *op, const char **title, const char **xlabel,
                           const char **ylabel, int *font_scale) {
  *title = seq_lua_optfield_string(L, 3, op, "title", NULL);
  *xlabel = seq_lua_optfield_string(L, 3, op, "xlabel", NULL);
  *ylabel = seq_lua_optfield_string(L, 3, op, "ylabel", NULL);
  *font_scale = (int)seq_lua_optfield_number(L, 3, op, "font_scale", 0);
}

/* plot_heatmap(path, values, opts) -- values: 2-D tensor or nested table;
 * opts: title, xlabel, ylabel, xlabels, ylabels, cmap, vmin, vmax, cell,
 * font_scale */
static int l_heatmap(lua_State *L) {
  const char *op = "plot.heatmap";
  const char *path = luaL_checkstring(L, 1);
  if (lua_isnoneornil(L, 3)) {
    lua_settop(L, 2);
    lua_newtable(L);
  }
  luaL_checktype(L, 3, LUA_TTABLE);
  seq_tensor *m = check_matrix(L, 2);
  int rows = (int)m->shape[0], cols = (int)m->shape[1];
  seq_heatmap_opts o;
  memset(&o, 0, sizeof o);
  read_text_opts(L, op, &o.title, &o.xlabel, &o.ylabel, &o.font_scale);
  o.cmap = seq_lua_optfield_string(L, 3, op, "cmap", NULL);
  o.vmin = seq_lua_optfield_number(L, 3, op, "vmin", NAN);
  o.vmax = seq_lua_optfield_number(L, 3, op, "vmax", NAN);
  o.cell = (int)seq_lua_optfield_number(L, 3, op, "cell", 0);
  o.xlabels = opt_labels(L, 3, "xlabels", cols);
  o.ylabels = opt_labels(L, 3, "ylabels", rows);
  SEQ_LUA_CHECK(L, seq_plot_heatmap(path, (const double *)seq_tensor_data(m), rows, cols, &o));
  lua_pushstring(L, path);
  return 1;
}

/* plot_lines(path, series, opts) -- series: list of {y=, x=, label=, color=,
 * thickness=, markers=}; opts: width, height, title, xlabel, ylabel, xmin,
 * xmax, ymin, ymax, legend (default true), grid, font_scale */
static int l_lines(lua_State *L) {
  const char *op = "plot.lines";
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (lua_isnoneornil(L, 3)) {
    lua_settop(L, 2);
    lua_newtable(L);
  }
  luaL_checktype(L, 3, LUA_TTABLE);
  int ns = (int)seq_lua_list(L, 2, "plot.lines: series", 64, LUA_TTABLE);
  int series = lua_gettop(L);
  seq_series *sr = lua_newuserdatauv(L, sizeof(seq_series) * (size_t)(ns ? ns : 1), 0);
  memset(sr, 0, sizeof(seq_series) * (size_t)(ns ? ns : 1));
  for (int i = 0; i < ns; i++) {
    luaL_checkstack(L, 16, "plot.lines: too many series");
    lua_rawgeti(L, series, i + 1);
    int s = lua_gettop(L);
    if (!lua_istable(L, s)) return luaL_error(L, "plot.lines: series %d must be a table", i + 1);
    lua_getfield(L, s, "y");
    if (lua_isnil(L, -1)) return luaL_error(L, "plot.lines: series %d has no y", i + 1);
    seq_tensor *y = check_vector(L, lua_gettop(L));
    sr[i].y = (const double *)seq_tensor_data(y);
    sr[i].n = (int)y->numel;
    lua_getfield(L, s, "x");
    if (!lua_isnil(L, -1)) {
      seq_tensor *x = check_vector(L, lua_gettop(L));
      if (x->numel != y->numel)
        return luaL_error(L, "plot.lines: series %d has %d x values and %d y values", i + 1,
                          (int)x->numel, (int)y->numel);
      sr[i].x = (const double *)seq_tensor_data(x);
    }
    sr[i].label = seq_lua_optfield_string(L, s, op, "label", NULL);
    sr[i].has_color = opt_color(L, s, "color", &sr[i].color);
    sr[i].thickness = (int)seq_lua_optfield_number(L, s, op, "thickness", 0);
    sr[i].markers = seq_lua_optfield_boolean(L, s, "markers", false);
    /* the series table and its tensors stay on the stack (Lua owns them) */
  }
  seq_lines_opts o;
  memset(&o, 0, sizeof o);
  o.width = (int)seq_lua_optfield_number(L, 3, op, "width", 0);
  o.height = (int)seq_lua_optfield_number(L, 3, op, "height", 0);
  read_text_opts(L, op, &o.title, &o.xlabel, &o.ylabel, &o.font_scale);
  o.xmin = seq_lua_optfield_number(L, 3, op, "xmin", NAN);
  o.xmax = seq_lua_optfield_number(L, 3, op, "xmax", NAN);
  o.ymin = seq_lua_optfield_number(L, 3, op, "ymin", NAN);
  o.ymax = seq_lua_optfield_number(L, 3, op, "ymax", NAN);
  o.legend = seq_lua_optfield_boolean(L, 3, "legend", true);
  o.grid = seq_lua_optfield_boolean(L, 3, "grid", false);
  SEQ_LUA_CHECK(L, seq_plot_lines(path, sr, ns, &o));
  lua_pushstring(L, path);
  return 1;
}

/* plot_png_read(path [, channels=3]) -> width, height, pixels (a string of
 * width*height*channels bytes, rows top to bottom) */
static int l_png_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int ch = (int)luaL_optinteger(L, 2, 3);
  uint8_t *px;
  int w, h;
  SEQ_LUA_CHECK(L, seq_png_read(path, ch, &px, &w, &h));
  lua_pushinteger(L, w);
  lua_pushinteger(L, h);
  lua_pushlstring(L, (const char *)px, (size_t)w * (size_t)h * (size_t)ch);
  free(px);
  return 3;
}

/* plot_png_write(path, width, height, pixels [, channels=3]) */
static int l_png_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer w = luaL_checkinteger(L, 2), h = luaL_checkinteger(L, 3);
  size_t n;
  const char *px = luaL_checklstring(L, 4, &n);
  int ch = (int)luaL_optinteger(L, 5, 3);
  size_t need = 0; /* w * h * ch, formed only once it is known to fit */
  if (w <= 0 || h <= 0 || w > INT_MAX || h > INT_MAX || (ch != 1 && ch != 3 && ch != 4) ||
      !seq_mul3_size((size_t)w, (size_t)h, (size_t)ch, &need) || n != need)
    return luaL_error(L, "png_write: %I bytes do not make a %Ix%I image with %d channels", (lua_Integer)n, w, h,
                      ch);
  SEQ_LUA_CHECK(L, seq_png_write(path, (const uint8_t *)px, (int)w, (int)h, ch));
  return 0;
}

void seq_lua_register_plot(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"plot_heatmap", l_heatmap},   {"plot_lines", l_lines},        {"plot_png_read", l_png_read},
      {"plot_png_write", l_png_write}, {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
