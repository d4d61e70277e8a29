/* seq_safetensors.h - reading and writing safetensors files.
 *
 * Format (https://github.com/huggingface/safetensors): 8-byte little-endian
 * header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * then the raw little-endian data; offsets are relative to the end of the
 * header and the tensors tile the data without holes or overlaps.
 * dtypes: F32, F64, I32, I64, U8 (others are reported as unsupported).
 *
 * Writes are atomic (seq_atomic.h): the file goes to "<path>.tmp.<pid>",
 * is fsync'ed and then renamed over `path`, so a crash never leaves a
 * half-written checkpoint under the real name; temp files of killed saves
 * are removed by the next save of the path, a symlink stays a link to the
 * replaced file, and the file keeps its permission bits.  Reads validate everything (truncation,
 * JSON syntax, dtypes, shapes against offsets, overlaps, trailing bytes) and
 * fail with SEQ_EFORMAT and a message naming the file and the problem. */
#ifndef SEQ_SAFETENSORS_H
#define SEQ_SAFETENSORS_H

#include "seq_tensor.h"

typedef struct seq_safetensors {
  int n;                 /* tensors, in file order */
  char **names;
  seq_tensor **tensors;  /* CPU, contiguous, owned */
  int nmeta;             /* __metadata__ string pairs */
  char **meta_keys;
  char **meta_values;
} seq_safetensors;

/* Writes n named tensors (any device, any layout) and nmeta metadata pairs
 * (both may be 0).  Names must be unique and non-empty. */
seq_status seq_safetensors_write(const char *path, int n, const char *const *names,
                                 seq_tensor *const *tensors, int nmeta,
                                 const char *const *meta_keys, const char *const *meta_values);

/* Reads a whole file into `out` (zeroed first); free with seq_safetensors_free. */
seq_status seq_safetensors_read(const char *path, seq_safetensors *out);
void seq_safetensors_free(seq_safetensors *st);

#endif
