/* test_imdb_shuffle.c - our MT19937 + shuffle reproduce numpy's legacy
 * RandomState bit for bit, which is what Keras's imdb.load_data(seed=113)
 * uses.  Expected values were printed by numpy 1.24.2 (/usr/bin/python3):
 *
 *   r = np.random.RandomState(113)
 *   a = np.arange(25000); r.shuffle(a)      # train order
 *   b = np.arange(25000); r.shuffle(b)      # test order, same generator
 *   np.random.RandomState(113).randint(0, 2**32, size=4, dtype=np.uint64)
 *       # = the first four raw 32-bit outputs
 *   np.random.RandomState(113).randint(0, 2**40 + 1, size=4, dtype=np.int64)
 *       # = masked rejection with 64-bit draws, as random_interval(2**40)
 *   c = np.arange(10); np.random.RandomState(0).shuffle(c)
 *   c = np.arange(7);  np.random.RandomState(4294967295).shuffle(c)
 *   (a * np.arange(25000)).sum(), (b * np.arange(25000)).sum()
 */
#include <stdio.h>
#include <stdlib.h>

#include "seq_imdb.h"
#include "check.h"

static void check_prefix(const char *what, const int64_t *got, const int64_t *want, int n) {
  for (int i = 0; i < n; i++)
    if (got[i] != want[i]) {
      CHECKF(0, "%s[%d] = %lld, numpy gives %lld", what, i, (long long)got[i], (long long)want[i]);
      return;
    }
}

int main(void) {
  seq_imdb_rng r;

  seq_imdb_rng_seed(&r, 113);
  const uint32_t raw[4] = {3659249829u, 529109724u, 317413538u, 548173386u};
  for (int i = 0; i < 4; i++) {
    uint32_t x = seq_imdb_rng_next32(&r);
    CHECKF(x == raw[i], "raw output %d = %u, numpy gives %u", i, x, raw[i]);
  }

  seq_imdb_rng_seed(&r, 113);
  const uint64_t big[4] = {709198713564ull, 696332875338ull, 645287314199ull, 1088366229744ull};
  for (int i = 0; i < 4; i++) {
    uint64_t x = seq_imdb_rng_interval(&r, 1ull << 40);
    CHECKF(x == big[i], "64-bit interval draw %d = %llu, numpy gives %llu", i,
          (unsigned long long)x, (unsigned long long)big[i]);
  }

  int64_t *a = malloc(25000 * sizeof *a), *b = malloc(25000 * sizeof *b);
  if (!a || !b) return 2;
  for (int i = 0; i < 25000; i++) a[i] = b[i] = i;
  seq_imdb_rng_seed(&r, 113);
  seq_imdb_rng_shuffle_i64(&r, a, 25000);
  seq_imdb_rng_shuffle_i64(&r, b, 25000);
  const int64_t train_head[16] = {7798,  13226, 18078, 793,   17499, 23003, 574,   19638,
                                  5181,  23045, 1161,  23406, 22124, 14678, 12995, 21817};
  const int64_t train_tail[4] = {16236, 22690, 4828, 14501};
  const int64_t test_head[16] = {22748, 4083, 8015,  13688, 5310,  4466,  736,   22654,
                                 23614, 10255, 11260, 13207, 20302, 19764, 8695, 15366};
  const int64_t test_tail[4] = {2321, 23183, 20869, 16517};
  check_prefix("train perm", a, train_head, 16);
  check_prefix("train perm tail", a + 24996, train_tail, 4);
  check_prefix("test perm", b, test_head, 16);
  check_prefix("test perm tail", b + 24996, test_tail, 4);
  long long wa = 0, wb = 0;
  for (int i = 0; i < 25000; i++) {
    wa += a[i] * i;
    wb += b[i] * i;
  }
  CHECKF(wa == 3919982184325LL, "train perm weighted sum %lld", wa);
  CHECKF(wb == 3895349011257LL, "test perm weighted sum %lld", wb);
  free(a);
  free(b);

  int64_t c[10];
  for (int i = 0; i < 10; i++) c[i] = i;
  seq_imdb_rng_seed(&r, 0);
  seq_imdb_rng_shuffle_i64(&r, c, 10);
  const int64_t c_want[10] = {2, 8, 4, 9, 1, 6, 7, 3, 0, 5};
  check_prefix("seed 0 shuffle", c, c_want, 10);

  for (int i = 0; i < 7; i++) c[i] = i;
  seq_imdb_rng_seed(&r, 4294967295u);
  seq_imdb_rng_shuffle_i64(&r, c, 7);
  const int64_t d_want[7] = {1, 5, 0, 6, 4, 2, 3};
  check_prefix("seed 2^32-1 shuffle", c, d_want, 7);

  /* degenerate sizes draw nothing */
  seq_imdb_rng_seed(&r, 1);
  seq_imdb_rng_shuffle_i64(&r, c, 0);
  seq_imdb_rng_shuffle_i64(&r, c, 1);
  CHECKF(seq_imdb_rng_interval(&r, 0) == 0, "interval(0)");

  if (failures) {
    fprintf(stderr, "test_imdb_shuffle: %d failure(s)\n", failures);
    return 1;
  }
  printf("test_imdb_shuffle: ok\n");
  return 0;
}
