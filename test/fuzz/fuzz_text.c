/* fuzz_text.c - the UTF-8 decoder and the text functions built on it
 * (lower, distinct characters, vectorising, word tokens) on arbitrary bytes. */
#include "fuzz_common.h"
#include "seq_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  size_t count = 0;
  bool valid = seq_utf8_count(s, size, &count) == SEQ_OK;
  uint32_t *cps = NULL;
  size_t ncp = 0;
  if (seq_utf8_decode(s, size, &cps, &ncp) == SEQ_OK) {
    if (!valid || ncp != count) abort();
    char *back = NULL;
    size_t nb = 0;
    if (seq_utf8_encode(cps, ncp, &back, &nb) == SEQ_OK) {
      if (nb != size || memcmp(back, s, size) != 0) abort(); /* valid UTF-8 round-trips */
      free(back);
    }
    free(cps);
  }
  char *low = NULL;
  size_t nl = 0;
  if (seq_text_lower(s, size, &low, &nl) == SEQ_OK) free(low);
  uint32_t *chars = NULL;
  size_t nc = 0;
  if (seq_text_chars(s, size, &chars, &nc) == SEQ_OK) {
    if (valid) {
      int32_t *ids = malloc((count ? count : 1) * sizeof *ids);
      size_t got = 0;
      if (ids && seq_text_vectorize(s, size, chars, nc, -1, ids, &got) == SEQ_OK)
        for (size_t i = 0; i < got; i++)
          if (ids[i] < 0 || (size_t)ids[i] >= nc) abort();
      free(ids);
    }
    free(chars);
  }
  for (int mode = 0; mode < 2; mode++) {
    seq_text_span *spans = NULL;
    size_t ns = 0;
    if (seq_text_tokens(s, size, (seq_text_split)mode, &spans, &ns) == SEQ_OK) free(spans);
  }
  return 0;
}
