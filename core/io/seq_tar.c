/* seq_tar.c - streaming tar reader over zlib (see seq_tar.h). */
#define _POSIX_C_SOURCE 200809L
#include "seq_tar.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BLOCK 512
/* Long names and PAX headers beyond this are treated as corrupt: real ones
 * are a few hundred bytes, and a forged size must not drive an allocation. */
#define META_MAX (1u << 20)

struct seq_tar {
  char *label;
  /* source: a gzFile (gzip or plain passthrough) or a memory buffer */
  gzFile gz;
  const unsigned char *mem;
  size_t mem_len, mem_pos;
  int mem_inflate; /* memory source is gzip: inflate through zs */
  z_stream zs;
  int zs_ready, zs_end;
  int64_t pos;       /* bytes consumed from the uncompressed tar stream */
  int64_t remaining; /* data bytes left in the current member */
  int64_t padding;   /* zero bytes after the member's data */
  int finished;
  seq_tar_entry entry;
  char *name, *link; /* storage behind entry.name / entry.linkname */
  char *pending_name, *pending_link; /* from 'L'/'K' or PAX, for the next header */
  int64_t pending_size;              /* PAX size, -1 if none */
};

const char *seq_tar_label(const seq_tar *t) { return t ? t->label : ""; }

void seq_tar_close(seq_tar *t) {
  if (!t) return;
  if (t->gz) gzclose(t->gz);
  if (t->zs_ready) inflateEnd(&t->zs);
  free(t->label);
  free(t->name);
  free(t->link);
  free(t->pending_name);
  free(t->pending_link);
  free(t);
}

static seq_tar *tar_new(const char *label) {
  seq_tar *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->label = strdup(label ? label : "(archive)");
  t->name = strdup("");
  t->link = strdup("");
  t->pending_size = -1;
  if (!t->label || !t->name || !t->link) {
    seq_tar_close(t);
    return NULL;
  }
  return t;
}

seq_status seq_tar_open(const char *path, seq_tar **out) {
  *out = NULL;
  if (!path || !*path) return seq_fail(SEQ_EARG, "tar: no archive path given");
  gzFile gz = gzopen(path, "rb");
  if (!gz) return seq_fail(SEQ_EIO, "tar: cannot open '%s': %s", path, strerror(errno));
  gzbuffer(gz, 1u << 18);
  seq_tar *t = tar_new(path);
  if (!t) {
    gzclose(gz);
    return seq_fail(SEQ_ENOMEM, "tar: out of memory opening '%s'", path);
  }
  t->gz = gz;
  *out = t;
  return SEQ_OK;
}

seq_status seq_tar_open_memory(const void *data, size_t len, const char *label, seq_tar **out) {
  *out = NULL;
  seq_tar *t = tar_new(label);
  if (!t) return seq_fail(SEQ_ENOMEM, "tar: out of memory");
  t->mem = data;
  t->mem_len = len;
  t->mem_inflate = len >= 2 && t->mem[0] == 0x1f && t->mem[1] == 0x8b;
  if (t->mem_inflate) {
    if (inflateInit2(&t->zs, 15 + 16) != Z_OK) {
      seq_tar_close(t);
      return seq_fail(SEQ_ENOMEM, "tar: zlib could not start");
    }
    t->zs_ready = 1;
    t->zs.next_in = (Bytef *)t->mem;
    t->zs.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
    t->mem_pos = t->zs.avail_in;
  }
  *out = t;
  return SEQ_OK;
}

/* Reads up to n bytes of the uncompressed stream; *got < n only at its end.
 * A damaged or truncated compressed stream is an error. */
static seq_status src_read(seq_tar *t, void *buf, size_t n, size_t *got) {
  size_t have = 0;
  unsigned char *o = buf;
  if (t->gz) {
    while (have < n) {
      size_t want = n - have > (1u << 30) ? (1u << 30) : n - have;
      int r = gzread(t->gz, o + have, (unsigned)want);
      if (r < 0) {
        int zerr = 0;
        const char *msg = gzerror(t->gz, &zerr);
        return seq_fail(SEQ_EFORMAT, "tar: '%s' is corrupt near byte %lld of its data: %s", t->label,
                        (long long)(t->pos + (int64_t)have), zerr == Z_ERRNO ? strerror(errno) : msg);
      }
      if (r == 0) {
        int zerr = 0;
        const char *msg = gzerror(t->gz, &zerr);
        /* zlib reports a gzip stream that stops early as Z_BUF_ERROR */
        if (zerr != Z_OK)
          return seq_fail(SEQ_EFORMAT, "tar: '%s' is truncated or corrupt (%s)", t->label, msg);
        break;
      }
      have += (size_t)r;
    }
  } else if (!t->mem_inflate) {
    size_t left = t->mem_len - t->mem_pos;
    have = n < left ? n : left;
    memcpy(o, t->mem + t->mem_pos, have);
    t->mem_pos += have;
  } else {
    while (have < n && !t->zs_end) {
      if (t->zs.avail_in == 0 && t->mem_pos < t->mem_len) {
        size_t left = t->mem_len - t->mem_pos;
        t->zs.next_in = (Bytef *)(t->mem + t->mem_pos);
        t->zs.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
        t->mem_pos += t->zs.avail_in;
      }
      size_t want = n - have > (1u << 30) ? (1u << 30) : n - have;
      t->zs.next_out = o + have;
      t->zs.avail_out = (uInt)want;
      int r = inflate(&t->zs, Z_NO_FLUSH);
      have += want - t->zs.avail_out;
      if (r == Z_STREAM_END) {
        /* another gzip member may follow (as with `cat a.gz b.gz`) */
        if (t->zs.avail_in == 0 && t->mem_pos >= t->mem_len) {
          t->zs_end = 1;
        } else if (inflateReset(&t->zs) != Z_OK) {
          return seq_fail(SEQ_EFORMAT, "tar: '%s' is corrupt", t->label);
        }
      } else if (r == Z_BUF_ERROR && t->zs.avail_in == 0 && t->mem_pos >= t->mem_len) {
        return seq_fail(SEQ_EFORMAT, "tar: '%s' is truncated or corrupt (unexpected end of file)",
                        t->label);
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        return seq_fail(SEQ_EFORMAT, "tar: '%s' is corrupt near byte %lld of its data: %s", t->label,
                        (long long)(t->pos + (int64_t)have), t->zs.msg ? t->zs.msg : "zlib error");
      }
    }
  }
  t->pos += (int64_t)have;
  *got = have;
  return SEQ_OK;
}

static seq_status read_exact(seq_tar *t, void *buf, size_t n, const char *what) {
  size_t got;
  SEQ_TRY(src_read(t, buf, n, &got));
  if (got != n)
    return seq_fail(SEQ_EFORMAT, "tar: '%s' is truncated (it ends inside %s at byte %lld)", t->label,
                    what, (long long)t->pos);
  return SEQ_OK;
}

static seq_status skip_bytes(seq_tar *t, int64_t n, const char *what) {
  unsigned char buf[16384];
  while (n > 0) {
    size_t k = n > (int64_t)sizeof buf ? sizeof buf : (size_t)n;
    SEQ_TRY(read_exact(t, buf, k, what));
    n -= (int64_t)k;
  }
  return SEQ_OK;
}

/* Octal field (NUL/space padded) or GNU base-256 (high bit of the first byte). */
static int parse_number(const unsigned char *f, size_t n, int64_t *out) {
  if (f[0] & 0x80) {
    if (f[0] & 0x40) return 0; /* negative */
    uint64_t v = f[0] & 0x3f;
    for (size_t i = 1; i < n; i++) {
      if (v > (UINT64_MAX >> 8)) return 0;
      v = (v << 8) | f[i];
    }
    if (v > (uint64_t)INT64_MAX) return 0;
    *out = (int64_t)v;
    return 1;
  }
  size_t i = 0;
  while (i < n && f[i] == ' ') i++;
  uint64_t v = 0;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
    if (v > ((uint64_t)INT64_MAX >> 3)) return 0;
    v = (v << 3) | (uint64_t)(f[i] - '0');
  }
  for (; i < n; i++)
    if (f[i] != ' ' && f[i] != '\0') return 0;
  /* an all-blank field reads as 0, as GNU tar does */
  *out = (int64_t)v;
  return 1;
}

static int checksum_ok(const unsigned char *h) {
  int64_t stored;
  if (!parse_number(h + 148, 8, &stored)) return 0;
  int64_t u = 0, s = 0;
  for (int i = 0; i < BLOCK; i++) {
    unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
    u += c;
    s += (signed char)c;
  }
  return stored == u || stored == s; /* some old tars summed signed chars */
}

static char *field_string(const unsigned char *f, size_t n) {
  size_t len = strnlen((const char *)f, n);
  char *s = malloc(len + 1);
  if (!s) return NULL;
  memcpy(s, f, len);
  s[len] = '\0';
  return s;
}

static void set_owned(char **slot, char *value) {
  free(*slot);
  *slot = value;
}

/* Reads a metadata member's data ('L', 'K', 'x', 'g') into a NUL-terminated buffer. */
static seq_status read_meta(seq_tar *t, int64_t size, const char *what, char **out) {
  *out = NULL;
  if (size < 0 || size > (int64_t)META_MAX)
    return seq_fail(SEQ_EFORMAT, "tar: '%s' has a %s of %lld bytes at byte %lld (corrupt header?)",
                    t->label, what, (long long)size, (long long)(t->pos - BLOCK));
  char *buf = malloc((size_t)size + 1);
  if (!buf) return seq_fail(SEQ_ENOMEM, "tar: out of memory reading '%s'", t->label);
  seq_status st = read_exact(t, buf, (size_t)size, what);
  if (st == SEQ_OK) st = skip_bytes(t, (BLOCK - size % BLOCK) % BLOCK, what);
  if (st != SEQ_OK) {
    free(buf);
    return st;
  }
  buf[size] = '\0';
  *out = buf;
  return SEQ_OK;
}

/* PAX records "<len> <key>=<value>\n"; keeps path, linkpath and size. */
static seq_status parse_pax(seq_tar *t, const char *buf, size_t n, int apply) {
  size_t p = 0;
  while (p < n) {
    size_t len = 0, q = p;
    while (q < n && buf[q] >= '0' && buf[q] <= '9' && len < META_MAX) len = len * 10 + (size_t)(buf[q++] - '0');
    if (q == p || q >= n || buf[q] != ' ' || len <= q - p + 1 || len > n - p || buf[p + len - 1] != '\n')
      return seq_fail(SEQ_EFORMAT, "tar: '%s' has a malformed PAX header record at byte %lld",
                      t->label, (long long)t->pos);
    const char *key = buf + q + 1, *end = buf + p + len - 1;
    const char *eq = memchr(key, '=', (size_t)(end - key));
    if (!eq)
      return seq_fail(SEQ_EFORMAT, "tar: '%s' has a PAX record without '=' at byte %lld", t->label,
                      (long long)t->pos);
    size_t klen = (size_t)(eq - key), vlen = (size_t)(end - eq - 1);
    const char *val = eq + 1;
    if (apply && ((klen == 4 && !memcmp(key, "path", 4)) || (klen == 8 && !memcmp(key, "linkpath", 8)))) {
      char *s = malloc(vlen + 1);
      if (!s) return seq_fail(SEQ_ENOMEM, "tar: out of memory reading '%s'", t->label);
      memcpy(s, val, vlen);
      s[vlen] = '\0';
      set_owned(klen == 4 ? &t->pending_name : &t->pending_link, s);
    } else if (apply && klen == 4 && !memcmp(key, "size", 4)) {
      int64_t v = 0;
      size_t i = 0;
      for (; i < vlen && val[i] >= '0' && val[i] <= '9' && v <= INT64_MAX / 10 - 9; i++) v = v * 10 + (val[i] - '0');
      if (i == 0 || i != vlen)
        return seq_fail(SEQ_EFORMAT, "tar: '%s' has a bad PAX size at byte %lld", t->label,
                        (long long)t->pos);
      t->pending_size = v;
    }
    p += len;
  }
  return SEQ_OK;
}

/* Drains what follows the end-of-archive blocks, so a damaged gzip trailer
 * (CRC, length) is still reported. */
static seq_status drain(seq_tar *t) {
  unsigned char buf[16384];
  size_t got;
  do {
    SEQ_TRY(src_read(t, buf, sizeof buf, &got));
  } while (got == sizeof buf);
  return SEQ_OK;
}

seq_status seq_tar_next(seq_tar *t, const seq_tar_entry **entry) {
  *entry = NULL;
  if (t->finished) return SEQ_OK;
  SEQ_TRY(skip_bytes(t, t->remaining + t->padding, "a member's data"));
  t->remaining = t->padding = 0;
  for (;;) {
    unsigned char h[BLOCK];
    int64_t at = t->pos;
    size_t got;
    SEQ_TRY(src_read(t, h, BLOCK, &got));
    if (got == 0 && at > 0) {
      /* no end-of-archive blocks; GNU tar accepts this too */
      if (t->pending_name || t->pending_link || t->pending_size >= 0)
        return seq_fail(SEQ_EFORMAT, "tar: '%s' is truncated (an extended header has no member)", t->label);
      t->finished = 1;
      return SEQ_OK;
    }
    if (got != BLOCK)
      return seq_fail(SEQ_EFORMAT, "tar: '%s' is %s", t->label,
                      at == 0 ? "empty or not a tar archive" : "truncated (it ends inside a member header)");
    int zero = 1;
    for (int i = 0; i < BLOCK && zero; i++) zero = h[i] == 0;
    if (zero) {
      if (at == 0) return seq_fail(SEQ_EFORMAT, "tar: '%s' holds no members", t->label);
      t->finished = 1;
      return drain(t);
    }
    if (!checksum_ok(h))
      return seq_fail(SEQ_EFORMAT, "tar: '%s' %s (bad header checksum at byte %lld)", t->label,
                      at == 0 ? "is not a tar archive" : "is corrupt", (long long)at);
    int64_t size, mode = 0;
    if (!parse_number(h + 124, 12, &size) || !parse_number(h + 100, 8, &mode))
      return seq_fail(SEQ_EFORMAT, "tar: '%s' has a bad size field at byte %lld", t->label, (long long)at);
    char type = (char)h[156];
    if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
      char *meta;
      const char *what = type == 'L' ? "long name" : type == 'K' ? "long link name" : "PAX header";
      SEQ_TRY(read_meta(t, size, what, &meta));
      seq_status st = SEQ_OK;
      if (type == 'L') set_owned(&t->pending_name, meta), meta = NULL;
      else if (type == 'K') set_owned(&t->pending_link, meta), meta = NULL;
      else st = parse_pax(t, meta, (size_t)size, type == 'x');
      free(meta);
      SEQ_TRY(st);
      continue;
    }
    /* the member itself */
    int ustar = memcmp(h + 257, "ustar\0", 6) == 0; /* POSIX: name = prefix/name */
    char *name;
    if (t->pending_name) {
      name = t->pending_name;
      t->pending_name = NULL;
    } else if (ustar && h[345]) {
      size_t pl = strnlen((const char *)h + 345, 155), nl = strnlen((const char *)h, 100);
      name = malloc(pl + nl + 2);
      if (name) {
        memcpy(name, h + 345, pl);
        name[pl] = '/';
        memcpy(name + pl + 1, h, nl);
        name[pl + 1 + nl] = '\0';
      }
    } else {
      name = field_string(h, 100);
    }
    char *link = t->pending_link ? t->pending_link : field_string(h + 157, 100);
    t->pending_link = NULL;
    if (!name || !link) {
      free(name);
      free(link);
      return seq_fail(SEQ_ENOMEM, "tar: out of memory reading '%s'", t->label);
    }
    set_owned(&t->name, name);
    set_owned(&t->link, link);
    if (t->pending_size >= 0) size = t->pending_size;
    t->pending_size = -1;
    seq_tar_type ty;
    switch (type) {
    case '0': case '\0': case '7': ty = SEQ_TAR_FILE; break;
    case '5': ty = SEQ_TAR_DIR; break;
    case '2': ty = SEQ_TAR_SYMLINK; break;
    case '1': ty = SEQ_TAR_HARDLINK; break;
    default: ty = SEQ_TAR_OTHER; break;
    }
    /* an old-style directory is a regular entry whose name ends in '/' */
    size_t nl = strlen(name);
    if (ty == SEQ_TAR_FILE && nl && name[nl - 1] == '/') ty = SEQ_TAR_DIR;
    /* links, directories and devices carry no data (except in broken archives) */
    if (ty == SEQ_TAR_HARDLINK || ty == SEQ_TAR_SYMLINK || (ty == SEQ_TAR_OTHER && (type == '3' || type == '4' || type == '6')))
      size = 0;
    if (ty == SEQ_TAR_DIR && type == '5') size = 0;
    if (name[0] == '\0')
      return seq_fail(SEQ_EFORMAT, "tar: '%s' has a member without a name at byte %lld", t->label, (long long)at);
    t->entry.name = t->name;
    t->entry.linkname = t->link;
    t->entry.type = ty;
    t->entry.size = size;
    t->entry.mode = (uint32_t)(mode & 07777);
    t->entry.offset = at;
    t->remaining = size;
    t->padding = (BLOCK - size % BLOCK) % BLOCK;
    *entry = &t->entry;
    return SEQ_OK;
  }
}

seq_status seq_tar_read(seq_tar *t, void *buf, size_t n, size_t *got) {
  *got = 0;
  if (t->remaining <= 0 || n == 0) return SEQ_OK;
  size_t want = (int64_t)n > t->remaining ? (size_t)t->remaining : n;
  size_t have;
  SEQ_TRY(src_read(t, buf, want, &have));
  t->remaining -= (int64_t)have;
  if (have != want)
    return seq_fail(SEQ_EFORMAT, "tar: '%s' is truncated (it ends inside member '%s')", t->label, t->name);
  *got = have;
  return SEQ_OK;
}

seq_status seq_tar_read_all(seq_tar *t, size_t max_bytes, char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  if (t->remaining > (int64_t)max_bytes)
    return seq_fail(SEQ_EFORMAT, "tar: member '%s' of '%s' is %lld bytes (more than %zu expected)", t->name,
                    t->label, (long long)t->remaining, max_bytes);
  size_t n = (size_t)t->remaining;
  char *buf = malloc(n + 1);
  if (!buf) return seq_fail(SEQ_ENOMEM, "tar: out of memory reading '%s'", t->label);
  size_t got;
  seq_status st = seq_tar_read(t, buf, n, &got);
  if (st != SEQ_OK) {
    free(buf);
    return st;
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return SEQ_OK;
}
