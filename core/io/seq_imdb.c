/* seq_imdb.c - IMDB reviews -> Keras word ids (see seq_imdb.h).
 *
 * How the tokeniser was chosen (measured with Python on ../shared/data):
 *   - The word index keeps apostrophes ("don't" rank 89, "it's" 42, "'the"),
 *     has no word with - . , / or any other ASCII punctuation, keeps
 *     non-ASCII letters and even C1 controls ("it\x85", "\x97he"), and keeps
 *     upper-case non-ASCII letters ("Álex", "itÕs"): so lowercasing is
 *     ASCII-only and only ASCII punctuation except ' is removed.  That is
 *     Keras's Tokenizer / text_to_word_sequence with its default filters
 *     (each filter character becomes a space, then split(' ')).
 *   - Splitting only on ' ' (not on U+0085 / U+00A0) and replacing - by a
 *     space rather than deleting it are both confirmed by the counts below.
 *   - With this rule the train split yields exactly the 88,584 words of the
 *     index (coverage 100.000% of 5,942,841 train tokens), and the train
 *     counts never increase along the ranks: the index was built from the
 *     train split with this tokeniser.  Test coverage is 98.903% (test-only
 *     words are dropped, as in Keras's imdb.npz).  Alternatives measured:
 *     deleting hyphens leaves 1,006 index words unseen; also removing ' leaves
 *     13,992 unseen; Unicode lowercasing leaves 21 unseen; splitting on all
 *     Unicode whitespace leaves 515 unseen.
 * The reviews are then put in imdb.npz's order (see row_key below) and
 * shuffled with numpy's algorithm bit for bit, so load{} returns Keras's
 * x_train/x_test: the review lengths (train mean 238.71364, max 2494; test
 * mean 230.8042, max 2315) and the published first sequences match. */
#define _POSIX_C_SOURCE 200809L

#include "seq_imdb.h"

#include "seq_atomic.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "seq_utf8.h"

/* ================================================================ RNG ==== */
/* numpy/random/src/mt19937 (legacy RandomState): standard MT19937. */
#define MT_N 624
#define MT_M 397

void seq_imdb_rng_seed(seq_imdb_rng *r, uint32_t seed) {
  r->key[0] = seed;
  for (int i = 1; i < MT_N; i++)
    r->key[i] = 1812433253u * (r->key[i - 1] ^ (r->key[i - 1] >> 30)) + (uint32_t)i;
  r->pos = MT_N;
}

static void mt_generate(seq_imdb_rng *r) {
  const uint32_t upper = 0x80000000u, lower = 0x7fffffffu, matrix = 0x9908b0dfu;
  uint32_t *k = r->key, y;
  int i;
  for (i = 0; i < MT_N - MT_M; i++) {
    y = (k[i] & upper) | (k[i + 1] & lower);
    k[i] = k[i + MT_M] ^ (y >> 1) ^ ((0u - (y & 1u)) & matrix);
  }
  for (; i < MT_N - 1; i++) {
    y = (k[i] & upper) | (k[i + 1] & lower);
    k[i] = k[i + (MT_M - MT_N)] ^ (y >> 1) ^ ((0u - (y & 1u)) & matrix);
  }
  y = (k[MT_N - 1] & upper) | (k[0] & lower);
  k[MT_N - 1] = k[MT_M - 1] ^ (y >> 1) ^ ((0u - (y & 1u)) & matrix);
  r->pos = 0;
}

uint32_t seq_imdb_rng_next32(seq_imdb_rng *r) {
  if (r->pos >= MT_N) mt_generate(r);
  uint32_t y = r->key[r->pos++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

/* numpy's legacy next_uint64 for MT19937: two 32-bit draws, high first. */
static uint64_t rng_next64(seq_imdb_rng *r) {
  uint64_t hi = seq_imdb_rng_next32(r);
  return (hi << 32) | seq_imdb_rng_next32(r);
}

uint64_t seq_imdb_rng_interval(seq_imdb_rng *r, uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max, value;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  if (max <= 0xffffffffu) {
    while ((value = (seq_imdb_rng_next32(r) & mask)) > max) {
    }
  } else {
    while ((value = (rng_next64(r) & mask)) > max) {
    }
  }
  return value;
}

void seq_imdb_rng_shuffle_i64(seq_imdb_rng *r, int64_t *a, int64_t n) {
  /* RandomState.shuffle's _shuffle_raw: Fisher-Yates from the end. */
  for (int64_t i = n - 1; i >= 1; i--) {
    int64_t j = (int64_t)seq_imdb_rng_interval(r, (uint64_t)i);
    int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* ========================================================= file input ==== */
/* Reads a whole file; gzread passes plain files through unchanged, so the
 * same helper serves the .gz TSVs and the JSON. */
static seq_status read_all(const char *what, const char *path, char **out, size_t *len) {
  struct stat st;
  if (!path || !*path) return seq_fail(SEQ_EARG, "imdb: no path given for %s", what);
  if (stat(path, &st) != 0)
    return seq_fail(SEQ_EIO, "imdb: cannot open %s '%s': %s", what, path, strerror(errno));
  if (S_ISDIR(st.st_mode)) return seq_fail(SEQ_EIO, "imdb: %s '%s' is a directory", what, path);
  gzFile f = gzopen(path, "rb");
  if (!f) return seq_fail(SEQ_EIO, "imdb: cannot open %s '%s': %s", what, path, strerror(errno));
  gzbuffer(f, 1u << 18);
  /* Compressed text is ~2.6x smaller; start there and grow. */
  size_t cap = (size_t)st.st_size * 3 + 4096, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    gzclose(f);
    return seq_fail(SEQ_ENOMEM, "imdb: out of memory reading '%s'", path);
  }
  for (;;) {
    if (cap - n < (1u << 20)) {
      size_t ncap = cap * 2;
      char *nb = realloc(buf, ncap + 1);
      if (!nb) {
        free(buf);
        gzclose(f);
        return seq_fail(SEQ_ENOMEM, "imdb: out of memory reading '%s'", path);
      }
      buf = nb;
      cap = ncap;
    }
    size_t want = cap - n;
    if (want > (size_t)INT_MAX / 2) want = (size_t)INT_MAX / 2;
    int got = gzread(f, buf + n, (unsigned)want);
    if (got < 0) {
      int zerr = 0;
      const char *msg = gzerror(f, &zerr);
      seq_status s = seq_fail(SEQ_EFORMAT, "imdb: cannot read %s '%s': %s", what, path,
                              zerr == Z_ERRNO ? strerror(errno) : msg);
      free(buf);
      gzclose(f);
      return s;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  gzclose(f);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return SEQ_OK;
}

/* ========================================================= word index ==== */
struct seq_imdb_vocab {
  int64_t n;        /* words, ranks 1..n */
  char *pool;       /* all words, NUL-terminated, back to back */
  size_t *word_off; /* n: offset of rank r's word at [r-1] */
  uint32_t *word_len;
  int32_t *table; /* open addressing, rank or 0 */
  uint64_t mask;
};

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}

int32_t seq_imdb_vocab_lookup(const seq_imdb_vocab *v, const char *word, size_t len) {
  uint64_t i = hash_bytes(word, len) & v->mask;
  for (;;) {
    int32_t r = v->table[i];
    if (r == 0) return 0;
    if (v->word_len[r - 1] == len && memcmp(v->pool + v->word_off[r - 1], word, len) == 0) return r;
    i = (i + 1) & v->mask;
  }
}

int64_t seq_imdb_vocab_size(const seq_imdb_vocab *v) { return v ? v->n : 0; }

const char *seq_imdb_vocab_word(const seq_imdb_vocab *v, int64_t rank, size_t *len) {
  if (!v || rank < 1 || rank > v->n) return NULL;
  if (len) *len = v->word_len[rank - 1];
  return v->pool + v->word_off[rank - 1];
}

void seq_imdb_vocab_free(seq_imdb_vocab *v) {
  if (!v) return;
  free(v->pool);
  free(v->word_off);
  free(v->word_len);
  free(v->table);
  free(v);
}

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static seq_status not_word_index(const char *path, const char *buf, const char *at, const char *why) {
  return seq_fail(SEQ_EFORMAT, "imdb: word index '%s' is not a JSON object of word: rank (%s at byte %zu)",
                  path, why, (size_t)(at - buf));
}

/* Only white space may follow the object that ends before p. */
static seq_status nothing_after(const char *path, const char *buf, const char *p, const char *end) {
  p = skip_ws(p, end);
  return p == end ? SEQ_OK : not_word_index(path, buf, p, "bytes after the object");
}

/* {"word": rank, ...} -> v->pool, v->word_off, v->word_len and ranks, in file
 * order; *n entries.  The pool needs len + 1 bytes (decoded words are never
 * longer than their literals), the arrays len / 5 + 1 entries. */
static seq_status parse_word_index(const char *path, const char *buf, size_t len, seq_imdb_vocab *v,
                                   int64_t *ranks, int64_t *n) {
  const char *p = skip_ws(buf, buf + len), *end = buf + len;
  size_t pool_n = 0;
  *n = 0;
  if (p >= end || *p != '{') return not_word_index(path, buf, p, "no '{'");
  p = skip_ws(p + 1, end);
  if (p < end && *p == '}') return nothing_after(path, buf, p + 1, end);
  for (;;) {
    if (p >= end || *p != '"') return not_word_index(path, buf, p, "expected a word");
    size_t wl;
    const char *at = p + 1;
    seq_json_string_result sr = seq_json_string_decode(at, end, v->pool + pool_n, &wl, &p);
    if (sr != SEQ_JSON_STRING_OK) return not_word_index(path, buf, p, seq_json_string_problem(sr));
    p = skip_ws(p, end);
    if (p >= end || *p != ':') return not_word_index(path, buf, p, "expected ':'");
    p = skip_ws(p + 1, end);
    int64_t r = 0;
    if (p >= end || *p < '0' || *p > '9') return not_word_index(path, buf, p, "expected a rank");
    while (p < end && *p >= '0' && *p <= '9') {
      if (r > (int64_t)INT32_MAX) return not_word_index(path, buf, p, "rank too large");
      r = r * 10 + (*p++ - '0');
    }
    v->word_off[*n] = pool_n;
    v->word_len[*n] = (uint32_t)wl;
    ranks[*n] = r;
    (*n)++;
    pool_n += wl;
    v->pool[pool_n++] = '\0';
    p = skip_ws(p, end);
    if (p < end && *p == ',') {
      p = skip_ws(p + 1, end);
      continue;
    }
    if (p < end && *p == '}') return nothing_after(path, buf, p + 1, end);
    return not_word_index(path, buf, p, "expected ',' or '}'");
  }
}

/* Puts the words in rank order, checking that the ranks are exactly 1..n. */
static seq_status order_by_rank(const char *path, seq_imdb_vocab *v, const int64_t *ranks, int64_t n) {
  size_t *off = malloc((size_t)n * sizeof *off);
  uint32_t *wlen = malloc((size_t)n * sizeof *wlen);
  if (!off || !wlen) {
    free(off);
    free(wlen);
    return seq_fail(SEQ_ENOMEM, "imdb: out of memory parsing '%s'", path);
  }
  for (int64_t i = 0; i < n; i++) wlen[i] = UINT32_MAX;
  for (int64_t i = 0; i < n; i++) {
    int64_t r = ranks[i];
    if (r < 1 || r > n || wlen[r - 1] != UINT32_MAX) {
      free(off);
      free(wlen);
      return seq_fail(SEQ_EFORMAT,
                      "imdb: word index '%s': rank %lld of \"%s\" is %s (expected ranks 1..%lld, each once)",
                      path, (long long)r, v->pool + v->word_off[i],
                      (r < 1 || r > n) ? "out of range" : "repeated", (long long)n);
    }
    off[r - 1] = v->word_off[i];
    wlen[r - 1] = v->word_len[i];
  }
  free(v->word_off);
  free(v->word_len);
  v->word_off = off;
  v->word_len = wlen;
  v->n = n;
  return SEQ_OK;
}

/* The open-addressing table from word to rank; a word listed twice is an error. */
static seq_status build_lookup_table(const char *path, seq_imdb_vocab *v) {
  uint64_t cap = 1;
  while (cap < (uint64_t)v->n * 3) cap <<= 1; /* load factor <= 1/3: short probes */
  v->table = calloc(cap, sizeof *v->table);
  if (!v->table) return seq_fail(SEQ_ENOMEM, "imdb: out of memory parsing '%s'", path);
  v->mask = cap - 1;
  for (int64_t r = 1; r <= v->n; r++) {
    const char *w = v->pool + v->word_off[r - 1];
    uint32_t wl = v->word_len[r - 1];
    if (seq_imdb_vocab_lookup(v, w, wl) != 0)
      return seq_fail(SEQ_EFORMAT, "imdb: word index '%s' lists \"%s\" twice", path, w);
    uint64_t i = hash_bytes(w, wl) & v->mask;
    while (v->table[i] != 0) i = (i + 1) & v->mask;
    v->table[i] = (int32_t)r;
  }
  return SEQ_OK;
}

seq_status seq_imdb_vocab_read(const char *path, seq_imdb_vocab **out) {
  char *buf = NULL;
  size_t len;
  *out = NULL;
  SEQ_TRY(read_all("word index", path, &buf, &len));
  seq_status st = SEQ_OK;
  int64_t *ranks = NULL, n = 0;
  seq_imdb_vocab *v = calloc(1, sizeof *v);
  /* Upper bound of entries: each needs at least `"":1,` (5 bytes). */
  size_t max_entries = len / 5 + 1;
  if (v) {
    v->pool = malloc(len + 1);
    v->word_off = malloc(max_entries * sizeof *v->word_off);
    v->word_len = malloc(max_entries * sizeof *v->word_len);
    ranks = malloc(max_entries * sizeof *ranks);
  }
  if (!v || !v->pool || !v->word_off || !v->word_len || !ranks) {
    st = seq_fail(SEQ_ENOMEM, "imdb: out of memory parsing '%s'", path);
    goto done;
  }
  st = parse_word_index(path, buf, len, v, ranks, &n);
  if (st == SEQ_OK && n == 0) st = seq_fail(SEQ_EFORMAT, "imdb: word index '%s' is empty", path);
  if (st == SEQ_OK) st = order_by_rank(path, v, ranks, n);
  if (st == SEQ_OK) st = build_lookup_table(path, v);
done:
  free(buf);
  free(ranks);
  if (st != SEQ_OK) {
    seq_imdb_vocab_free(v);
    return st;
  }
  *out = v;
  return SEQ_OK;
}

/* ========================================================== tokeniser ==== */
/* Byte -> byte after lowercasing, or 0 for a separator.  Only ASCII bytes
 * are touched, so UTF-8 sequences pass through whole.  Separators: NUL, the
 * space and Keras Tokenizer's default filters
 *   !"#$%&()*+,-./:;<=>?@[\]^_`{|}~ TAB LF
 * (the apostrophe is not one).  A constant table, so tokenising is
 * thread-safe.  Generated by: 0 if c == 0 or chr(c) in filters + ' ' else
 * c + 32 if 'A' <= chr(c) <= 'Z' else c. */
static const unsigned char tok_map[256] = {
      0,   1,   2,   3,   4,   5,   6,   7,   8,   0,   0,  11,  12,  13,  14,  15,
     16,  17,  18,  19,  20,  21,  22,  23,  24,  25,  26,  27,  28,  29,  30,  31,
      0,   0,   0,   0,   0,   0,   0,  39,   0,   0,   0,   0,   0,   0,   0,   0,
     48,  49,  50,  51,  52,  53,  54,  55,  56,  57,   0,   0,   0,   0,   0,   0,
      0,  97,  98,  99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122,   0,   0,   0,   0,   0,
      0,  97,  98,  99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122,   0,   0,   0,   0, 127,
    128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143,
    144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159,
    160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175,
    176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
    192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
};

void seq_imdb_tokenize(const char *text, size_t len, char *scratch,
                       void (*fn)(void *ctx, const char *tok, size_t n), void *ctx) {
  size_t i = 0;
  while (i < len) {
    while (i < len && tok_map[(unsigned char)text[i]] == 0) i++;
    size_t n = 0;
    while (i < len) {
      unsigned char m = tok_map[(unsigned char)text[i]];
      if (m == 0) break;
      scratch[n++] = (char)m;
      i++;
    }
    if (n) fn(ctx, scratch, n);
  }
}

/* ============================================================ TSV ======== */
void seq_imdb_split_free(seq_imdb_split *s) {
  if (!s) return;
  free(s->values);
  free(s->offsets);
  free(s->labels);
  memset(s, 0, sizeof *s);
}

void seq_imdb_corpus_free(seq_imdb_corpus *c) {
  if (!c) return;
  seq_imdb_split_free(&c->train);
  seq_imdb_split_free(&c->test);
}

typedef struct tok_sink {
  const seq_imdb_vocab *v;
  int32_t *values;
  int64_t n, cap;
  int oom;
} tok_sink;

static void sink_token(void *ctx, const char *tok, size_t n) {
  tok_sink *s = ctx;
  int32_t r = seq_imdb_vocab_lookup(s->v, tok, n);
  if (r == 0) return; /* not in the index: skipped, as in imdb.npz */
  if (s->n == s->cap) {
    int64_t ncap = s->cap * 2;
    int32_t *nv = realloc(s->values, (size_t)ncap * sizeof *nv);
    if (!nv) {
      s->oom = 1;
      return;
    }
    s->values = nv;
    s->cap = ncap;
  }
  s->values[s->n++] = r;
}

/* One review's place in Keras's imdb.npz order: positive reviews first, then
 * negative, each in byte order of the aclImdb file name ("0_9.txt" <
 * "10000_8.txt" < "10001_10.txt" ...), i.e. sorted(os.listdir(...)) per
 * folder.  Recovered from Keras's published arrays: with that order the
 * seed-113 shuffle puts 576_10.txt first in x_train ("this film was just
 * brilliant casting location scenery ...", 218 ids), 10654_1.txt second
 * ("big hair big boobs bad music ...") and 3771_1.txt third, and makes
 * test/neg 7975_1.txt ("please give this one a miss") x_test[0]; the TSVs
 * themselves are ordered neg first, by numeric id. */
typedef seq_imdb_review row_key;

static int row_key_cmp(const void *pa, const void *pb) {
  const row_key *a = pa, *b = pb;
  if (a->label != b->label) return a->label > b->label ? -1 : 1; /* pos (1) first */
  size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
  int c = memcmp(a->name, b->name, n);
  if (c != 0) return c;
  if (a->name_len != b->name_len) return a->name_len < b->name_len ? -1 : 1;
  return a->row < b->row ? -1 : (a->row > b->row); /* duplicate names keep file order */
}

/* Splits buf into rows label<TAB>file name<TAB>text; *n receives the count. */
static seq_status parse_rows(const char *path, const char *buf, size_t len, row_key *keys, int64_t *n) {
  size_t p = 0;
  *n = 0;
  for (int64_t line = 1; p < len; line++) {
    const char *nl = memchr(buf + p, '\n', len - p);
    size_t e = nl ? (size_t)(nl - buf) : len;
    const char *t1 = memchr(buf + p, '\t', e - p);
    const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(buf + e - t1 - 1)) : NULL;
    if (!t2 || t1 - (buf + p) != 1 || (buf[p] != '0' && buf[p] != '1'))
      return seq_fail(SEQ_EFORMAT,
                      "imdb: '%s' line %lld is not 'label<TAB>file<TAB>text' with label 0 or 1",
                      path, (long long)line);
    keys[*n] = (row_key){(uint8_t)(buf[p] - '0'), t1 + 1, (size_t)(t2 - t1 - 1), t2 + 1,
                         (size_t)(buf + e - t2 - 1), *n};
    (*n)++;
    p = e + 1;
  }
  if (*n == 0) return seq_fail(SEQ_EFORMAT, "imdb: '%s' holds no reviews", path);
  return SEQ_OK;
}

/* Tokenises reviews in imdb.npz's order, so the ids land where they belong;
 * the values move from the sink into out. */
static seq_status tokenize_sorted(const char *source, row_key *keys, int64_t n, tok_sink *sink,
                                  char *scratch, seq_imdb_split *out) {
  qsort(keys, (size_t)n, sizeof *keys, row_key_cmp);
  out->offsets[0] = 0;
  for (int64_t k = 0; k < n; k++) {
    out->labels[k] = keys[k].label;
    seq_imdb_tokenize(keys[k].text, keys[k].text_len, scratch, sink_token, sink);
    if (sink->oom) return seq_fail(SEQ_ENOMEM, "imdb: out of memory tokenising '%s'", source);
    out->offsets[k + 1] = sink->n;
  }
  out->n = n;
  out->ntokens = sink->n;
  out->values = sink->values;
  sink->values = NULL;
  return SEQ_OK;
}

seq_status seq_imdb_read_tsv(const char *path, const seq_imdb_vocab *v, seq_imdb_split *out) {
  char *buf;
  size_t len;
  memset(out, 0, sizeof *out);
  SEQ_TRY(read_all("reviews file", path, &buf, &len));
  int64_t lines = 0;
  for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
  if (len && buf[len - 1] != '\n') lines++;
  seq_status st = SEQ_OK;
  tok_sink sink = {v, NULL, 0, (int64_t)(len / 5) + 16, 0};
  sink.values = malloc((size_t)sink.cap * sizeof *sink.values);
  out->offsets = malloc((size_t)(lines + 1) * sizeof *out->offsets);
  out->labels = malloc((size_t)(lines ? lines : 1));
  row_key *keys = malloc((size_t)(lines ? lines : 1) * sizeof *keys);
  char *scratch = malloc(len + 1);
  if (!sink.values || !out->offsets || !out->labels || !keys || !scratch) {
    st = seq_fail(SEQ_ENOMEM, "imdb: out of memory tokenising '%s'", path);
    goto done;
  }
  int64_t n;
  st = parse_rows(path, buf, len, keys, &n);
  if (st != SEQ_OK) goto done;
  st = tokenize_sorted(path, keys, n, &sink, scratch, out);
done:
  free(buf);
  free(keys);
  free(scratch);
  free(sink.values);
  if (st != SEQ_OK) seq_imdb_split_free(out);
  return st;
}

seq_status seq_imdb_tokenize_reviews(const char *source, seq_imdb_review *reviews, int64_t n,
                                     const seq_imdb_vocab *v, seq_imdb_split *out) {
  memset(out, 0, sizeof *out);
  size_t longest = 0, total = 0;
  for (int64_t k = 0; k < n; k++) {
    reviews[k].row = k;
    longest = reviews[k].text_len > longest ? reviews[k].text_len : longest;
    total += reviews[k].text_len;
  }
  seq_status st = SEQ_OK;
  tok_sink sink = {v, NULL, 0, (int64_t)(total / 5) + 16, 0};
  sink.values = malloc((size_t)sink.cap * sizeof *sink.values);
  out->offsets = malloc((size_t)(n + 1) * sizeof *out->offsets);
  out->labels = malloc((size_t)(n ? n : 1));
  char *scratch = malloc(longest + 1);
  if (!sink.values || !out->offsets || !out->labels || !scratch)
    st = seq_fail(SEQ_ENOMEM, "imdb: out of memory tokenising '%s'", source);
  else
    st = tokenize_sorted(source, reviews, n, &sink, scratch, out);
  free(scratch);
  free(sink.values);
  if (st != SEQ_OK) seq_imdb_split_free(out);
  return st;
}

/* ========================================================== cache ======== */
/* Layout (host byte order, checked by a marker): magic, version, marker,
 * source key (size, mtime s, mtime ns of train, test, word index), then per
 * split n, ntokens, labels[n], offsets[n+1], values[ntokens], then a zlib
 * crc32 of everything before it.  Bump the version whenever the tokeniser or
 * the layout changes. */
#define CACHE_MAGIC "SEQIMDB\0"
#define CACHE_VERSION 2u /* 2: reviews in imdb.npz order */
#define CACHE_MARKER 0x01020304u

typedef struct cache_key {
  int64_t v[9];
} cache_key;

static seq_status stat_key(const char *path, const char *what, int64_t v[3]) {
  struct stat st;
  if (!path || !*path) return seq_fail(SEQ_EARG, "imdb: no path given for %s", what);
  if (stat(path, &st) != 0)
    return seq_fail(SEQ_EIO, "imdb: cannot open %s '%s': %s", what, path, strerror(errno));
  v[0] = (int64_t)st.st_size;
  v[1] = (int64_t)st.st_mtim.tv_sec;
  v[2] = (int64_t)st.st_mtim.tv_nsec;
  return SEQ_OK;
}

static seq_status source_key(const seq_imdb_paths *p, cache_key *k) {
  if (p->archive) {
    /* archive, then a marker no TSV key has (a negative size), word index */
    SEQ_TRY(seq_imdb_archive_key(p->archive, k->v));
    k->v[3] = -1;
    k->v[4] = k->v[5] = 0;
    return stat_key(p->word_index, "word index", k->v + 6);
  }
  SEQ_TRY(stat_key(p->train, "train reviews", k->v));
  SEQ_TRY(stat_key(p->test, "test reviews", k->v + 3));
  return stat_key(p->word_index, "word index", k->v + 6);
}

typedef struct cfile {
  FILE *f;
  uLong crc;
  int ok;
} cfile;

/* crc32 takes uInt lengths: feed big arrays in pieces. */
static void crc_add(uLong *crc, const void *p, size_t n) {
  for (size_t o = 0; o < n;) {
    size_t k = n - o > (1u << 30) ? (1u << 30) : n - o;
    *crc = crc32(*crc, (const Bytef *)p + o, (uInt)k);
    o += k;
  }
}

static void cread(cfile *c, void *p, size_t n) {
  if (!c->ok) return;
  if (n && fread(p, 1, n, c->f) != n) {
    c->ok = 0;
    return;
  }
  crc_add(&c->crc, p, n);
}

static void cwrite(cfile *c, const void *p, size_t n) {
  if (!c->ok) return;
  if (n && fwrite(p, 1, n, c->f) != n) {
    c->ok = 0;
    return;
  }
  crc_add(&c->crc, p, n);
}

/* Returns 1 and fills c when the cache file matches `key` and is intact. */
static int cache_read(const char *path, const cache_key *key, seq_imdb_corpus *c) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  struct stat st;
  int64_t fsize = fstat(fileno(f), &st) == 0 ? (int64_t)st.st_size : 0;
  setvbuf(f, NULL, _IOFBF, 1u << 20);
  cfile cf = {f, crc32(0L, Z_NULL, 0), 1};
  char magic[8];
  uint32_t version = 0, marker = 0;
  cache_key k;
  cread(&cf, magic, 8);
  cread(&cf, &version, 4);
  cread(&cf, &marker, 4);
  cread(&cf, k.v, sizeof k.v);
  int good = cf.ok && memcmp(magic, CACHE_MAGIC, 8) == 0 && version == CACHE_VERSION &&
             marker == CACHE_MARKER && memcmp(k.v, key->v, sizeof k.v) == 0;
  memset(c, 0, sizeof *c);
  int64_t used = 8 + 4 + 4 + (int64_t)sizeof k.v + 4;
  seq_imdb_split *sp[2] = {&c->train, &c->test};
  for (int i = 0; good && i < 2; i++) {
    seq_imdb_split *s = sp[i];
    int64_t hdr[2] = {-1, -1};
    cread(&cf, hdr, sizeof hdr);
    used += (int64_t)sizeof hdr;
    /* Sizes must fit the file before anything is allocated from them. */
    if (!cf.ok || hdr[0] < 1 || hdr[1] < 0 || hdr[0] > fsize || hdr[1] > fsize / 4 ||
        used + hdr[0] * 9 + 8 + hdr[1] * 4 > fsize) {
      good = 0;
      break;
    }
    s->n = hdr[0];
    s->ntokens = hdr[1];
    used += hdr[0] * 9 + 8 + hdr[1] * 4;
    s->labels = malloc((size_t)s->n);
    s->offsets = malloc((size_t)(s->n + 1) * sizeof *s->offsets);
    s->values = malloc((size_t)(s->ntokens ? s->ntokens : 1) * sizeof *s->values);
    if (!s->labels || !s->offsets || !s->values) {
      good = 0;
      break;
    }
    cread(&cf, s->labels, (size_t)s->n);
    cread(&cf, s->offsets, (size_t)(s->n + 1) * sizeof *s->offsets);
    cread(&cf, s->values, (size_t)s->ntokens * sizeof *s->values);
    good = cf.ok;
  }
  uint32_t stored = 0;
  if (good) {
    uLong crc = cf.crc;
    good = fread(&stored, 1, 4, f) == 4 && stored == (uint32_t)crc && used == fsize;
  }
  /* Cheap structural checks so a forged file cannot index out of bounds. */
  for (int i = 0; good && i < 2; i++) {
    seq_imdb_split *s = sp[i];
    if (s->offsets[0] != 0 || s->offsets[s->n] != s->ntokens) good = 0;
    for (int64_t j = 0; good && j < s->n; j++)
      if (s->offsets[j + 1] < s->offsets[j] || s->labels[j] > 1) good = 0;
  }
  fclose(f);
  if (!good) seq_imdb_corpus_free(c);
  return good;
}

static void mkdirs_for(const char *path) {
  /* mkdir -p of the parent folder; failures surface when fopen fails. */
  size_t n = strlen(path);
  char *d = malloc(n + 1);
  if (!d) return;
  memcpy(d, path, n + 1);
  for (char *p = d + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(d, 0755);
    *p = '/';
  }
  free(d);
}

/* Best effort: an unwritable cache only costs time on the next load. */
static void cache_write(const char *path, const cache_key *key, const seq_imdb_corpus *c) {
  mkdirs_for(path);
  size_t n = strlen(path);
  char *tmp = malloc(n + 32);
  if (!tmp) return;
  /* Write aside and rename so concurrent loaders never see half a file. */
  snprintf(tmp, n + 32, "%s.tmp%ld", path, (long)getpid());
  seq_atomic_sweep(path, ".tmp"); /* what killed loaders left */
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    free(tmp);
    return;
  }
  setvbuf(f, NULL, _IOFBF, 1u << 20);
  cfile cf = {f, crc32(0L, Z_NULL, 0), 1};
  uint32_t version = CACHE_VERSION, marker = CACHE_MARKER;
  cwrite(&cf, CACHE_MAGIC, 8);
  cwrite(&cf, &version, 4);
  cwrite(&cf, &marker, 4);
  cwrite(&cf, key->v, sizeof key->v);
  const seq_imdb_split *sp[2] = {&c->train, &c->test};
  for (int i = 0; i < 2; i++) {
    int64_t hdr[2] = {sp[i]->n, sp[i]->ntokens};
    cwrite(&cf, hdr, sizeof hdr);
    cwrite(&cf, sp[i]->labels, (size_t)sp[i]->n);
    cwrite(&cf, sp[i]->offsets, (size_t)(sp[i]->n + 1) * sizeof *sp[i]->offsets);
    cwrite(&cf, sp[i]->values, (size_t)sp[i]->ntokens * sizeof *sp[i]->values);
  }
  uint32_t crc = (uint32_t)cf.crc;
  int ok = cf.ok && fwrite(&crc, 1, 4, f) == 4;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) remove(tmp);
  free(tmp);
}

seq_status seq_imdb_corpus_load(const seq_imdb_paths *paths, seq_imdb_corpus *out,
                                bool *from_cache) {
  cache_key key;
  memset(out, 0, sizeof *out);
  if (from_cache) *from_cache = false;
  SEQ_TRY(source_key(paths, &key));
  if (paths->cache && *paths->cache && cache_read(paths->cache, &key, out)) {
    if (from_cache) *from_cache = true;
    return SEQ_OK;
  }
  seq_imdb_vocab *v;
  SEQ_TRY(seq_imdb_vocab_read(paths->word_index, &v));
  seq_status st;
  if (paths->archive) {
    st = seq_imdb_read_archive(paths->archive, v, &out->train, &out->test);
  } else {
    st = seq_imdb_read_tsv(paths->train, v, &out->train);
    if (st == SEQ_OK) st = seq_imdb_read_tsv(paths->test, v, &out->test);
  }
  seq_imdb_vocab_free(v);
  if (st != SEQ_OK) {
    seq_imdb_corpus_free(out);
    return st;
  }
  if (paths->cache && *paths->cache) cache_write(paths->cache, &key, out);
  return SEQ_OK;
}

/* ======================================================== load_data ====== */
seq_imdb_opts seq_imdb_default_opts(void) {
  seq_imdb_opts o = {SEQ_IMDB_NONE, 0, SEQ_IMDB_NONE, 113u, 1, 2, 3, SEQ_IMDB_NONE};
  return o;
}

seq_status seq_imdb_check_opts(const seq_imdb_opts *o) {
  if (o->index_from < 0 || o->index_from > INT32_MAX / 2)
    return seq_fail(SEQ_EARG, "imdb.load: index_from must be >= 0 (got %lld)", (long long)o->index_from);
  if (o->num_words != SEQ_IMDB_NONE && (o->num_words <= 3 || o->num_words <= o->index_from))
    return seq_fail(SEQ_EARG,
                    "imdb.load: num_words must be greater than 3 and than index_from (%lld): ids "
                    "0-2 are padding/start/oov and words start at index_from (got %lld)",
                    (long long)o->index_from, (long long)o->num_words);
  if (o->num_words > INT32_MAX)
    return seq_fail(SEQ_EARG, "imdb.load: num_words %lld is too large", (long long)o->num_words);
  if (o->skip_top < 0)
    return seq_fail(SEQ_EARG, "imdb.load: skip_top must be >= 0 (got %lld)", (long long)o->skip_top);
  if (o->maxlen != SEQ_IMDB_NONE && o->maxlen < 1)
    return seq_fail(SEQ_EARG, "imdb.load: maxlen must be a positive integer or nil (got %lld)",
                    (long long)o->maxlen);
  if (o->start_char != SEQ_IMDB_NONE && (o->start_char < 0 || o->start_char > INT32_MAX))
    return seq_fail(SEQ_EARG, "imdb.load: start_char must be >= 0 or nil (got %lld)",
                    (long long)o->start_char);
  if (o->oov_char != SEQ_IMDB_NONE && (o->oov_char < 0 || o->oov_char > INT32_MAX))
    return seq_fail(SEQ_EARG, "imdb.load: oov_char must be >= 0 or nil (got %lld)",
                    (long long)o->oov_char);
  if (o->limit != SEQ_IMDB_NONE && o->limit < 1)
    return seq_fail(SEQ_EARG, "imdb.load: limit must be a positive integer or nil (got %lld)",
                    (long long)o->limit);
  return SEQ_OK;
}

/* Length of raw sequence i after start_char (before filtering). */
static int64_t raw_len(const seq_imdb_split *s, int64_t i, const seq_imdb_opts *o) {
  return s->offsets[i + 1] - s->offsets[i] + (o->start_char != SEQ_IMDB_NONE);
}

seq_status seq_imdb_prepare(const seq_imdb_corpus *c, const seq_imdb_opts *o,
                            seq_imdb_split *train, seq_imdb_split *test) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  SEQ_TRY(seq_imdb_check_opts(o));
  const seq_imdb_split *src[2] = {&c->train, &c->test};
  seq_imdb_split *dst[2] = {train, test};
  int64_t *order[2] = {NULL, NULL}; /* kept source rows, in output order */
  int64_t kept[2] = {0, 0};
  seq_status st = SEQ_OK;

  /* 1. The shuffle: one RandomState, train first, then test (as Keras). */
  seq_imdb_rng rng;
  seq_imdb_rng_seed(&rng, o->seed);
  for (int s = 0; s < 2; s++) {
    order[s] = malloc((size_t)(src[s]->n ? src[s]->n : 1) * sizeof *order[s]);
    if (!order[s]) {
      st = seq_fail(SEQ_ENOMEM, "imdb.load: out of memory");
      goto done;
    }
    for (int64_t i = 0; i < src[s]->n; i++) order[s][i] = i;
    seq_imdb_rng_shuffle_i64(&rng, order[s], src[s]->n);
  }

  /* 2. maxlen drops sequences with len >= maxlen (remove_long_seq keeps
   *    len < maxlen, counting start_char).  3. num_words defaults to the
   *    largest id among the kept sequences (before `limit`). */
  int64_t max_id = -1;
  for (int s = 0; s < 2; s++) {
    const seq_imdb_split *S = src[s];
    for (int64_t k = 0; k < S->n; k++) {
      int64_t i = order[s][k];
      if (o->maxlen != SEQ_IMDB_NONE && raw_len(S, i, o) >= o->maxlen) continue;
      order[s][kept[s]++] = i;
      if (o->num_words == SEQ_IMDB_NONE) {
        if (o->start_char != SEQ_IMDB_NONE && o->start_char > max_id) max_id = o->start_char;
        int32_t m = 0;
        for (int64_t t = S->offsets[i]; t < S->offsets[i + 1]; t++)
          m = S->values[t] > m ? S->values[t] : m;
        if (S->offsets[i + 1] > S->offsets[i] && m + o->index_from > max_id) max_id = m + o->index_from;
      }
    }
  }
  if (o->maxlen != SEQ_IMDB_NONE && (kept[0] == 0 || kept[1] == 0)) {
    st = seq_fail(SEQ_EARG,
                  "imdb.load: after dropping sequences of %lld ids or more (maxlen), no %s "
                  "sequence is left; increase maxlen",
                  (long long)o->maxlen, kept[0] == 0 ? "train" : "test");
    goto done;
  }
  /* Keras: `if not num_words: num_words = max(...)`, then keeps w < num_words,
   * so the single largest id also becomes oov.  Reproduced on purpose. */
  int64_t num_words = o->num_words != SEQ_IMDB_NONE ? o->num_words : max_id;

  /* 4. ids: [start_char] + [rank + index_from]; filtered to
   *    skip_top <= w < num_words, else oov_char (or dropped without one). */
  for (int s = 0; s < 2; s++) {
    const seq_imdb_split *S = src[s];
    seq_imdb_split *D = dst[s];
    int64_t n = kept[s];
    if (o->limit != SEQ_IMDB_NONE && o->limit < n) n = o->limit;
    int64_t total = 0;
    for (int64_t k = 0; k < n; k++) total += raw_len(S, order[s][k], o);
    D->values = malloc((total > 0 ? (size_t)total : 1) * sizeof *D->values);
    D->offsets = malloc((size_t)(n + 1) * sizeof *D->offsets);
    D->labels = malloc(n > 0 ? (size_t)n : 1);
    if (!D->values || !D->offsets || !D->labels) {
      st = seq_fail(SEQ_ENOMEM, "imdb.load: out of memory");
      goto done;
    }
    int64_t w = 0;
    D->offsets[0] = 0;
    const int64_t lo = o->skip_top, hi = num_words, from = o->index_from;
    const int32_t oov = (int32_t)o->oov_char;
    const bool has_oov = o->oov_char != SEQ_IMDB_NONE;
    for (int64_t k = 0; k < n; k++) {
      int64_t i = order[s][k];
      D->labels[k] = S->labels[i];
      if (o->start_char != SEQ_IMDB_NONE) {
        int64_t id = o->start_char;
        if (id >= lo && id < hi) D->values[w++] = (int32_t)id;
        else if (has_oov) D->values[w++] = oov;
      }
      const int32_t *src_v = S->values + S->offsets[i];
      int64_t len = S->offsets[i + 1] - S->offsets[i];
      int32_t *out_v = D->values + w;
      if (has_oov) {
        /* branch-free so the compiler can vectorise the common case */
        for (int64_t t = 0; t < len; t++) {
          int64_t id = src_v[t] + from;
          out_v[t] = (id >= lo && id < hi) ? (int32_t)id : oov;
        }
        w += len;
      } else {
        for (int64_t t = 0; t < len; t++) {
          int64_t id = src_v[t] + from;
          if (id >= lo && id < hi) D->values[w++] = (int32_t)id;
        }
      }
      D->offsets[k + 1] = w;
    }
    D->n = n;
    D->ntokens = w;
  }
done:
  free(order[0]);
  free(order[1]);
  if (st != SEQ_OK) {
    seq_imdb_split_free(train);
    seq_imdb_split_free(test);
  }
  return st;
}
