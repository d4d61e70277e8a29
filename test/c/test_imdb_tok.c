/* test_imdb_tok.c - IMDB reader on a tiny fixture written to a temp folder:
 * JSON word index (escapes), the Keras tokeniser, gzip TSV parsing, the
 * token cache (hit, corrupt, stale) and load_data's option semantics. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "seq_imdb.h"
#include "check.h"

static char dir[64], p_train[128], p_test[128], p_index[128], p_cache[160];

static void write_file(const char *path, const char *text, int gz) {
  if (gz) {
    gzFile f = gzopen(path, "wb");
    gzwrite(f, text, (unsigned)strlen(text));
    gzclose(f);
  } else {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
  }
}

/* tokens joined with '|' */
static char joined[512];
static void join_tok(void *ctx, const char *t, size_t n) {
  (void)ctx;
  size_t l = strlen(joined);
  if (l) joined[l++] = '|';
  memcpy(joined + l, t, n);
  joined[l + n] = '\0';
}

static void tokenizer_cases(void) {
  const char *text = "The MOVIE<br /><br />don't-stop...CAF\xc3\x89 caf\xc3\xa9 it\xc2\x85 10/10 \"a\"";
  char scratch[256];
  joined[0] = '\0';
  seq_imdb_tokenize(text, strlen(text), scratch, join_tok, NULL);
  /* ASCII-only lowercasing keeps É; U+0085 is not a separator. */
  const char *want = "the|movie|br|br|don't|stop|caf\xc3\x89|caf\xc3\xa9|it\xc2\x85|10|10|a";
  CHECKF(strcmp(joined, want) == 0, "tokens: got '%s'", joined);
}

static const char *INDEX =
    "{\"the\": 1, \"br\": 2, \"don't\": 3, \"caf\\u00e9\": 4, \"it\\u0085\": 5, \"movie\": 6, "
    "\"a\": 7, \"\\ud83d\\ude00\": 8, \"q\\\"x\": 9, \"good\": 10, \"bad\": 11}";

static void vocab_cases(void) {
  seq_imdb_vocab *v;
  CHECKF(seq_imdb_vocab_read(p_index, &v) == SEQ_OK, "%s", seq_last_error());
  if (!v) return;
  CHECKF(seq_imdb_vocab_size(v) == 11, "size");
  CHECKF(seq_imdb_vocab_lookup(v, "caf\xc3\xa9", 5) == 4, "\\u00e9 decoded to UTF-8");
  CHECKF(seq_imdb_vocab_lookup(v, "it\xc2\x85", 4) == 5, "\\u0085");
  CHECKF(seq_imdb_vocab_lookup(v, "\xf0\x9f\x98\x80", 4) == 8, "surrogate pair");
  CHECKF(seq_imdb_vocab_lookup(v, "q\"x", 3) == 9, "escaped quote");
  CHECKF(seq_imdb_vocab_lookup(v, "them", 4) == 0, "absent word");
  size_t n;
  const char *w = seq_imdb_vocab_word(v, 3, &n);
  CHECKF(w && n == 5 && strcmp(w, "don't") == 0, "rank 3 is don't");
  CHECKF(seq_imdb_vocab_word(v, 12, NULL) == NULL, "rank past the end");
  seq_imdb_vocab_free(v);

  char bad[160];
  snprintf(bad, sizeof bad, "%s/bad.json", dir);
  write_file(bad, "{\"a\": 1, \"b\": 3}", 0);
  CHECKF(seq_imdb_vocab_read(bad, &v) == SEQ_EFORMAT && strstr(seq_last_error(), "rank"),
        "gap in ranks: %s", seq_last_error());
  write_file(bad, "{\"a\": 1, \"b\" 2}", 0);
  CHECKF(seq_imdb_vocab_read(bad, &v) == SEQ_EFORMAT && strstr(seq_last_error(), "JSON"),
        "syntax: %s", seq_last_error());
  /* A lone surrogate has no UTF-8 form: an error, as in checkpoint headers. */
  write_file(bad, "{\"a\": 1, \"x\\ud83d\": 2}", 0);
  CHECKF(seq_imdb_vocab_read(bad, &v) == SEQ_EFORMAT && strstr(seq_last_error(), "unpaired surrogate"),
        "lone high surrogate: %s", seq_last_error());
  write_file(bad, "{\"a\": 1, \"\\ude00\": 2}", 0);
  CHECKF(seq_imdb_vocab_read(bad, &v) == SEQ_EFORMAT && strstr(seq_last_error(), "unpaired surrogate"),
        "lone low surrogate: %s", seq_last_error());
  CHECKF(seq_imdb_vocab_read("/nonexistent/imdb_word_index.json", &v) == SEQ_EIO &&
            strstr(seq_last_error(), "/nonexistent/imdb_word_index.json"),
        "missing file names the path: %s", seq_last_error());
}

/* train: 4 reviews (2 neg, 2 pos); test: 3 reviews, one with a test-only word.
 * Loading puts them in imdb.npz's order: positive first, each label by file
 * name in byte order ("10_8.txt" before "9_9.txt", unlike numeric order). */
static const char *TRAIN = "0\t0_1.txt\tThe movie, bad. Bad!\n"
                           "0\t1_2.txt\ta bad<br />movie\n"
                           "1\t9_9.txt\tGood good good movie\n"
                           "1\t10_8.txt\tthe good\n";
static const char *TEST = "0\t0_2.txt\tbad\n"
                          "1\t0_10.txt\tgood unseenword movie the\n"
                          "1\t1_7.txt\tdon't\n";

static void corpus_cases(void) {
  seq_imdb_paths p = {p_train, p_test, p_index, p_cache, NULL};
  seq_imdb_corpus c;
  bool hit = true;
  CHECKF(seq_imdb_corpus_load(&p, &c, &hit) == SEQ_OK, "%s", seq_last_error());
  CHECKF(!hit, "first load tokenises");
  CHECKF(c.train.n == 4 && c.test.n == 3, "counts %lld %lld", (long long)c.train.n, (long long)c.test.n);
  /* rows 10_8 (pos), 9_9 (pos), 0_1 (neg), 1_2 (neg);
   * "The movie, bad. Bad!" -> the movie bad bad = 1 6 11 11 */
  const int32_t want0[] = {1, 10, 10, 10, 10, 6, 1, 6, 11, 11, 7, 11, 2, 6};
  const int64_t off0[] = {0, 2, 6, 10, 14};
  CHECKF(c.train.ntokens == 14, "train tokens %lld", (long long)c.train.ntokens);
  for (int i = 0; i < 14 && i < c.train.ntokens; i++)
    CHECKF(c.train.values[i] == want0[i], "train token %d = %d, expected %d", i, c.train.values[i], want0[i]);
  for (int i = 0; i < 5; i++) CHECKF(c.train.offsets[i] == off0[i], "train offset %d", i);
  CHECKF(c.train.labels[0] == 1 && c.train.labels[1] == 1 && c.train.labels[2] == 0 &&
            c.train.labels[3] == 0,
        "labels in imdb.npz order");
  /* test rows 0_10 (pos), 1_7 (pos), 0_2 (neg);
   * "good unseenword movie the" drops the unknown word */
  CHECKF(c.test.offsets[1] - c.test.offsets[0] == 3, "unknown word dropped");
  CHECKF(c.test.labels[0] == 1 && c.test.labels[2] == 0, "test labels in imdb.npz order");

  seq_imdb_corpus c2;
  CHECKF(seq_imdb_corpus_load(&p, &c2, &hit) == SEQ_OK && hit, "second load from cache");
  CHECKF(c2.train.ntokens == c.train.ntokens && memcmp(c2.train.values, c.train.values, 14 * 4) == 0 &&
            memcmp(c2.test.offsets, c.test.offsets, 4 * 8) == 0,
        "cache round trip");
  seq_imdb_corpus_free(&c2);

  /* a truncated cache is ignored and rewritten */
  CHECKF(truncate(p_cache, 40) == 0, "truncate");
  CHECKF(seq_imdb_corpus_load(&p, &c2, &hit) == SEQ_OK && !hit, "corrupt cache rebuilt");
  seq_imdb_corpus_free(&c2);
  CHECKF(seq_imdb_corpus_load(&p, &c2, &hit) == SEQ_OK && hit, "rewritten cache used");
  seq_imdb_corpus_free(&c2);
  /* a changed source invalidates it */
  write_file(p_test, "0\t0_2.txt\tbad bad\n1\t0_10.txt\tgood unseenword movie the\n1\t1_7.txt\tdon't\n", 1);
  CHECKF(seq_imdb_corpus_load(&p, &c2, &hit) == SEQ_OK && !hit &&
            c2.test.offsets[3] - c2.test.offsets[2] == 2,
        "stale cache ignored");
  seq_imdb_corpus_free(&c2);
  write_file(p_test, TEST, 1);

  /* ---- load_data semantics ---- */
  seq_imdb_opts o = seq_imdb_default_opts();
  seq_imdb_split tr, te;
  CHECKF(seq_imdb_prepare(&c, &o, &tr, &te) == SEQ_OK, "%s", seq_last_error());
  CHECKF(tr.n == 4 && te.n == 3, "all kept");
  int64_t npos = 0;
  for (int64_t i = 0; i < tr.n; i++) {
    CHECKF(tr.values[tr.offsets[i]] == 1, "start_char first");
    /* each output row is source row perm[i]; label must follow it */
    npos += tr.labels[i];
  }
  CHECKF(npos == 2, "labels follow their sequences");
  /* num_words None -> max id (11 + 3 = 14) and that id itself becomes oov */
  for (int64_t t = 0; t < tr.ntokens; t++) CHECKF(tr.values[t] != 14, "max id maps to oov (Keras quirk)");
  seq_imdb_split_free(&tr);
  seq_imdb_split_free(&te);

  o.num_words = 10; /* ids >= 10 (ranks >= 7: a, good, bad, ...) -> 2 */
  o.seed = 0;
  CHECKF(seq_imdb_prepare(&c, &o, &tr, &te) == SEQ_OK, "%s", seq_last_error());
  for (int64_t t = 0; t < tr.ntokens; t++) CHECKF(tr.values[t] < 10, "num_words bound");
  int64_t oov = 0;
  for (int64_t t = 0; t < tr.ntokens; t++) oov += tr.values[t] == 2;
  CHECKF(oov == 8, "oov count %lld (a, bad x3, good x4)", (long long)oov);
  seq_imdb_split_free(&tr);
  seq_imdb_split_free(&te);

  o = seq_imdb_default_opts();
  o.maxlen = 5; /* keeps len < 5 counting start_char: train rows 4 (3 ids) only */
  o.oov_char = SEQ_IMDB_NONE;
  o.skip_top = 5; /* drops ids < 5: start_char and 'the' (4) */
  CHECKF(seq_imdb_prepare(&c, &o, &tr, &te) == SEQ_OK, "%s", seq_last_error());
  CHECKF(tr.n == 1 && tr.ntokens == 1 && tr.values[0] == 13 && tr.labels[0] == 1,
        "maxlen/skip_top/no oov: n=%lld ntok=%lld", (long long)tr.n, (long long)tr.ntokens);
  CHECKF(te.n == 3, "test rows with < 5 ids: %lld", (long long)te.n);
  seq_imdb_split_free(&tr);
  seq_imdb_split_free(&te);

  o = seq_imdb_default_opts();
  o.limit = 2;
  CHECKF(seq_imdb_prepare(&c, &o, &tr, &te) == SEQ_OK && tr.n == 2 && te.n == 2, "limit");
  seq_imdb_split_free(&tr);
  seq_imdb_split_free(&te);

  o = seq_imdb_default_opts();
  o.num_words = 3;
  CHECKF(seq_imdb_prepare(&c, &o, &tr, &te) == SEQ_EARG && strstr(seq_last_error(), "num_words"),
        "num_words 3: %s", seq_last_error());
  o = seq_imdb_default_opts();
  o.maxlen = 0;
  CHECKF(seq_imdb_prepare(&c, &o, &tr, &te) == SEQ_EARG && strstr(seq_last_error(), "maxlen"),
        "maxlen 0: %s", seq_last_error());
  o.maxlen = 2;
  CHECKF(seq_imdb_prepare(&c, &o, &tr, &te) == SEQ_EARG && strstr(seq_last_error(), "increase maxlen"),
        "maxlen too small: %s", seq_last_error());
  seq_imdb_corpus_free(&c);

  /* missing and malformed files */
  seq_imdb_paths missing = {"/nonexistent/train.tsv.gz", p_test, p_index, NULL, NULL};
  CHECKF(seq_imdb_corpus_load(&missing, &c, NULL) == SEQ_EIO &&
            strstr(seq_last_error(), "/nonexistent/train.tsv.gz"),
        "missing train: %s", seq_last_error());
  char bad[160];
  snprintf(bad, sizeof bad, "%s/bad.tsv", dir);
  write_file(bad, "0\tx.txt\tok\nfoo\n", 0);
  seq_imdb_paths badp = {bad, p_test, p_index, NULL, NULL};
  CHECKF(seq_imdb_corpus_load(&badp, &c, NULL) == SEQ_EFORMAT && strstr(seq_last_error(), "line 2"),
        "bad line: %s", seq_last_error());
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/seq_imdb_testXXXXXX");
  if (!mkdtemp(dir)) return 2;
  snprintf(p_train, sizeof p_train, "%s/train.tsv.gz", dir);
  snprintf(p_test, sizeof p_test, "%s/test.tsv.gz", dir);
  snprintf(p_index, sizeof p_index, "%s/imdb_word_index.json", dir);
  snprintf(p_cache, sizeof p_cache, "%s/cache/sub/tokens.bin", dir);
  write_file(p_train, TRAIN, 1);
  write_file(p_test, TEST, 1);
  write_file(p_index, INDEX, 0);
  tokenizer_cases();
  vocab_cases();
  corpus_cases();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  if (failures) {
    fprintf(stderr, "test_imdb_tok: %d failure(s)\n", failures);
    return 1;
  }
  printf("test_imdb_tok: ok\n");
  return 0;
}
