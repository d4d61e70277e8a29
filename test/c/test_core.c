/* test_core.c - C unit tests of the tensor core: lifetime, views, errors,
 * broadcasting, reductions, matmul and a backward pass, without Lua. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "seq_ops.h"
#include "check.h"

static seq_tensor *from_f32(int ndim, const int64_t *shape, const float *v) {
  seq_tensor *t = NULL;
  size_t n = (size_t)seq_shape_numel(ndim, shape);
  CHECK_OK(seq_tensor_from_host(&t, SEQ_F32, ndim, shape, v, n * sizeof(float)));
  return t;
}

static void test_lifetime_and_views(void) {
  int64_t shape[2] = {3, 4};
  seq_tensor *t = NULL;
  CHECK_OK(seq_arange(&t, 0, 12, 1, SEQ_F32, SEQ_CPU));
  seq_tensor *m = NULL, *v = NULL, *s = NULL;
  CHECK_OK(seq_reshape(&m, t, 2, shape));
  CHECK(m->storage == t->storage);
  CHECK_OK(seq_narrow(&v, m, 1, 1, 2));
  CHECK(v->shape[0] == 3 && v->shape[1] == 2 && !seq_tensor_is_contiguous(v));
  CHECK(seq_tensor_get_flat(v, 0) == 1.0 && seq_tensor_get_flat(v, 5) == 10.0);
  CHECK_OK(seq_transpose(&s, m, 0, 1));
  CHECK(seq_tensor_get_flat(s, 1) == 4.0);
  size_t live = seq_storage_live_bytes(SEQ_CPU);
  seq_tensor_release(t);
  seq_tensor_release(m);
  seq_tensor_release(v);
  CHECK(seq_storage_live_bytes(SEQ_CPU) == live); /* s still holds the storage */
  seq_tensor_release(s);
  CHECK(seq_storage_live_bytes(SEQ_CPU) == live - 12 * sizeof(float));
}

static void test_errors_name_the_op(void) {
  int64_t s1[2] = {2, 3}, s2[2] = {4, 5};
  seq_tensor *a = NULL, *b = NULL, *r = NULL;
  CHECK_OK(seq_tensor_zeros(&a, SEQ_F32, SEQ_CPU, 2, s1));
  CHECK_OK(seq_tensor_zeros(&b, SEQ_F32, SEQ_CPU, 2, s2));
  CHECK(seq_matmul(&r, a, b) == SEQ_ESHAPE);
  CHECK(strstr(seq_last_error(), "matmul") && strstr(seq_last_error(), "[2,3]") &&
        strstr(seq_last_error(), "[4,5]"));
  CHECK(seq_binary(&r, SEQ_BIN_ADD, a, b) == SEQ_ESHAPE);
  CHECK(strstr(seq_last_error(), "broadcast") != NULL);
  int64_t bad[1] = {-3};
  CHECK(seq_tensor_empty(&r, SEQ_F32, SEQ_CPU, 1, bad) == SEQ_EARG);
  seq_tensor_release(a);
  seq_tensor_release(b);
}

static void test_broadcast_reduce_matmul(void) {
  float av[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {10, 20, 30};
  int64_t sa[2] = {2, 3}, sb[1] = {3};
  seq_tensor *a = from_f32(2, sa, av), *b = from_f32(1, sb, bv), *c = NULL, *s = NULL, *mm = NULL, *bt = NULL;
  CHECK_OK(seq_binary(&c, SEQ_BIN_ADD, a, b));
  CHECK(seq_tensor_get_flat(c, 4) == 25.0f);
  CHECK_OK(seq_reduce(&s, SEQ_RED_SUM, c, 0, false));
  CHECK(s->ndim == 1 && seq_tensor_get_flat(s, 2) == 69.0);
  CHECK_OK(seq_transpose(&bt, a, 0, 1));
  CHECK_OK(seq_matmul(&mm, a, bt)); /* [2,3] x [3,2] */
  CHECK(mm->shape[0] == 2 && mm->shape[1] == 2);
  CHECK(seq_tensor_get_flat(mm, 0) == 14.0 && seq_tensor_get_flat(mm, 1) == 32.0 &&
        seq_tensor_get_flat(mm, 3) == 77.0);
  seq_tensor_release(a);
  seq_tensor_release(b);
  seq_tensor_release(c);
  seq_tensor_release(s);
  seq_tensor_release(mm);
  seq_tensor_release(bt);
}

static void test_backward(void) {
  /* loss = sum(tanh(x @ w)), check dw against the closed form */
  float xv[4] = {0.5f, -1.0f, 2.0f, 0.25f}, wv[2] = {0.3f, -0.2f};
  int64_t sx[2] = {2, 2}, sw[2] = {2, 1};
  seq_tensor *x = from_f32(2, sx, xv), *w = from_f32(2, sw, wv), *y = NULL, *t = NULL, *l = NULL;
  w->requires_grad = true;
  CHECK_OK(seq_matmul(&y, x, w));
  CHECK_OK(seq_unary(&t, SEQ_UN_TANH, y, 0, 0));
  CHECK_OK(seq_reduce(&l, SEQ_RED_SUM, t, SEQ_ALL_DIMS, false));
  CHECK_OK(seq_backward(l, NULL));
  CHECK(w->grad != NULL);
  for (int j = 0; j < 2; j++) {
    double expect = 0;
    for (int i = 0; i < 2; i++) {
      double z = xv[2 * i] * wv[0] + xv[2 * i + 1] * wv[1];
      expect += (1 - tanh(z) * tanh(z)) * xv[2 * i + j];
    }
    CHECK(fabs(seq_tensor_get_flat(w->grad, j) - expect) < 1e-6);
  }
  /* a second backward through the freed graph is an error, not a crash */
  CHECK(seq_backward(l, NULL) == SEQ_EGRAD);
  seq_tensor_release(x);
  seq_tensor_release(w);
  seq_tensor_release(y);
  seq_tensor_release(t);
  seq_tensor_release(l);
}

int main(void) {
  test_lifetime_and_views();
  test_errors_name_the_op();
  test_broadcast_reduce_matmul();
  test_backward();
  if (failures) {
    fprintf(stderr, "test_core: %d failures\n", failures);
    return 1;
  }
  printf("test_core: ok\n");
  return 0;
}
