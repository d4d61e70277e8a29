/* fuzz_tar.c - libFuzzer harness for the tar reader (core/io/seq_tar.c).
 *
 * Feeds each input to seq_tar_open_memory (gzip'd or plain, told apart by
 * the magic bytes) and walks every member the way seq_imdb_archive.c and
 * seq_tar_extract.c do: some read whole, some in odd-sized pieces, some
 * skipped unread.  Any input must end in SEQ_OK or an error status, never a
 * crash, a leak or an out-of-bounds access.  Build and run: README.md here. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "seq_tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  seq_tar *t;
  if (seq_tar_open_memory(data, size, "fuzz", &t) != SEQ_OK) return 0;
  const seq_tar_entry *e;
  unsigned char buf[777];
  unsigned members = 0;
  while (seq_tar_next(t, &e) == SEQ_OK && e) {
    members++;
    if (members % 3 == 0) continue; /* skipped unread */
    if (members % 3 == 1 && e->type == SEQ_TAR_FILE) {
      char *all;
      size_t len;
      if (seq_tar_read_all(t, 1u << 20, &all, &len) == SEQ_OK) free(all);
      continue;
    }
    size_t got;
    while (seq_tar_read(t, buf, sizeof buf, &got) == SEQ_OK && got) {
    }
  }
  seq_tar_close(t);
  return 0;
}
