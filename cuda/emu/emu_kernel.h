/* emu_kernel.h - compiles cuda_kernels.cu as host C++ (the emulated build,
 * -DSEQ_CUDA=EMU).  Included through cuda/emu/include/cuda_runtime.h.
 *
 * Execution model (cuda/emu/emu_launch.cpp): a launch runs its blocks one
 * after another on the calling thread.  Inside a block, thread 0 runs first on
 * a fiber; when it finishes without reaching __syncthreads the kernel has no
 * barrier (a barrier in divergent code is undefined behaviour in CUDA, so the
 * other threads may not reach one either) and threads 1.. run as plain calls.
 * When thread 0 stops at __syncthreads, every thread of the block gets its
 * own fiber and the block advances barrier by barrier, in thread order.
 * A kernel whose first launch reached no barrier at all runs every later
 * launch as a single thread (gridDim = blockDim = 1): every barrier-free
 * kernel in cuda_kernels.cu walks its elements with a grid-stride loop, so
 * one thread covers them all, and the first launch has checked the index
 * math with the real configuration.  (A kernel without a grid-stride loop
 * would then touch only its first elements, and the tests would show it.)
 * A thread that reaches a barrier its block-mates do not reach aborts the
 * run with the kernel's name: on a GPU that is a hang or garbage.
 *
 * threadIdx/blockIdx/blockDim/gridDim are globals the scheduler sets before
 * it resumes a thread; __shared__ variables are function statics (one block
 * runs at a time).  Math is the host libm's: the last bit of expf/tanhf may
 * differ from CUDA's, and nothing here checks a kernel's own loads and stores
 * (copies and library calls are bounds-checked in emu_runtime.c). */
#ifndef SEQ_EMU_KERNEL_H
#define SEQ_EMU_KERNEL_H

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>

#include <tuple>
#include <utility>

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __forceinline__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

extern "C" {
extern uint3 seq_emu_threadIdx, seq_emu_blockIdx;
extern dim3 seq_emu_blockDim, seq_emu_gridDim;
/* Runs fn(ctx) once per thread of a grid<<<grid, block>>>; a bad
 * configuration sets the runtime's launch error (cudaGetLastError). */
void seq_emu_launch(const void *kernel, const char *name, dim3 grid, dim3 block,
                    void (*fn)(void *), void *ctx);
void seq_emu_syncthreads(void);
}

#define threadIdx seq_emu_threadIdx
#define blockIdx seq_emu_blockIdx
#define blockDim seq_emu_blockDim
#define gridDim seq_emu_gridDim
#define __syncthreads() seq_emu_syncthreads()

/* Atomics: blocks and threads never run at the same time, but the GCC
 * builtins keep them atomic anyway. */
static inline int atomicCAS(int *p, int cmp, int val) {
  __atomic_compare_exchange_n(p, &cmp, val, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
static inline unsigned int atomicCAS(unsigned int *p, unsigned int cmp, unsigned int val) {
  __atomic_compare_exchange_n(p, &cmp, val, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
static inline int atomicAdd(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned int atomicAdd(unsigned int *p, unsigned int v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline float atomicAdd(float *p, float v) {
  float old = *p;
  *p = old + v;
  return old;
}
static inline double atomicAdd(double *p, double v) {
  double old = *p;
  *p = old + v;
  return old;
}
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return (unsigned int)(((unsigned long long)a * b) >> 32);
}
static inline void __threadfence_system(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/* The _rn intrinsics: one IEEE operation rounded to nearest, never fused
 * (the emulated build compiles with -ffp-contract=off). */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }

namespace seq_emu {
/* kernel<<<grid, block>>>(args...) becomes
 * SEQ_LAUNCH(grid, block, kernel)(args...): the arguments are converted to
 * the kernel's parameter types once, as a launch does, and every thread gets
 * its own copy of them. */
template <typename... P> struct launcher {
  void (*kernel)(P...);
  dim3 grid, block;
  const char *name;
  template <typename... A> void operator()(A &&...a) const {
    struct frame {
      void (*kernel)(P...);
      std::tuple<P...> args;
    } f{kernel, std::tuple<P...>(std::forward<A>(a)...)};
    seq_emu_launch((const void *)kernel, name, grid, block,
                   [](void *p) {
                     frame *fr = (frame *)p;
                     std::apply(fr->kernel, fr->args); /* by value: a copy per thread */
                   },
                   &f);
  }
};
template <typename... P>
launcher<P...> make_launcher(dim3 grid, dim3 block, const char *name, void (*k)(P...)) {
  return launcher<P...>{k, grid, block, name};
}
} // namespace seq_emu

#define SEQ_LAUNCH(grid, block, ...) seq_emu::make_launcher(grid, block, #__VA_ARGS__, __VA_ARGS__)

#endif
