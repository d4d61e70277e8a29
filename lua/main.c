/* main.c - the `seqlua` executable: a Lua 5.4 interpreter with `seq`
 * preloaded.
 *
 *   seqlua [--device cpu|cuda] [--threads N] [--seed N] [-e code]...
 *          [--version] [--help] [script.lua [args...]]
 *
 * The `arg` table is set as lua5.4 sets it (arg[0] the script, arg[-1] ...
 * the interpreter and its options, arg[1..] the script's arguments).  With
 * no script and no -e, an interactive prompt on a terminal, or standard
 * input run as a script when it is not a terminal. */
#define _DEFAULT_SOURCE /* readlink */
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SEQ_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#include "seq_backend.h"
#include "seq_dist.h"
#include "seq_lua.h"
#include "seq_ops.h"

int luaopen_seq_core(lua_State *L);

static const char *progname = "seqlua";

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s [options] [script.lua [args...]]\n"
          "Options:\n"
          "  --device cpu|cuda  default device for new tensors and models\n"
          "                     (default: cuda when a GPU is present; env SEQLUA_DEVICE)\n"
          "  --threads N        CPU threads for BLAS and kernels (env SEQLUA_THREADS)\n"
          "  --seed N           seed the random generator (seq.manual_seed)\n"
          "  -e code            run a Lua statement (may be repeated)\n"
          "  -i                 enter the interactive prompt after the script\n"
          "  --version          print the version and exit\n"
          "  --help             print this help and exit\n"
          "Without a script, starts an interactive prompt.\n",
          progname);
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (seq_dist_is_initialized())
      fprintf(stderr, "%s: rank %d of %d: %s\n", progname, seq_dist_rank(), seq_dist_size(), msg ? msg : "(no message)");
    else
      fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(no message)");
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

static int file_exists(const char *path) { return access(path, R_OK) == 0; }

/* Finds the directory holding seq/init.lua: $SEQLUA_PATH, then the install
 * layout relative to the executable (bin/../share/lua/5.4, so an install
 * can be moved), then the source tree this binary was built from. */
static void set_package_path(lua_State *L) {
  char exe_rel[PATH_MAX + 64] = "";
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(exe_rel, sizeof exe_rel, "%s/%s", exe, SEQ_EXE_TO_LUA_DIR);
  }
  const char *candidates[] = {getenv("SEQLUA_PATH"), exe_rel, SEQ_BUILD_LUA_DIR};
  const char *dir = NULL;
  char probe[PATH_MAX + 64];
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
    if (!candidates[i] || !*candidates[i]) continue;
    snprintf(probe, sizeof probe, "%s/seq/init.lua", candidates[i]);
    if (file_exists(probe)) {
      dir = candidates[i];
      break;
    }
  }
  lua_getglobal(L, "package");
  if (dir) {
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
  }
  /* seq.core is linked in: preload it */
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_seq_core);
  lua_setfield(L, -2, "seq.core");
  lua_pop(L, 2);
}

/* `script` is argv's index of the script, or argc when there is none (then
 * arg[0] is the interpreter, as lua5.4 does). */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  if (script >= argc) script = 0;
  int narg = argc - (script + 1);
  lua_createtable(L, narg, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dostring(lua_State *L, const char *s, const char *name) {
  int status = luaL_loadbuffer(L, s, strlen(s), name);
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

/* ---- interactive prompt ---- */

static char *read_line(const char *prompt) {
#ifdef SEQ_HAVE_READLINE
  char *line = readline(prompt);
  if (line && *line) add_history(line);
  return line;
#else
  static char buf[4096];
  fputs(prompt, stdout);
  fflush(stdout);
  if (!fgets(buf, sizeof buf, stdin)) return NULL;
  size_t len = strlen(buf);
  if (len && buf[len - 1] == '\n') buf[len - 1] = 0;
  char *copy = malloc(strlen(buf) + 1);
  if (copy) strcpy(copy, buf);
  return copy;
#endif
}

static int incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    if (lmsg >= 5 && strcmp(msg + lmsg - 5, "<eof>") == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

static void repl(lua_State *L) {
  printf("seqlua %s (Lua 5.4) - `seq` is loaded; Ctrl-D to quit\n", SEQ_VERSION);
  for (;;) {
    char *line = read_line("> ");
    if (!line) break;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, line);
    free(line);
    luaL_pushresult(&b);
    const char *code = lua_tostring(L, -1);
    /* first try it as an expression */
    const char *ret = lua_pushfstring(L, "return %s", code);
    int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
    if (status == LUA_OK) {
      lua_remove(L, -2); /* the "return" string */
    } else {
      lua_pop(L, 2);
      for (;;) {
        code = lua_tostring(L, -1);
        status = luaL_loadbuffer(L, code, strlen(code), "=stdin");
        if (!incomplete(L, status)) break;
        char *more = read_line(">> ");
        if (!more) break;
        lua_pushstring(L, "\n");
        lua_pushstring(L, more);
        free(more);
        lua_concat(L, 3);
      }
    }
    lua_remove(L, -2); /* source */
    if (status == LUA_OK) {
      int base = lua_gettop(L);
      status = docall(L, 0, LUA_MULTRET);
      if (status == LUA_OK) {
        int n = lua_gettop(L) - base + 1;
        if (n > 0) {
          lua_getglobal(L, "print");
          lua_insert(L, -(n + 1));
          if (lua_pcall(L, n, 0, 0) != LUA_OK) report(L, LUA_ERRRUN);
        }
        continue;
      }
    }
    report(L, status);
  }
  printf("\n");
}

/* ---- main ---- */

static int parse_int(const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return 0;
  *out = v;
  return 1;
}

typedef struct options {
  const char *device; /* NULL or "": cuda when a GPU is present */
  long long threads;  /* 0: the backend's default */
  long long seed;     /* -1: unseeded */
  int interactive;
  int script;         /* argv index of the script, 0 for none */
  const char *e_code[64];
  int n_e, has_e;
} options;

static void print_version(void) {
  printf("seqlua %s (%s; %s)\n", SEQ_VERSION, LUA_RELEASE,
#ifdef SEQ_HAVE_CUDA
         "CUDA backend built in"
#else
         "CPU only"
#endif
  );
  printf("CPU GEMM: %s\n", seq_cpu_gemm_path());
  printf("CPU vector math: %s\n", seq_cpu_vmath_isa());
  printf("CPU recurrent GEMM: %s\n", seq_cpu_recurrent_gemm());
}

/* The value v of an option that takes one (--device, --threads, --seed,
 * -e).  Returns 0, or 1 after reporting a bad number. */
static int option_value(options *o, const char *a, const char *v) {
  if (strcmp(a, "--device") == 0) {
    o->device = v;
  } else if (strcmp(a, "-e") == 0) {
    if (o->n_e < 64) o->e_code[o->n_e++] = v;
    o->has_e = 1;
  } else {
    int is_seed = strcmp(a, "--seed") == 0;
    long long x;
    if (!parse_int(v, &x) || x < (is_seed ? 0 : 1)) {
      fprintf(stderr, "%s: option '%s' needs a %s integer, got '%s'\n", progname, a,
              is_seed ? "non-negative" : "positive", v);
      return 1;
    }
    if (is_seed) o->seed = x;
    else o->threads = x;
  }
  return 0;
}

/* Environment defaults, then the options before the script name.  Returns
 * -1 to go on, or the exit status (--help, --version, a bad option). */
static int parse_options(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->seed = -1;
  o->device = getenv("SEQLUA_DEVICE");
  const char *threads_env = getenv("SEQLUA_THREADS");
  if (threads_env && *threads_env && !parse_int(threads_env, &o->threads)) {
    fprintf(stderr, "%s: SEQLUA_THREADS must be an integer\n", progname);
    return 1;
  }
  int i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0) break;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
      print_version();
      return 0;
    } else if (strcmp(a, "-i") == 0) {
      o->interactive = 1;
    } else if (strcmp(a, "--device") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "--seed") == 0 ||
               strcmp(a, "-e") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "%s: option '%s' needs an argument\n", progname, a);
        usage(stderr);
        return 1;
      }
      if (option_value(o, a, argv[++i]) != 0) return 1;
    } else if (strncmp(a, "--device=", 9) == 0) {
      o->device = a + 9;
    } else {
      fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
      usage(stderr);
      return 1;
    }
  }
  if (i < argc) o->script = i;
  return -1;
}

/* An explicit device request must be honoured or fail clearly; without
 * one, cuda when a GPU is present.  Returns 0, or 1 after reporting. */
static int choose_device(const char *device, seq_device *dev) {
  *dev = SEQ_CPU;
  if (device && *device) {
    if (!seq_device_from_name(device, dev)) {
      fprintf(stderr, "%s: unknown device '%s' (cpu or cuda)\n", progname, device);
      return 1;
    }
    if (!seq_device_available(*dev)) {
      fprintf(stderr, "%s: %s\n", progname, seq_last_error());
      return 1;
    }
  } else if (seq_device_available(SEQ_CUDA)) {
    *dev = SEQ_CUDA;
  }
  return 0;
}

/* Runs argv[script] ("-" for stdin) with the arguments after it. */
static int run_script(lua_State *L, int argc, char **argv, int script) {
  const char *fname = argv[script];
  if (strcmp(fname, "-") == 0) fname = NULL;
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int nargs = argc - script - 1;
    luaL_checkstack(L, nargs + 3, "too many arguments to script");
    for (int k = script + 1; k < argc; k++) lua_pushstring(L, argv[k]);
    status = docall(L, nargs, 0);
  }
  return report(L, status);
}

int main(int argc, char **argv) {
  if (argv[0] && argv[0][0]) progname = argv[0];
  options opt;
  int exit_status = parse_options(argc, argv, &opt);
  if (exit_status >= 0) return exit_status;
  int script = opt.script;

  seq_device dev;
  if (choose_device(opt.device, &dev) != 0) return 1;
  if (opt.threads > 0 && seq_set_threads(SEQ_CPU, (int)opt.threads) != SEQ_OK) {
    fprintf(stderr, "%s: %s\n", progname, seq_last_error());
    return 1;
  }
  if (opt.seed >= 0) seq_manual_seed((uint64_t)opt.seed);

  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "%s: cannot create the Lua state (out of memory)\n", progname);
    return 1;
  }
  luaL_openlibs(L);
  set_package_path(L);
  lua_pushstring(L, seq_device_name(dev));
  lua_setfield(L, LUA_REGISTRYINDEX, "seq.default_device");
  create_arg_table(L, argv, argc, script ? script : argc);

  int status = LUA_OK;
  /* `seq` as a global, like `lua -l seq` */
  lua_getglobal(L, "require");
  lua_pushstring(L, "seq");
  status = report(L, docall(L, 1, 1));
  if (status == LUA_OK) lua_setglobal(L, "seq");

  for (int k = 0; status == LUA_OK && k < opt.n_e; k++) status = dostring(L, opt.e_code[k], "=(command line)");
  if (status == LUA_OK && script) status = run_script(L, argc, argv, script);
  if (status == LUA_OK && !script && !opt.has_e && !opt.interactive && !isatty(STDIN_FILENO)) {
    /* `printf 'print(1)' | seqlua` runs standard input as a script, like lua5.4 */
    status = luaL_loadfile(L, NULL);
    if (status == LUA_OK) status = docall(L, 0, 0);
    status = report(L, status);
  } else if (status == LUA_OK && (opt.interactive || (!script && !opt.has_e))) {
    repl(L);
  }
  /* one failed rank ends the job: the others may be waiting in a collective */
  if (status != LUA_OK) seq_dist_abort(1);
  lua_close(L);
  return status == LUA_OK ? 0 : 1;
}
