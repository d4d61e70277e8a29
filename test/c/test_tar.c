/* test_tar.c - the streaming tar reader (ustar prefix, GNU long names,
 * PAX headers, base-256 sizes, skipped member types; truncated, corrupt and
 * non-tar input), safe extraction (refusals leave nothing behind) and the
 * IMDB reader over aclImdb's layout, checked against the TSV route on the
 * same reviews. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "seq_imdb.h"
#include "seq_tar.h"


/* ---- a tiny tar writer ---- */
typedef struct buf {
  unsigned char *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 4096;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void pad(buf *b) {
  static const unsigned char z[512];
  if (b->n % 512) put(b, z, 512 - b->n % 512);
}

enum { USTAR, GNU, V7 };

/* One header + data.  size < 0: write the size as GNU base-256. */
static void member(buf *b, int fmt, char type, const char *name, const char *prefix, const char *link,
                   const char *data, long long size_override) {
  unsigned char h[512];
  memset(h, 0, sizeof h);
  size_t dn = data ? strlen(data) : 0;
  strncpy((char *)h, name, 100);
  snprintf((char *)h + 100, 8, "%07o", 0644);
  snprintf((char *)h + 108, 8, "%07o", 0);
  snprintf((char *)h + 116, 8, "%07o", 0);
  if (size_override < 0) {
    h[124] = 0x80;
    unsigned long long v = dn;
    for (int i = 11; i >= 1; i--, v >>= 8) h[124 + i] = (unsigned char)(v & 0xff);
  } else {
    char num[32];
    snprintf(num, sizeof num, "%011llo", size_override ? (unsigned long long)size_override : (unsigned long long)dn);
    memcpy(h + 124, num, 11);
  }
  snprintf((char *)h + 136, 12, "%011o", 0);
  h[156] = (unsigned char)type;
  if (link) strncpy((char *)h + 157, link, 100);
  if (fmt == USTAR) memcpy(h + 257, "ustar\0" "00", 8);
  if (fmt == GNU) memcpy(h + 257, "ustar  \0", 8);
  if (prefix) strncpy((char *)h + 345, prefix, 155);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  put(b, h, 512);
  if (dn) {
    put(b, data, dn);
    pad(b);
  }
}

static void file_(buf *b, const char *name, const char *data) { member(b, USTAR, '0', name, NULL, NULL, data, 0); }

static void pax(buf *b, const char *key, const char *value) {
  char rec[1200];
  size_t body = strlen(key) + strlen(value) + 3, len = body + 1;
  while (snprintf(NULL, 0, "%zu", len) + body != len) len++;
  snprintf(rec, sizeof rec, "%zu %s=%s\n", len, key, value);
  member(b, USTAR, 'x', "PaxHeaders/x", NULL, NULL, rec, 0);
}

static void finish(buf *b) {
  static const unsigned char z[1024];
  put(b, z, 1024);
}

static void gzip_to(const char *path, const buf *b) {
  gzFile f = gzopen(path, "wb");
  gzwrite(f, b->p, (unsigned)b->n);
  gzclose(f);
}

static void write_raw(const char *path, const void *d, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(d, 1, n, f);
  fclose(f);
}

static void *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  void *d = malloc(*n ? *n : 1);
  if (fread(d, 1, *n, f) != *n) *n = 0;
  fclose(f);
  return d;
}

static char dir[64];

static void path_in(char *out, const char *name) { snprintf(out, 256, "%s/%s", dir, name); }

/* Reads every member, "name:type:data|..." into out. */
static seq_status listing(seq_tar *t, char *out, size_t cap) {
  const seq_tar_entry *e;
  seq_status st;
  out[0] = '\0';
  while ((st = seq_tar_next(t, &e)) == SEQ_OK && e) {
    char data[64] = "";
    size_t got = 0;
    if (e->type == SEQ_TAR_FILE && (st = seq_tar_read(t, data, 10, &got)) != SEQ_OK) return st;
    data[got] = '\0';
    size_t l = strlen(out);
    snprintf(out + l, cap - l, "%s%s:%d:%s%s%s", l ? "|" : "", e->name, (int)e->type, data,
             e->linkname[0] ? "->" : "", e->linkname);
  }
  return st;
}

static void reader_cases(void) {
  buf b = {0};
  char longname[300];
  memset(longname, 'n', 250);
  strcpy(longname + 250, "/end.txt");
  member(&b, USTAR, '5', "top/", NULL, NULL, NULL, 0);
  file_(&b, "top/a.txt", "alpha");
  member(&b, USTAR, '0', "b.txt", "top/deep/prefix", NULL, "beta", 0);
  member(&b, GNU, 'L', "././@LongLink", NULL, NULL, longname, 0);
  member(&b, GNU, '0', "truncated-name", NULL, NULL, "gnu long", 0);
  pax(&b, "path", "top/pax name \xc3\xa9.txt");
  file_(&b, "ignored-by-pax", "pax");
  member(&b, GNU, '0', "top/big.txt", NULL, NULL, "base-256 size", -1);
  member(&b, USTAR, '2', "top/link", NULL, "a.txt", NULL, 0);
  member(&b, USTAR, '6', "top/fifo", NULL, NULL, NULL, 0);
  member(&b, V7, '\0', "top/v7.txt", NULL, NULL, "old", 0);
  member(&b, USTAR, 'g', "global", NULL, NULL, "10 a=bcde\n", 0);
  file_(&b, "top/last.txt", "0123456789abcdef"); /* read only in part */
  finish(&b);
  char want[1024];
  snprintf(want, sizeof want,
           "top/:1:|top/a.txt:0:alpha|top/deep/prefix/b.txt:0:beta|%s:0:gnu long|"
           "top/pax name \xc3\xa9.txt:0:pax|top/big.txt:0:base-256 s|top/link:2:->a.txt|top/fifo:4:|"
           "top/v7.txt:0:old|top/last.txt:0:0123456789",
           longname);
  char got[2048], p[256];
  seq_tar *t;
  /* plain tar in memory, gzip'd file, gzip'd memory */
  CHECKF(seq_tar_open_memory(b.p, b.n, "mem.tar", &t) == SEQ_OK, "open");
  CHECKF(listing(t, got, sizeof got) == SEQ_OK, "plain: %s", seq_last_error());
  CHECKF(strcmp(got, want) == 0, "plain listing:\n got %s\nwant %s", got, want);
  seq_tar_close(t);
  path_in(p, "x.tar.gz");
  gzip_to(p, &b);
  CHECKF(seq_tar_open(p, &t) == SEQ_OK, "open %s", seq_last_error());
  CHECKF(listing(t, got, sizeof got) == SEQ_OK && strcmp(got, want) == 0, "gz file: %s", seq_last_error());
  seq_tar_close(t);
  size_t gn;
  unsigned char *gz = slurp(p, &gn);
  CHECKF(seq_tar_open_memory(gz, gn, "mem.tar.gz", &t) == SEQ_OK, "open");
  CHECKF(listing(t, got, sizeof got) == SEQ_OK && strcmp(got, want) == 0, "gz memory: %s", seq_last_error());
  seq_tar_close(t);

  /* truncated gzip: both routes name the archive */
  char cut[256];
  path_in(cut, "cut.tar.gz");
  write_raw(cut, gz, gn - 30);
  CHECKF(seq_tar_open(cut, &t) == SEQ_OK, "open");
  CHECKF(listing(t, got, sizeof got) == SEQ_EFORMAT && strstr(seq_last_error(), "truncated") &&
            strstr(seq_last_error(), cut),
        "truncated gz file: %s", seq_last_error());
  seq_tar_close(t);
  CHECKF(seq_tar_open_memory(gz, gn - 30, "cut.tgz", &t) == SEQ_OK, "open");
  CHECKF(listing(t, got, sizeof got) == SEQ_EFORMAT && strstr(seq_last_error(), "cut.tgz"), "truncated gz memory: %s",
        seq_last_error());
  seq_tar_close(t);
  /* a flipped byte in the gzip trailer's CRC */
  gz[gn - 6] ^= 0x55;
  write_raw(cut, gz, gn);
  CHECKF(seq_tar_open(cut, &t) == SEQ_OK, "open");
  CHECKF(listing(t, got, sizeof got) == SEQ_EFORMAT && strstr(seq_last_error(), cut), "bad crc: %s", seq_last_error());
  seq_tar_close(t);
  free(gz);
  /* truncated plain tar inside a member's data */
  CHECKF(seq_tar_open_memory(b.p, 512 * 3 + 100, "short.tar", &t) == SEQ_OK, "open");
  CHECKF(listing(t, got, sizeof got) == SEQ_EFORMAT && strstr(seq_last_error(), "truncated"), "short: %s",
        seq_last_error());
  seq_tar_close(t);
  /* a damaged header checksum */
  b.p[512 + 3] ^= 1;
  CHECKF(seq_tar_open_memory(b.p, b.n, "bad.tar", &t) == SEQ_OK, "open");
  CHECKF(listing(t, got, sizeof got) == SEQ_EFORMAT && strstr(seq_last_error(), "checksum"), "checksum: %s",
        seq_last_error());
  seq_tar_close(t);
  /* not a tar at all; an empty file */
  const char *text = "just some text, not an archive at all, but long enough to fill a header block.";
  char big[600];
  for (int i = 0; i < 600; i++) big[i] = text[i % 70];
  CHECKF(seq_tar_open_memory(big, sizeof big, "text.txt", &t) == SEQ_OK, "open");
  CHECKF(listing(t, got, sizeof got) == SEQ_EFORMAT && strstr(seq_last_error(), "not a tar archive"), "text: %s",
        seq_last_error());
  seq_tar_close(t);
  CHECKF(seq_tar_open_memory("", 0, "empty.tar", &t) == SEQ_OK, "open");
  CHECKF(listing(t, got, sizeof got) == SEQ_EFORMAT && strstr(seq_last_error(), "empty"), "empty: %s", seq_last_error());
  seq_tar_close(t);
  CHECKF(seq_tar_open("/nonexistent/a.tar.gz", &t) == SEQ_EIO && strstr(seq_last_error(), "/nonexistent/a.tar.gz"),
        "missing: %s", seq_last_error());
  free(b.p);
}

/* ---- extraction ---- */
static int exists(const char *p) {
  struct stat st;
  return lstat(p, &st) == 0;
}

static void refused(const char *what, buf *b, const char *needle) {
  char arch[256], dest[256];
  finish(b);
  path_in(arch, "evil.tar.gz");
  gzip_to(arch, b);
  path_in(dest, "evil_out");
  seq_status st = seq_tar_extract(arch, dest);
  CHECKF(st == SEQ_EFORMAT && strstr(seq_last_error(), needle) && strstr(seq_last_error(), arch),
        "%s: status %d, message %s", what, (int)st, seq_last_error());
  CHECKF(!exists(dest), "%s: nothing is left at the destination", what);
  char outside[256];
  path_in(outside, "escaped");
  CHECKF(!exists(outside), "%s: nothing escaped", what);
  free(b->p);
  memset(b, 0, sizeof *b);
}

static void extract_cases(void) {
  buf b = {0};
  member(&b, USTAR, '5', "./pkg/", NULL, NULL, NULL, 0);
  file_(&b, "./pkg/data/x.txt", "hello");
  member(&b, USTAR, '2', "pkg/data/alias", NULL, "x.txt", NULL, 0);
  member(&b, USTAR, '2', "pkg/data/up", NULL, "../top.txt", NULL, 0);
  file_(&b, "pkg/top.txt", "top");
  member(&b, USTAR, '1', "pkg/hard", NULL, "pkg/data/x.txt", NULL, 0);
  member(&b, USTAR, '3', "pkg/tty", NULL, NULL, NULL, 0);
  finish(&b);
  char arch[256], dest[256], p[300];
  path_in(arch, "ok.tgz");
  gzip_to(arch, &b);
  free(b.p);
  memset(&b, 0, sizeof b);
  path_in(dest, "ok_out");
  CHECKF(seq_tar_extract(arch, dest) == SEQ_OK, "extract: %s", seq_last_error());
  snprintf(p, sizeof p, "%s/pkg/data/alias", dest);
  size_t n = 0;
  char *d = exists(p) ? slurp(p, &n) : NULL;
  CHECKF(d && n == 5 && memcmp(d, "hello", 5) == 0, "file through an inside link");
  free(d);
  snprintf(p, sizeof p, "%s/pkg/hard", dest);
  d = exists(p) ? slurp(p, &n) : NULL;
  CHECKF(d && n == 5, "hard link");
  free(d);
  snprintf(p, sizeof p, "%s/pkg/tty", dest);
  CHECKF(!exists(p), "devices are skipped");
  CHECKF(seq_tar_extract(arch, dest) == SEQ_EARG && strstr(seq_last_error(), "already exists"), "existing dest: %s",
        seq_last_error());

  file_(&b, "fine.txt", "ok");
  file_(&b, "../escaped", "evil");
  refused("dot-dot", &b, "'..'");
  file_(&b, "/tmp/seq_tar_abs_escaped", "evil");
  refused("absolute", &b, "absolute");
  member(&b, USTAR, '2', "lnk", NULL, "..", NULL, 0);
  refused("symlink to the parent", &b, "outside");
  member(&b, USTAR, '2', "a/lnk", NULL, "/etc", NULL, 0);
  refused("absolute symlink", &b, "outside");
  member(&b, USTAR, '2', "a/lnk", NULL, "x/../../..", NULL, 0);
  refused("symlink climbing after a name", &b, "outside");
  member(&b, USTAR, '2', "dot", NULL, ".", NULL, 0);
  member(&b, USTAR, '2', "dot/up", NULL, "..", NULL, 0); /* lexically inside, really outside */
  refused("link through a link", &b, "not a folder");
  member(&b, USTAR, '2', "d", NULL, ".", NULL, 0);
  file_(&b, "d/escaped", "evil");
  refused("file through a link", &b, "not a folder");
  member(&b, USTAR, '1', "h", NULL, "../escaped", NULL, 0);
  refused("hard link outside", &b, "outside");
  file_(&b, "ok.txt", "fine");
  finish(&b);
  path_in(arch, "cut.tgz");
  gzip_to(arch, &b);
  size_t gn;
  unsigned char *gz = slurp(arch, &gn);
  write_raw(arch, gz, gn / 2);
  free(gz);
  free(b.p);
  path_in(dest, "cut_out");
  CHECKF(seq_tar_extract(arch, dest) == SEQ_EFORMAT && !exists(dest), "truncated archive: %s", seq_last_error());
}

/* ---- the IMDB reader over aclImdb's layout ---- */
static const char *INDEX = "{\"the\": 1, \"movie\": 2, \"good\": 3, \"bad\": 4, \"don't\": 5, \"caf\\u00e9\": 6}";
static const char *TSV_TRAIN = "0\t0_1.txt\tThe movie, bad. Bad!\n"
                               "0\t1_2.txt\ta bad<br />movie\n"
                               "1\t9_9.txt\tGood good\tgood movie\n"
                               "1\t10_8.txt\tthe good caf\xc3\xa9\n";
static const char *TSV_TEST = "0\t0_2.txt\tbad\n"
                              "1\t0_10.txt\tgood unseenword movie the\n"
                              "1\t1_7.txt\tdon't\n";

static void imdb_layout(buf *b, const char *extra, const char *extra_text) {
  member(b, GNU, '5', "aclImdb/", NULL, NULL, NULL, 0);
  file_(b, "aclImdb/README", "not a review");
  file_(b, "aclImdb/test/neg/0_2.txt", "bad");
  file_(b, "aclImdb/test/pos/1_7.txt", "don't");
  file_(b, "aclImdb/test/pos/0_10.txt", "good unseenword movie the");
  file_(b, "aclImdb/train/unsup/5_0.txt", "unsupervised: skipped");
  file_(b, "aclImdb/train/labeledBow.feat", "skipped");
  file_(b, "aclImdb/train/pos/10_8.txt", "the good caf\xc3\xa9");
  file_(b, "./aclImdb/train/pos/9_9.txt", "Good good\tgood movie"); /* a TAB, as in 27 real reviews */
  file_(b, "aclImdb/train/neg/1_2.txt", "a bad<br />movie");
  if (extra) file_(b, extra, extra_text);
  file_(b, "aclImdb/train/neg/0_1.txt", "The movie, bad. Bad!");
  finish(b);
}

static int same_split(const seq_imdb_split *a, const seq_imdb_split *b) {
  return a->n == b->n && a->ntokens == b->ntokens && !memcmp(a->labels, b->labels, (size_t)a->n) &&
         !memcmp(a->offsets, b->offsets, (size_t)(a->n + 1) * 8) &&
         !memcmp(a->values, b->values, (size_t)a->ntokens * 4);
}

static void imdb_cases(void) {
  char pi[256], ptr[256], pte[256], arch[256], cache[256], folder[300];
  path_in(pi, "wi.json");
  write_raw(pi, INDEX, strlen(INDEX));
  path_in(ptr, "train.tsv");
  write_raw(ptr, TSV_TRAIN, strlen(TSV_TRAIN));
  path_in(pte, "test.tsv");
  write_raw(pte, TSV_TEST, strlen(TSV_TEST));
  buf b = {0};
  imdb_layout(&b, NULL, NULL);
  path_in(arch, "acl.tar.gz");
  gzip_to(arch, &b);
  free(b.p);
  path_in(cache, "tokens.bin");

  seq_imdb_paths tsv = {ptr, pte, pi, NULL, NULL};
  seq_imdb_paths tar = {NULL, NULL, pi, cache, arch};
  seq_imdb_corpus a, c;
  bool hit = true;
  CHECKF(seq_imdb_corpus_load(&tsv, &a, NULL) == SEQ_OK, "tsv: %s", seq_last_error());
  CHECKF(seq_imdb_corpus_load(&tar, &c, &hit) == SEQ_OK && !hit, "archive: %s", seq_last_error());
  CHECKF(same_split(&a.train, &c.train) && same_split(&a.test, &c.test), "archive == TSV");
  CHECKF(c.train.n == 4 && c.test.n == 3 && c.train.values[0] == 1, "counts and the first id (10_8 first)");
  seq_imdb_corpus_free(&c);
  CHECKF(seq_imdb_corpus_load(&tar, &c, &hit) == SEQ_OK && hit, "second load from the cache: %s", seq_last_error());
  CHECKF(same_split(&a.train, &c.train) && same_split(&a.test, &c.test), "cached == TSV");
  seq_imdb_corpus_free(&c);

  /* the extracted folder, given as aclImdb/ or as the folder holding it */
  path_in(folder, "acl_out");
  CHECKF(seq_tar_extract(arch, folder) == SEQ_OK, "extract: %s", seq_last_error());
  seq_imdb_paths fold = {NULL, NULL, pi, cache, folder};
  CHECKF(seq_imdb_corpus_load(&fold, &c, &hit) == SEQ_OK && !hit, "folder: %s", seq_last_error());
  CHECKF(same_split(&a.train, &c.train) && same_split(&a.test, &c.test), "folder == TSV");
  seq_imdb_corpus_free(&c);
  strcat(folder, "/aclImdb");
  CHECKF(seq_imdb_corpus_load(&fold, &c, &hit) == SEQ_OK, "aclImdb folder: %s", seq_last_error());
  CHECKF(same_split(&a.train, &c.train), "aclImdb folder == TSV");
  seq_imdb_corpus_free(&c);
  seq_imdb_corpus_free(&a);

  /* bad input: not UTF-8, missing folders, a review twice, truncated */
  tar.cache = NULL;
  memset(&b, 0, sizeof b);
  imdb_layout(&b, "aclImdb/test/neg/7_1.txt", "caf\xe9 in Latin-1");
  gzip_to(arch, &b);
  free(b.p);
  CHECKF(seq_imdb_corpus_load(&tar, &c, NULL) == SEQ_EFORMAT && strstr(seq_last_error(), "UTF-8") &&
            strstr(seq_last_error(), "aclImdb/test/neg/7_1.txt") && strstr(seq_last_error(), arch),
        "not UTF-8: %s", seq_last_error());
  memset(&b, 0, sizeof b);
  file_(&b, "aclImdb/train/pos/1_9.txt", "good");
  finish(&b);
  gzip_to(arch, &b);
  free(b.p);
  CHECKF(seq_imdb_corpus_load(&tar, &c, NULL) == SEQ_EFORMAT && strstr(seq_last_error(), "aclImdb/train/neg") &&
            strstr(seq_last_error(), arch),
        "missing members: %s", seq_last_error());
  memset(&b, 0, sizeof b);
  imdb_layout(&b, "aclImdb/train/neg/0_1.txt", "again");
  gzip_to(arch, &b);
  size_t gn;
  unsigned char *gz = slurp(arch, &gn);
  CHECKF(seq_imdb_corpus_load(&tar, &c, NULL) == SEQ_EFORMAT && strstr(seq_last_error(), "twice"),
        "duplicate: %s", seq_last_error());
  write_raw(arch, gz, gn - 40);
  CHECKF(seq_imdb_corpus_load(&tar, &c, NULL) == SEQ_EFORMAT && strstr(seq_last_error(), arch),
        "truncated: %s", seq_last_error());
  free(gz);
  free(b.p);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/seq_tar_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  reader_cases();
  extract_cases();
  imdb_cases();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  if (failures) fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
