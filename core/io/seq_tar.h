/* seq_tar.h - a streaming reader for tar archives (plain or gzip'd), and a
 * safe extractor built on it.
 *
 * The reader walks the archive member by member through zlib without
 * unpacking anything to disk: seq_tar_next() moves to the next member (skipping
 * whatever of the current one was not read), seq_tar_read() reads its data.
 * Formats: POSIX ustar (name + prefix), GNU (././@LongLink 'L'/'K' members,
 * base-256 sizes) and PAX extended headers ('x': path, linkpath, size; 'g'
 * global headers are skipped).  Header checksums are verified; a truncated
 * or corrupt stream is an error naming the archive and the offset.  The
 * gzip trailer (CRC and length) is checked by draining the stream after
 * the end-of-archive blocks. */
#ifndef SEQ_TAR_H
#define SEQ_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "seq_error.h"

typedef enum seq_tar_type {
  SEQ_TAR_FILE,     /* regular file ('0', '\0', '7') */
  SEQ_TAR_DIR,      /* '5' */
  SEQ_TAR_SYMLINK,  /* '2' */
  SEQ_TAR_HARDLINK, /* '1' */
  SEQ_TAR_OTHER     /* devices, fifos, sparse files, vendor types: skipped by readers */
} seq_tar_type;

typedef struct seq_tar_entry {
  const char *name;     /* full member name (long names and PAX path applied) */
  const char *linkname; /* link target ("" unless a link) */
  seq_tar_type type;
  int64_t size;  /* data bytes that follow the header */
  uint32_t mode; /* permission bits from the header */
  int64_t offset; /* offset of the member's header in the uncompressed stream */
} seq_tar_entry;

typedef struct seq_tar seq_tar;

/* Opens a .tar.gz / .tgz (or an uncompressed .tar) file. */
seq_status seq_tar_open(const char *path, seq_tar **out);
/* Reads an archive held in memory (gzip'd or plain); `label` names it in
 * messages.  The buffer must outlive the reader.  (Used by the fuzzer.) */
seq_status seq_tar_open_memory(const void *data, size_t len, const char *label, seq_tar **out);
/* Moves to the next member; *entry is NULL at the end of the archive.  The
 * entry stays valid until the next call. */
seq_status seq_tar_next(seq_tar *t, const seq_tar_entry **entry);
/* Reads up to n bytes of the current member's data; *got is 0 at its end. */
seq_status seq_tar_read(seq_tar *t, void *buf, size_t n, size_t *got);
/* Reads the whole current member into a fresh malloc'd buffer (NUL-terminated,
 * *len bytes before the NUL); members over max_bytes are an error. */
seq_status seq_tar_read_all(seq_tar *t, size_t max_bytes, char **data, size_t *len);
const char *seq_tar_label(const seq_tar *t);
void seq_tar_close(seq_tar *t); /* NULL-safe */

/* Extracts an archive into dest, which must not exist yet: members go to a
 * temporary folder beside dest that is renamed to dest only when every
 * member was written, so a failure leaves nothing behind.  Refused (error,
 * nothing written): absolute member names, names with a ".." component,
 * members written through a symbolic link, symbolic links that are absolute
 * or climb out of dest, hard links to anything but a regular file extracted
 * earlier.  Devices, fifos and other special members are skipped.
 * Permissions keep the rwx bits only (no setuid). */
seq_status seq_tar_extract(const char *archive, const char *dest);

#endif
