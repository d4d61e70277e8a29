/* test_utf8.c - the one UTF-8 encoder/decoder and JSON string decoder
 * (core/engine/seq_utf8.h), lone surrogates in particular. */
#include <stdio.h>
#include <string.h>

#include "seq_utf8.h"
#include "check.h"

static void encoder_cases(void) {
  static const struct { uint32_t cp; const char *utf8; } ok[] = {
      {0x24, "\x24"},          {0x7F, "\x7F"},          {0x80, "\xC2\x80"},
      {0xE9, "\xC3\xA9"},      {0x7FF, "\xDF\xBF"},     {0x800, "\xE0\xA0\x80"},
      {0x20AC, "\xE2\x82\xAC"}, {0xD7FF, "\xED\x9F\xBF"}, {0xE000, "\xEE\x80\x80"},
      {0xFFFF, "\xEF\xBF\xBF"}, {0x10000, "\xF0\x90\x80\x80"}, {0x1F600, "\xF0\x9F\x98\x80"},
      {0x10FFFF, "\xF4\x8F\xBF\xBF"}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char out[4];
    int k = seq_utf8_encode_cp(ok[i].cp, out);
    CHECK(k == (int)strlen(ok[i].utf8) && memcmp(out, ok[i].utf8, (size_t)k) == 0);
    /* and back */
    size_t pos = 0;
    uint32_t cp = 0;
    CHECK(seq_utf8_next(ok[i].utf8, strlen(ok[i].utf8), &pos, &cp) && cp == ok[i].cp &&
          pos == strlen(ok[i].utf8));
  }
  char out[4];
  CHECK(seq_utf8_encode_cp(0xD800, out) == 0);
  CHECK(seq_utf8_encode_cp(0xDFFF, out) == 0);
  CHECK(seq_utf8_encode_cp(0x110000, out) == 0);
  size_t pos = 0;
  uint32_t cp;
  CHECK(!seq_utf8_next("\xED\xA0\x80", 3, &pos, &cp) && pos == 0); /* encoded surrogate */
  CHECK(!seq_utf8_next("\xC0\xAF", 2, &pos, &cp));                  /* overlong */
  CHECK(!seq_utf8_next("\xE2\x82", 2, &pos, &cp));                  /* truncated */
}

/* Decodes the literal body `in` (after the opening quote); expects `want`
 * and that *next lands just after the closing quote at the end of `in`. */
static void expect_string(const char *in, const char *want, size_t want_len) {
  char dst[64];
  size_t n = 99, dry = 99;
  const char *next = NULL, *end = in + strlen(in);
  CHECK(seq_json_string_decode(in, end, NULL, &dry, &next) == SEQ_JSON_STRING_OK && dry == want_len);
  CHECK(seq_json_string_decode(in, end, dst, &n, &next) == SEQ_JSON_STRING_OK);
  if (n != want_len || memcmp(dst, want, n) != 0 || next != end) {
    fprintf(stderr, "decoding \"%s: got %zu bytes, want %zu\n", in, n, want_len);
    failures++;
  }
}

/* Expects failure r with *next at byte `at` of `in`. */
static void expect_error(const char *in, seq_json_string_result r, size_t at) {
  size_t n;
  const char *next = NULL;
  seq_json_string_result got = seq_json_string_decode(in, in + strlen(in), NULL, &n, &next);
  if (got != r || next != in + at) {
    fprintf(stderr, "decoding \"%s: got result %d at byte %td, want %d at %zu\n", in, (int)got,
            next ? next - in : -1, (int)r, at);
    failures++;
  }
}

static void json_cases(void) {
  expect_string("\"", "", 0);
  expect_string("abc\"", "abc", 3);
  expect_string("q\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "q\"\\/\b\f\n\r\t", 9);
  expect_string("caf\\u00e9\"", "caf\xc3\xa9", 5);
  expect_string("\\u0000x\"", "\0x", 2); /* NUL is legal JSON */
  expect_string("\\u20AC\"", "\xe2\x82\xac", 3);
  expect_string("\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4); /* a pair is one code point */
  expect_string("\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);
  expect_string("\xc3\xa9\"", "\xc3\xa9", 2); /* raw UTF-8 passes through */

  /* Lone surrogates are errors (never invalid UTF-8 out), at the escape. */
  expect_error("a\\ud83d\"", SEQ_JSON_STRING_LONE_SURROGATE, 1);        /* high, then the quote */
  expect_error("a\\ud83dx\"", SEQ_JSON_STRING_LONE_SURROGATE, 1);       /* high, then a letter */
  expect_error("\\ud83d\\u0041\"", SEQ_JSON_STRING_LONE_SURROGATE, 0);  /* high, then not a low */
  expect_error("\\ud83d\\ud83d\"", SEQ_JSON_STRING_LONE_SURROGATE, 0);  /* high, high */
  expect_error("\\ude00\"", SEQ_JSON_STRING_LONE_SURROGATE, 0);         /* low alone */
  expect_error("x\\udfff\\ud800\"", SEQ_JSON_STRING_LONE_SURROGATE, 1); /* pair in the wrong order */
  expect_error("\\ud83d", SEQ_JSON_STRING_LONE_SURROGATE, 0);           /* input ends */
  expect_error("\\ud83d\\u12\"", SEQ_JSON_STRING_LONE_SURROGATE, 0);

  expect_error("ab", SEQ_JSON_STRING_UNTERMINATED, 2);
  expect_error("ab\\", SEQ_JSON_STRING_UNTERMINATED, 2);
  expect_error("a\nb\"", SEQ_JSON_STRING_CONTROL, 1);
  expect_error("a\\x\"", SEQ_JSON_STRING_BAD_ESCAPE, 1);
  expect_error("\\u12g4\"", SEQ_JSON_STRING_BAD_HEX, 0);
  expect_error("\\u12", SEQ_JSON_STRING_BAD_HEX, 0);
  CHECK(strcmp(seq_json_string_problem(SEQ_JSON_STRING_LONE_SURROGATE),
               "unpaired surrogate in a \\u escape") == 0);
}

int main(void) {
  encoder_cases();
  json_cases();
  if (failures) fprintf(stderr, "%d failures\n", failures);
  return failures ? 1 : 0;
}
