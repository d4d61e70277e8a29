/* seq_utf8.h - UTF-8 code points and JSON string literals: the one UTF-8
 * encoder and decoder and the one JSON string decoder of the C code.  UTF-8
 * is strict like Python's 'utf-8' codec.  Tensor-free and allocation-free,
 * so core/io (text, the IMDB word index) may use it beside seq_error.h, and
 * so may the engine's safetensors reader. */
#ifndef SEQ_UTF8_H
#define SEQ_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s[*pos] (n bytes in all) and advances *pos.
 * Returns false on invalid or truncated input.  Inline, as is the encoder:
 * text loops call them once per character. */
static inline bool seq_utf8_next(const char *str, size_t n, size_t *pos, uint32_t *cp) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = *pos;
  if (i >= n) return false;
  unsigned c = s[i];
  if (c < 0x80) {
    *cp = c;
    *pos = i + 1;
    return true;
  }
  /* Lead byte ranges and the allowed range of the second byte follow the
   * Unicode well-formed table (Table 3-7), which is what Python enforces:
   * no overlongs (C0, C1, E0 80..9F, F0 80..8F), no surrogates (ED A0..BF),
   * nothing above U+10FFFF (F4 90.., F5..FF). */
  int len;
  unsigned lo = 0x80, hi = 0xBF;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    v = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    v = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return false;
  }
  if (i + (size_t)len > n) return false;
  for (int k = 1; k < len; k++) {
    unsigned b = s[i + k];
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return false;
    v = (v << 6) | (b & 0x3F);
  }
  *cp = v;
  *pos = i + (size_t)len;
  return true;
}

/* Writes the UTF-8 form of cp into out and returns its length (1-4), or 0
 * when cp is a surrogate or above U+10FFFF (no valid UTF-8 form). */
static inline int seq_utf8_encode_cp(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  if (cp <= 0x10FFFF) {
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
  }
  return 0;
}

typedef enum {
  SEQ_JSON_STRING_OK,
  SEQ_JSON_STRING_UNTERMINATED,
  SEQ_JSON_STRING_CONTROL,        /* a raw byte below 0x20 */
  SEQ_JSON_STRING_BAD_ESCAPE,     /* a backslash not followed by " \ / b f n r t u */
  SEQ_JSON_STRING_BAD_HEX,        /* \u not followed by four hex digits */
  SEQ_JSON_STRING_LONE_SURROGATE, /* \uD800-\uDFFF that is not a high-low pair */
} seq_json_string_result;

/* Decodes the body of a JSON string literal that starts at s, just after its
 * opening quote (the input ends at end).  Writes the UTF-8 text to dst unless
 * dst is NULL (a dry run that measures); no escape is shorter than its UTF-8
 * form, so end - s bytes always suffice.  On success *dst_len is the decoded
 * length and *next points just after the closing quote; on failure *next
 * points at the offending byte (the backslash of a bad escape).
 *
 * A surrogate escape must be a high-low pair, which becomes one code point: a
 * lone one has no UTF-8 form.  Python's json accepts it (the str then cannot
 * be encoded), serde_json and so the safetensors reference reject it; we
 * reject it everywhere, so a checkpoint header or word index never yields
 * invalid UTF-8.  Raw bytes other than control bytes are copied unchecked. */
seq_json_string_result seq_json_string_decode(const char *s, const char *end, char *dst,
                                              size_t *dst_len, const char **next);

/* A lowercase phrase for a failure ("unpaired surrogate in a \u escape"). */
const char *seq_json_string_problem(seq_json_string_result r);

#endif
