/* emu_runtime.c - the CUDA runtime calls the plugin makes, on the CPU.
 * Prototypes and types come from NVIDIA's cuda_runtime_api.h, so every
 * stand-in has the real signature.  References are to the CUDA Runtime API
 * reference (CUDA 13), module and function.
 *
 * Device memory is host memory, but strictly kept apart: every allocation is
 * recorded, fresh allocations are filled with 0xFF bytes (NaN as f32/f64, -1
 * as integers) so a read of memory nobody wrote shows up, and copies, memsets
 * and library calls must stay inside one live allocation.  An access outside
 * device memory by a library stand-in (emu_cublas.c, emu_cudnn.c) is what a
 * GPU reports as an illegal address: the error is sticky, as on a GPU, and
 * every later call returns it.  Everything is synchronous: stream 0 only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "emu_internal.h"

#ifndef SEQ_CUDA_DRIVER_PATH
#error "SEQ_CUDA_DRIVER_PATH (the stand-in driver) must be defined by the build"
#endif

typedef struct alloc_rec {
  uintptr_t base;
  size_t size;
} alloc_rec;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static alloc_rec *allocs; /* sorted by base */
static size_t nallocs, cap_allocs;
static size_t bytes_total;
static cudaError_t last_error = cudaSuccess;
static cudaError_t sticky_error = cudaSuccess;
static int current_device;

/* the emulated device's memory; SEQLUA_EMU_MEMORY_MB overrides */
static size_t memory_limit(void) {
  const char *e = getenv("SEQLUA_EMU_MEMORY_MB");
  long long mb = e && e[0] ? atoll(e) : 16384;
  return (size_t)(mb > 0 ? mb : 16384) << 20;
}

static cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) last_error = e;
  return e;
}

void seq_emu_runtime_set_launch_error(cudaError_t e) { record(e); }

void seq_emu_fault(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "seqlua CUDA emulator: illegal address: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  sticky_error = cudaErrorIllegalAddress;
  last_error = cudaErrorIllegalAddress;
}

bool seq_emu_faulted(void) { return sticky_error != cudaSuccess; }

/* index of the allocation holding p, or -1 */
static long find_locked(uintptr_t p) {
  size_t lo = 0, hi = nallocs;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (allocs[mid].base <= p) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return -1;
  const alloc_rec *r = &allocs[lo - 1];
  return p < r->base + r->size ? (long)(lo - 1) : -1;
}

bool seq_emu_is_device(const void *p, size_t nbytes) {
  if (!p) return false;
  pthread_mutex_lock(&lock);
  long i = find_locked((uintptr_t)p);
  bool ok = i >= 0 && (uintptr_t)p + nbytes <= allocs[i].base + allocs[i].size;
  pthread_mutex_unlock(&lock);
  return ok;
}

bool seq_emu_check_device(const char *call, const char *what, const void *p, size_t nbytes) {
  if (nbytes == 0) return true;
  if (seq_emu_is_device(p, nbytes)) return true;
  seq_emu_fault("%s: %s [%p, +%zu bytes) is not inside one device allocation", call, what, p,
                nbytes);
  return false;
}

/* ---- devices (Device Management) ---- */

typedef CUresult (*count_fn)(int *);

/* As the real runtime does: ask the driver; without one,
 * cudaErrorInsufficientDriver ("CUDA driver version is insufficient"). */
cudaError_t cudaGetDeviceCount(int *count) {
  if (!count) return record(cudaErrorInvalidValue);
  *count = 0;
  void *drv = dlopen(SEQ_CUDA_DRIVER_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!drv) return record(cudaErrorInsufficientDriver);
  count_fn f = (count_fn)(uintptr_t)dlsym(drv, "cuDeviceGetCount");
  int n = 0;
  CUresult r = f ? f(&n) : CUDA_ERROR_NOT_FOUND;
  dlclose(drv);
  if (r != CUDA_SUCCESS) return record(cudaErrorInsufficientDriver);
  if (n == 0) return record(cudaErrorNoDevice);
  *count = n;
  return cudaSuccess;
}

static cudaError_t check_device(int device) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return e;
  if (device < 0 || device >= n) return record(cudaErrorInvalidDevice);
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  cudaError_t e = check_device(device);
  if (e == cudaSuccess) current_device = device;
  return e;
}

cudaError_t cudaGetDevice(int *device) {
  if (!device) return record(cudaErrorInvalidValue);
  *device = current_device;
  return cudaSuccess;
}

/* The emulated device reports itself as compute capability 8.0 (the oldest
 * architecture the real build compiles for) with 108 multiprocessors;
 * SEQLUA_EMU_CC (e.g. 75) makes it an older device, to test the refusal. */
enum { EMU_SMS = 108 };

static int emu_cc(void) {
  const char *e = getenv("SEQLUA_EMU_CC");
  int cc = e && e[0] ? atoi(e) : 80;
  return cc >= 10 && cc <= 999 ? cc : 80;
}
#define EMU_CC_MAJOR (emu_cc() / 10)
#define EMU_CC_MINOR (emu_cc() % 10)

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device) {
  if (!value) return record(cudaErrorInvalidValue);
  cudaError_t e = check_device(device);
  if (e != cudaSuccess) return e;
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = EMU_CC_MAJOR; break;
    case cudaDevAttrComputeCapabilityMinor: *value = EMU_CC_MINOR; break;
    case cudaDevAttrMultiProcessorCount: *value = EMU_SMS; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    default: return record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device) {
  if (!prop) return record(cudaErrorInvalidValue);
  cudaError_t e = check_device(device);
  if (e != cudaSuccess) return e;
  memset(prop, 0, sizeof *prop);
  snprintf(prop->name, sizeof prop->name, "seqlua CUDA emulator (CPU)");
  prop->major = EMU_CC_MAJOR;
  prop->minor = EMU_CC_MINOR;
  prop->multiProcessorCount = EMU_SMS;
  prop->totalGlobalMem = memory_limit();
  prop->maxThreadsPerBlock = 1024;
  prop->warpSize = 32;
  prop->sharedMemPerBlock = 48 * 1024;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *version) {
  if (!version) return record(cudaErrorInvalidValue);
  *version = 0; /* documented: 0 when no driver is installed */
  void *drv = dlopen(SEQ_CUDA_DRIVER_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!drv) return cudaSuccess;
  CUresult (*f)(int *) = (CUresult(*)(int *))(uintptr_t)dlsym(drv, "cuDriverGetVersion");
  if (f) f(version);
  dlclose(drv);
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *version) {
  if (!version) return record(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return sticky_error ? record(sticky_error) : cudaSuccess; }

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (stream) return record(cudaErrorInvalidResourceHandle);
  return cudaDeviceSynchronize();
}

/* ---- errors (Error Handling) ---- */

/* cudaGetLastError: returns the last error of a runtime call and resets it
 * to cudaSuccess, unless it is sticky. */
cudaError_t cudaGetLastError(void) {
  cudaError_t e = last_error;
  last_error = sticky_error;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return last_error; }

const char *cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    default: return "cudaErrorUnknown";
  }
}

/* the runtime's own wording for each error */
const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    default: return "unknown error";
  }
}

/* ---- memory (Memory Management) ---- */

/* cudaMalloc: memory aligned to at least 256 bytes, not cleared (here:
 * poisoned); cudaErrorMemoryAllocation when it does not fit. */
cudaError_t cudaMalloc(void **devPtr, size_t size) {
  if (sticky_error) return record(sticky_error);
  if (!devPtr) return record(cudaErrorInvalidValue);
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return e;
  *devPtr = NULL;
  if (size == 0) return cudaSuccess;
  pthread_mutex_lock(&lock);
  if (size > memory_limit() - bytes_total || bytes_total > memory_limit()) {
    pthread_mutex_unlock(&lock);
    return record(cudaErrorMemoryAllocation);
  }
  void *p = NULL;
  if (posix_memalign(&p, 256, size) != 0 || !p) {
    pthread_mutex_unlock(&lock);
    return record(cudaErrorMemoryAllocation);
  }
  if (nallocs == cap_allocs) {
    size_t nc = cap_allocs ? cap_allocs * 2 : 256;
    alloc_rec *na = realloc(allocs, nc * sizeof *na);
    if (!na) {
      free(p);
      pthread_mutex_unlock(&lock);
      return record(cudaErrorMemoryAllocation);
    }
    allocs = na;
    cap_allocs = nc;
  }
  uintptr_t b = (uintptr_t)p;
  size_t pos = nallocs;
  while (pos > 0 && allocs[pos - 1].base > b) pos--;
  memmove(&allocs[pos + 1], &allocs[pos], (nallocs - pos) * sizeof *allocs);
  allocs[pos].base = b;
  allocs[pos].size = size;
  nallocs++;
  bytes_total += size;
  pthread_mutex_unlock(&lock);
  memset(p, 0xFF, size);
  *devPtr = p;
  return cudaSuccess;
}

/* cudaFree(NULL) is a no-op; any pointer that is not the start of a live
 * allocation is cudaErrorInvalidValue. */
cudaError_t cudaFree(void *devPtr) {
  if (!devPtr) return sticky_error ? record(sticky_error) : cudaSuccess;
  pthread_mutex_lock(&lock);
  long i = find_locked((uintptr_t)devPtr);
  if (i < 0 || allocs[i].base != (uintptr_t)devPtr) {
    pthread_mutex_unlock(&lock);
    return record(cudaErrorInvalidValue);
  }
  size_t size = allocs[i].size;
  bytes_total -= size;
  memmove(&allocs[i], &allocs[i + 1], (nallocs - (size_t)i - 1) * sizeof *allocs);
  nallocs--;
  pthread_mutex_unlock(&lock);
  memset(devPtr, 0xFE, size); /* a later read through a stale pointer sees garbage */
  free(devPtr);
  return sticky_error ? record(sticky_error) : cudaSuccess;
}

static cudaError_t check_copy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind) {
  if (sticky_error) return record(sticky_error);
  if (count == 0) return cudaSuccess;
  if (!dst || !src) return record(cudaErrorInvalidValue);
  bool dst_dev = seq_emu_is_device(dst, count), src_dev = seq_emu_is_device(src, count);
  switch (kind) {
    case cudaMemcpyHostToDevice: if (!dst_dev || seq_emu_is_device(src, 1)) return record(cudaErrorInvalidValue); break;
    case cudaMemcpyDeviceToHost: if (!src_dev || seq_emu_is_device(dst, 1)) return record(cudaErrorInvalidValue); break;
    case cudaMemcpyDeviceToDevice: if (!src_dev || !dst_dev) return record(cudaErrorInvalidValue); break;
    case cudaMemcpyDefault:
      /* inferred from the pointers (unified addressing); a device pointer
       * whose range leaves its allocation is still an error */
      if ((seq_emu_is_device(dst, 1) && !dst_dev) || (seq_emu_is_device(src, 1) && !src_dev))
        return record(cudaErrorInvalidValue);
      break;
    default: return record(cudaErrorInvalidMemcpyDirection);
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind) {
  cudaError_t e = check_copy(dst, src, count, kind);
  if (e != cudaSuccess || count == 0) return e;
  memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (stream) return record(cudaErrorInvalidResourceHandle);
  return cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemset(void *devPtr, int value, size_t count) {
  if (sticky_error) return record(sticky_error);
  if (count == 0) return cudaSuccess;
  if (!seq_emu_is_device(devPtr, count)) return record(cudaErrorInvalidValue);
  memset(devPtr, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream) {
  if (stream) return record(cudaErrorInvalidResourceHandle);
  return cudaMemset(devPtr, value, count);
}
