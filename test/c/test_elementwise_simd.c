/* test_elementwise_simd.c - the CPU's contiguous f32 fast paths (binary
 * add/sub/mul/div in 8-wide blocks, AVX2 where CPUID has it; the AVX2 f32
 * sum) give exactly the scalar results: odd lengths around the 8-lane block,
 * the output aliasing an input (in-place), and a sum against the same
 * eight-lane double accumulation written out here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "seq_tensor.h"
#include "check.h"

static float value(int64_t i, int which) { /* values with rounding in every op */
  return (float)((double)((i * 7919 + which * 104729) % 2003) / 97.0 - 10.3);
}

static float scalar(seq_binop op, float x, float y) {
  switch (op) {
    case SEQ_BIN_ADD: return x + y;
    case SEQ_BIN_SUB: return x - y;
    case SEQ_BIN_MUL: return x * y;
    default: return x / y;
  }
}

int main(void) {
  const int64_t lens[] = {1, 7, 8, 9, 17, 63, 65, 129, 25600};
  const seq_binop ops[] = {SEQ_BIN_ADD, SEQ_BIN_SUB, SEQ_BIN_MUL, SEQ_BIN_DIV};
  int checked = 0;
  for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
    const int64_t n = lens[li];
    for (int oi = 0; oi < 4; oi++)
      for (int alias = 0; alias < 3; alias++) { /* 0: fresh out, 1: out is a, 2: out is b */
        seq_tensor *a = NULL, *b = NULL, *o = NULL;
        int64_t shape[1] = {n};
        CHECK_OK(seq_tensor_empty(&a, SEQ_F32, SEQ_CPU, 1, shape));
        CHECK_OK(seq_tensor_empty(&b, SEQ_F32, SEQ_CPU, 1, shape));
        if (!a || !b) return 1;
        float *pa = seq_tensor_data(a), *pb = seq_tensor_data(b);
        for (int64_t i = 0; i < n; i++) {
          pa[i] = value(i, 1);
          pb[i] = value(i, 2) + (ops[oi] == SEQ_BIN_DIV && value(i, 2) == 0 ? 1.0f : 0.0f);
        }
        float *want = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++) want[i] = scalar(ops[oi], pa[i], pb[i]);
        if (alias == 0) CHECK_OK(seq_tensor_empty(&o, SEQ_F32, SEQ_CPU, 1, shape));
        seq_tensor *out = alias == 0 ? o : alias == 1 ? a : b;
        CHECK_OK(seq_cpu_binary(ops[oi], out, a, b));
        const float *got = seq_tensor_data(out);
        for (int64_t i = 0; i < n; i++)
          if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            CHECKF(0, "op %d n=%lld alias=%d: [%lld] = %.9g, want %.9g", (int)ops[oi],
                   (long long)n, alias, (long long)i, got[i], want[i]);
            break;
          }
        checked++;
        free(want);
        seq_tensor_release(a);
        seq_tensor_release(b);
        seq_tensor_release(o);
      }
    /* the f32 sum: eight double lanes, then the lanes in order, then the tail */
    seq_tensor *x = NULL, *s = NULL;
    int64_t shape[2] = {1, n}, one[1] = {1};
    CHECK_OK(seq_tensor_empty(&x, SEQ_F32, SEQ_CPU, 2, shape));
    CHECK_OK(seq_tensor_empty(&s, SEQ_F32, SEQ_CPU, 1, one));
    if (!x || !s) return 1;
    float *px = seq_tensor_data(x);
    for (int64_t i = 0; i < n; i++) px[i] = value(i, 3) * 1e-3f;
    double lane[8] = {0}, acc = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; k++) lane[k] += (double)px[i + k];
    for (int k = 0; k < 8; k++) acc += lane[k];
    for (; i < n; i++) acc += (double)px[i];
    CHECK_OK(seq_cpu_reduce(SEQ_RED_SUM, s, x, 1));
    const float got = *(const float *)seq_tensor_data(s);
    CHECKF(got == (float)acc, "sum n=%lld: %.9g, want %.9g", (long long)n, got, (float)acc);
    checked++;
    seq_tensor_release(x);
    seq_tensor_release(s);
  }
  printf("test_elementwise_simd: %d cases, %s\n", checked, failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
