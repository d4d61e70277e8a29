/* test_cpu_memory.c - the CPU allocator's cache of freed large mappings:
 * a block of the same size comes back (resident, contents as left), other
 * sizes do not take it, and the cache stays within its bound. */
#include <stdint.h>
#include <string.h>

#include "cpu_kernels.h"
#include "check.h"

#define MiB ((size_t)1 << 20)

/* Sanitizer builds give every tensor to malloc (cpu_memory.c): no cache. */
#if defined(__SANITIZE_ADDRESS__)
#define MAPS_LARGE_BLOCKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MAPS_LARGE_BLOCKS 0
#endif
#endif
#ifndef MAPS_LARGE_BLOCKS
#define MAPS_LARGE_BLOCKS 1
#endif

static void test_same_size_comes_back(void) {
  void *a = NULL, *b = NULL, *c = NULL;
  size_t before = seq_cpu_map_cache_bytes();
  CHECK_OK(seq_cpu_alloc(&a, 8 * MiB));
  memset(a, 0xAB, 8 * MiB);
  seq_cpu_free(a, 8 * MiB);
  CHECK(seq_cpu_map_cache_bytes() > before);
  CHECK_OK(seq_cpu_alloc(&c, 9 * MiB)); /* another size: a fresh, zeroed mapping */
  CHECK(c != a && ((unsigned char *)c)[0] == 0);
  CHECK_OK(seq_cpu_alloc(&b, 8 * MiB));
  CHECK(b == a);
  CHECK(((unsigned char *)b)[0] == 0xAB && ((unsigned char *)b)[8 * MiB - 1] == 0xAB);
  CHECK(seq_cpu_map_cache_bytes() == before);
  seq_cpu_free(b, 8 * MiB);
  seq_cpu_free(c, 9 * MiB);
}

static void test_cache_is_bounded(void) {
  enum { N = 12 };
  void *p[N];
  for (int i = 0; i < N; i++) CHECK_OK(seq_cpu_alloc(&p[i], 12 * MiB));
  for (int i = 0; i < N; i++) seq_cpu_free(p[i], 12 * MiB);
  size_t held = seq_cpu_map_cache_bytes();
  CHECKF(held >= 12 * MiB && held <= 64 * MiB, "cache holds %zu bytes", held);
  /* the newest blocks stay: the last one freed is the first one back */
  void *q = NULL;
  CHECK_OK(seq_cpu_alloc(&q, 12 * MiB));
  CHECK(q == p[N - 1]);
  seq_cpu_free(q, 12 * MiB);
  /* a block larger than the whole bound is not kept */
  CHECK_OK(seq_cpu_alloc(&q, 80 * MiB));
  seq_cpu_free(q, 80 * MiB);
  CHECK(seq_cpu_map_cache_bytes() == held);
}

static void test_small_blocks_bypass_the_cache(void) {
  void *a = NULL;
  size_t before = seq_cpu_map_cache_bytes();
  CHECK_OK(seq_cpu_alloc(&a, 1000));
  CHECK(((uintptr_t)a & 63) == 0);
  seq_cpu_free(a, 1000);
  CHECK(seq_cpu_map_cache_bytes() == before);
}

int main(void) {
  test_small_blocks_bypass_the_cache();
  if (MAPS_LARGE_BLOCKS) {
    test_same_size_comes_back();
    test_cache_is_bounded();
  } else {
    CHECK(seq_cpu_map_cache_bytes() == 0);
  }
  return failures ? 1 : 0;
}
