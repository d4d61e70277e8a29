/* seq_backend.c - picks the backend table for a device. */
#include "seq_backend.h"

#include <stddef.h>

#include "seq_cuda_loader.h"

/* SEQ_BACKEND_SLOTS must list every function pointer of seq_backend, in
 * order: each listed slot sits at its index, and nothing follows the last. */
#define SEQ_SLOT_SIZE_ sizeof(seq_status (*)(void))
#define SEQ_CHECK_SLOT_(name)                                                           \
  _Static_assert(offsetof(seq_backend, name) ==                                         \
                     offsetof(seq_backend, alloc) + SEQ_SLOT_##name * SEQ_SLOT_SIZE_,   \
                 "seq_backend: slot " #name " is out of place in SEQ_BACKEND_SLOTS");
SEQ_BACKEND_SLOTS(SEQ_CHECK_SLOT_)
_Static_assert(sizeof(seq_backend) == offsetof(seq_backend, alloc) + SEQ_NSLOTS * SEQ_SLOT_SIZE_,
               "seq_backend: a slot is missing from SEQ_BACKEND_SLOTS (seq_backend.h)");

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
