/* seq_imdb.h - the IMDB sentiment data set with keras.datasets.imdb semantics.
 *
 * Sources: the Large Movie Review Dataset's own archive `aclImdb_v1.tar.gz`
 * (read member by member, see seq_imdb_archive.c) or an extracted aclImdb/
 * folder, and Keras's `imdb_word_index.json` (word -> frequency rank, 1 = most
 * frequent).  The project's earlier TSV pair (`train.tsv.gz`, `test.tsv.gz`:
 * label<TAB>file name<TAB>raw text per line) is still read when asked for.
 *
 * Tokenisation (measured against the word index, see seq_imdb.c): ASCII-only
 * lowercasing, each of Keras's Tokenizer filter characters
 * !"#$%&()*+,-./:;<=>?@[\]^_`{|}~ TAB LF replaced by a space, split on the
 * space character only.  On the train split this yields exactly the 88,584
 * index words and their counts fall monotonically along the ranks, i.e. it
 * is the tokeniser the index was built with.  Tokens that are not in the
 * index (test-only words, 1.1% of test tokens) are dropped, as Keras's
 * imdb.npz did ("words not seen in the training set ... have simply been
 * skipped").
 *
 * Two stages:
 *  1. seq_imdb_corpus_load: tokenise both splits into word ranks, in the
 *     order of Keras's imdb.npz (positive reviews, then negative, each by
 *     file name in byte order), taking ~1-2 s, or read them back from a
 *     binary cache file.
 *  2. seq_imdb_prepare: Keras load_data on top of the ranks: seed shuffle
 *     (numpy RandomState exactly), start_char / index_from, maxlen filter,
 *     num_words / skip_top -> oov_char (milliseconds).
 *
 * The sequences produced are "ragged": one flat int32 array of ids plus
 * n+1 int64 offsets (sequence i is values[offsets[i] .. offsets[i+1]-1]). */
#ifndef SEQ_IMDB_H
#define SEQ_IMDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seq_error.h"

/* ---- numpy's legacy RandomState (MT19937), enough for shuffle ---- */
typedef struct seq_imdb_rng {
  uint32_t key[624];
  int pos;
} seq_imdb_rng;

/* numpy.random.RandomState(seed) for an integer seed (init_genrand). */
void seq_imdb_rng_seed(seq_imdb_rng *r, uint32_t seed);
uint32_t seq_imdb_rng_next32(seq_imdb_rng *r);
/* numpy's legacy random_interval: uniform in [0, max] by masked rejection. */
uint64_t seq_imdb_rng_interval(seq_imdb_rng *r, uint64_t max);
/* RandomState.shuffle of a 1-D array, the same draws in the same order. */
void seq_imdb_rng_shuffle_i64(seq_imdb_rng *r, int64_t *a, int64_t n);

/* ---- word index ---- */
typedef struct seq_imdb_vocab seq_imdb_vocab;

/* Parses Keras's imdb_word_index.json ({"word": rank, ...}); ranks must be
 * 1..N without gaps or repeats. */
seq_status seq_imdb_vocab_read(const char *path, seq_imdb_vocab **out);
void seq_imdb_vocab_free(seq_imdb_vocab *v); /* NULL-safe */
int64_t seq_imdb_vocab_size(const seq_imdb_vocab *v);
/* UTF-8 word of rank r (1-based), NUL-terminated; NULL when out of range. */
const char *seq_imdb_vocab_word(const seq_imdb_vocab *v, int64_t rank, size_t *len);
/* Rank of the word (len bytes, UTF-8), 0 when absent. */
int32_t seq_imdb_vocab_lookup(const seq_imdb_vocab *v, const char *word, size_t len);

/* Splits `text` (len bytes) into Keras tokens and calls fn for each one;
 * the token is not NUL-terminated.  Exposed for tests and for tokenising
 * users' own reviews the same way.  `scratch` must hold len bytes. */
void seq_imdb_tokenize(const char *text, size_t len, char *scratch,
                       void (*fn)(void *ctx, const char *tok, size_t n), void *ctx);

/* ---- ragged sequences ---- */
typedef struct seq_imdb_split {
  int64_t n;        /* sequences */
  int64_t ntokens;  /* total ids = offsets[n] */
  int32_t *values;  /* ntokens ids */
  int64_t *offsets; /* n + 1, offsets[0] = 0 */
  uint8_t *labels;  /* n, 0 = negative, 1 = positive */
} seq_imdb_split;

void seq_imdb_split_free(seq_imdb_split *s); /* frees the arrays, zeroes s */

/* Tokenised corpus: values are word ranks (1-based, no index_from yet), in
 * imdb.npz order (see stage 1 above). */
typedef struct seq_imdb_corpus {
  seq_imdb_split train, test;
} seq_imdb_corpus;

typedef struct seq_imdb_paths {
  const char *train;      /* legacy: train.tsv.gz (read when archive is NULL) */
  const char *test;       /* legacy: test.tsv.gz */
  const char *word_index; /* imdb_word_index.json */
  /* Binary cache of the tokenised corpus; NULL disables caching.  Missing
   * parent folders are created.  A stale, foreign or corrupt cache is
   * ignored and rewritten; failing to write it is not an error. */
  const char *cache;
  /* The reviews: aclImdb_v1.tar.gz (or any tar/tar.gz in its layout), or an
   * extracted aclImdb/ folder (or the folder holding it). */
  const char *archive;
} seq_imdb_paths;

/* Loads the corpus, from the cache when it is valid for the current source
 * files (same sizes and mtimes, same format version).  *from_cache (may be
 * NULL) tells which path was taken. */
seq_status seq_imdb_corpus_load(const seq_imdb_paths *paths, seq_imdb_corpus *out,
                                bool *from_cache);
void seq_imdb_corpus_free(seq_imdb_corpus *c);

/* Tokenises one TSV (gzip or plain) into word ranks with the given index,
 * reviews in imdb.npz order. */
seq_status seq_imdb_read_tsv(const char *path, const seq_imdb_vocab *v, seq_imdb_split *out);

/* One raw review: its label (1 = pos), aclImdb file name ("<id>_<rating>.txt")
 * and text.  `row` is filled in by seq_imdb_tokenize_reviews (it breaks ties
 * between equal names in input order). */
typedef struct seq_imdb_review {
  uint8_t label;
  const char *name;
  size_t name_len;
  const char *text;
  size_t text_len;
  int64_t row;
} seq_imdb_review;

/* Tokenises reviews into word ranks in imdb.npz order (reorders `reviews`);
 * `source` names them in messages. */
seq_status seq_imdb_tokenize_reviews(const char *source, seq_imdb_review *reviews, int64_t n,
                                     const seq_imdb_vocab *v, seq_imdb_split *out);

/* ---- seq_imdb_archive.c: the reviews straight from aclImdb's layout ---- */
/* Reads aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt from a tar(.gz)
 * archive, streaming (nothing is extracted), or from an extracted folder;
 * every other member is skipped.  Each review must be UTF-8; each of the four
 * folders must hold reviews, each name once. */
seq_status seq_imdb_read_archive(const char *path, const seq_imdb_vocab *v, seq_imdb_split *train,
                                 seq_imdb_split *test);
/* Identity of an archive or folder for the tokenised cache: a file's size and
 * mtime; for a folder, the count, sizes and mtimes of its review files. */
seq_status seq_imdb_archive_key(const char *path, int64_t key[3]);

/* ---- keras.datasets.imdb.load_data ---- */
#define SEQ_IMDB_NONE (-1) /* Python's None for the optional integers below */

typedef struct seq_imdb_opts {
  int64_t num_words;  /* NONE: max id present (Keras's quirk: that id then maps to oov) */
  int64_t skip_top;   /* ids < skip_top -> oov (compared after index_from, as Keras) */
  int64_t maxlen;     /* NONE or >= 1: sequences with len >= maxlen are dropped */
  uint32_t seed;      /* 113 */
  int64_t start_char; /* NONE or id prepended to every sequence (1) */
  int64_t oov_char;   /* NONE (drop) or id for filtered words (2) */
  int64_t index_from; /* added to ranks (3) */
  int64_t limit;      /* NONE or keep only the first `limit` of each split (not Keras) */
} seq_imdb_opts;

/* Keras's defaults: num_words NONE, skip_top 0, maxlen NONE, seed 113,
 * start_char 1, oov_char 2, index_from 3, limit NONE. */
seq_imdb_opts seq_imdb_default_opts(void);

/* Validates the options alone (cheap; run it before a slow first load). */
seq_status seq_imdb_check_opts(const seq_imdb_opts *o);

/* Applies load_data's steps to a corpus.  train/test receive new arrays
 * (free with seq_imdb_split_free). */
seq_status seq_imdb_prepare(const seq_imdb_corpus *c, const seq_imdb_opts *o,
                            seq_imdb_split *train, seq_imdb_split *test);

#endif
