/* seq_fetch.h - downloads and file hashes for the data set cache.
 *
 * seq_fetch_url() downloads with libcurl into a temporary file next to the
 * destination and renames it into place only after the whole body arrived,
 * so an interrupted download never leaves a truncated file under the final
 * name; it starts over the next time, and temporary files of killed
 * downloads (<path>.part<pid> of a process that is gone) are removed then.  HTTP errors (404, ...) and network failures become messages naming
 * the URL and the cause.
 *
 * SHA-256 and MD5 are implemented here (no OpenSSL dependency); they are
 * used to verify downloads and cached data files. */
#ifndef SEQ_FETCH_H
#define SEQ_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "seq_error.h"

/* Called while downloading; total is -1 while unknown.  Return nonzero to
 * cancel the download. */
typedef int (*seq_fetch_progress_fn)(void *ud, int64_t done, int64_t total);

typedef struct seq_fetch_opts {
  long connect_timeout_s;       /* 0: 30 s */
  long low_speed_timeout_s;     /* abort when < 1 byte/s for this long; 0: 60 s */
  seq_fetch_progress_fn progress; /* may be NULL */
  void *progress_ud;
  /* Fail unless the server announced a Content-Length and the body matched
   * it: a close-delimited body that was cut short looks complete otherwise
   * (callers without a hash to check set this). */
  int require_length;
  /* Allow schemes other than http and https (file://, ftp://, ...), for
   * the first URL and for redirects. */
  int any_protocol;
} seq_fetch_opts;

/* Downloads url to path (atomically; parent directory must exist).  opts
 * may be NULL.  On failure nothing is left at path or in its temp file;
 * temp files of killed downloads of the same path are removed first. */
seq_status seq_fetch_url(const char *url, const char *path, const seq_fetch_opts *opts);

/* mkdir -p */
seq_status seq_fetch_mkdirs(const char *dir);
/* Size in bytes and modification time (ns since the epoch) of a regular
 * file; SEQ_EIO with a message when missing. */
seq_status seq_fetch_stat(const char *path, int64_t *size, int64_t *mtime_ns);

/* ---- hashes ---- */
typedef struct seq_sha256_ctx {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t nbuf;
} seq_sha256_ctx;
void seq_sha256_init(seq_sha256_ctx *c);
void seq_sha256_update(seq_sha256_ctx *c, const void *data, size_t n);
void seq_sha256_final(seq_sha256_ctx *c, uint8_t out[32]);

typedef struct seq_md5_ctx {
  uint32_t h[4];
  uint64_t len;
  uint8_t buf[64];
  size_t nbuf;
} seq_md5_ctx;
void seq_md5_init(seq_md5_ctx *c);
void seq_md5_update(seq_md5_ctx *c, const void *data, size_t n);
void seq_md5_final(seq_md5_ctx *c, uint8_t out[16]);

/* Lowercase hex digest of a file: algo is "sha256" (hex[65]) or "md5"
 * (hex[33]). */
seq_status seq_hash_file(const char *path, const char *algo, char *hex, size_t hexlen);
/* Lowercase hex digest of a buffer. */
seq_status seq_hash_buffer(const void *data, size_t n, const char *algo, char *hex, size_t hexlen);

#endif
