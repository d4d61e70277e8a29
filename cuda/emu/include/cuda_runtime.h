/* cuda/emu/include/cuda_runtime.h - what cuda_kernels.cu sees in the
 * emulated build (-DSEQ_CUDA=EMU) in place of NVIDIA's cuda_runtime.h: the
 * real runtime API header (types and prototypes, implemented by
 * cuda/emu/emu_runtime.c) plus the kernel shim (cuda/emu/emu_kernel.h). */
#ifndef SEQ_EMU_CUDA_RUNTIME_H
#define SEQ_EMU_CUDA_RUNTIME_H
#include <cuda_runtime_api.h>
#ifdef __cplusplus /* C files (cuda_nccl.c, through nccl.h) need the API only */
#include "../emu_kernel.h"
#endif
#endif
