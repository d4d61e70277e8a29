/* cpu_backend.c - the CPU backend table (kernels live in cpu_*.c). */
#include "cpu_kernels.h"

static seq_status cpu_upload(void *dst, const void *src, size_t n) { return seq_cpu_memcpy(dst, src, n); }
static seq_status cpu_download(void *dst, const void *src, size_t n) { return seq_cpu_memcpy(dst, src, n); }

const seq_backend seq_cpu_backend = {
    .name = "cpu",
    .device = SEQ_CPU,
    .alloc = seq_cpu_alloc,
    .free = seq_cpu_free,
    .memset_zero = seq_cpu_memset_zero,
    .upload = cpu_upload,
    .download = cpu_download,
    .synchronize = seq_cpu_synchronize,
    .copy = seq_cpu_copy,
    .fill = seq_cpu_fill,
    .binary = seq_cpu_binary,
    .unary = seq_cpu_unary,
    .where = seq_cpu_where,
    .reduce = seq_cpu_reduce,
    .gemm = seq_cpu_gemm,
    .index_select = seq_cpu_index_select,
    .index_add = seq_cpu_index_add,
    .gather = seq_cpu_gather,
    .scatter_add = seq_cpu_scatter_add,
    .rand_uniform = seq_cpu_rand_uniform,
    .rand_normal = seq_cpu_rand_normal,
    .softmax = seq_cpu_softmax,
    .softmax_backward = seq_cpu_softmax_backward,
    .softmax_xent = seq_cpu_softmax_xent,
    .sigmoid_bce = seq_cpu_sigmoid_bce,
    .lstm_forward = seq_cpu_lstm_forward,
    .lstm_backward = seq_cpu_lstm_backward,
    .lstm_free_saved = seq_cpu_lstm_free_saved,
    .rnn_forward = seq_cpu_rnn_forward,
    .rnn_backward = seq_cpu_rnn_backward,
    .rnn_free_saved = seq_cpu_rnn_free_saved,
    .optim_step = seq_cpu_optim_step,
    .set_threads = seq_cpu_set_threads,
    .get_threads = seq_cpu_get_threads,
};
