/* test_pad.c - pad_sequences (core/engine/seq_pad.c) against Keras's semantics.
 * Expected rows were produced with keras.utils.pad_sequences' rules:
 * truncating 'pre' keeps the tail, padding 'pre' right-aligns. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "seq_pad.h"
#include "seq_tensor.h"
#include "check.h"

/* [[1,2,3],[4,5],[],[6,7,8,9,10]] */
static const int32_t V[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const int64_t OFF[] = {0, 3, 5, 5, 10};

static void expect_rows(const char *what, const int32_t *got, const int32_t *want, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (got[i] != want[i]) {
      CHECKF(0, "%s: element %lld is %d, expected %d", what, (long long)i, got[i], want[i]);
      return;
    }
}

static void raw_cases(void) {
  int32_t out[64];
  /* maxlen = longest (5), pre padding */
  CHECKF(seq_pad_longest(OFF, 4) == 5, "longest");
  CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF, 4, 5, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32, out) == SEQ_OK,
        "pre/pre: %s", seq_last_error());
  {
    const int32_t want[] = {0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0, 6, 7, 8, 9, 10};
    expect_rows("pre/pre maxlen 5", out, want, 20);
  }
  /* maxlen 3: truncating pre keeps the last 3 */
  CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF, 4, 3, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32, out) == SEQ_OK,
        "%s", seq_last_error());
  {
    const int32_t want[] = {1, 2, 3, 0, 4, 5, 0, 0, 0, 8, 9, 10};
    expect_rows("pre/pre maxlen 3", out, want, 12);
  }
  /* truncating post keeps the first 3, padding post left-aligns, value -1 */
  CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF, 4, 3, SEQ_PAD_POST, SEQ_PAD_POST, -1, SEQ_I32, out) == SEQ_OK,
        "%s", seq_last_error());
  {
    const int32_t want[] = {1, 2, 3, 4, 5, -1, -1, -1, -1, 6, 7, 8};
    expect_rows("post/post maxlen 3 value -1", out, want, 12);
  }
  /* padding pre + truncating post, maxlen 4, value 7 */
  CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF, 4, 4, SEQ_PAD_PRE, SEQ_PAD_POST, 7, SEQ_I32, out) == SEQ_OK,
        "%s", seq_last_error());
  {
    const int32_t want[] = {7, 1, 2, 3, 7, 7, 4, 5, 7, 7, 7, 7, 6, 7, 8, 9};
    expect_rows("pre/post maxlen 4", out, want, 16);
  }
  /* a slice of the ragged list: offsets not starting at 0 */
  CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF + 1, 2, 2, SEQ_PAD_POST, SEQ_PAD_PRE, 0, SEQ_I32, out) == SEQ_OK,
        "%s", seq_last_error());
  {
    const int32_t want[] = {4, 5, 0, 0};
    expect_rows("slice", out, want, 4);
  }
  /* conversions: floats truncate toward zero like numpy's astype */
  {
    const double fv[] = {2.7, -2.7, 1e3};
    const int64_t fo[] = {0, 3};
    CHECKF(seq_pad_ragged_raw(fv, SEQ_F64, 3, fo, 1, 4, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32, out) == SEQ_OK,
          "%s", seq_last_error());
    const int32_t want[] = {0, 2, -2, 1000};
    expect_rows("f64 -> i32", out, want, 4);
    float f[4];
    CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF, 1, 4, SEQ_PAD_POST, SEQ_PAD_PRE, 0.5, SEQ_F32, f) == SEQ_OK,
          "%s", seq_last_error());
    CHECKF(f[0] == 1 && f[1] == 2 && f[2] == 3 && f[3] == 0.5f, "i32 -> f32 with value 0.5");
    int64_t l[3];
    CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF, 1, 3, SEQ_PAD_POST, SEQ_PAD_PRE, 0, SEQ_I64, l) == SEQ_OK &&
              l[0] == 1 && l[2] == 3,
          "i32 -> i64");
  }
  /* errors */
  CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF, 4, 0, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32, out) == SEQ_EARG &&
            strstr(seq_last_error(), "maxlen"),
        "maxlen 0 must fail: %s", seq_last_error());
  {
    const int64_t bad[] = {0, 3, 2};
    CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, bad, 2, 3, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32, out) == SEQ_EARG &&
              strstr(seq_last_error(), "decrease"),
          "decreasing offsets must fail: %s", seq_last_error());
    const int64_t past[] = {0, 11};
    CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, past, 1, 3, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32, out) == SEQ_EARG,
          "offsets past the values must fail");
  }
  {
    uint8_t u[8];
    CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF, 1, 4, SEQ_PAD_PRE, SEQ_PAD_PRE, 300, SEQ_U8, u) == SEQ_EARG &&
              strstr(seq_last_error(), "300"),
          "value 300 in u8 must fail: %s", seq_last_error());
    CHECKF(seq_pad_ragged_raw(V, SEQ_I32, 10, OFF, 1, 4, SEQ_PAD_PRE, SEQ_PAD_PRE, NAN, SEQ_I32, out) == SEQ_EARG,
          "NaN padding in i32 must fail");
  }
  seq_pad_side side;
  CHECKF(seq_pad_side_from_name("post", &side) && side == SEQ_PAD_POST, "post");
  CHECKF(!seq_pad_side_from_name("middle", &side), "middle is not a side");
}

static void tensor_cases(void) {
  seq_tensor *v, *o, *out;
  int64_t nv = 10, no = 5;
  CHECKF(seq_tensor_from_host(&v, SEQ_I32, 1, &nv, V, sizeof V) == SEQ_OK, "%s", seq_last_error());
  CHECKF(seq_tensor_from_host(&o, SEQ_I64, 1, &no, OFF, sizeof OFF) == SEQ_OK, "%s", seq_last_error());
  CHECKF(seq_pad_sequences(&out, v, o, -1, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32) == SEQ_OK, "%s", seq_last_error());
  CHECKF(out->ndim == 2 && out->shape[0] == 4 && out->shape[1] == 5 && out->dtype == SEQ_I32, "shape [4,5] i32");
  const int32_t want[] = {0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0, 6, 7, 8, 9, 10};
  expect_rows("tensor pre/pre", seq_tensor_data(out), want, 20);
  seq_tensor_release(out);
  CHECKF(seq_pad_sequences(&out, v, o, 0, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32) == SEQ_EARG, "maxlen 0");
  CHECKF(seq_pad_sequences(&out, o, v, 2, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32) != SEQ_OK, "i32 offsets rejected");
  /* no sequences at all: a [0, 0] tensor, not an error */
  int64_t one = 1, z = 0;
  seq_tensor *o0;
  CHECKF(seq_tensor_from_host(&o0, SEQ_I64, 1, &one, &z, sizeof z) == SEQ_OK, "%s", seq_last_error());
  CHECKF(seq_pad_sequences(&out, v, o0, -1, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32) == SEQ_OK &&
            out->shape[0] == 0 && out->shape[1] == 0,
        "empty list: %s", seq_last_error());
  seq_tensor_release(out);
  seq_tensor_release(o0);
  seq_tensor_release(v);
  seq_tensor_release(o);
}

/* steps of feature vectors: [[[1,1]], [[2,1],[2,2]], [[3,1],[3,2],[3,3]]]
 * (Keras's test_pad_sequences_vector) as values [6, 2] */
static void vector_cases(void) {
  static const int32_t VV[] = {1, 1, 2, 1, 2, 2, 3, 1, 3, 2, 3, 3};
  static const int64_t VO[] = {0, 1, 3, 6};
  int32_t out[18];
  CHECKF(seq_pad_ragged_rows_raw(VV, SEQ_I32, 6, 2, VO, 3, 2, SEQ_PAD_PRE, SEQ_PAD_PRE, 0, SEQ_I32, out) == SEQ_OK,
         "vectors pre: %s", seq_last_error());
  const int32_t want_pre[] = {0, 0, 1, 1, 2, 1, 2, 2, 3, 2, 3, 3};
  expect_rows("vectors maxlen 2 truncating pre", out, want_pre, 12);
  CHECKF(seq_pad_ragged_rows_raw(VV, SEQ_I32, 6, 2, VO, 3, 3, SEQ_PAD_POST, SEQ_PAD_POST, 1, SEQ_I32, out) == SEQ_OK,
         "vectors post: %s", seq_last_error());
  const int32_t want_post[] = {1, 1, 1, 1, 1, 1, 2, 1, 2, 2, 1, 1, 3, 1, 3, 2, 3, 3};
  expect_rows("vectors maxlen 3 padding post value 1", out, want_post, 18);
  CHECKF(seq_pad_ragged_rows_raw(VV, SEQ_I32, 6, 0, VO, 3, 3, SEQ_PAD_POST, SEQ_PAD_POST, 1, SEQ_I32, out) == SEQ_EARG,
         "row 0 refused");
  CHECKF(seq_pad_ragged_rows_raw(VV, SEQ_I32, 5, 2, VO, 3, 3, SEQ_PAD_POST, SEQ_PAD_POST, 1, SEQ_I32, out) == SEQ_EARG,
         "offsets past the steps refused");
  /* tensor form: [6, 2] values -> [3, 3, 2]; f32 output converts */
  seq_tensor *v, *o, *t;
  int64_t vs[2] = {6, 2}, no = 4;
  CHECKF(seq_tensor_from_host(&v, SEQ_I32, 2, vs, VV, sizeof VV) == SEQ_OK, "%s", seq_last_error());
  CHECKF(seq_tensor_from_host(&o, SEQ_I64, 1, &no, VO, sizeof VO) == SEQ_OK, "%s", seq_last_error());
  CHECKF(seq_pad_sequences(&t, v, o, -1, SEQ_PAD_PRE, SEQ_PAD_PRE, 0.5, SEQ_F32) == SEQ_OK, "%s", seq_last_error());
  CHECKF(t->ndim == 3 && t->shape[0] == 3 && t->shape[1] == 3 && t->shape[2] == 2 && t->dtype == SEQ_F32,
         "shape [3,3,2] f32");
  const float *f = seq_tensor_data(t);
  CHECKF(f[0] == 0.5f && f[3] == 0.5f && f[4] == 1.0f && f[17] == 3.0f, "f32 vector padding");
  seq_tensor_release(t);
  seq_tensor_release(o);
  seq_tensor_release(v);
}

int main(void) {
  raw_cases();
  tensor_cases();
  vector_cases();
  if (failures) {
    fprintf(stderr, "test_pad: %d failure(s)\n", failures);
    return 1;
  }
  printf("test_pad: ok\n");
  return 0;
}
