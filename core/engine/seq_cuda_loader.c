/* seq_cuda_loader.c - finds and opens the CUDA plugin (libseqcuda.so) the
 * first time a device is asked for; see seq_cuda_loader.h for why. */
#define _GNU_SOURCE /* dladdr */
#include "seq_cuda_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_plugin.h"
#include "seq_tensor.h"

#define SEQ_CUDA_PLUGIN_NAME "libseqcuda.so"
/* the NVIDIA driver; the emulated build (SEQ_CUDA=EMU) names its stand-in */
#ifndef SEQ_CUDA_DRIVER_PATH
#define SEQ_CUDA_DRIVER_PATH "libcuda.so.1"
#endif

static const seq_cuda_plugin *plugin; /* NULL until loaded */
static char load_status[512] = "not loaded yet";
static bool tf32_wanted;

bool seq_cuda_built(void) {
#ifdef SEQ_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

#ifdef SEQ_HAVE_CUDA
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* Where libseqcuda.so sits relative to the file holding the core: the build
 * tree, then an installed prefix (<prefix>/bin/seqlua or
 * <prefix>/<libdir>/lua/5.4/seq/core.so), then a LuaRocks tree
 * (<tree>/lib/lua/5.4/seqlua/). */
static const char *const plugin_places[] = {
    SEQ_CUDA_PLUGIN_NAME,
    "../" SEQ_CUDA_PLUGIN_NAME,
#ifdef SEQ_CUDA_PLUGIN_INSTALL_DIR
    "../" SEQ_CUDA_PLUGIN_INSTALL_DIR "/" SEQ_CUDA_PLUGIN_NAME,
    "../../../seqlua/" SEQ_CUDA_PLUGIN_NAME,
    "../seqlua/" SEQ_CUDA_PLUGIN_NAME,
#endif
};

static void load_plugin(void) {
  /* 1. the driver: without it there is no device, and no reason to map the
   *    CUDA libraries.  SEQLUA_CUDA_SKIP_DRIVER_CHECK=1 opens the plugin
   *    anyway (the test suite uses it to check that the plugin links). */
  const char *skip = getenv("SEQLUA_CUDA_SKIP_DRIVER_CHECK");
  if (!(skip && skip[0] && strcmp(skip, "0") != 0)) {
    void *drv = dlopen(SEQ_CUDA_DRIVER_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!drv) {
      snprintf(load_status, sizeof load_status,
               "not loaded: no NVIDIA driver on this machine (%s not found)", SEQ_CUDA_DRIVER_PATH);
      return;
    }
    /* kept open: the CUDA runtime opens it again */
  }

  /* 2. make the core's symbols visible to the plugin.  The executable
   *    exports them already; a Lua module is opened RTLD_LOCAL by Lua, so
   *    promote it (RTLD_NOLOAD: no second copy). */
  char dir[4096] = "", self[4096] = "", tried[4096] = "";
  bool have_dir = seq_plugin_own_dir(dir, sizeof dir, self, sizeof self);
  if (have_dir) (void)dlopen(self, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);

  /* 3. the plugin */
  void *h = NULL;
  const char *env = getenv("SEQLUA_CUDA_PLUGIN");
  if (env && env[0])
    h = seq_plugin_try_open(env, tried, sizeof tried);
  else if (have_dir)
    h = seq_plugin_open_first(dir, plugin_places, sizeof plugin_places / sizeof plugin_places[0], tried,
                              sizeof tried);
  if (!h) {
    snprintf(load_status, sizeof load_status,
             "not loaded: the CUDA plugin was not found or failed to load (tried %.400s)", tried);
    return;
  }
  seq_cuda_plugin_get_fn get = (seq_cuda_plugin_get_fn)(uintptr_t)dlsym(h, SEQ_CUDA_PLUGIN_ENTRY);
  const seq_cuda_plugin *p = get ? get() : NULL;
  if (!p || p->abi != SEQ_CUDA_PLUGIN_ABI || p->backend_size != sizeof(seq_backend) ||
      p->tensor_size != sizeof(seq_tensor)) {
    snprintf(load_status, sizeof load_status,
             "not loaded: %.400s is not a CUDA plugin of this build (rebuild seqlua)", tried);
    dlclose(h);
    return;
  }
  plugin = p;
  plugin->set_tf32(tf32_wanted);
  Dl_info info;
  const char *where = dladdr((void *)(uintptr_t)get, &info) && info.dli_fname ? info.dli_fname : tried;
  char resolved[4096];
  if (realpath(where, resolved)) where = resolved;
  snprintf(load_status, sizeof load_status, "loaded %.480s", where);
}
#endif

static const seq_cuda_plugin *loaded(void) {
#ifdef SEQ_HAVE_CUDA
  pthread_once(&load_once, load_plugin);
#endif
  return plugin;
}

const seq_backend *seq_cuda_backend(void) {
  if (!seq_cuda_built()) {
    seq_fail(SEQ_EDEVICE, "no CUDA device available (seqlua was built without the CUDA backend)");
    return NULL;
  }
  const seq_cuda_plugin *p = loaded();
  if (!p) {
    seq_fail(SEQ_EDEVICE, "no CUDA device available (CUDA backend %s)", load_status);
    return NULL;
  }
  return p->backend();
}

int seq_cuda_device_count(void) {
  const seq_cuda_plugin *p = loaded();
  return p ? p->device_count() : 0;
}

const char *seq_cuda_status(void) {
  if (!seq_cuda_built()) return "not built: seqlua was built without the CUDA backend";
  const seq_cuda_plugin *p = loaded();
  if (!p) return load_status;
  static char line[sizeof load_status + 512];
  snprintf(line, sizeof line, "%s; %.500s", load_status, p->device_status());
  return line;
}

void seq_cuda_set_tf32(bool on) {
  tf32_wanted = on;
  if (plugin) plugin->set_tf32(on);
}

bool seq_cuda_get_tf32(void) { return tf32_wanted; }

void seq_cuda_empty_cache(void) {
  if (plugin) plugin->empty_cache();
}

void seq_cuda_memory_stats(size_t *in_use, size_t *cached) {
  *in_use = *cached = 0;
  if (plugin) plugin->memory_stats(in_use, cached);
}

const seq_cuda_nccl *seq_cuda_nccl_get(void) {
  const seq_cuda_plugin *p = loaded();
  return p && p->nccl ? p->nccl() : NULL;
}
