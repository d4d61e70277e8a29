/* test_text.c - UTF-8 decoding, Python-compatible lower(), chars, vectorise,
 * bigrams and tokens.  Expected strings were produced with CPython 3.11. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_text.h"
#include "check.h"

static void expect_lower(const char *in, const char *want) {
  char *out;
  size_t n;
  CHECK(seq_text_lower(in, strlen(in), &out, &n) == SEQ_OK);
  if (n != strlen(want) || memcmp(out, want, n) != 0) {
    fprintf(stderr, "lower(%s) = %s, want %s\n", in, out, want);
    failures++;
  }
  free(out);
}

static void expect_invalid(const char *in, size_t n, const char *offset_text) {
  size_t c;
  CHECK(seq_utf8_count(in, n, &c) == SEQ_EFORMAT);
  CHECK(strstr(seq_last_error(), "invalid UTF-8") != NULL);
  if (!strstr(seq_last_error(), offset_text)) {
    fprintf(stderr, "message '%s' lacks '%s'\n", seq_last_error(), offset_text);
    failures++;
  }
}

int main(void) {
  /* Python: 'PREFACE ÆÉÄË Straße İ ΟΔΟΣ Σ ΑΣ. ДОМ Ǆ'.lower() */
  expect_lower("PREFACE \xc3\x86\xc3\x89\xc3\x84\xc3\x8b Stra\xc3\x9f" "e \xc4\xb0 "
               "\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3 \xce\x91\xce\xa3. \xd0\x94\xd0\x9e\xd0\x9c "
               "\xc7\x84",
               "preface \xc3\xa6\xc3\xa9\xc3\xa4\xc3\xab stra\xc3\x9f" "e i\xcc\x87 "
               "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83 \xce\xb1\xcf\x82. \xd0\xb4\xd0\xbe\xd0\xbc "
               "\xc7\x86");
  expect_lower("", "");
  expect_lower("\xc4\x80\xc4\x81\xc5\xb8\xc5\xbd", "\xc4\x81\xc4\x81\xc3\xbf\xc5\xbe"); /* Ā ā Ÿ Ž */

  expect_invalid("ab\xc3\x28", 4, "byte offset 2");
  expect_invalid("\xc0\xaf", 2, "byte offset 0");         /* overlong '/' */
  expect_invalid("x\xed\xa0\x80", 4, "byte offset 1");    /* surrogate */
  expect_invalid("xy\xe2\x82", 4, "byte offset 2");       /* truncated */
  expect_invalid("\xf4\x90\x80\x80", 4, "byte offset 0"); /* > U+10FFFF */
  size_t cnt;
  CHECK(seq_utf8_count("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10, &cnt) == SEQ_OK && cnt == 4);

  /* chars: sorted(set('bañana😀a')) */
  uint32_t *cps;
  const char *t = "ba\xc3\xb1" "ana\xf0\x9f\x98\x80" "a";
  CHECK(seq_text_chars(t, strlen(t), &cps, &cnt) == SEQ_OK);
  CHECK(cnt == 5 && cps[0] == 'a' && cps[1] == 'b' && cps[2] == 'n' && cps[3] == 0xF1 &&
        cps[4] == 0x1F600);

  /* vectorise with that vocabulary */
  int32_t ids[16];
  size_t nid;
  CHECK(seq_text_vectorize(t, strlen(t), cps, cnt, -1, ids, &nid) == SEQ_OK);
  int32_t want_ids[] = {1, 0, 3, 0, 2, 0, 4, 0};
  CHECK(nid == 8 && memcmp(ids, want_ids, sizeof want_ids) == 0);
  CHECK(seq_text_vectorize("abz", 3, cps, cnt, -1, ids, &nid) == SEQ_EARG);
  CHECK(strstr(seq_last_error(), "'z'") && strstr(seq_last_error(), "position 3"));
  CHECK(seq_text_vectorize("abz", 3, cps, cnt, 7, ids, &nid) == SEQ_OK && ids[2] == 7);
  free(cps);

  /* bigrams */
  int32_t seqv[] = {0, 1, 0, 1, 1, 2};
  int64_t counts[9] = {0};
  CHECK(seq_text_bigram_counts(seqv, 6, 3, counts) == SEQ_OK);
  int64_t want_counts[9] = {0, 2, 0, 1, 1, 1, 0, 0, 0};
  CHECK(memcmp(counts, want_counts, sizeof counts) == 0);
  CHECK(seq_text_bigram_counts(seqv, 6, 2, counts) == SEQ_EARG);
  int32_t *pa, *pb;
  int64_t *pc;
  size_t np;
  CHECK(seq_text_bigram_pairs(seqv, 6, &pa, &pb, &pc, &np) == SEQ_OK);
  CHECK(np == 4 && pa[0] == 0 && pb[0] == 1 && pc[0] == 2 && pa[3] == 1 && pb[3] == 2 && pc[3] == 1);
  free(pa);
  free(pb);
  free(pc);

  /* tokens: re.findall(r"\w+(?:'\w+)*", s) and s.split() */
  const char *w = "Don't stop--'quoted' caf\xc3\xa9 x_1 '' it's.";
  seq_text_span *sp;
  CHECK(seq_text_tokens(w, strlen(w), SEQ_SPLIT_WORDS, &sp, &cnt) == SEQ_OK);
  const char *want_words[] = {"Don't", "stop", "quoted", "caf\xc3\xa9", "x_1", "it's"};
  CHECK(cnt == 6);
  for (size_t i = 0; i < cnt && i < 6; i++)
    CHECK(sp[i].len == strlen(want_words[i]) && memcmp(w + sp[i].start, want_words[i], sp[i].len) == 0);
  free(sp);
  CHECK(seq_text_tokens(w, strlen(w), SEQ_SPLIT_SPACE, &sp, &cnt) == SEQ_OK && cnt == 6);
  CHECK(sp[1].len == strlen("stop--'quoted'"));
  free(sp);

  if (failures) fprintf(stderr, "test_text: %d failures\n", failures);
  else printf("test_text: ok\n");
  return failures ? 1 : 0;
}
