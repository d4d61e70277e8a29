/* fuzz_imdb.c - the IMDB readers: the Keras word index (JSON) and the
 * review TSV (plain or gzip) tokenised with it.  The first byte picks how
 * the rest is split between the two files. */
#include "fuzz_common.h"
#include "seq_imdb.h"

static const char fixed_index[] = "{\"the\": 1, \"a\": 2, \"movie\": 3, \"good\": 4, \"bad\": 5}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t split = 0;
  fuzz_take(&data, &size, &split, 1);
  size_t nidx = split & 1 ? (size * (split >> 1)) / 128 : 0;
  if (nidx > size) nidx = size;
  const char *ipath = nidx ? fuzz_write_file("idx", data, nidx)
                           : fuzz_write_file("idx", (const uint8_t *)fixed_index, sizeof fixed_index - 1);
  seq_imdb_vocab *v = NULL;
  if (seq_imdb_vocab_read(ipath, &v) == SEQ_OK) {
    const char *tpath = fuzz_write_file("tsv", data + nidx, size - nidx);
    seq_imdb_split sp;
    memset(&sp, 0, sizeof sp);
    if (seq_imdb_read_tsv(tpath, v, &sp) == SEQ_OK) {
      if (sp.offsets[0] != 0 || sp.offsets[sp.n] != sp.ntokens) abort();
      for (int64_t i = 0; i < sp.ntokens; i++)
        if (sp.values[i] < 0 || sp.values[i] > seq_imdb_vocab_size(v)) abort();
      seq_imdb_split_free(&sp);
    }
    unlink(tpath);
    seq_imdb_vocab_free(v);
  }
  unlink(ipath);
  return 0;
}
