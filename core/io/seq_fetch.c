/* seq_fetch.c - libcurl downloads, SHA-256, MD5.  See seq_fetch.h. */
#define _POSIX_C_SOURCE 200809L
#include "seq_fetch.h"

#include "seq_atomic.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ------------------------------------------------------------- SHA-256 */
/* FIPS 180-4. */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define ROL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t S1 = ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25);
    uint32_t ch = (e & f) ^ (~e & g);
    uint32_t t1 = hh + S1 + ch + K256[i] + w[i];
    uint32_t S0 = ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22);
    uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
    uint32_t t2 = S0 + maj;
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

/* Both hashes consume 64-byte blocks: buffer a partial block between
 * calls, run `block` on every full one. */
typedef void (*block_fn)(uint32_t *h, const uint8_t *block);

static void feed_blocks(uint32_t *h, uint8_t buf[64], size_t *nbuf, const uint8_t *p, size_t n,
                        block_fn block) {
  if (*nbuf) {
    size_t take = 64 - *nbuf < n ? 64 - *nbuf : n;
    memcpy(buf + *nbuf, p, take);
    *nbuf += take;
    p += take;
    n -= take;
    if (*nbuf < 64) return;
    block(h, buf);
    *nbuf = 0;
  }
  for (; n >= 64; p += 64, n -= 64) block(h, p);
  memcpy(buf, p, n);
  *nbuf = n;
}

void seq_sha256_init(seq_sha256_ctx *c) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, h0, sizeof h0);
  c->len = 0;
  c->nbuf = 0;
}

void seq_sha256_update(seq_sha256_ctx *c, const void *data, size_t n) {
  c->len += n;
  feed_blocks(c->h, c->buf, &c->nbuf, data, n, sha256_block);
}

void seq_sha256_final(seq_sha256_ctx *c, uint8_t out[32]) {
  uint64_t bits = c->len * 8;
  uint8_t pad[72] = {0x80};
  size_t npad = (c->nbuf < 56 ? 56 : 120) - c->nbuf;
  for (int i = 0; i < 8; i++) pad[npad + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
  seq_sha256_update(c, pad, npad + 8);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(c->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)c->h[i];
  }
}

/* ------------------------------------------------------------------ MD5 */
/* RFC 1321.  Kept because Keras publishes md5 file hashes for some data
 * sets (imdb_word_index.json). */

static const uint32_t KMD5[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391};
static const int RMD5[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                             5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                             4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                             6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_block(uint32_t h[4], const uint8_t *p) {
  uint32_t m[16];
  for (int i = 0; i < 16; i++)
    m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
           (uint32_t)p[4 * i + 3] << 24;
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    uint32_t t = d;
    d = c;
    c = b;
    b = b + ROL32(a + f + KMD5[i] + m[g], RMD5[i]);
    a = t;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
}

void seq_md5_init(seq_md5_ctx *c) {
  c->h[0] = 0x67452301;
  c->h[1] = 0xefcdab89;
  c->h[2] = 0x98badcfe;
  c->h[3] = 0x10325476;
  c->len = 0;
  c->nbuf = 0;
}

void seq_md5_update(seq_md5_ctx *c, const void *data, size_t n) {
  c->len += n;
  feed_blocks(c->h, c->buf, &c->nbuf, data, n, md5_block);
}

void seq_md5_final(seq_md5_ctx *c, uint8_t out[16]) {
  uint64_t bits = c->len * 8;
  uint8_t pad[72] = {0x80};
  size_t npad = (c->nbuf < 56 ? 56 : 120) - c->nbuf;
  for (int i = 0; i < 8; i++) pad[npad + (size_t)i] = (uint8_t)(bits >> (8 * i));
  seq_md5_update(c, pad, npad + 8);
  for (int i = 0; i < 4; i++)
    for (int k = 0; k < 4; k++) out[4 * i + k] = (uint8_t)(c->h[i] >> (8 * k));
}

/* ------------------------------------------------------------ hex digests */

static void to_hex(const uint8_t *d, size_t n, char *hex) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    hex[2 * i] = digits[d[i] >> 4];
    hex[2 * i + 1] = digits[d[i] & 15];
  }
  hex[2 * n] = 0;
}

typedef struct hasher {
  int md5;
  seq_sha256_ctx s;
  seq_md5_ctx m;
} hasher;

static seq_status hasher_init(hasher *h, const char *algo, size_t hexlen, const char *who) {
  if (!algo || (strcmp(algo, "sha256") && strcmp(algo, "md5")))
    return seq_fail(SEQ_EARG, "%s: unknown hash algorithm '%s' (expected sha256 or md5)", who,
                    algo ? algo : "(null)");
  h->md5 = algo[0] == 'm';
  if (hexlen < (h->md5 ? 33u : 65u))
    return seq_fail(SEQ_EARG, "%s: digest buffer too small", who);
  if (h->md5)
    seq_md5_init(&h->m);
  else
    seq_sha256_init(&h->s);
  return SEQ_OK;
}

static void hasher_update(hasher *h, const void *p, size_t n) {
  if (h->md5)
    seq_md5_update(&h->m, p, n);
  else
    seq_sha256_update(&h->s, p, n);
}

static void hasher_hex(hasher *h, char *hex) {
  uint8_t d[32];
  if (h->md5) {
    seq_md5_final(&h->m, d);
    to_hex(d, 16, hex);
  } else {
    seq_sha256_final(&h->s, d);
    to_hex(d, 32, hex);
  }
}

seq_status seq_hash_buffer(const void *data, size_t n, const char *algo, char *hex, size_t hexlen) {
  hasher h;
  SEQ_TRY(hasher_init(&h, algo, hexlen, "hash"));
  hasher_update(&h, data, n);
  hasher_hex(&h, hex);
  return SEQ_OK;
}

seq_status seq_hash_file(const char *path, const char *algo, char *hex, size_t hexlen) {
  hasher h;
  SEQ_TRY(hasher_init(&h, algo, hexlen, "hash_file"));
  FILE *f = fopen(path, "rb");
  if (!f) return seq_fail(SEQ_EIO, "hash_file: cannot open %s: %s", path, strerror(errno));
  enum { CHUNK = 1 << 16 };
  static _Thread_local unsigned char buf[CHUNK];
  size_t got;
  while ((got = fread(buf, 1, CHUNK, f)) > 0) hasher_update(&h, buf, got);
  int err = ferror(f);
  fclose(f);
  if (err) return seq_fail(SEQ_EIO, "hash_file: read error on %s", path);
  hasher_hex(&h, hex);
  return SEQ_OK;
}

/* ------------------------------------------------------------ file system */

seq_status seq_fetch_mkdirs(const char *dir) {
  size_t n = strlen(dir);
  char *p = malloc(n + 1);
  if (!p) return seq_fail(SEQ_ENOMEM, "mkdirs: out of memory");
  memcpy(p, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] == '/' || p[i] == 0) {
      char saved = p[i];
      p[i] = 0;
      if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        seq_status s = seq_fail(SEQ_EIO, "mkdirs: cannot create %s: %s", p, strerror(errno));
        free(p);
        return s;
      }
      p[i] = saved;
    }
  }
  struct stat st;
  seq_status s = SEQ_OK;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    s = seq_fail(SEQ_EIO, "mkdirs: %s exists and is not a directory", dir);
  free(p);
  return s;
}

seq_status seq_fetch_stat(const char *path, int64_t *size, int64_t *mtime_ns) {
  struct stat st;
  if (stat(path, &st) != 0) return seq_fail(SEQ_EIO, "stat: %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return seq_fail(SEQ_EIO, "stat: %s is not a regular file", path);
  if (size) *size = (int64_t)st.st_size;
  if (mtime_ns) *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  return SEQ_OK;
}

/* ------------------------------------------------------------- download */

typedef struct xfer {
  const seq_fetch_opts *opts;
  int cancelled;
} xfer;

static int xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow) {
  (void)ultotal;
  (void)ulnow;
  xfer *x = ud;
  if (x->opts && x->opts->progress &&
      x->opts->progress(x->opts->progress_ud, (int64_t)dlnow, dltotal > 0 ? (int64_t)dltotal : -1)) {
    x->cancelled = 1;
    return 1;
  }
  return 0;
}

/* Removes <path>.part<pid> files left by downloads that were killed (their
 * process is gone), so an interrupted 85 MB download does not stay behind
 * as litter; a live process's temp file is left alone. */
static void remove_stale_parts(const char *path) {
  const char *slash = strrchr(path, '/');
  size_t dlen = slash ? (size_t)(slash - path) : 0;
  const char *base = slash ? slash + 1 : path;
  size_t blen = strlen(base);
  char *dir = malloc(dlen + 2);
  if (!dir) return;
  if (slash) {
    memcpy(dir, path, dlen ? dlen : 1);
    dir[dlen ? dlen : 1] = '\0';
  } else {
    strcpy(dir, ".");
  }
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    const char *n = e->d_name;
    if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".part", 5) != 0) continue;
    const char *digits = n + blen + 5;
    char *end;
    long pid = strtol(digits, &end, 10);
    if (end == digits || *end || pid <= 0) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    size_t full_n = strlen(dir) + strlen(n) + 2;
    char *full = malloc(full_n);
    if (full) {
      snprintf(full, full_n, "%s/%s", dir, n);
      remove(full);
      free(full);
    }
  }
  if (d) closedir(d);
  free(dir);
}

static int curl_ready = 0;

seq_status seq_fetch_url(const char *url, const char *path, const seq_fetch_opts *opts) {
  if (!curl_ready) {
    /* Not thread-safe by libcurl's rules; downloads start from the Lua
     * thread only. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
      return seq_fail(SEQ_EIO, "download: libcurl failed to initialise");
    curl_ready = 1;
  }
  remove_stale_parts(path);
  size_t n = strlen(path);
  char *tmp = malloc(n + 32);
  if (!tmp) return seq_fail(SEQ_ENOMEM, "download: out of memory");
  snprintf(tmp, n + 32, "%s.part%ld", path, (long)getpid());
  seq_atomic_sweep(path, ".part");
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    seq_status s = seq_fail(SEQ_EIO, "download: cannot write %s: %s", tmp, strerror(errno));
    free(tmp);
    return s;
  }
  CURL *c = curl_easy_init();
  if (!c) {
    fclose(f);
    remove(tmp);
    free(tmp);
    return seq_fail(SEQ_EIO, "download: libcurl could not create a handle");
  }
  char errbuf[CURL_ERROR_SIZE] = "";
  xfer x = {opts, 0};
  long connect_to = opts && opts->connect_timeout_s > 0 ? opts->connect_timeout_s : 30;
  long low_speed = opts && opts->low_speed_timeout_s > 0 ? opts->low_speed_timeout_s : 60;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, f); /* default write callback is fwrite */
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L); /* HTTP >= 400 is an error, not a body */
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_to);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, low_speed);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "seqlua/0.1 (libcurl)");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xferinfo);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  if (!(opts && opts->any_protocol)) {
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  }
  CURLcode rc = curl_easy_perform(c);
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  curl_off_t announced = -1, got = 0;
  curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced);
  curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got);
  curl_easy_cleanup(c);
  int close_err = fclose(f);
  seq_status s = SEQ_OK;
  if (x.cancelled) {
    s = seq_fail(SEQ_EIO, "download of %s cancelled", url);
  } else if (rc == CURLE_UNSUPPORTED_PROTOCOL && !(opts && opts->any_protocol)) {
    s = seq_fail(SEQ_EIO, "download of %s refused: only http and https addresses are fetched", url);
  } else if (rc == CURLE_HTTP_RETURNED_ERROR) {
    s = seq_fail(SEQ_EIO, "download of %s failed: HTTP error %ld%s", url, http,
                 http == 404 ? " (not found)" : "");
  } else if (rc != CURLE_OK) {
    const char *kind = (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                        rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_OPERATION_TIMEDOUT)
                           ? "host unreachable or offline"
                           : curl_easy_strerror(rc);
    s = seq_fail(SEQ_EIO, "download of %s failed: %s (%s)", url, kind,
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
  } else if (close_err != 0) {
    s = seq_fail(SEQ_EIO, "download: error writing %s", tmp);
  } else if (opts && opts->require_length && (announced < 0 || announced != got)) {
    s = seq_fail(SEQ_EIO,
                 "download of %s cannot be checked: %s (%lld bytes received); give a hash to accept it",
                 url, announced < 0 ? "the server sent no Content-Length" : "the body is shorter than its Content-Length",
                 (long long)got);
  } else if (rename(tmp, path) != 0) {
    s = seq_fail(SEQ_EIO, "download: cannot move %s to %s: %s", tmp, path, strerror(errno));
  }
  if (s != SEQ_OK) remove(tmp);
  free(tmp);
  return s;
}
