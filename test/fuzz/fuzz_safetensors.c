/* fuzz_safetensors.c - the safetensors reader (header JSON, offsets,
 * shapes) on arbitrary bytes: it must fail cleanly or return tensors that
 * match the header. */
#include "fuzz_common.h"
#include "seq_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write_file("st", data, size);
  seq_safetensors st;
  if (seq_safetensors_read(path, &st) == SEQ_OK) {
    for (int i = 0; i < st.n; i++) {
      const seq_tensor *t = st.tensors[i];
      if (!st.names[i] || t->numel != seq_shape_numel(t->ndim, t->shape)) abort();
    }
    seq_safetensors_free(&st);
  }
  unlink(path);
  return 0;
}
