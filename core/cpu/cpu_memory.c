/* cpu_memory.c - host memory for CPU tensors.
 *
 * 64-byte alignment keeps AVX-512 loads on one cache line.
 *
 * Large tensors (SEQ_CPU_MAP_MIN and up) are mapped and unmapped directly.
 * Through malloc they would not go back to the system when freed: glibc
 * raises its mmap threshold to the size of every mapped block it frees (up
 * to 32 MiB), after which tensors of a few MiB come from the heap, and a
 * heap fragmented by them keeps the peak resident for the rest of the run.
 * A mapping costs a system call and first-touch page faults, small beside
 * writing a tensor of 4 MiB or more.  Smaller tensors stay with malloc, whose
 * heap reuses them without system calls, and glibc's thresholds are pinned
 * to match (mmap at 4 MiB, trim at 8 MiB): left sliding, the mmap threshold
 * stays at 128 KiB when no big block is ever freed to malloc, and mid-sized
 * activations would be mapped and unmapped at every step.  Measurements:
 * test/bench/RESULTS.md, "memory".
 *
 * A training step frees and maps again the same sizes every time, and a fresh
 * mapping is faulted in and zeroed page by page: a quarter of the time of a
 * Conv1D model went to the kernel.  So freed mappings wait in a small cache
 * (cpu_map_cache below) and an allocation of the same mapped length takes the
 * most recently freed one back, still resident and warm in cache.
 * Sanitizer builds keep malloc so that every tensor has red zones. */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "cpu_kernels.h"

#ifndef SEQ_CPU_USE_MAP /* -DSEQ_CPU_USE_MAP=0 forces malloc (for measuring) */
#if defined(__SANITIZE_ADDRESS__)
#define SEQ_CPU_USE_MAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SEQ_CPU_USE_MAP 0
#endif
#endif
#endif
#ifndef SEQ_CPU_USE_MAP
#if defined(__unix__)
#define SEQ_CPU_USE_MAP 1
#else
#define SEQ_CPU_USE_MAP 0
#endif
#endif

#if SEQ_CPU_USE_MAP
#include <sys/mman.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifndef SEQ_CPU_MAP_MIN
#define SEQ_CPU_MAP_MIN ((size_t)4 << 20)
#endif
#endif

#if SEQ_CPU_USE_MAP
static void cpu_pin_malloc_thresholds(void) {
#ifdef __GLIBC__
  static int done;
  if (__atomic_exchange_n(&done, 1, __ATOMIC_RELAXED)) return;
  mallopt(M_MMAP_THRESHOLD, (int)SEQ_CPU_MAP_MIN);
  mallopt(M_TRIM_THRESHOLD, (int)(2 * SEQ_CPU_MAP_MIN));
#endif
}
#endif

/* Mapped tensors end at a page edge, and some BLAS kernels read past the end
 * of an operand (Debian's BLIS 0.9, zen3 sgemm: about one row past A for
 * m=13 n=129 k=257 NT; test_gemm reproduces it).  A tail of untouched pages
 * keeps such reads inside the mapping: it costs address space, not memory. */
#define SEQ_CPU_READ_SLACK ((size_t)256 << 10)

#if SEQ_CPU_USE_MAP
/* The cache of freed mappings.  Its bound is what it may add to the peak
 * resident size: freed tensors are returned by the garbage collector in
 * bursts, and whatever of a burst the cache holds stays resident.  Oldest
 * blocks leave first; a hit takes the newest block of the exact length (a
 * larger block would have to remember its length for munmap). */
#ifndef SEQ_CPU_MAP_CACHE_BYTES
#define SEQ_CPU_MAP_CACHE_BYTES ((size_t)64 << 20)
#endif
#define CPU_MAP_CACHE_SLOTS 16

static struct {
  pthread_mutex_t lock;
  struct { void *ptr; size_t len; } slot[CPU_MAP_CACHE_SLOTS]; /* oldest first */
  int count;
  size_t bytes;
} cpu_map_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t cpu_map_length(size_t rounded) { return rounded + SEQ_CPU_READ_SLACK; }

static void *cpu_map_cache_take(size_t len) {
  void *p = NULL;
  pthread_mutex_lock(&cpu_map_cache.lock);
  for (int i = cpu_map_cache.count - 1; i >= 0; i--) {
    if (cpu_map_cache.slot[i].len != len) continue;
    p = cpu_map_cache.slot[i].ptr;
    memmove(&cpu_map_cache.slot[i], &cpu_map_cache.slot[i + 1],
            (size_t)(cpu_map_cache.count - i - 1) * sizeof cpu_map_cache.slot[0]);
    cpu_map_cache.count--;
    cpu_map_cache.bytes -= len;
    break;
  }
  pthread_mutex_unlock(&cpu_map_cache.lock);
  return p;
}

/* Keeps (ptr, len), unmapping the oldest blocks to stay within the bound;
 * a block larger than the whole bound is unmapped at once. */
static void cpu_map_cache_put(void *ptr, size_t len) {
  void *evicted[CPU_MAP_CACHE_SLOTS + 1];
  size_t evicted_len[CPU_MAP_CACHE_SLOTS + 1];
  int n_evicted = 0;
  pthread_mutex_lock(&cpu_map_cache.lock);
  if (len > SEQ_CPU_MAP_CACHE_BYTES) {
    evicted[n_evicted] = ptr, evicted_len[n_evicted++] = len;
  } else {
    while (cpu_map_cache.count == CPU_MAP_CACHE_SLOTS ||
           cpu_map_cache.bytes + len > SEQ_CPU_MAP_CACHE_BYTES) {
      evicted[n_evicted] = cpu_map_cache.slot[0].ptr;
      evicted_len[n_evicted++] = cpu_map_cache.slot[0].len;
      cpu_map_cache.bytes -= cpu_map_cache.slot[0].len;
      cpu_map_cache.count--;
      memmove(&cpu_map_cache.slot[0], &cpu_map_cache.slot[1],
              (size_t)cpu_map_cache.count * sizeof cpu_map_cache.slot[0]);
    }
    cpu_map_cache.slot[cpu_map_cache.count].ptr = ptr;
    cpu_map_cache.slot[cpu_map_cache.count++].len = len;
    cpu_map_cache.bytes += len;
  }
  pthread_mutex_unlock(&cpu_map_cache.lock);
  for (int i = 0; i < n_evicted; i++) munmap(evicted[i], evicted_len[i]);
}

size_t seq_cpu_map_cache_bytes(void) {
  pthread_mutex_lock(&cpu_map_cache.lock);
  size_t bytes = cpu_map_cache.bytes;
  pthread_mutex_unlock(&cpu_map_cache.lock);
  return bytes;
}
#else
size_t seq_cpu_map_cache_bytes(void) { return 0; }
#endif

seq_status seq_cpu_alloc(void **ptr, size_t nbytes) {
  size_t rounded = (nbytes + 63) & ~(size_t)63;
  if (rounded < nbytes) return seq_fail(SEQ_ENOMEM, "out of memory allocating %zu bytes", nbytes);
#if SEQ_CPU_USE_MAP
  cpu_pin_malloc_thresholds();
  if (rounded >= SEQ_CPU_MAP_MIN) {
    void *p = cpu_map_cache_take(cpu_map_length(rounded));
    if (p) {
      *ptr = p;
      return SEQ_OK;
    }
    p = mmap(NULL, cpu_map_length(rounded), PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return seq_fail(SEQ_ENOMEM, "out of memory allocating %zu bytes", nbytes);
    *ptr = p;
    return SEQ_OK;
  }
#endif
  void *p = aligned_alloc(64, rounded ? rounded : 64);
  if (!p) return seq_fail(SEQ_ENOMEM, "out of memory allocating %zu bytes", nbytes);
  *ptr = p;
  return SEQ_OK;
}

/* nbytes must be what seq_cpu_alloc was given: it decides how ptr was made. */
void seq_cpu_free(void *ptr, size_t nbytes) {
  if (!ptr) return;
#if SEQ_CPU_USE_MAP
  size_t rounded = (nbytes + 63) & ~(size_t)63;
  if (rounded >= SEQ_CPU_MAP_MIN) {
    cpu_map_cache_put(ptr, cpu_map_length(rounded));
    return;
  }
#else
  (void)nbytes;
#endif
  free(ptr);
}

seq_status seq_cpu_memset_zero(void *ptr, size_t nbytes) {
  memset(ptr, 0, nbytes);
  return SEQ_OK;
}

seq_status seq_cpu_memcpy(void *dst, const void *src, size_t nbytes) {
  if (nbytes) memmove(dst, src, nbytes);
  return SEQ_OK;
}

seq_status seq_cpu_synchronize(void) { return SEQ_OK; }
