/* cpu_memory.c - host memory for CPU tensors.
 * 64-byte alignment keeps AVX-512 loads on one cache line. */
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

seq_status seq_cpu_alloc(void **ptr, size_t nbytes) {
  size_t rounded = (nbytes + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, rounded ? rounded : 64);
  if (!p) return seq_fail(SEQ_ENOMEM, "out of memory allocating %zu bytes", nbytes);
  *ptr = p;
  return SEQ_OK;
}

void seq_cpu_free(void *ptr, size_t nbytes) {
  (void)nbytes;
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
