/* seq_safetensors.c - see seq_safetensors.h.  Assumes a little-endian host
 * (x86-64, aarch64), as the format's raw data is little-endian. */
#define _POSIX_C_SOURCE 200809L
#include "seq_safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seq_atomic.h"
#include "seq_autograd.h"
#include "seq_error.h"
#include "seq_ops.h"
#include "seq_utf8.h"

/* Header sizes above this are treated as corruption (the reference
 * implementation uses the same 100 MB cap). */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

static const char *st_dtype_name(seq_dtype d) {
  switch (d) {
  case SEQ_F32: return "F32";
  case SEQ_F64: return "F64";
  case SEQ_I32: return "I32";
  case SEQ_I64: return "I64";
  case SEQ_U8: return "U8";
  default: return NULL;
  }
}

/* How a file's dtype is read: as is, or converted (F16 and BF16 weights
 * from other frameworks become F32; BOOL masks, one byte 0/1, become U8). */
typedef enum { ST_AS_IS, ST_F16, ST_BF16 } st_conv;

static bool st_dtype_from(const char *s, seq_dtype *out, st_conv *conv, int *file_size) {
  static const struct { const char *n; seq_dtype d; st_conv c; int size; } tab[] = {
      {"F32", SEQ_F32, ST_AS_IS, 4}, {"F64", SEQ_F64, ST_AS_IS, 8}, {"I32", SEQ_I32, ST_AS_IS, 4},
      {"I64", SEQ_I64, ST_AS_IS, 8}, {"U8", SEQ_U8, ST_AS_IS, 1},   {"BOOL", SEQ_U8, ST_AS_IS, 1},
      {"F16", SEQ_F32, ST_F16, 2},   {"BF16", SEQ_F32, ST_BF16, 2}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (strcmp(s, tab[i].n) == 0) {
      *out = tab[i].d;
      *conv = tab[i].c;
      *file_size = tab[i].size;
      return true;
    }
  return false;
}

/* IEEE half (little-endian bits) to float, subnormals, infinities and NaN included. */
static float st_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal: normalise */
    int e = -1;
    do { man <<= 1; e++; } while (!(man & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* numel 16-bit values at src (F16 or BF16, little-endian) as floats in dst. */
static void st_widen(float *dst, const unsigned char *src, uint64_t numel, st_conv conv) {
  for (uint64_t i = 0; i < numel; i++) {
    uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
    if (conv == ST_F16) {
      dst[i] = st_half_to_float(h);
    } else {
      uint32_t bits = (uint32_t)h << 16;
      memcpy(&dst[i], &bits, sizeof bits);
    }
  }
}

/* ---- a growable byte buffer for the header ---- */

typedef struct { char *p; size_t len, cap; bool oom; } buf;

static void buf_put(buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) { b->oom = true; return; }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void buf_str(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_fmt(buf *b, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string literal: quotes, backslashes and control bytes escaped;
 * other bytes (UTF-8) pass through. */
static void buf_json_str(buf *b, const char *s) {
  buf_put(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"') buf_put(b, "\\\"", 2);
    else if (*c == '\\') buf_put(b, "\\\\", 2);
    else if (*c == '\n') buf_put(b, "\\n", 2);
    else if (*c == '\t') buf_put(b, "\\t", 2);
    else if (*c == '\r') buf_put(b, "\\r", 2);
    else if (*c < 0x20) buf_fmt(b, "\\u%04x", *c);
    else buf_put(b, (const char *)c, 1);
  }
  buf_put(b, "\"", 1);
}

static void put_u64le(unsigned char *out, uint64_t v) {
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)(v >> (8 * i));
}

/* ---- writing ---- */

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

seq_status seq_safetensors_write(const char *path, int n, const char *const *names,
                                 seq_tensor *const *tensors, int nmeta,
                                 const char *const *meta_keys, const char *const *meta_values) {
  if (!path || !*path) return seq_fail(SEQ_EARG, "save_tensors: empty path");
  for (int i = 0; i < n; i++) {
    if (!names[i] || !*names[i]) return seq_fail(SEQ_EARG, "save_tensors: tensor %d has an empty name", i + 1);
    if (strcmp(names[i], "__metadata__") == 0)
      return seq_fail(SEQ_EARG, "save_tensors: '__metadata__' is reserved and cannot name a tensor");
    if (!st_dtype_name(tensors[i]->dtype))
      return seq_fail(SEQ_EDTYPE, "save_tensors: tensor '%s' has unsupported dtype %s", names[i],
                      seq_dtype_name(tensors[i]->dtype));
  }
  const char **sorted = malloc(sizeof *sorted * (size_t)(n > 0 ? n : 1));
  if (!sorted) return seq_fail(SEQ_ENOMEM, "save_tensors: out of memory");
  if (n > 0) memcpy(sorted, names, sizeof *sorted * (size_t)n);
  qsort(sorted, (size_t)n, sizeof *sorted, cmp_cstr);
  for (int i = 1; i < n; i++)
    if (strcmp(sorted[i - 1], sorted[i]) == 0) {
      seq_status dup = seq_fail(SEQ_EARG, "save_tensors: duplicate tensor name '%s'", sorted[i]);
      free(sorted);
      return dup;
    }
  free(sorted);
  seq_status st = SEQ_OK;
  seq_tensor **host = calloc((size_t)(n > 0 ? n : 1), sizeof *host);
  if (!host) return seq_fail(SEQ_ENOMEM, "save_tensors: out of memory");
  buf hb = {0};

  /* Host, contiguous copies (free when the tensor already is); no autograd
   * recording for what is only a copy to disk. */
  bool prev_grad = seq_set_grad_enabled(false);
  for (int i = 0; i < n && st == SEQ_OK; i++) {
    seq_tensor *c = NULL;
    st = seq_to_device(&c, tensors[i], SEQ_CPU);
    if (st == SEQ_OK) {
      st = seq_contiguous(&host[i], c);
      seq_tensor_release(c);
    }
  }
  seq_set_grad_enabled(prev_grad);
  if (st != SEQ_OK) goto done;

  buf_str(&hb, "{");
  if (nmeta > 0) {
    buf_str(&hb, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      if (i) buf_str(&hb, ",");
      buf_json_str(&hb, meta_keys[i]);
      buf_str(&hb, ":");
      buf_json_str(&hb, meta_values[i]);
    }
    buf_str(&hb, "}");
  }
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    seq_tensor *t = host[i];
    if (i || nmeta > 0) buf_str(&hb, ",");
    buf_json_str(&hb, names[i]);
    buf_fmt(&hb, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) buf_fmt(&hb, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    uint64_t nb = (uint64_t)t->numel * seq_dtype_size(t->dtype);
    buf_fmt(&hb, "],\"data_offsets\":[%llu,", (unsigned long long)off);
    buf_fmt(&hb, "%llu]}", (unsigned long long)(off + nb));
    off += nb;
  }
  buf_str(&hb, "}");
  /* pad with spaces so the data starts 8-byte aligned, as the reference
   * writer does */
  while (!hb.oom && (hb.len % 8) != 0) buf_str(&hb, " ");
  if (hb.oom) { st = seq_fail(SEQ_ENOMEM, "save_tensors: out of memory building the header"); goto done; }

  seq_atomic_file af;
  st = seq_atomic_open(&af, path, "save_tensors");
  if (st != SEQ_OK) goto done;
  FILE *f = af.f;
  unsigned char len8[8];
  put_u64le(len8, (uint64_t)hb.len);
  bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hb.p, 1, hb.len, f) == hb.len;
  for (int i = 0; i < n && ok; i++) {
    size_t nb = (size_t)host[i]->numel * seq_dtype_size(host[i]->dtype);
    if (nb) ok = fwrite(seq_tensor_data(host[i]), 1, nb, f) == nb;
  }
  if (!ok) {
    st = seq_fail(SEQ_EIO, "save_tensors: writing '%s' failed: %s", af.tmp, strerror(errno));
    seq_atomic_abort(&af);
    goto done;
  }
  st = seq_atomic_commit(&af, "save_tensors");

done:
  for (int i = 0; i < n; i++) seq_tensor_release(host[i]);
  free(host);
  free(hb.p);
  return st;
}

/* ---- reading: a strict parser for the header's small JSON subset ---- */

typedef struct {
  const char *p, *end;
  const char *path;
  seq_status st; /* first failure */
} parser;

static seq_status pfail(parser *ps, const char *fmt, ...) {
  if (ps->st != SEQ_OK) return ps->st;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ps->st = seq_fail(SEQ_EFORMAT, "load_tensors: '%s': corrupt header: %s", ps->path, msg);
  return ps->st;
}

static void ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static bool expect(parser *ps, char c) {
  ws(ps);
  if (ps->p < ps->end && *ps->p == c) { ps->p++; return true; }
  if (ps->p >= ps->end) pfail(ps, "expected '%c', found the end of the header", c);
  else pfail(ps, "expected '%c', found '%c'", c, *ps->p);
  return false;
}

static bool peek(parser *ps, char c) {
  ws(ps);
  return ps->p < ps->end && *ps->p == c;
}

/* A string literal -> malloc'd UTF-8 (NULL on failure): a dry run measures
 * it, a second pass decodes. */
static char *pstring(parser *ps) {
  if (!expect(ps, '"')) return NULL;
  size_t n;
  const char *next;
  seq_json_string_result r = seq_json_string_decode(ps->p, ps->end, NULL, &n, &next);
  if (r == SEQ_JSON_STRING_BAD_ESCAPE) {
    pfail(ps, "bad escape '\\%c' in a string", next[1]);
    return NULL;
  }
  if (r != SEQ_JSON_STRING_OK) {
    pfail(ps, "%s", seq_json_string_problem(r));
    return NULL;
  }
  char *out = malloc(n + 1);
  if (!out) {
    ps->st = seq_fail(SEQ_ENOMEM, "load_tensors: out of memory");
    return NULL;
  }
  seq_json_string_decode(ps->p, ps->end, out, &n, &next);
  out[n] = 0;
  ps->p = next;
  return out;
}

static bool puint(parser *ps, uint64_t *out) {
  ws(ps);
  if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') { pfail(ps, "expected a non-negative integer"); return false; }
  uint64_t v = 0;
  while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
    unsigned d = (unsigned)(*ps->p++ - '0');
    if (v > (UINT64_MAX - d) / 10) { pfail(ps, "integer too large"); return false; }
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* [u, u, ...] into out (at most `max`), count in *n. */
static bool puint_array(parser *ps, uint64_t *out, int max, int *n, const char *what) {
  *n = 0;
  if (!expect(ps, '[')) return false;
  if (peek(ps, ']')) { ps->p++; return true; }
  for (;;) {
    uint64_t v;
    if (!puint(ps, &v)) return false;
    if (*n >= max) { pfail(ps, "%s has more than %d entries", what, max); return false; }
    out[(*n)++] = v;
    if (peek(ps, ',')) { ps->p++; continue; }
    return expect(ps, ']');
  }
}

typedef struct {
  char *name;
  seq_dtype dtype; /* in memory */
  st_conv conv;    /* from the file's dtype */
  int file_size;   /* bytes per element in the file */
  int ndim;
  int64_t shape[SEQ_MAX_DIM];
  uint64_t begin, end;
} entry;

/* One field of a tensor entry; *have marks the fields already seen. */
static bool pentry_field(parser *ps, entry *e, const char *key, bool have[3]) {
  if (strcmp(key, "dtype") == 0 && !have[0]) {
    char *d = pstring(ps);
    if (!d) return false;
    bool known = st_dtype_from(d, &e->dtype, &e->conv, &e->file_size);
    if (!known)
      pfail(ps, "tensor '%s' has unsupported dtype '%s' (seqlua reads F32, F64, I32, I64, U8, BOOL, and F16 and BF16 "
            "as F32)", e->name, d);
    free(d);
    return have[0] = known;
  }
  if (strcmp(key, "shape") == 0 && !have[1]) {
    uint64_t s[SEQ_MAX_DIM];
    if (!puint_array(ps, s, SEQ_MAX_DIM, &e->ndim, "shape")) return false;
    for (int i = 0; i < e->ndim; i++) {
      if (s[i] > ((uint64_t)1 << 48)) {
        pfail(ps, "tensor '%s' has an absurd dimension", e->name);
        return false;
      }
      e->shape[i] = (int64_t)s[i];
    }
    return have[1] = true;
  }
  if (strcmp(key, "data_offsets") == 0 && !have[2]) {
    uint64_t o[2];
    int no;
    if (!puint_array(ps, o, 2, &no, "data_offsets")) return false;
    if (no != 2) {
      pfail(ps, "tensor '%s': data_offsets needs 2 entries", e->name);
      return false;
    }
    e->begin = o[0];
    e->end = o[1];
    return have[2] = true;
  }
  pfail(ps, "tensor '%s': unexpected or repeated field '%s'", e->name, key);
  return false;
}

/* {member, member, ...}: `member` reads one "key": value pair. */
static bool pobject(parser *ps, bool (*member)(parser *ps, void *ctx), void *ctx) {
  if (!expect(ps, '{')) return false;
  if (peek(ps, '}')) {
    ps->p++;
    return true;
  }
  for (;;) {
    if (!member(ps, ctx)) return false;
    if (peek(ps, ',')) { ps->p++; continue; }
    return expect(ps, '}');
  }
}

typedef struct {
  entry *e;
  bool have[3]; /* dtype, shape, data_offsets */
} entry_fields;

static bool pentry_member(parser *ps, void *ctx) {
  entry_fields *f = ctx;
  char *k = pstring(ps);
  if (!k) return false;
  bool ok = expect(ps, ':') && pentry_field(ps, f->e, k, f->have);
  free(k);
  return ok;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} */
static bool pentry(parser *ps, entry *e) {
  entry_fields f = {e, {false, false, false}};
  if (!pobject(ps, pentry_member, &f)) return false;
  if (!f.have[0] || !f.have[1] || !f.have[2]) {
    pfail(ps, "tensor '%s' lacks %s", e->name, !f.have[0] ? "dtype" : !f.have[1] ? "shape" : "data_offsets");
    return false;
  }
  return true;
}

void seq_safetensors_free(seq_safetensors *st) {
  if (!st) return;
  for (int i = 0; i < st->n; i++) {
    free(st->names[i]);
    seq_tensor_release(st->tensors[i]);
  }
  for (int i = 0; i < st->nmeta; i++) {
    free(st->meta_keys[i]);
    free(st->meta_values[i]);
  }
  free(st->names);
  free(st->tensors);
  free(st->meta_keys);
  free(st->meta_values);
  memset(st, 0, sizeof *st);
}

/* Grows a pointer array to hold at least n+1 items. */
static bool grow(void **arr, int n, int *cap, size_t item) {
  if (n < *cap) return true;
  int nc = *cap ? *cap * 2 : 8;
  void *q = realloc(*arr, (size_t)nc * item);
  if (!q) return false;
  *arr = q;
  *cap = nc;
  return true;
}

/* One "key": "value" pair of __metadata__, appended to out. */
static bool pmeta_member(parser *ps, void *ctx) {
  seq_safetensors *out = ctx;
  char *k = pstring(ps), *v = NULL;
  bool ok = k && expect(ps, ':');
  if (ok && !peek(ps, '"')) {
    pfail(ps, "__metadata__ value of '%s' is not a string", k);
    ok = false;
  }
  if (ok) ok = (v = pstring(ps)) != NULL;
  int cm = out->nmeta, c1 = cm, c2 = cm;
  if (ok && !(grow((void **)&out->meta_keys, cm, &c1, sizeof(char *)) &&
              grow((void **)&out->meta_values, cm, &c2, sizeof(char *)))) {
    ps->st = seq_fail(SEQ_ENOMEM, "load_tensors: out of memory");
    ok = false;
  }
  if (!ok) {
    free(k);
    free(v);
    return false;
  }
  out->meta_keys[cm] = k;
  out->meta_values[cm] = v;
  out->nmeta++;
  return true;
}

/* A tensor entry named `name` (owned from here on), appended to *ents. */
static bool ptensor(parser *ps, char *name, entry **ents, int *ne, int *cap) {
  if (!grow((void **)ents, *ne, cap, sizeof **ents)) {
    free(name);
    ps->st = seq_fail(SEQ_ENOMEM, "load_tensors: out of memory");
    return false;
  }
  entry *e = &(*ents)[(*ne)++];
  memset(e, 0, sizeof *e);
  e->name = name;
  return pentry(ps, e);
}

typedef struct {
  seq_safetensors *out;
  entry **ents;
  int *ne, cap;
  bool have_meta;
} header_members;

static bool pheader_member(parser *ps, void *ctx) {
  header_members *h = ctx;
  char *key = pstring(ps);
  if (!key) return false;
  if (!expect(ps, ':')) {
    free(key);
    return false;
  }
  if (strcmp(key, "__metadata__") != 0) return ptensor(ps, key, h->ents, h->ne, &h->cap);
  free(key);
  if (h->have_meta) {
    pfail(ps, "repeated __metadata__");
    return false;
  }
  h->have_meta = true;
  return pobject(ps, pmeta_member, h->out);
}

/* The whole header: tensor entries into *ents (the caller frees their names
 * and the array, also on failure), metadata into out. */
static bool pheader(parser *ps, seq_safetensors *out, entry **ents, int *ne) {
  header_members h = {out, ents, ne, 0, false};
  if (!pobject(ps, pheader_member, &h)) return false;
  ws(ps);
  if (ps->p != ps->end) {
    pfail(ps, "unexpected bytes after the JSON object");
    return false;
  }
  return true;
}

/* The file's header (NUL-terminated) and the data bytes after it. */
static seq_status read_file(const char *path, char **header, uint64_t *hlen, unsigned char **data,
                            uint64_t *dsize) {
  *header = NULL;
  *data = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return seq_fail(SEQ_EIO, "load_tensors: cannot open '%s': %s", path, strerror(errno));
  seq_status st = SEQ_OK;
  if (fseek(f, 0, SEEK_END) != 0) { st = seq_fail(SEQ_EIO, "load_tensors: cannot seek '%s'", path); goto done; }
  long fsize = ftell(f);
  rewind(f);
  if (fsize < 8) {
    st = seq_fail(SEQ_EFORMAT, "load_tensors: '%s' is truncated: %ld bytes, not even the 8-byte header length",
                  path, fsize);
    goto done;
  }
  unsigned char len8[8];
  if (fread(len8, 1, 8, f) != 8) { st = seq_fail(SEQ_EIO, "load_tensors: cannot read '%s'", path); goto done; }
  *hlen = 0;
  for (int i = 7; i >= 0; i--) *hlen = (*hlen << 8) | len8[i];
  if (*hlen > ST_MAX_HEADER || *hlen > (uint64_t)fsize - 8) {
    st = seq_fail(SEQ_EFORMAT,
                  "load_tensors: '%s' is truncated or not a safetensors file: header length %llu, file size %ld",
                  path, (unsigned long long)*hlen, fsize);
    goto done;
  }
  *dsize = (uint64_t)fsize - 8 - *hlen;
  *header = malloc(*hlen + 1);
  *data = malloc(*dsize ? *dsize : 1);
  if (!*header || !*data) { st = seq_fail(SEQ_ENOMEM, "load_tensors: out of memory reading '%s'", path); goto done; }
  if (fread(*header, 1, *hlen, f) != *hlen || fread(*data, 1, *dsize, f) != *dsize) {
    st = seq_fail(SEQ_EIO, "load_tensors: short read on '%s'", path);
    goto done;
  }
  (*header)[*hlen] = 0;
done:
  fclose(f);
  if (st != SEQ_OK) {
    free(*header);
    free(*data);
    *header = NULL;
    *data = NULL;
  }
  return st;
}

/* A tensor's byte range lies inside the data and matches its shape. */
static seq_status check_entry_size(const char *path, const entry *e, uint64_t dsize) {
  uint64_t numel = 1;
  for (int d = 0; d < e->ndim; d++) {
    if (e->shape[d] && numel > UINT64_MAX / 16 / (uint64_t)e->shape[d])
      return seq_fail(SEQ_EFORMAT, "load_tensors: '%s': tensor '%s' is impossibly large", path, e->name);
    numel *= (uint64_t)e->shape[d];
  }
  if (e->end < e->begin || e->end > dsize)
    return seq_fail(SEQ_EFORMAT,
                    "load_tensors: '%s': tensor '%s' has data_offsets [%llu, %llu] outside the %llu data bytes "
                    "(truncated file?)", path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                    (unsigned long long)dsize);
  if (e->end - e->begin != numel * (uint64_t)e->file_size) {
    char sb[96];
    return seq_fail(SEQ_EFORMAT, "load_tensors: '%s': tensor '%s' (%s %s) needs %llu bytes but data_offsets give %llu",
                    path, e->name, st_dtype_name(e->dtype), seq_shape_str(sb, sizeof sb, e->ndim, e->shape),
                    (unsigned long long)(numel * (uint64_t)e->file_size), (unsigned long long)(e->end - e->begin));
  }
  return SEQ_OK;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp((*(const entry *const *)a)->name, (*(const entry *const *)b)->name);
}

/* Duplicate names, found by sorting: n log n, where comparing each name
 * with all earlier ones took 17 s for 80,000 names. */
static seq_status check_unique(const char *path, entry *ents, int ne) {
  entry **order = malloc(sizeof *order * (size_t)(ne ? ne : 1));
  if (!order) return seq_fail(SEQ_ENOMEM, "load_tensors: out of memory");
  for (int i = 0; i < ne; i++) order[i] = &ents[i];
  qsort(order, (size_t)ne, sizeof *order, cmp_name);
  seq_status st = SEQ_OK;
  for (int i = 1; i < ne && st == SEQ_OK; i++)
    if (strcmp(order[i - 1]->name, order[i]->name) == 0)
      st = seq_fail(SEQ_EFORMAT, "load_tensors: '%s': corrupt header: tensor '%s' appears twice", path,
                    order[i]->name);
  free(order);
  return st;
}

static int cmp_begin(const void *a, const void *b) {
  const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* The tensors' byte ranges tile [0, dsize) exactly: no overlap, no gap. */
static seq_status check_tiling(const char *path, entry *ents, int ne, uint64_t dsize) {
  entry **order = malloc(sizeof *order * (size_t)(ne ? ne : 1));
  if (!order) return seq_fail(SEQ_ENOMEM, "load_tensors: out of memory");
  for (int i = 0; i < ne; i++) order[i] = &ents[i];
  qsort(order, (size_t)ne, sizeof *order, cmp_begin);
  seq_status st = SEQ_OK;
  uint64_t pos = 0;
  for (int i = 0; i < ne && st == SEQ_OK; i++) {
    if (order[i]->begin < pos)
      st = seq_fail(SEQ_EFORMAT, "load_tensors: '%s': tensors '%s' and '%s' overlap", path, order[i - 1]->name,
                    order[i]->name);
    else if (order[i]->begin > pos)
      st = seq_fail(SEQ_EFORMAT, "load_tensors: '%s': %llu unused bytes before tensor '%s'", path,
                    (unsigned long long)(order[i]->begin - pos), order[i]->name);
    pos = order[i]->end;
  }
  if (st == SEQ_OK && pos != dsize)
    st = seq_fail(SEQ_EFORMAT, "load_tensors: '%s': %llu bytes of data but the tensors cover %llu", path,
                  (unsigned long long)dsize, (unsigned long long)pos);
  free(order);
  return st;
}

/* Copies each entry's bytes into a tensor; the names move into out. */
static seq_status make_tensors(seq_safetensors *out, entry *ents, int ne, const unsigned char *data) {
  out->names = calloc((size_t)(ne ? ne : 1), sizeof *out->names);
  out->tensors = calloc((size_t)(ne ? ne : 1), sizeof *out->tensors);
  if (!out->names || !out->tensors) return seq_fail(SEQ_ENOMEM, "load_tensors: out of memory");
  for (int i = 0; i < ne; i++) {
    entry *e = &ents[i];
    if (e->conv == ST_AS_IS) {
      SEQ_TRY(seq_tensor_from_host(&out->tensors[i], e->dtype, e->ndim, e->shape, data + e->begin, e->end - e->begin));
    } else {
      uint64_t numel = (e->end - e->begin) / 2;
      float *wide = malloc(numel ? numel * sizeof *wide : 1);
      if (!wide) return seq_fail(SEQ_ENOMEM, "load_tensors: out of memory");
      st_widen(wide, data + e->begin, numel, e->conv);
      seq_status st = seq_tensor_from_host(&out->tensors[i], e->dtype, e->ndim, e->shape, wide, numel * sizeof *wide);
      free(wide);
      SEQ_TRY(st);
    }
    out->names[i] = e->name;
    e->name = NULL;
    out->n = i + 1;
  }
  return SEQ_OK;
}

seq_status seq_safetensors_read(const char *path, seq_safetensors *out) {
  memset(out, 0, sizeof *out);
  char *header;
  unsigned char *data;
  uint64_t hlen = 0, dsize = 0;
  entry *ents = NULL;
  int ne = 0;
  seq_status st = read_file(path, &header, &hlen, &data, &dsize);
  if (st != SEQ_OK) return st;
  parser ps = {header, header + hlen, path, SEQ_OK};
  pheader(&ps, out, &ents, &ne);
  st = ps.st;
  if (st == SEQ_OK) st = check_unique(path, ents, ne);
  for (int i = 0; i < ne && st == SEQ_OK; i++) st = check_entry_size(path, &ents[i], dsize);
  if (st == SEQ_OK) st = check_tiling(path, ents, ne, dsize);
  if (st == SEQ_OK) st = make_tensors(out, ents, ne, data);
  for (int i = 0; i < ne; i++) free(ents[i].name);
  free(ents);
  free(header);
  free(data);
  if (st != SEQ_OK) seq_safetensors_free(out);
  return st;
}
