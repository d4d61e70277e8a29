/* seq_backend.c - picks the backend table for a device. */
#include "seq_backend.h"

const seq_backend *seq_backend_get(seq_device dev) {
  switch (dev) {
    case SEQ_CPU: return &seq_cpu_backend;
    case SEQ_CUDA:
#ifdef SEQ_HAVE_CUDA
      return seq_cuda_backend();
#else
      seq_fail(SEQ_EDEVICE, "no CUDA device available (seqlua was built without the CUDA backend)");
      return NULL;
#endif
    default: seq_fail(SEQ_EDEVICE, "unknown device %d", (int)dev); return NULL;
  }
}

bool seq_device_available(seq_device dev) { return seq_backend_get(dev) != NULL; }
