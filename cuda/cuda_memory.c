/* cuda_memory.c - device start-up, library handles, the caching allocator,
 * host<->device copies and the deferred kernel-error channel.
 *
 * Allocator: sizes are rounded up to one of four buckets per power of two
 * (at most 25% waste, 512 bytes minimum) and freed blocks go onto a per-bucket
 * free list instead of back to the driver, so a training step that allocates
 * the same shapes as the previous step never calls cudaMalloc/cudaFree.  The
 * core passes the byte count to free(), so the bucket is recomputed there and
 * no pointer table is needed.  On out-of-memory the whole cache is returned
 * to the driver and the allocation is retried once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "seq_cuda.h"

/* ---- start-up ---- */

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_state;        /* 0 not tried, 1 ready, -1 failed */
static char init_msg[640];    /* message for a failed start-up, re-raised per call */
static seq_status init_code;
static cublasHandle_t cublas_h;
static cudnnHandle_t cudnn_h;
static seq_cuda_deferred *deferred_dev;
static bool deferred_armed; /* a kernel that may flag ran since the last check */

/* The oldest compute capability this plugin has kernels for (CMake passes
 * the smallest of CMAKE_CUDA_ARCHITECTURES; 0: not known, no check).  Each
 * architecture is built as SASS and PTX, so newer devices run the PTX. */
#ifndef SEQ_CUDA_MIN_ARCH
#define SEQ_CUDA_MIN_ARCH 0
#endif

/* What the device probe found: why device 0 cannot be used ("" when it can),
 * and a one-line description of it. */
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_count;
static char probe_problem[384];
static char probe_desc[256];

static void cuda_version_str(char *buf, size_t n, const char *who, int v) {
  if (v <= 0) snprintf(buf, n, "no %s found", who);
  else snprintf(buf, n, "%s: CUDA %d.%d", who, v / 1000, (v % 1000) / 10);
}

static void probe_device(void) {
  int drv = 0, rt = 0;
  (void)cudaDriverGetVersion(&drv);
  (void)cudaRuntimeGetVersion(&rt);
  (void)cudaGetLastError();
  char sdrv[40], srt[40];
  cuda_version_str(sdrv, sizeof sdrv, "driver", drv);
  cuda_version_str(srt, sizeof srt, "runtime", rt);
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    snprintf(probe_problem, sizeof probe_problem,
             "cudaGetDeviceCount: %s (%s, %s)",
             cudaGetErrorString(e), sdrv, srt);
    return;
  }
  if (n <= 0) {
    snprintf(probe_problem, sizeof probe_problem, "cudaGetDeviceCount found no device");
    return;
  }
  probe_count = n;
  struct cudaDeviceProp prop;
  e = cudaGetDeviceProperties(&prop, seq_cuda_pick_device(n)); /* the device this process will use */
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    snprintf(probe_problem, sizeof probe_problem, "cudaGetDeviceProperties: %s",
             cudaGetErrorString(e));
    return;
  }
  int cc = prop.major * 10 + prop.minor;
  snprintf(probe_desc, sizeof probe_desc,
           "device 0 of %d: %.100s, compute capability %d.%d, %.1f GiB (%s, %s)",
           n, prop.name, prop.major, prop.minor, (double)prop.totalGlobalMem / (1 << 30), sdrv, srt);
  if (SEQ_CUDA_MIN_ARCH > 0 && cc < SEQ_CUDA_MIN_ARCH)
    snprintf(probe_problem, sizeof probe_problem,
             "device 0 (%.100s) has compute capability %d.%d; this build has kernels for %d.%d "
             "and later (CMAKE_CUDA_ARCHITECTURES)",
             prop.name, prop.major, prop.minor, SEQ_CUDA_MIN_ARCH / 10, SEQ_CUDA_MIN_ARCH % 10);
}

int seq_cuda_device_count(void) {
  pthread_once(&probe_once, probe_device);
  return probe_count;
}

const char *seq_cuda_device_status(void) {
  pthread_once(&probe_once, probe_device);
  static char line[sizeof probe_problem + sizeof probe_desc + 32];
  if (probe_problem[0])
    snprintf(line, sizeof line, "no usable device: %s", probe_problem);
  else
    snprintf(line, sizeof line, "%s", probe_desc);
  return line;
}

static seq_status init_fail(seq_status code, const char *what, const char *detail) {
  init_code = code;
  if (detail)
    snprintf(init_msg, sizeof init_msg, "%s: %s", what, detail);
  else
    snprintf(init_msg, sizeof init_msg, "%s", what);
  init_state = -1;
  return seq_fail(code, "%s", init_msg);
}

static seq_status do_init(void) {
  pthread_once(&probe_once, probe_device);
  if (probe_problem[0]) return init_fail(SEQ_EDEVICE, "no CUDA device available", probe_problem);
  cudaError_t e = cudaSetDevice(seq_cuda_pick_device(seq_cuda_device_count()));
  if (e == cudaSuccess) e = cudaFree(0); /* creates the context now, not inside the first op */
  if (e != cudaSuccess) return init_fail(SEQ_EBACKEND, "cudaSetDevice", cudaGetErrorString(e));
  cublasStatus_t cb = cublasCreate(&cublas_h);
  if (cb != CUBLAS_STATUS_SUCCESS) return init_fail(SEQ_EBACKEND, "cublasCreate", seq_cuda_cublas_str(cb));
  cudnnStatus_t dn = cudnnCreate(&cudnn_h);
  if (dn != CUDNN_STATUS_SUCCESS) return init_fail(SEQ_EBACKEND, "cudnnCreate", cudnnGetErrorString(dn));
  /* Kernels flag a bad index here; the host copies the flag back only at
   * synchronising calls, and only when a flagging kernel ran since the last
   * check (device memory, not host-mapped: atomics on mapped host memory are
   * not guaranteed over PCIe). */
  e = cudaMalloc((void **)&deferred_dev, sizeof *deferred_dev);
  if (e == cudaSuccess) e = cudaMemset(deferred_dev, 0, sizeof *deferred_dev);
  if (e != cudaSuccess) return init_fail(SEQ_EBACKEND, "cudaMalloc", cudaGetErrorString(e));
  init_state = 1;
  return SEQ_OK;
}

seq_status seq_cuda_ensure_init(void) {
  if (init_state == 1) return SEQ_OK;
  seq_status s;
  pthread_mutex_lock(&init_lock);
  if (init_state == 0) s = do_init();
  else if (init_state == 1) s = SEQ_OK;
  else s = seq_fail(init_code, "%s", init_msg);
  pthread_mutex_unlock(&init_lock);
  return s;
}

void *seq_cuda_cublas_handle(void) { return cublas_h; }
void *seq_cuda_cudnn_handle(void) { return cudnn_h; }
seq_cuda_deferred *seq_cuda_deferred_dev(void) {
  deferred_armed = true;
  return deferred_dev;
}

static const char *deferred_op(int code) {
  switch (code) {
    case SEQ_CUDA_ERR_INDEX_SELECT: return "index_select";
    case SEQ_CUDA_ERR_INDEX_ADD: return "index_add";
    case SEQ_CUDA_ERR_GATHER: return "gather";
    case SEQ_CUDA_ERR_SCATTER_ADD: return "scatter_add";
    case SEQ_CUDA_ERR_XENT: return "softmax_cross_entropy: class id";
    case SEQ_CUDA_ERR_LSTM_INDEX: return "lstm: input id";
    default: return "cuda kernel";
  }
}

seq_status seq_cuda_check_deferred(void) {
  if (!deferred_dev || !deferred_armed) return SEQ_OK;
  deferred_armed = false;
  seq_cuda_deferred d;
  SEQ_CU(cudaMemcpy, (&d, deferred_dev, sizeof d, cudaMemcpyDeviceToHost));
  if (d.code == 0) return SEQ_OK;
  SEQ_CU(cudaMemset, (deferred_dev, 0, sizeof d));
  return seq_fail(SEQ_EARG, "%s: index %lld out of range [0,%lld) (found on the GPU)",
                  deferred_op(d.code), d.bad, d.limit);
}

const char *seq_cuda_cublas_str(int status) {
  switch ((cublasStatus_t)status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

/* ---- caching allocator ---- */

#define NBUCKETS 256
typedef struct block {
  void *ptr;
  struct block *next;
} block;

static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static block *free_lists[NBUCKETS];
static block *spare_nodes; /* recycled list nodes, so steady state does no malloc */
static size_t bytes_in_use, bytes_cached;

/* Bucket of a request: sizes < 512 -> bucket of 512; above, four buckets per
 * power of two: 2^e * {1, 1.25, 1.5, 1.75}. */
static int bucket_of(size_t n, size_t *bucket_bytes) {
  if (n < 512) n = 512;
  int e = 63 - __builtin_clzll((unsigned long long)n); /* 2^e <= n < 2^(e+1) */
  size_t base = (size_t)1 << e;
  size_t quarter = base >> 2;
  size_t q = (n - base + quarter - 1) / quarter; /* 0..4 */
  size_t sz = base + q * quarter;
  int idx = e * 4 + (int)q; /* q == 4 equals the next power's q == 0: same size */
  if (q == 4) idx = (e + 1) * 4;
  *bucket_bytes = sz;
  return idx < NBUCKETS ? idx : NBUCKETS - 1;
}

static void release_cache_locked(void) {
  for (int i = 0; i < NBUCKETS; i++) {
    block *b = free_lists[i];
    while (b) {
      block *next = b->next;
      cudaFree(b->ptr);
      b->next = spare_nodes;
      spare_nodes = b;
      b = next;
    }
    free_lists[i] = NULL;
  }
  bytes_cached = 0;
  (void)cudaGetLastError();
}

void seq_cuda_empty_cache(void) {
  pthread_mutex_lock(&alloc_lock);
  release_cache_locked();
  pthread_mutex_unlock(&alloc_lock);
}

void seq_cuda_memory_stats(size_t *in_use, size_t *cached) {
  pthread_mutex_lock(&alloc_lock);
  if (in_use) *in_use = bytes_in_use;
  if (cached) *cached = bytes_cached;
  pthread_mutex_unlock(&alloc_lock);
}

seq_status seq_cuda_alloc(void **ptr, size_t nbytes) {
  SEQ_TRY(seq_cuda_ensure_init());
  size_t sz;
  int bi = bucket_of(nbytes, &sz);
  if (bi == NBUCKETS - 1) sz = (nbytes + 511) & ~(size_t)511; /* huge: exact, not cached by size */
  pthread_mutex_lock(&alloc_lock);
  block *b = bi < NBUCKETS - 1 ? free_lists[bi] : NULL;
  if (b) {
    free_lists[bi] = b->next;
    *ptr = b->ptr;
    b->next = spare_nodes;
    spare_nodes = b;
    bytes_cached -= sz;
    bytes_in_use += sz;
    pthread_mutex_unlock(&alloc_lock);
    return SEQ_OK;
  }
  void *p = NULL;
  cudaError_t e = cudaMalloc(&p, sz);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    release_cache_locked();
    e = cudaMalloc(&p, sz);
  }
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    pthread_mutex_unlock(&alloc_lock);
    if (e == cudaErrorMemoryAllocation)
      return seq_fail(SEQ_ENOMEM, "CUDA out of memory allocating %zu bytes", nbytes);
    return seq_fail(SEQ_EBACKEND, "cudaMalloc: %s", cudaGetErrorString(e));
  }
  bytes_in_use += sz;
  pthread_mutex_unlock(&alloc_lock);
  *ptr = p;
  return SEQ_OK;
}

void seq_cuda_free(void *ptr, size_t nbytes) {
  if (!ptr) return;
  size_t sz;
  int bi = bucket_of(nbytes, &sz);
  pthread_mutex_lock(&alloc_lock);
  if (bi == NBUCKETS - 1) {
    sz = (nbytes + 511) & ~(size_t)511;
    bytes_in_use -= sz;
    pthread_mutex_unlock(&alloc_lock);
    cudaFree(ptr);
    (void)cudaGetLastError();
    return;
  }
  block *b = spare_nodes;
  if (b) spare_nodes = b->next;
  else b = malloc(sizeof *b);
  if (!b) { /* cannot cache it: give it back to the driver */
    bytes_in_use -= sz;
    pthread_mutex_unlock(&alloc_lock);
    cudaFree(ptr);
    return;
  }
  b->ptr = ptr;
  b->next = free_lists[bi];
  free_lists[bi] = b;
  bytes_in_use -= sz;
  bytes_cached += sz;
  pthread_mutex_unlock(&alloc_lock);
}

/* ---- copies ---- */

static seq_status cuda_memset_zero(void *ptr, size_t nbytes) {
  if (!nbytes) return SEQ_OK;
  SEQ_CU(cudaMemsetAsync, (ptr, 0, nbytes, 0));
  return SEQ_OK;
}

static seq_status cuda_upload(void *dst, const void *src, size_t nbytes) {
  if (!nbytes) return SEQ_OK;
  SEQ_CU(cudaMemcpy, (dst, src, nbytes, cudaMemcpyHostToDevice));
  return SEQ_OK;
}

static seq_status cuda_download(void *dst, const void *src, size_t nbytes) {
  if (nbytes) SEQ_CU(cudaMemcpy, (dst, src, nbytes, cudaMemcpyDeviceToHost));
  /* cudaMemcpy to pageable memory returns after the copy, so all earlier
   * kernels have finished: report any index error they flagged. */
  return seq_cuda_check_deferred();
}

static seq_status cuda_synchronize(void) {
  SEQ_CU(cudaDeviceSynchronize, ());
  return seq_cuda_check_deferred();
}

/* ---- operand descriptions ---- */

seq_cuda_arr seq_cuda_arr_of(const seq_tensor *t) {
  seq_cuda_arr a;
  memset(&a, 0, sizeof a);
  a.data = seq_tensor_data(t);
  a.dtype = (int)t->dtype;
  a.ndim = t->ndim;
  for (int i = 0; i < t->ndim; i++) {
    a.shape[i] = t->shape[i];
    a.stride[i] = t->stride[i];
  }
  return a;
}

seq_cuda_arr seq_cuda_arr_raw(void *data, seq_dtype dt, int ndim, const int64_t *shape) {
  seq_cuda_arr a;
  memset(&a, 0, sizeof a);
  a.data = data;
  a.dtype = (int)dt;
  a.ndim = ndim;
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    a.shape[i] = shape[i];
    a.stride[i] = s;
    s *= shape[i];
  }
  return a;
}

/* ---- exported to cuda_backend.c ---- */
seq_status seq_cuda_memset_zero_impl(void *ptr, size_t nbytes) { return cuda_memset_zero(ptr, nbytes); }
seq_status seq_cuda_upload_impl(void *dst, const void *src, size_t n) { return cuda_upload(dst, src, n); }
seq_status seq_cuda_download_impl(void *dst, const void *src, size_t n) { return cuda_download(dst, src, n); }
seq_status seq_cuda_synchronize_impl(void) { return cuda_synchronize(); }
