/* seq_plugin.c - finds and opens seqlua's plugins; see seq_plugin.h. */
#define _GNU_SOURCE /* dladdr */
#include "seq_plugin.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool seq_plugin_own_dir(char *dir, size_t ndir, char *self, size_t nself) {
  Dl_info info;
  if (!dladdr((void *)(uintptr_t)&seq_plugin_own_dir, &info) || !info.dli_fname || !info.dli_fname[0])
    return false;
  const char *f = info.dli_fname;
  char resolved[PATH_MAX];
  if (realpath(f, resolved)) f = resolved;
  snprintf(self, nself, "%s", f);
  const char *slash = strrchr(f, '/');
  if (!slash) return false;
  snprintf(dir, ndir, "%.*s", (int)(slash - f), f);
  return true;
}

void *seq_plugin_try_open(const char *path, char *tried, size_t ntried) {
  size_t len = strlen(tried);
  snprintf(tried + len, ntried - len, "%s%s", len ? ", " : "", path);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    /* a file that exists but does not load: keep the loader's reason */
    FILE *f = fopen(path, "rb");
    if (f) {
      fclose(f);
      const char *why = dlerror();
      len = strlen(tried);
      snprintf(tried + len, ntried - len, " (%s)", why ? why : "cannot load");
    }
  }
  return h;
}

void *seq_plugin_open_first(const char *dir, const char *const *places, size_t nplaces,
                            char *tried, size_t ntried) {
  char path[PATH_MAX + 256];
  void *h = NULL;
  for (size_t i = 0; !h && i < nplaces; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, places[i]);
    h = seq_plugin_try_open(path, tried, ntried);
  }
  return h;
}
