/* seq_backend.c - picks the backend table for a device. */
#include "seq_backend.h"
#include "seq_cuda_loader.h"

const seq_backend *seq_backend_get(seq_device dev) {
  switch (dev) {
    case SEQ_CPU: return &seq_cpu_backend;
    case SEQ_CUDA: return seq_cuda_backend(); /* loads the plugin on first use */
    default: seq_fail(SEQ_EDEVICE, "unknown device %d", (int)dev); return NULL;
  }
}

bool seq_device_available(seq_device dev) { return seq_backend_get(dev) != NULL; }
