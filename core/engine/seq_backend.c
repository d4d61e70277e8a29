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

seq_status seq_set_threads(seq_device dev, int n) {
  const seq_backend *b = seq_backend_get(dev);
  if (!b) return SEQ_EDEVICE;
  b->set_threads(n < 1 ? 1 : n);
  return SEQ_OK;
}

seq_status seq_get_threads(seq_device dev, int *n) {
  const seq_backend *b = seq_backend_get(dev);
  if (!b) return SEQ_EDEVICE;
  *n = b->get_threads();
  return SEQ_OK;
}
