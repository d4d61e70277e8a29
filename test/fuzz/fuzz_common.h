/* fuzz_common.h - helpers shared by the libFuzzer harnesses (test/fuzz/). */
#ifndef SEQ_FUZZ_COMMON_H
#define SEQ_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The readers under test take paths: each input goes to one file per
 * process (in $TMPDIR), rewritten for every run. */
static inline const char *fuzz_write_file(const char *tag, const uint8_t *data, size_t size) {
  static char path[512];
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/seqfuzz-%s-%ld", dir && *dir ? dir : "/tmp", tag, (long)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  if (fclose(f) != 0) abort();
  return path;
}

/* Takes n bytes off the front of the input (fewer at its end). */
static inline size_t fuzz_take(const uint8_t **data, size_t *size, void *out, size_t n) {
  size_t k = *size < n ? *size : n;
  memset(out, 0, n);
  memcpy(out, *data, k);
  *data += k;
  *size -= k;
  return k;
}

#endif
