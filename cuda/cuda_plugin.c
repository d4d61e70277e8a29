/* cuda_plugin.c - the one symbol libseqcuda.so exports: the table the core's
 * loader (core/engine/seq_cuda_loader.c) calls through.  Everything else in cuda/
 * is compiled with hidden visibility, so calls inside the plugin never bind
 * to the loader's functions of the same name in the executable. */
#include "seq_cuda.h"
#include "seq_cuda_loader.h"
#include "seq_tensor.h"

static const seq_cuda_plugin plugin = {
    .abi = SEQ_CUDA_PLUGIN_ABI,
    .backend_size = sizeof(seq_backend),
    .tensor_size = sizeof(seq_tensor),
    .backend = seq_cuda_backend,
    .device_count = seq_cuda_device_count,
    .device_status = seq_cuda_device_status,
    .set_tf32 = seq_cuda_set_tf32,
    .empty_cache = seq_cuda_empty_cache,
    .memory_stats = seq_cuda_memory_stats,
    .nccl = seq_cuda_nccl_table,
};

__attribute__((visibility("default"))) const seq_cuda_plugin *seq_cuda_plugin_get(void) {
  return &plugin;
}
