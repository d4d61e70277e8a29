/* l_data.c - Lua bindings for core/io/seq_fetch (prefix data_): downloads,
 * hashes, directories.  The Lua face is lua/seq/data.lua. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <sys/stat.h>
#include <time.h>

#include "seq_fetch.h"
#include "seq_lua.h"
#include "seq_tar.h"

typedef struct progress_ctx {
  lua_State *L;
  int fn;      /* stack index of the Lua callback */
  int failed;  /* the callback raised an error (message left on the stack) */
} progress_ctx;

/* curl calls this from inside curl_easy_perform; a Lua error must not
 * longjmp through libcurl, so the callback runs under pcall and an error
 * cancels the transfer and is re-raised afterwards. */
static int progress_cb(void *ud, int64_t done, int64_t total) {
  progress_ctx *p = ud;
  if (p->failed) return 1;
  lua_State *L = p->L;
  lua_pushvalue(L, p->fn);
  lua_pushinteger(L, (lua_Integer)done);
  if (total >= 0)
    lua_pushinteger(L, (lua_Integer)total);
  else
    lua_pushnil(L);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    p->failed = 1; /* error message stays on the stack */
    return 1;
  }
  int cancel = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  return cancel;
}

/* data_download(url, path [, opts]) -> true; opts: progress = function(done,
 * total) (total nil while unknown; return false to cancel),
 * connect_timeout = seconds, low_speed_timeout = seconds, require_length
 * (fail without a matching Content-Length), any_protocol (not only http(s)) */
static int l_download(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  const char *path = luaL_checkstring(L, 2);
  seq_fetch_opts o;
  memset(&o, 0, sizeof o);
  progress_ctx p = {L, 0, 0};
  if (lua_istable(L, 3)) {
    o.connect_timeout_s = (long)seq_lua_optfield_integer(L, 3, "download", "connect_timeout", 0);
    o.low_speed_timeout_s = (long)seq_lua_optfield_integer(L, 3, "download", "low_speed_timeout", 0);
    o.require_length = seq_lua_optfield_boolean(L, 3, "require_length", false);
    o.any_protocol = seq_lua_optfield_boolean(L, 3, "any_protocol", false);
    lua_getfield(L, 3, "progress");
    if (lua_isfunction(L, -1)) {
      p.fn = lua_gettop(L);
      o.progress = progress_cb;
      o.progress_ud = &p;
    } else {
      lua_pop(L, 1);
    }
  }
  seq_status st = seq_fetch_url(url, path, &o);
  if (p.failed) return lua_error(L);
  SEQ_LUA_CHECK(L, st);
  lua_pushboolean(L, 1);
  return 1;
}

static int hash_file(lua_State *L, const char *algo) {
  const char *path = luaL_checkstring(L, 1);
  char hex[65];
  SEQ_LUA_CHECK(L, seq_hash_file(path, algo, hex, sizeof hex));
  lua_pushstring(L, hex);
  return 1;
}
/* data_sha256(path) / data_md5(path) -> lowercase hex digest of the file */
static int l_sha256(lua_State *L) { return hash_file(L, "sha256"); }
static int l_md5(lua_State *L) { return hash_file(L, "md5"); }

/* data_hash_string(s, algo) -> hex digest of a Lua string */
static int l_hash_string(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *algo = luaL_optstring(L, 2, "sha256");
  char hex[65];
  SEQ_LUA_CHECK(L, seq_hash_buffer(s, n, algo, hex, sizeof hex));
  lua_pushstring(L, hex);
  return 1;
}

/* data_mkdirs(dir) -> true */
static int l_mkdirs(lua_State *L) {
  SEQ_LUA_CHECK(L, seq_fetch_mkdirs(luaL_checkstring(L, 1)));
  lua_pushboolean(L, 1);
  return 1;
}

/* data_stat(path) -> size, mtime_ns  or  nil, message */
static int l_stat(lua_State *L) {
  int64_t size, mtime;
  if (seq_fetch_stat(luaL_checkstring(L, 1), &size, &mtime) != SEQ_OK) {
    lua_pushnil(L);
    lua_pushstring(L, seq_last_error());
    return 2;
  }
  lua_pushinteger(L, (lua_Integer)size);
  lua_pushinteger(L, (lua_Integer)mtime);
  return 2;
}

/* data_isatty(fd) -> boolean (progress bars only on a terminal) */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 1)));
  return 1;
}

/* data_terminal_columns([fd]) -> the terminal's width in columns, or nil
 * when fd (default 1, stdout) is not a terminal (fits the progress bar) */
static int l_terminal_columns(lua_State *L) {
  struct winsize ws;
  if (ioctl((int)luaL_optinteger(L, 1, 1), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    lua_pushinteger(L, ws.ws_col);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

/* data_getpid() -> process id (for temporary names) */
static int l_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* data_isdir(path) -> boolean */
static int l_isdir(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
  return 1;
}

/* data_now() -> seconds on a monotonic clock (download rate and ETA) */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

/* data_extract(archive, dest) -> true: a tar/tar.gz into the new folder dest
 * (atomic; refuses members that would land outside it) */
static int l_extract(lua_State *L) {
  SEQ_LUA_CHECK(L, seq_tar_extract(luaL_checkstring(L, 1), luaL_checkstring(L, 2)));
  lua_pushboolean(L, 1);
  return 1;
}

void seq_lua_register_data(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"data_download", l_download}, {"data_sha256", l_sha256},  {"data_md5", l_md5},
      {"data_hash_string", l_hash_string}, {"data_mkdirs", l_mkdirs}, {"data_stat", l_stat},
      {"data_isatty", l_isatty},     {"data_getpid", l_getpid},  {"data_isdir", l_isdir},
      {"data_now", l_now},           {"data_extract", l_extract},
      {"data_terminal_columns", l_terminal_columns},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
