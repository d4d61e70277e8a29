/* seq_utf8.c - see seq_utf8.h. */
#include "seq_utf8.h"

/* Four hex digits at p (end bounds the input) -> *out. */
static bool hex4(const char *p, const char *end, uint32_t *out) {
  if (end - p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
    else return false;
  }
  *out = v;
  return true;
}

/* The character a one-letter escape stands for, or -1. */
static int simple_escape(char e) {
  switch (e) {
  case '"': return '"';
  case '\\': return '\\';
  case '/': return '/';
  case 'b': return '\b';
  case 'f': return '\f';
  case 'n': return '\n';
  case 'r': return '\r';
  case 't': return '\t';
  default: return -1;
  }
}

seq_json_string_result seq_json_string_decode(const char *s, const char *end, char *dst,
                                              size_t *dst_len, const char **next) {
  const char *p = s;
  size_t n = 0;
  seq_json_string_result r = SEQ_JSON_STRING_OK;
  while (p < end && *p != '"') {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20) {
      r = SEQ_JSON_STRING_CONTROL;
      break;
    }
    if (c != '\\') {
      if (dst) dst[n] = (char)c;
      n++;
      p++;
      continue;
    }
    if (end - p < 2) {
      r = SEQ_JSON_STRING_UNTERMINATED;
      break;
    }
    if (p[1] != 'u') {
      int e = simple_escape(p[1]);
      if (e < 0) {
        r = SEQ_JSON_STRING_BAD_ESCAPE;
        break;
      }
      if (dst) dst[n] = (char)e;
      n++;
      p += 2;
      continue;
    }
    uint32_t cp, lo;
    if (!hex4(p + 2, end, &cp)) {
      r = SEQ_JSON_STRING_BAD_HEX;
      break;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      if (cp >= 0xDC00 || end - (p + 6) < 2 || p[6] != '\\' || p[7] != 'u' || !hex4(p + 8, end, &lo) ||
          lo < 0xDC00 || lo > 0xDFFF) {
        r = SEQ_JSON_STRING_LONE_SURROGATE;
        break;
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p += 6;
    }
    p += 6;
    char u[4];
    int k = seq_utf8_encode_cp(cp, u);
    for (int i = 0; i < k; i++) {
      if (dst) dst[n] = u[i];
      n++;
    }
  }
  if (r == SEQ_JSON_STRING_OK && p >= end) r = SEQ_JSON_STRING_UNTERMINATED;
  if (r == SEQ_JSON_STRING_OK) {
    *dst_len = n;
    p++; /* the closing quote */
  }
  *next = p;
  return r;
}

const char *seq_json_string_problem(seq_json_string_result r) {
  switch (r) {
  case SEQ_JSON_STRING_OK: return "no error";
  case SEQ_JSON_STRING_UNTERMINATED: return "unterminated string";
  case SEQ_JSON_STRING_CONTROL: return "control character in a string";
  case SEQ_JSON_STRING_BAD_ESCAPE: return "bad escape in a string";
  case SEQ_JSON_STRING_BAD_HEX: return "bad \\u escape";
  case SEQ_JSON_STRING_LONE_SURROGATE: return "unpaired surrogate in a \\u escape";
  }
  return "malformed string";
}
