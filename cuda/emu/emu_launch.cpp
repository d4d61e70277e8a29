/* emu_launch.cpp - runs a kernel launch on the CPU (see emu_kernel.h for the
 * model).  Threads that wait at __syncthreads are fibers: a small stack each
 * and a hand-written x86-64 context switch (callee-saved registers, MXCSR and
 * the x87 control word), because swapcontext costs a system call per switch
 * and a softmax row block switches 256 threads at each of ~20 barriers. */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "emu_kernel.h"

#if !defined(__x86_64__)
#error "the CUDA emulator's fibers are written for x86-64"
#endif

extern "C" {
uint3 seq_emu_threadIdx, seq_emu_blockIdx;
dim3 seq_emu_blockDim, seq_emu_gridDim;
void seq_emu_runtime_set_launch_error(cudaError_t e); /* emu_runtime.c */
void seq_emu_switch(void **save_sp, void *to_sp);
}

/* seq_emu_switch(save, to): saves the callee-saved state on this stack,
 * stores the stack pointer in *save and resumes the context saved at `to`. */
__asm__(".text\n"
        ".globl seq_emu_switch\n"
        ".hidden seq_emu_switch\n"
        ".type seq_emu_switch,@function\n"
        "seq_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size seq_emu_switch,.-seq_emu_switch\n");

namespace {

const size_t kStack = 128 * 1024; /* per fiber; kernels use a few hundred bytes */
const int kMaxThreads = 1024;     /* the per-block limit of every CUDA GPU */

enum fstate { F_RUNNING, F_BARRIER, F_DONE };

struct fiber {
  void *sp;
  char *stack; /* mmap'd, lowest page a guard */
  fstate state;
  uint3 tid;
};

fiber fibers[kMaxThreads];
void *sched_sp;
fiber *current;
void (*cur_fn)(void *);
void *cur_ctx;
const char *cur_name;
bool saw_barrier; /* in the current launch */

/* kernels whose first launch reached no barrier (small open-addressed set) */
const int kKnown = 1024;
const void *barrier_free[kKnown];
bool is_barrier_free(const void *k) {
  for (unsigned h = (unsigned)(((uintptr_t)k >> 4) % kKnown), n = 0; n < kKnown; n++, h = (h + 1) % kKnown) {
    if (barrier_free[h] == k) return true;
    if (!barrier_free[h]) return false;
  }
  return false;
}
void mark_barrier_free(const void *k) {
  for (unsigned h = (unsigned)(((uintptr_t)k >> 4) % kKnown), n = 0; n < kKnown; n++, h = (h + 1) % kKnown)
    if (!barrier_free[h] || barrier_free[h] == k) {
      barrier_free[h] = k;
      return;
    }
}

[[noreturn]] void die(const char *what) {
  fprintf(stderr,
          "seqlua CUDA emulator: kernel %s, block (%u,%u,%u), thread (%u,%u,%u): %s\n",
          cur_name ? cur_name : "?", seq_emu_blockIdx.x, seq_emu_blockIdx.y, seq_emu_blockIdx.z,
          seq_emu_threadIdx.x, seq_emu_threadIdx.y, seq_emu_threadIdx.z, what);
  abort();
}

[[noreturn]] void fiber_main() {
  cur_fn(cur_ctx);
  current->state = F_DONE;
  seq_emu_switch(&current->sp, sched_sp);
  __builtin_unreachable();
}

void fiber_start(fiber *f, uint3 tid) {
  if (!f->stack) {
    void *m = mmap(NULL, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) die("cannot map a fiber stack");
    mprotect(m, 4096, PROT_NONE);
    f->stack = (char *)m;
  }
  /* initial frame, read by seq_emu_switch: control words, six registers,
   * the return address fiber_main, and a zero "caller" slot that leaves the
   * stack 16-byte aligned at fiber_main's entry as the ABI wants */
  uint64_t *top = (uint64_t *)(f->stack + kStack);
  *--top = 0;
  *--top = (uint64_t)(uintptr_t)&fiber_main;
  for (int r = 0; r < 6; r++) *--top = 0;
  *--top = (uint64_t)0x1F80u | ((uint64_t)0x037Fu << 32);
  f->sp = top;
  f->state = F_RUNNING;
  f->tid = tid;
}

/* Runs f until it finishes or waits at a barrier. */
void fiber_resume(fiber *f) {
  current = f;
  seq_emu_threadIdx = f->tid;
  seq_emu_switch(&sched_sp, f->sp);
  current = NULL;
}

uint3 tid_of(unsigned t, dim3 b) {
  uint3 r;
  r.x = t % b.x;
  r.y = (t / b.x) % b.y;
  r.z = t / (b.x * b.y);
  return r;
}

void run_block(unsigned nthreads, dim3 block) {
  fiber_start(&fibers[0], tid_of(0, block));
  fiber_resume(&fibers[0]);
  if (fibers[0].state == F_DONE) {
    /* no barrier: the rest run as plain calls */
    for (unsigned t = 1; t < nthreads; t++) {
      seq_emu_threadIdx = tid_of(t, block);
      cur_fn(cur_ctx);
    }
    return;
  }
  for (unsigned t = 1; t < nthreads; t++) {
    fiber_start(&fibers[t], tid_of(t, block));
    fiber_resume(&fibers[t]);
  }
  for (;;) {
    unsigned done = 0;
    for (unsigned t = 0; t < nthreads; t++) done += fibers[t].state == F_DONE;
    if (done == nthreads) return;
    if (done != 0) {
      for (unsigned t = 0; t < nthreads; t++)
        if (fibers[t].state == F_DONE) seq_emu_threadIdx = fibers[t].tid;
      die("__syncthreads not reached by every thread of the block (divergent barrier)");
    }
    for (unsigned t = 0; t < nthreads; t++) {
      fibers[t].state = F_RUNNING;
      fiber_resume(&fibers[t]);
    }
  }
}

} // namespace

extern "C" void seq_emu_syncthreads(void) {
  if (!current) die("__syncthreads reached by a thread although thread 0 of its block finished "
                    "without one (divergent barrier)");
  fiber *f = current;
  saw_barrier = true;
  f->state = F_BARRIER;
  seq_emu_switch(&f->sp, sched_sp);
}

/* CUDA C++ Programming Guide, "Execution Configuration" and the
 * compute-capability table ("Technical Specifications per Compute
 * Capability"): at most 1024 threads per block, block x/y <= 1024, z <= 64,
 * grid x <= 2^31-1, y and z <= 65535, none zero; otherwise the launch fails
 * with cudaErrorInvalidConfiguration, reported by cudaGetLastError. */
extern "C" void seq_emu_launch(const void *kernel, const char *name, dim3 grid, dim3 block,
                               void (*fn)(void *), void *ctx) {
  unsigned long long nthreads = (unsigned long long)block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 || block.y == 0 ||
      block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 || nthreads > 1024 ||
      grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
    seq_emu_runtime_set_launch_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (current) die("kernel launched from inside a kernel");
  cur_fn = fn;
  cur_ctx = ctx;
  cur_name = name;
  if (is_barrier_free(kernel)) {
    seq_emu_gridDim = seq_emu_blockDim = dim3(1, 1, 1);
    seq_emu_blockIdx.x = seq_emu_blockIdx.y = seq_emu_blockIdx.z = 0;
    seq_emu_threadIdx = seq_emu_blockIdx;
    fn(ctx);
    cur_name = NULL;
    return;
  }
  saw_barrier = false;
  seq_emu_gridDim = grid;
  seq_emu_blockDim = block;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        seq_emu_blockIdx.x = x;
        seq_emu_blockIdx.y = y;
        seq_emu_blockIdx.z = z;
        run_block((unsigned)nthreads, block);
      }
  if (!saw_barrier) mark_barrier_free(kernel);
  cur_name = NULL;
}
