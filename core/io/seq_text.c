/* seq_text.c - UTF-8 strings (code points: seq_utf8.h), Python-compatible
 * lowercasing, vocabularies, vectorising and bigram counting.  See seq_text.h. */
#include "seq_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_text_tables.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- UTF-8 */

/* Records the message for invalid input at byte offset `pos`. */
static seq_status invalid_utf8(const char *s, size_t n, size_t pos) {
  char bytes[16] = "";
  size_t k, m = 0;
  for (k = pos; k < n && k < pos + 4; k++)
    m += (size_t)snprintf(bytes + m, sizeof bytes - m, "%s%02X", k > pos ? " " : "",
                          (unsigned)(unsigned char)s[k]);
  return seq_fail(SEQ_EFORMAT, "text: invalid UTF-8 at byte offset %zu (bytes %s)", pos, bytes);
}

seq_status seq_utf8_count(const char *s, size_t n, size_t *count) {
  size_t pos = 0, c = 0;
  uint32_t cp;
  while (pos < n) {
    /* ASCII fast path: the corpora are almost entirely ASCII. */
    if ((unsigned char)s[pos] < 0x80) {
      pos++;
      c++;
      continue;
    }
    size_t at = pos;
    if (!seq_utf8_next(s, n, &pos, &cp)) return invalid_utf8(s, n, at);
    c++;
  }
  *count = c;
  return SEQ_OK;
}

seq_status seq_utf8_decode(const char *s, size_t n, uint32_t **cps, size_t *count) {
  size_t c;
  SEQ_TRY(seq_utf8_count(s, n, &c));
  uint32_t *out = malloc((c ? c : 1) * sizeof *out);
  if (!out) return seq_fail(SEQ_ENOMEM, "text: out of memory decoding %zu characters", c);
  size_t pos = 0;
  for (size_t i = 0; i < c; i++) seq_utf8_next(s, n, &pos, &out[i]);
  *cps = out;
  *count = c;
  return SEQ_OK;
}

seq_status seq_utf8_encode(const uint32_t *cps, size_t count, char **out, size_t *nbytes) {
  char *buf = malloc(count * 4 + 1);
  if (!buf) return seq_fail(SEQ_ENOMEM, "text: out of memory encoding %zu characters", count);
  size_t m = 0;
  for (size_t i = 0; i < count; i++) {
    int k = seq_utf8_encode_cp(cps[i], buf + m);
    if (k == 0) {
      free(buf);
      return seq_fail(SEQ_EARG, "text: U+%04X at position %zu is not a valid code point",
                      (unsigned)cps[i], i + 1);
    }
    m += (size_t)k;
  }
  buf[m] = 0;
  *out = buf;
  *nbytes = m;
  return SEQ_OK;
}

/* ------------------------------------------------------ character classes */

static bool in_ranges(const uint32_t (*r)[2], size_t nr, uint32_t cp) {
  size_t lo = 0, hi = nr;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cp < r[mid][0])
      hi = mid;
    else if (cp > r[mid][1])
      lo = mid + 1;
    else
      return true;
  }
  return false;
}

uint32_t seq_text_lower_cp(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if (cp == 0x130) return 'i';
  size_t lo = 0, hi = NELEM(seq_text_lower_map);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    uint32_t k = seq_text_lower_map[mid][0];
    if (cp < k)
      hi = mid;
    else if (cp > k)
      lo = mid + 1;
    else
      return seq_text_lower_map[mid][1];
  }
  return cp;
}

bool seq_text_is_word_cp(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
           cp == '_';
  return in_ranges(seq_text_word_ranges, NELEM(seq_text_word_ranges), cp);
}

bool seq_text_is_space_cp(uint32_t cp) {
  return in_ranges(seq_text_space_ranges, NELEM(seq_text_space_ranges), cp);
}

static bool is_cased(uint32_t cp) {
  return in_ranges(seq_text_cased_ranges, NELEM(seq_text_cased_ranges), cp);
}
static bool is_case_ignorable(uint32_t cp) {
  return in_ranges(seq_text_case_ignorable_ranges, NELEM(seq_text_case_ignorable_ranges), cp);
}

/* ---------------------------------------------------------- whole strings */

/* Python's rule (CPython handle_capital_sigma): capital sigma at i lowers to
 * final sigma when \p{cased}\p{case-ignorable}* precedes it and
 * \p{case-ignorable}*\p{cased} does not follow it. */
static uint32_t lower_sigma(const uint32_t *cps, size_t n, size_t i) {
  size_t j = i;
  uint32_t c = 0;
  bool found = false;
  while (j > 0) {
    c = cps[--j];
    if (!is_case_ignorable(c)) {
      found = true;
      break;
    }
  }
  bool final = found && is_cased(c);
  if (final) {
    for (j = i + 1; j < n; j++) {
      c = cps[j];
      if (!is_case_ignorable(c)) break;
    }
    final = j == n || !is_cased(c);
  }
  return final ? 0x3C2 : 0x3C3;
}

seq_status seq_text_lower(const char *s, size_t n, char **out, size_t *nbytes) {
  uint32_t *cps;
  size_t count;
  SEQ_TRY(seq_utf8_decode(s, n, &cps, &count));
  /* Lowercase forms never need more than 3 bytes per input byte: the only
   * growth is U+0130 (2 bytes) -> "i" + U+0307 (3 bytes). */
  char *buf = malloc(n * 2 + 1);
  if (!buf) {
    free(cps);
    return seq_fail(SEQ_ENOMEM, "text.lower: out of memory for %zu bytes", n);
  }
  size_t m = 0;
  for (size_t i = 0; i < count; i++) {
    uint32_t c = cps[i], l;
    if (c < 0x80) {
      buf[m++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
      continue;
    }
    if (c == 0x130) { /* SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE */
      buf[m++] = 'i';
      m += (size_t)seq_utf8_encode_cp(0x307, buf + m);
      continue;
    }
    l = c == 0x3A3 ? lower_sigma(cps, count, i) : seq_text_lower_cp(c);
    m += (size_t)seq_utf8_encode_cp(l, buf + m);
  }
  free(cps);
  buf[m] = 0;
  *out = buf;
  *nbytes = m;
  return SEQ_OK;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

seq_status seq_text_chars(const char *s, size_t n, uint32_t **cps, size_t *count) {
  /* A bitmap over the BMP catches almost everything in one pass; the rare
   * astral code points are collected and sorted separately. */
  uint8_t *seen = calloc(0x10000 / 8, 1);
  size_t cap = 64, nastral = 0;
  uint32_t *astral = malloc(cap * sizeof *astral);
  if (!seen || !astral) {
    free(seen);
    free(astral);
    return seq_fail(SEQ_ENOMEM, "text.chars: out of memory");
  }
  size_t pos = 0, distinct = 0;
  uint32_t cp;
  while (pos < n) {
    size_t at = pos;
    if (!seq_utf8_next(s, n, &pos, &cp)) {
      free(seen);
      free(astral);
      return invalid_utf8(s, n, at);
    }
    if (cp < 0x10000) {
      if (!(seen[cp >> 3] & (1u << (cp & 7)))) {
        seen[cp >> 3] |= (uint8_t)(1u << (cp & 7));
        distinct++;
      }
    } else {
      if (nastral == cap) {
        uint32_t *grown = realloc(astral, 2 * cap * sizeof *astral);
        if (!grown) {
          free(seen);
          free(astral);
          return seq_fail(SEQ_ENOMEM, "text.chars: out of memory");
        }
        astral = grown;
        cap *= 2;
      }
      astral[nastral++] = cp;
    }
  }
  qsort(astral, nastral, sizeof *astral, cmp_u32);
  size_t nuniq = 0;
  for (size_t i = 0; i < nastral; i++)
    if (i == 0 || astral[i] != astral[i - 1]) astral[nuniq++] = astral[i];
  uint32_t *res = malloc((distinct + nuniq + 1) * sizeof *res);
  if (!res) {
    free(seen);
    free(astral);
    return seq_fail(SEQ_ENOMEM, "text.chars: out of memory");
  }
  size_t k = 0;
  for (uint32_t c = 0; c < 0x10000; c++)
    if (seen[c >> 3] & (1u << (c & 7))) res[k++] = c;
  memcpy(res + k, astral, nuniq * sizeof *res);
  free(seen);
  free(astral);
  *cps = res;
  *count = k + nuniq;
  return SEQ_OK;
}

/* Lookup from code point to vocabulary position: a dense table below
 * U+10000 (the common case), a sorted array with binary search above. */
typedef struct vocab_map {
  int32_t *dense; /* size 0x10000, -1 = absent */
  uint32_t (*sparse)[2];
  size_t nsparse;
} vocab_map;

static int cmp_pair(const void *a, const void *b) { return cmp_u32(a, b); }

static void vocab_map_free(vocab_map *m) {
  free(m->dense);
  free(m->sparse);
}

static seq_status vocab_map_duplicate(vocab_map *m) {
  vocab_map_free(m);
  return seq_fail(SEQ_EARG, "text.vectorize: the vocabulary lists a character twice");
}

static seq_status vocab_map_init(vocab_map *m, const uint32_t *vocab, size_t nvocab) {
  memset(m, 0, sizeof *m);
  m->dense = malloc(0x10000 * sizeof *m->dense);
  m->sparse = malloc((nvocab + 1) * sizeof *m->sparse);
  if (!m->dense || !m->sparse) {
    vocab_map_free(m);
    return seq_fail(SEQ_ENOMEM, "text.vectorize: out of memory");
  }
  memset(m->dense, 0xFF, 0x10000 * sizeof *m->dense);
  for (size_t i = 0; i < nvocab; i++) {
    uint32_t c = vocab[i];
    if (c < 0x10000) {
      if (m->dense[c] >= 0) return vocab_map_duplicate(m);
      m->dense[c] = (int32_t)i;
    } else {
      m->sparse[m->nsparse][0] = c;
      m->sparse[m->nsparse][1] = (uint32_t)i;
      m->nsparse++;
    }
  }
  qsort(m->sparse, m->nsparse, sizeof *m->sparse, cmp_pair);
  for (size_t i = 1; i < m->nsparse; i++)
    if (m->sparse[i][0] == m->sparse[i - 1][0]) return vocab_map_duplicate(m);
  return SEQ_OK;
}

static int32_t vocab_map_get(const vocab_map *m, uint32_t c) {
  if (c < 0x10000) return m->dense[c];
  size_t lo = 0, hi = m->nsparse;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c < m->sparse[mid][0])
      hi = mid;
    else if (c > m->sparse[mid][0])
      lo = mid + 1;
    else
      return (int32_t)m->sparse[mid][1];
  }
  return -1;
}

seq_status seq_text_vectorize(const char *s, size_t n, const uint32_t *vocab, size_t nvocab,
                              int32_t unknown, int32_t *out, size_t *count) {
  if (nvocab > INT32_MAX) return seq_fail(SEQ_EARG, "text.vectorize: vocabulary too large");
  vocab_map m;
  SEQ_TRY(vocab_map_init(&m, vocab, nvocab));
  size_t pos = 0, k = 0;
  uint32_t cp;
  seq_status st = SEQ_OK;
  while (pos < n) {
    size_t at = pos;
    if (!seq_utf8_next(s, n, &pos, &cp)) {
      st = invalid_utf8(s, n, at);
      break;
    }
    int32_t id = vocab_map_get(&m, cp);
    if (id < 0) {
      if (unknown >= 0) {
        id = unknown;
      } else {
        char enc[5] = {0};
        seq_utf8_encode_cp(cp, enc);
        st = seq_fail(SEQ_EARG,
                      "text.vectorize: character '%s' (U+%04X) at position %zu is not in the "
                      "vocabulary",
                      enc, (unsigned)cp, k + 1);
        break;
      }
    }
    out[k++] = id;
  }
  vocab_map_free(&m);
  if (st == SEQ_OK) *count = k;
  return st;
}

seq_status seq_text_bigram_counts(const int32_t *idx, size_t n, int32_t vocab, int64_t *counts) {
  if (vocab <= 0) return seq_fail(SEQ_EARG, "text.bigrams: vocabulary size %d must be positive", vocab);
  for (size_t i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= vocab)
      return seq_fail(SEQ_EARG, "text.bigrams: id %d at position %zu is outside [0, %d)", idx[i],
                      i + 1, vocab);
  for (size_t i = 0; i + 1 < n; i++) counts[(size_t)idx[i] * (size_t)vocab + (size_t)idx[i + 1]]++;
  return SEQ_OK;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

seq_status seq_text_bigram_pairs(const int32_t *idx, size_t n, int32_t **a, int32_t **b,
                                 int64_t **counts, size_t *npairs) {
  for (size_t i = 0; i < n; i++)
    if (idx[i] < 0)
      return seq_fail(SEQ_EARG, "text.bigrams: negative id %d at position %zu", idx[i], i + 1);
  size_t m = n > 1 ? n - 1 : 0;
  uint64_t *keys = malloc((m + 1) * sizeof *keys);
  if (!keys) return seq_fail(SEQ_ENOMEM, "text.bigrams: out of memory");
  for (size_t i = 0; i < m; i++) keys[i] = ((uint64_t)(uint32_t)idx[i] << 32) | (uint32_t)idx[i + 1];
  qsort(keys, m, sizeof *keys, cmp_u64);
  size_t np = 0;
  for (size_t i = 0; i < m; i++)
    if (i == 0 || keys[i] != keys[i - 1]) np++;
  int32_t *pa = malloc((np + 1) * sizeof *pa), *pb = malloc((np + 1) * sizeof *pb);
  int64_t *pc = malloc((np + 1) * sizeof *pc);
  if (!pa || !pb || !pc) {
    free(keys);
    free(pa);
    free(pb);
    free(pc);
    return seq_fail(SEQ_ENOMEM, "text.bigrams: out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; i < m; i++) {
    if (i == 0 || keys[i] != keys[i - 1]) {
      pa[k] = (int32_t)(keys[i] >> 32);
      pb[k] = (int32_t)(keys[i] & 0xFFFFFFFFu);
      pc[k] = 0;
      k++;
    }
    pc[k - 1]++;
  }
  free(keys);
  *a = pa;
  *b = pb;
  *counts = pc;
  *npairs = np;
  return SEQ_OK;
}

/* ------------------------------------------------------------------ words */

seq_status seq_text_tokens(const char *s, size_t n, seq_text_split mode, seq_text_span **spans,
                           size_t *count) {
  size_t cap = 256, k = 0;
  seq_text_span *out = malloc(cap * sizeof *out);
  if (!out) return seq_fail(SEQ_ENOMEM, "text.words: out of memory");
  size_t pos = 0;
  uint32_t cp;
  /* Class of each code point: in-token or separator.  The scan keeps the
   * start of the current token (or SIZE_MAX) and closes it at a separator. */
  size_t start = SIZE_MAX;
  while (1) {
    size_t at = pos;
    bool end = pos >= n;
    bool in_tok = false;
    if (!end) {
      if (!seq_utf8_next(s, n, &pos, &cp)) {
        free(out);
        return invalid_utf8(s, n, at);
      }
      if (mode == SEQ_SPLIT_SPACE) {
        in_tok = !seq_text_is_space_cp(cp);
      } else {
        in_tok = seq_text_is_word_cp(cp);
        /* An apostrophe continues a word only between word characters. */
        if (!in_tok && cp == '\'' && start != SIZE_MAX && pos < n) {
          size_t p2 = pos;
          uint32_t nx;
          if (seq_utf8_next(s, n, &p2, &nx) && seq_text_is_word_cp(nx)) in_tok = true;
        }
      }
    }
    if (in_tok) {
      if (start == SIZE_MAX) start = at;
    } else if (start != SIZE_MAX) {
      if (k == cap) {
        seq_text_span *grown = realloc(out, 2 * cap * sizeof *out);
        if (!grown) {
          free(out);
          return seq_fail(SEQ_ENOMEM, "text.words: out of memory");
        }
        out = grown;
        cap *= 2;
      }
      out[k].start = start;
      out[k].len = at - start;
      k++;
      start = SIZE_MAX;
    }
    if (end) break;
  }
  *spans = out;
  *count = k;
  return SEQ_OK;
}
