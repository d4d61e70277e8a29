/* fuzz_imdb_cache.c - the tokenised IMDB cache reader (seq_imdb.c's
 * cache_read, reached through seq_imdb_corpus_load).  The cache is only
 * read when its header names the current source files and its crc32 holds,
 * so the harness writes a valid header for its own small source files and,
 * when the first byte says so, a correct crc after the fuzzed body: the
 * structural checks behind the crc are what a forged file reaches. */
#include <sys/stat.h>
#include <zlib.h>

#include "fuzz_common.h"
#include "seq_imdb.h"

static const char word_index[] = "{\"the\": 1, \"a\": 2, \"movie\": 3, \"good\": 4, \"bad\": 5}";
static const char reviews[] = "1\tpos_1.txt\tThe movie was good.\n0\tneg_2.txt\tA bad movie.\n";

static char train_path[512], test_path[512], index_path[512], cache_path[512];

static void write_fixed(char *path, const char *tag, const char *text) {
  const char *dir = getenv("TMPDIR");
  snprintf(path, 512, "%s/seqfuzz-cache-%s-%ld", dir && *dir ? dir : "/tmp", tag, (long)getpid());
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) abort();
}

static void key_of(const char *path, int64_t v[3]) {
  struct stat st;
  if (stat(path, &st) != 0) abort();
  v[0] = (int64_t)st.st_size;
  v[1] = (int64_t)st.st_mtim.tv_sec;
  v[2] = (int64_t)st.st_mtim.tv_nsec;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!*train_path) {
    write_fixed(train_path, "train", reviews);
    write_fixed(test_path, "test", reviews);
    write_fixed(index_path, "index", word_index);
    const char *dir = getenv("TMPDIR");
    snprintf(cache_path, sizeof cache_path, "%s/seqfuzz-cache-%ld.bin", dir && *dir ? dir : "/tmp",
             (long)getpid());
  }
  uint8_t mode = 0;
  fuzz_take(&data, &size, &mode, 1);
  /* The header as seq_imdb.c documents it: magic, version, marker, then the
   * source key (size, mtime s, mtime ns of train, test, word index). */
  uint8_t head[8 + 4 + 4 + 9 * 8];
  memcpy(head, "SEQIMDB\0", 8);
  uint32_t version = mode & 2 ? 1u : 2u, marker = 0x01020304u;
  memcpy(head + 8, &version, 4);
  memcpy(head + 12, &marker, 4);
  int64_t key[9];
  key_of(train_path, key);
  key_of(test_path, key + 3);
  key_of(index_path, key + 6);
  memcpy(head + 16, key, sizeof key);
  FILE *f = fopen(cache_path, "wb");
  if (!f) abort();
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, head, sizeof head);
  if (size) crc = crc32(crc, data, (uInt)size);
  uint32_t crc32v = (uint32_t)crc;
  if (fwrite(head, 1, sizeof head, f) != sizeof head || (size && fwrite(data, 1, size, f) != size) ||
      ((mode & 1) && fwrite(&crc32v, 1, 4, f) != 4) || fclose(f) != 0)
    abort();

  seq_imdb_paths paths = {train_path, test_path, index_path, cache_path, NULL};
  seq_imdb_corpus c;
  bool from_cache = false;
  if (seq_imdb_corpus_load(&paths, &c, &from_cache) == SEQ_OK) {
    const seq_imdb_split *sp[2] = {&c.train, &c.test};
    for (int i = 0; i < 2; i++) {
      const seq_imdb_split *s = sp[i];
      if (s->n < 1 || s->offsets[0] != 0 || s->offsets[s->n] != s->ntokens) abort();
      for (int64_t j = 0; j < s->n; j++)
        if (s->offsets[j + 1] < s->offsets[j] || s->labels[j] > 1) abort();
      /* every token is read by the loader: touch them all */
      volatile int64_t sum = 0;
      for (int64_t t = 0; t < s->ntokens; t++) sum += s->values[t];
    }
    /* and what load_data makes of it (num_words from the data or given,
     * maxlen dropping, limit) */
    seq_imdb_opts o = seq_imdb_default_opts();
    if (mode & 4) o.num_words = 5;
    if (mode & 8) o.maxlen = 3;
    if (mode & 16) o.limit = 1;
    seq_imdb_split tr, te;
    if (seq_imdb_prepare(&c, &o, &tr, &te) == SEQ_OK) {
      seq_imdb_split_free(&tr);
      seq_imdb_split_free(&te);
    }
    seq_imdb_corpus_free(&c);
  }
  unlink(cache_path);
  return 0;
}
