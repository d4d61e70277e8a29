/* seq_atomic.c - see seq_atomic.h. */
#define _GNU_SOURCE
#include "seq_atomic.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The path with symlinks resolved, even when the final file does not exist
 * yet (then its directory is resolved); malloc'd, NULL when out of memory. */
static char *resolve_target(const char *path) {
  char *full = realpath(path, NULL);
  if (full) return full;
  return strdup(path); /* new file (or dangling link target): write the name as given */
}

static bool pid_alive(long pid) {
  if (pid <= 0 || pid > INT_MAX) return false;
  return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

void seq_atomic_sweep(const char *target, const char *infix) {
  const char *slash = strrchr(target, '/');
  char *dir = slash ? strndup(target, (size_t)(slash - target + (slash == target))) : strdup(".");
  const char *base = slash ? slash + 1 : target;
  if (!dir) return;
  size_t nb = strlen(base), ni = strlen(infix);
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      const char *nm = e->d_name;
      if (strncmp(nm, base, nb) != 0 || strncmp(nm + nb, infix, ni) != 0) continue;
      const char *digits = nm + nb + ni;
      char *end;
      errno = 0;
      long pid = strtol(digits, &end, 10);
      if (!*digits || *end || errno || pid == (long)getpid() || pid_alive(pid)) continue;
      size_t len = strlen(dir) + strlen(nm) + 2;
      char *stale = malloc(len);
      if (!stale) break;
      snprintf(stale, len, "%s/%s", dir, nm);
      unlink(stale);
      free(stale);
    }
    closedir(d);
  }
  free(dir);
}

seq_status seq_atomic_open(seq_atomic_file *af, const char *path, const char *who) {
  memset(af, 0, sizeof *af);
  af->target = resolve_target(path);
  size_t tl = af->target ? strlen(af->target) + 32 : 0;
  af->tmp = af->target ? malloc(tl) : NULL;
  if (!af->tmp) {
    seq_atomic_abort(af);
    return seq_fail(SEQ_ENOMEM, "%s: out of memory", who);
  }
  snprintf(af->tmp, tl, "%s.tmp.%ld", af->target, (long)getpid());
  seq_atomic_sweep(af->target, ".tmp.");
  af->f = fopen(af->tmp, "wb");
  if (!af->f) {
    seq_status st = seq_fail(SEQ_EIO, "%s: cannot create '%s': %s", who, af->tmp, strerror(errno));
    free(af->tmp);
    af->tmp = NULL;
    seq_atomic_abort(af);
    return st;
  }
  struct stat old;
  if (stat(af->target, &old) == 0 && S_ISREG(old.st_mode)) fchmod(fileno(af->f), old.st_mode & 07777);
  return SEQ_OK;
}

seq_status seq_atomic_commit(seq_atomic_file *af, const char *who) {
  bool ok = fflush(af->f) == 0 && fsync(fileno(af->f)) == 0;
  int err = errno;
  if (fclose(af->f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  af->f = NULL;
  seq_status st = SEQ_OK;
  if (!ok) st = seq_fail(SEQ_EIO, "%s: writing '%s' failed: %s", who, af->tmp, strerror(err));
  else if (rename(af->tmp, af->target) != 0)
    st = seq_fail(SEQ_EIO, "%s: cannot rename '%s' to '%s': %s", who, af->tmp, af->target, strerror(errno));
  else {
    free(af->tmp); /* renamed: nothing to remove */
    af->tmp = NULL;
  }
  seq_atomic_abort(af);
  return st;
}

void seq_atomic_abort(seq_atomic_file *af) {
  if (af->f) fclose(af->f);
  if (af->tmp) remove(af->tmp);
  free(af->tmp);
  free(af->target);
  memset(af, 0, sizeof *af);
}
