/* seq_cuda_loader.h - the CUDA backend as a plugin loaded on first use.
 *
 * The GPU backend (cuda/) is built as a separate shared object,
 * libseqcuda.so, that links the CUDA runtime, cuBLAS and cuDNN.  Loading
 * those libraries costs about 220 MB of resident memory and 0.1 s even when
 * no GPU is present, so the core does not link them: the first call below
 * that needs a device first checks for the NVIDIA driver (libcuda.so.1) and
 * only then opens the plugin.  A CPU-only machine never maps cuBLAS/cuDNN.
 *
 * The plugin resolves the core's functions (seq_fail, seq_tensor_*, ...)
 * from the program that loads it: the seqlua executable exports them, and
 * the Lua module seq/core.so is promoted to global scope before the plugin
 * is opened.
 *
 * Plugin look-up: $SEQLUA_CUDA_PLUGIN when set, else libseqcuda.so in the
 * directory of the object holding the core (build/ for build/seqlua), then
 * in its parent (build/ for build/seq/core.so), then the install path. */
#ifndef SEQ_CUDA_LOADER_H
#define SEQ_CUDA_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "seq_backend.h"

/* What the plugin hands the loader.  `abi` and the two sizes guard against
 * a libseqcuda.so left over from another build. */
#define SEQ_CUDA_PLUGIN_ABI 3

/* NCCL on device memory (seq.dist); the plugin opens libnccl on first use.
 * The unique id travels between ranks as SEQ_CUDA_NCCL_ID_BYTES bytes. */
#define SEQ_CUDA_NCCL_ID_BYTES 128
typedef struct seq_cuda_nccl {
  seq_status (*unique_id)(void *out); /* on rank 0 */
  seq_status (*init)(const void *id, int rank, int size);
  seq_status (*allreduce)(void *ptr, size_t count, int dtype, bool mean);
  seq_status (*broadcast)(void *ptr, size_t bytes, int root);
} seq_cuda_nccl;

typedef struct seq_cuda_plugin {
  int abi;
  size_t backend_size, tensor_size;
  const seq_backend *(*backend)(void); /* NULL + message: no usable device */
  int (*device_count)(void);
  const char *(*device_status)(void); /* device 0, or "no usable device: <why>" */
  void (*set_tf32)(bool on);
  void (*empty_cache)(void);
  void (*memory_stats)(size_t *in_use, size_t *cached);
  const seq_cuda_nccl *(*nccl)(void); /* NULL result: built without nccl.h */
} seq_cuda_plugin;

/* The plugin's one exported symbol. */
#define SEQ_CUDA_PLUGIN_ENTRY "seq_cuda_plugin_get"
typedef const seq_cuda_plugin *(*seq_cuda_plugin_get_fn)(void);

/* True when this build has the CUDA backend (the plugin may still be
 * missing or fail to load at run time). */
bool seq_cuda_built(void);
/* The backend table; NULL with a message (SEQ_EDEVICE) when the backend was
 * not built, no driver or device is present, or the plugin cannot load. */
const seq_backend *seq_cuda_backend(void);
/* Visible devices; 0 when anything is missing.  Never sets an error. */
int seq_cuda_device_count(void);
/* One line on the plugin's state, for users asking "why no GPU?":
 * "not built", "not loaded: <why>", "loaded <path>; <device 0 or why none is
 * usable>". */
const char *seq_cuda_status(void);
/* TF32 for f32 GEMMs and the cuDNN LSTM (default off).  Remembered until the
 * plugin loads. */
void seq_cuda_set_tf32(bool on);
bool seq_cuda_get_tf32(void);
/* Caching allocator: return free blocks to the driver / report bytes.  No-ops
 * (zeros) while the plugin is not loaded. */
void seq_cuda_empty_cache(void);
void seq_cuda_memory_stats(size_t *in_use, size_t *cached);
/* The plugin's NCCL table, NULL when the plugin is not loaded or was built
 * without NCCL. */
const seq_cuda_nccl *seq_cuda_nccl_get(void);

#endif
