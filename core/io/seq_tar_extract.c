/* seq_tar_extract.c - safe extraction of a tar archive (see seq_tar.h).
 *
 * Every member lands inside the destination: names are checked lexically
 * (relative, no ".."), every folder on the way is checked with lstat to be a
 * real directory (so an earlier symlink member cannot redirect a later
 * file), files are created with O_NOFOLLOW, and symlink targets may only
 * climb through the link's own (real) parent folders, never above dest. */
#define _XOPEN_SOURCE 700
#include "seq_tar.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Normalises a member name in place: drops "." components, empty ones and a
 * trailing '/'.  Returns its depth (components), or -1 for an absolute name
 * or one with a ".." component. */
static int normalise(char *name) {
  if (name[0] == '/') return -1;
  char *w = name;
  int depth = 0;
  for (char *p = name; *p;) {
    char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') return -1;
    if (n > 0 && !(n == 1 && p[0] == '.')) {
      if (w != name) *w++ = '/';
      memmove(w, p, n);
      w += n;
      depth++;
    }
    p += n;
    if (*p == '/') p++;
  }
  *w = '\0';
  return depth;
}

/* A symlink target is allowed when it is relative, its ".." components all
 * come first (climbing only through the link's own folders) and they do not
 * climb above dest from a link `depth` levels deep. */
static int symlink_target_ok(const char *target, int depth) {
  if (!target[0] || target[0] == '/') return 0;
  int up = 0, seen_name = 0;
  for (const char *p = target; *p;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (seen_name) return 0;
      up++;
    } else if (n > 0 && !(n == 1 && p[0] == '.')) {
      seen_name = 1;
    }
    p += n;
    if (*p == '/') p++;
  }
  return up <= depth - 1;
}

/* Creates the folders of `rel` (all but its last component) under root,
 * refusing any that exists as something other than a real directory. */
static seq_status make_parents(const char *archive, const char *root, const char *rel, char *buf, size_t cap) {
  const char *slash = rel;
  while ((slash = strchr(slash, '/')) != NULL) {
    snprintf(buf, cap, "%s/%.*s", root, (int)(slash - rel), rel);
    struct stat st;
    if (lstat(buf, &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return seq_fail(SEQ_EFORMAT, "extract: '%s': member '%s' would be written through '%.*s', which is not a folder "
                        "(refused: members must stay inside the target folder)", archive, rel, (int)(slash - rel), rel);
    } else if (mkdir(buf, 0755) != 0) {
      return seq_fail(SEQ_EIO, "extract: cannot create %s: %s", buf, strerror(errno));
    }
    slash++;
  }
  return SEQ_OK;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  remove(p);
  return 0;
}

static void remove_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static seq_status extract_member(seq_tar *t, const seq_tar_entry *e, const char *archive, const char *root,
                                 char *path, char *other, size_t cap) {
  size_t nl = strlen(e->name);
  char *rel = malloc(nl + 1);
  if (!rel) return seq_fail(SEQ_ENOMEM, "extract: out of memory");
  memcpy(rel, e->name, nl + 1);
  seq_status st = SEQ_OK;
  int depth = normalise(rel);
  if (depth < 0) {
    st = seq_fail(SEQ_EFORMAT, "extract: '%s': member '%s' is %s (refused: members must stay inside the target folder)",
                  archive, e->name, e->name[0] == '/' ? "an absolute path" : "a path with '..'");
    goto done;
  }
  if (depth == 0) goto done; /* "./" itself */
  if (strlen(root) + nl + 2 > cap) {
    st = seq_fail(SEQ_EFORMAT, "extract: '%s': member name '%s' is too long", archive, e->name);
    goto done;
  }
  st = make_parents(archive, root, rel, path, cap);
  if (st != SEQ_OK) goto done;
  snprintf(path, cap, "%s/%s", root, rel);
  struct stat old;
  int exists = lstat(path, &old) == 0;
  if (e->type == SEQ_TAR_DIR) {
    if (exists && !S_ISDIR(old.st_mode)) {
      st = seq_fail(SEQ_EFORMAT, "extract: '%s': folder member '%s' clashes with an earlier member", archive, e->name);
    } else if (!exists && mkdir(path, 0755) != 0) {
      st = seq_fail(SEQ_EIO, "extract: cannot create %s: %s", path, strerror(errno));
    }
    goto done;
  }
  if (exists) {
    /* a later member of the same name replaces the earlier one, as in tar */
    if (S_ISDIR(old.st_mode) || unlink(path) != 0) {
      st = seq_fail(SEQ_EFORMAT, "extract: '%s': member '%s' clashes with an earlier member", archive, e->name);
      goto done;
    }
  }
  if (e->type == SEQ_TAR_SYMLINK) {
    if (!symlink_target_ok(e->linkname, depth)) {
      st = seq_fail(SEQ_EFORMAT, "extract: '%s': symbolic link '%s' -> '%s' points outside the target folder (refused)",
                    archive, e->name, e->linkname);
    } else if (symlink(e->linkname, path) != 0) {
      st = seq_fail(SEQ_EIO, "extract: cannot create link %s: %s", path, strerror(errno));
    }
    goto done;
  }
  if (e->type == SEQ_TAR_HARDLINK) {
    size_t ll = strlen(e->linkname);
    char *target = malloc(ll + 1);
    if (!target) {
      st = seq_fail(SEQ_ENOMEM, "extract: out of memory");
      goto done;
    }
    memcpy(target, e->linkname, ll + 1);
    struct stat ts;
    int tdepth = normalise(target);
    if (tdepth <= 0 || strlen(root) + ll + 2 > cap) {
      st = seq_fail(SEQ_EFORMAT, "extract: '%s': hard link '%s' -> '%s' points outside the target folder (refused)",
                    archive, e->name, e->linkname);
    } else {
      /* the target's folders must be real ones, and it a regular file */
      st = make_parents(archive, root, target, other, cap);
      snprintf(other, cap, "%s/%s", root, target);
      if (st == SEQ_OK && (lstat(other, &ts) != 0 || !S_ISREG(ts.st_mode)))
        st = seq_fail(SEQ_EFORMAT, "extract: '%s': hard link '%s' -> '%s' does not name a file extracted before it",
                      archive, e->name, e->linkname);
      if (st == SEQ_OK && link(other, path) != 0)
        st = seq_fail(SEQ_EIO, "extract: cannot create link %s: %s", path, strerror(errno));
    }
    free(target);
    goto done;
  }
  if (e->type != SEQ_TAR_FILE) goto done; /* devices, fifos, ...: skipped */
  {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, (mode_t)((e->mode & 0777) | 0600));
    if (fd < 0) {
      st = seq_fail(SEQ_EIO, "extract: cannot create %s: %s", path, strerror(errno));
      goto done;
    }
    char buf[65536];
    size_t got;
    do {
      st = seq_tar_read(t, buf, sizeof buf, &got);
      if (st == SEQ_OK && got && write(fd, buf, got) != (ssize_t)got)
        st = seq_fail(SEQ_EIO, "extract: cannot write %s: %s", path, strerror(errno));
    } while (st == SEQ_OK && got);
    if (close(fd) != 0 && st == SEQ_OK) st = seq_fail(SEQ_EIO, "extract: cannot write %s: %s", path, strerror(errno));
  }
done:
  free(rel);
  return st;
}

seq_status seq_tar_extract(const char *archive, const char *dest) {
  if (!dest || !*dest) return seq_fail(SEQ_EARG, "extract: no destination folder given");
  struct stat st0;
  if (lstat(dest, &st0) == 0) return seq_fail(SEQ_EARG, "extract: %s already exists", dest);
  size_t cap = strlen(dest) + 8192;
  char *tmp = malloc(cap), *path = malloc(cap), *other = malloc(cap);
  seq_tar *t = NULL;
  seq_status st = SEQ_OK;
  if (!tmp || !path || !other) {
    st = seq_fail(SEQ_ENOMEM, "extract: out of memory");
    goto out;
  }
  snprintf(tmp, cap, "%s.tmp%ld", dest, (long)getpid());
  remove_tree(tmp); /* left over by a killed run of this pid */
  if (mkdir(tmp, 0755) != 0) {
    st = seq_fail(SEQ_EIO, "extract: cannot create %s: %s", tmp, strerror(errno));
    goto out;
  }
  st = seq_tar_open(archive, &t);
  const seq_tar_entry *e;
  while (st == SEQ_OK && (st = seq_tar_next(t, &e)) == SEQ_OK && e)
    st = extract_member(t, e, archive, tmp, path, other, cap);
  if (st == SEQ_OK && rename(tmp, dest) != 0)
    st = seq_fail(SEQ_EIO, "extract: cannot move %s to %s: %s", tmp, dest, strerror(errno));
  if (st != SEQ_OK) remove_tree(tmp);
out:
  seq_tar_close(t);
  free(tmp);
  free(path);
  free(other);
  return st;
}
