/* seq_imdb_archive.c - IMDB reviews straight from aclImdb's own layout (see
 * seq_imdb.h): the tar.gz streamed through seq_tar, or an extracted folder.
 *
 * Only aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt are read; unsup/,
 * the *.feat files, urls_*.txt and anything else in the official archive are
 * skipped without being kept.  A review's bytes are tokenised exactly as
 * the TSV rows were (the TSVs held the same bytes, with the 27 in-review TABs
 * written as spaces; both are separators to the tokeniser), so the arrays
 * are the same. */
#define _POSIX_C_SOURCE 200809L
#include "seq_imdb.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "seq_tar.h"
#include "seq_utf8.h"

/* A single review is a few KiB (the longest of the 50,000 is 14 KiB); a
 * member far beyond that is not a review. */
#define REVIEW_MAX (16u << 20)

static const char *const SPLITS[2] = {"train", "test"};
static const char *const LABELS[2] = {"neg", "pos"}; /* index = label */

typedef struct review_list {
  seq_imdb_review *r;
  int64_t n, cap;
  int64_t per_label[2];
} review_list;

typedef struct collector {
  const char *source; /* archive or folder, for messages */
  review_list split[2];
} collector;

static void collector_free(collector *c) {
  for (int s = 0; s < 2; s++) {
    for (int64_t i = 0; i < c->split[s].n; i++) free((char *)c->split[s].r[i].name);
    free(c->split[s].r);
  }
}

/* "<digits>_<digits>.txt" */
static int is_review_name(const char *s, size_t n) {
  size_t i = 0, a = 0, b = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9') i++, a++;
  if (!a || i >= n || s[i++] != '_') return 0;
  while (i < n && s[i] >= '0' && s[i] <= '9') i++, b++;
  return b && n - i == 4 && memcmp(s + i, ".txt", 4) == 0;
}

/* Parses "<split>/<label>/<name>" (relative to aclImdb/); returns 1 and sets
 * split/label/name for a review file. */
static int review_path(const char *rel, int *split, int *label, const char **name) {
  for (int s = 0; s < 2; s++) {
    size_t sl = strlen(SPLITS[s]);
    if (strncmp(rel, SPLITS[s], sl) != 0 || rel[sl] != '/') continue;
    const char *p = rel + sl + 1;
    for (int l = 0; l < 2; l++) {
      if (strncmp(p, LABELS[l], 3) != 0 || p[3] != '/') continue;
      const char *nm = p + 4;
      if (!is_review_name(nm, strlen(nm))) return 0;
      *split = s;
      *label = l;
      *name = nm;
      return 1;
    }
  }
  return 0;
}

/* Takes ownership of text (the name is copied in front of it). */
static seq_status add_review(collector *c, int split, int label, const char *name, char *text, size_t len,
                             const char *member) {
  size_t pos = 0;
  uint32_t cp;
  while (pos < len) {
    size_t at = pos;
    if (!seq_utf8_next(text, len, &pos, &cp)) {
      free(text);
      return seq_fail(SEQ_EFORMAT, "imdb: review '%s' in '%s' is not valid UTF-8 (at byte %zu)", member,
                      c->source, at);
    }
  }
  review_list *L = &c->split[split];
  if (L->n == L->cap) {
    int64_t ncap = L->cap ? L->cap * 2 : 16384;
    seq_imdb_review *nr = realloc(L->r, (size_t)ncap * sizeof *nr);
    if (!nr) {
      free(text);
      return seq_fail(SEQ_ENOMEM, "imdb: out of memory reading '%s'", c->source);
    }
    L->r = nr;
    L->cap = ncap;
  }
  /* one block: name, NUL, text, so one free releases both */
  size_t nl = strlen(name);
  char *block = malloc(nl + 1 + len + 1);
  if (!block) {
    free(text);
    return seq_fail(SEQ_ENOMEM, "imdb: out of memory reading '%s'", c->source);
  }
  memcpy(block, name, nl + 1);
  memcpy(block + nl + 1, text, len + 1);
  free(text);
  L->r[L->n++] = (seq_imdb_review){(uint8_t)label, block, nl, block + nl + 1, len, 0};
  L->per_label[label]++;
  return SEQ_OK;
}

static seq_status collect_tar(collector *c, const char *path) {
  seq_tar *t;
  SEQ_TRY(seq_tar_open(path, &t));
  const seq_tar_entry *e;
  seq_status st;
  while ((st = seq_tar_next(t, &e)) == SEQ_OK && e) {
    if (e->type != SEQ_TAR_FILE) continue;
    const char *n = e->name;
    while (n[0] == '.' && n[1] == '/') n += 2;
    if (strncmp(n, "aclImdb/", 8) != 0) continue;
    int split, label;
    const char *name;
    if (!review_path(n + 8, &split, &label, &name)) continue;
    char *text = NULL;
    size_t len = 0;
    st = seq_tar_read_all(t, REVIEW_MAX, &text, &len);
    if (st == SEQ_OK) st = add_review(c, split, label, name, text, len, e->name);
    if (st != SEQ_OK) break;
  }
  seq_tar_close(t);
  return st;
}

static seq_status read_file(const char *path, char **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return seq_fail(SEQ_EIO, "imdb: cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || st.st_size > (off_t)REVIEW_MAX) {
    fclose(f);
    return seq_fail(SEQ_EFORMAT, "imdb: '%s' is not a review (%lld bytes)", path, (long long)st.st_size);
  }
  size_t n = (size_t)st.st_size;
  char *buf = malloc(n + 1);
  if (!buf) {
    fclose(f);
    return seq_fail(SEQ_ENOMEM, "imdb: out of memory reading '%s'", path);
  }
  size_t got = fread(buf, 1, n, f);
  int err = ferror(f);
  fclose(f);
  if (err || got != n) {
    free(buf);
    return seq_fail(SEQ_EIO, "imdb: cannot read '%s'", path);
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return SEQ_OK;
}

/* The aclImdb folder itself: `path` when it holds train/ and test/, else
 * path/aclImdb.  Returns a malloc'd path or NULL. */
static char *find_root(const char *path) {
  struct stat st;
  size_t n = strlen(path);
  char *p = malloc(n + 32);
  if (!p) return NULL;
  snprintf(p, n + 32, "%s/train", path);
  if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(p, n + 32, "%s", path);
    return p;
  }
  snprintf(p, n + 32, "%s/aclImdb", path);
  return p;
}

typedef seq_status (*file_visit)(void *ctx, const char *full, const char *rel, int split, int label,
                                 const char *name, const struct stat *st);

/* Calls fn for each review file of an extracted folder. */
static seq_status walk_folder(const char *path, file_visit fn, void *ctx) {
  char *root = find_root(path);
  if (!root) return seq_fail(SEQ_ENOMEM, "imdb: out of memory");
  seq_status st = SEQ_OK;
  size_t cap = strlen(root) + 512;
  char *full = malloc(cap);
  if (!full) st = seq_fail(SEQ_ENOMEM, "imdb: out of memory");
  for (int s = 0; st == SEQ_OK && s < 2; s++) {
    for (int l = 0; st == SEQ_OK && l < 2; l++) {
      snprintf(full, cap, "%s/%s/%s", root, SPLITS[s], LABELS[l]);
      DIR *d = opendir(full);
      if (!d) {
        if (errno == ENOENT) continue; /* reported as missing reviews */
        st = seq_fail(SEQ_EIO, "imdb: cannot read folder '%s': %s", full, strerror(errno));
        break;
      }
      struct dirent *de;
      while (st == SEQ_OK && (de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (!is_review_name(de->d_name, nl) || nl > 256) continue;
        snprintf(full, cap, "%s/%s/%s/%s", root, SPLITS[s], LABELS[l], de->d_name);
        struct stat fs;
        if (stat(full, &fs) != 0 || !S_ISREG(fs.st_mode)) continue;
        st = fn(ctx, full, full + strlen(root) + 1, s, l, de->d_name, &fs);
      }
      closedir(d);
    }
  }
  free(full);
  free(root);
  return st;
}

static seq_status visit_read(void *ctx, const char *full, const char *rel, int split, int label,
                             const char *name, const struct stat *fs) {
  (void)rel;
  (void)fs;
  char *text = NULL;
  size_t len = 0;
  SEQ_TRY(read_file(full, &text, &len));
  return add_review(ctx, split, label, name, text, len, full);
}

static int by_label_name(const void *pa, const void *pb) {
  const seq_imdb_review *a = pa, *b = pb;
  if (a->label != b->label) return a->label < b->label ? -1 : 1;
  return strcmp(a->name, b->name);
}

seq_status seq_imdb_read_archive(const char *path, const seq_imdb_vocab *v, seq_imdb_split *train,
                                 seq_imdb_split *test) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  if (!path || !*path) return seq_fail(SEQ_EARG, "imdb: no archive path given");
  struct stat st0;
  if (stat(path, &st0) != 0)
    return seq_fail(SEQ_EIO, "imdb: cannot open the reviews archive '%s': %s", path, strerror(errno));
  collector c;
  memset(&c, 0, sizeof c);
  c.source = path;
  seq_status st = S_ISDIR(st0.st_mode) ? walk_folder(path, visit_read, &c) : collect_tar(&c, path);
  for (int s = 0; st == SEQ_OK && s < 2; s++) {
    review_list *L = &c.split[s];
    for (int l = 0; st == SEQ_OK && l < 2; l++)
      if (L->per_label[l] == 0)
        st = seq_fail(SEQ_EFORMAT,
                      "imdb: '%s' holds no reviews aclImdb/%s/%s/<id>_<rating>.txt (expected the layout of "
                      "aclImdb_v1.tar.gz)",
                      path, SPLITS[s], LABELS[l]);
    if (st != SEQ_OK) break;
    qsort(L->r, (size_t)L->n, sizeof *L->r, by_label_name);
    for (int64_t i = 1; i < L->n && st == SEQ_OK; i++)
      if (L->r[i].label == L->r[i - 1].label && strcmp(L->r[i].name, L->r[i - 1].name) == 0)
        st = seq_fail(SEQ_EFORMAT, "imdb: '%s' holds aclImdb/%s/%s/%s twice", path, SPLITS[s],
                      LABELS[L->r[i].label], L->r[i].name);
  }
  if (st == SEQ_OK) st = seq_imdb_tokenize_reviews(path, c.split[0].r, c.split[0].n, v, train);
  if (st == SEQ_OK) st = seq_imdb_tokenize_reviews(path, c.split[1].r, c.split[1].n, v, test);
  collector_free(&c);
  if (st != SEQ_OK) {
    seq_imdb_split_free(train);
    seq_imdb_split_free(test);
  }
  return st;
}

/* ---- cache identity ---- */
typedef struct fold {
  uint64_t h;
  int64_t count, bytes;
} fold;

static void fold_bytes(fold *f, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    f->h ^= s[i];
    f->h *= 1099511628211ull; /* FNV-1a */
  }
}

static seq_status visit_key(void *ctx, const char *full, const char *rel, int split, int label,
                            const char *name, const struct stat *fs) {
  (void)full;
  (void)split;
  (void)label;
  (void)name;
  fold *f = ctx;
  int64_t v[3] = {(int64_t)fs->st_size, (int64_t)fs->st_mtim.tv_sec, (int64_t)fs->st_mtim.tv_nsec};
  fold_bytes(f, rel, strlen(rel) + 1);
  fold_bytes(f, v, sizeof v);
  f->count++;
  f->bytes += v[0];
  return SEQ_OK;
}

seq_status seq_imdb_archive_key(const char *path, int64_t key[3]) {
  struct stat st;
  if (!path || !*path) return seq_fail(SEQ_EARG, "imdb: no archive path given");
  if (stat(path, &st) != 0)
    return seq_fail(SEQ_EIO, "imdb: cannot open the reviews archive '%s': %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) {
    key[0] = (int64_t)st.st_size;
    key[1] = (int64_t)st.st_mtim.tv_sec;
    key[2] = (int64_t)st.st_mtim.tv_nsec;
    return SEQ_OK;
  }
  /* readdir order is not stable across copies, but it is for one folder;
   * a changed order only costs one more tokenising load. */
  fold f = {1469598103934665603ull, 0, 0};
  SEQ_TRY(walk_folder(path, visit_key, &f));
  key[0] = f.bytes;
  key[1] = (int64_t)(f.h >> 1);
  key[2] = -1 - f.count; /* a file's nanoseconds are never negative */
  return SEQ_OK;
}
