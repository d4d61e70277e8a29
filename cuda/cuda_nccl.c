/* cuda_nccl.c - NCCL collectives on device memory, for seq.dist.
 *
 * libnccl is opened with dlopen on the first collective, not linked: the
 * plugin is loaded by every GPU run, and NCCL (~200 MB of kernels) is only
 * wanted in a distributed one.  The emulated build opens its stand-in
 * (cuda/emu/nccl/, SEQ_NCCL_LIBRARY) instead.  The communicator is made from a unique id
 * that the core broadcasts over MPI (core/engine/seq_dist.c).  Everything is
 * enqueued on the legacy default stream, like every other op of the plugin,
 * so no extra synchronisation is needed. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seq_cuda.h"
#include "seq_cuda_loader.h"

#ifdef SEQ_HAVE_NCCL
#include <nccl.h>

#ifndef SEQ_NCCL_LIBRARY
#define SEQ_NCCL_LIBRARY "libnccl.so.2"
#endif

_Static_assert(sizeof(ncclUniqueId) <= SEQ_CUDA_NCCL_ID_BYTES, "NCCL unique id fits the core's buffer");

static struct {
  void *lib;
  ncclResult_t (*get_unique_id)(ncclUniqueId *);
  ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
  ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
  ncclResult_t (*broadcast)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
  const char *(*error_string)(ncclResult_t);
} nccl;
static ncclComm_t comm;

static seq_status open_nccl(void) {
  if (nccl.lib) return SEQ_OK;
  void *h = dlopen(SEQ_NCCL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  if (!h) return seq_fail(SEQ_EBACKEND, "NCCL: %s not found (%s)", SEQ_NCCL_LIBRARY, dlerror());
  nccl.get_unique_id = (ncclResult_t(*)(ncclUniqueId *))(uintptr_t)dlsym(h, "ncclGetUniqueId");
  nccl.comm_init_rank = (ncclResult_t(*)(ncclComm_t *, int, ncclUniqueId, int))(uintptr_t)dlsym(h, "ncclCommInitRank");
  nccl.all_reduce = (ncclResult_t(*)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                                     cudaStream_t))(uintptr_t)dlsym(h, "ncclAllReduce");
  nccl.broadcast = (ncclResult_t(*)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t,
                                    cudaStream_t))(uintptr_t)dlsym(h, "ncclBroadcast");
  nccl.error_string = (const char *(*)(ncclResult_t))(uintptr_t)dlsym(h, "ncclGetErrorString");
  if (!nccl.get_unique_id || !nccl.comm_init_rank || !nccl.all_reduce || !nccl.broadcast || !nccl.error_string) {
    dlclose(h);
    return seq_fail(SEQ_EBACKEND, "NCCL: %s lacks a needed function (NCCL 2.10 or later)", SEQ_NCCL_LIBRARY);
  }
  nccl.lib = h;
  return SEQ_OK;
}

#define SEQ_NCCL(what, call)                                                   \
  do {                                                                         \
    ncclResult_t seq_nc_r_ = (call);                                           \
    if (seq_nc_r_ != ncclSuccess) return seq_fail(SEQ_EBACKEND, "%s: %s", what, nccl.error_string(seq_nc_r_)); \
  } while (0)

static seq_status nccl_unique_id(void *out) {
  SEQ_TRY(seq_cuda_ensure_init());
  SEQ_TRY(open_nccl());
  ncclUniqueId id;
  SEQ_NCCL("ncclGetUniqueId", nccl.get_unique_id(&id));
  memset(out, 0, SEQ_CUDA_NCCL_ID_BYTES);
  memcpy(out, &id, sizeof id);
  return SEQ_OK;
}

static seq_status nccl_init(const void *id_bytes, int rank, int size) {
  SEQ_TRY(seq_cuda_ensure_init());
  SEQ_TRY(open_nccl());
  if (comm) return SEQ_OK;
  ncclUniqueId id;
  memcpy(&id, id_bytes, sizeof id);
  SEQ_NCCL("ncclCommInitRank", nccl.comm_init_rank(&comm, size, id, rank));
  return SEQ_OK;
}

static ncclDataType_t nccl_type(int dtype) {
  switch (dtype) {
  case SEQ_F32: return ncclFloat32;
  case SEQ_F64: return ncclFloat64;
  case SEQ_I32: return ncclInt32;
  case SEQ_I64: return ncclInt64;
  default: return ncclUint8;
  }
}

static seq_status nccl_allreduce(void *ptr, size_t count, int dtype, bool mean) {
  if (!comm) return seq_fail(SEQ_EBACKEND, "NCCL: no communicator (init first)");
  SEQ_NCCL("ncclAllReduce", nccl.all_reduce(ptr, ptr, count, nccl_type(dtype), mean ? ncclAvg : ncclSum, comm, 0));
  return SEQ_OK;
}

static seq_status nccl_broadcast(void *ptr, size_t bytes, int root) {
  if (!comm) return seq_fail(SEQ_EBACKEND, "NCCL: no communicator (init first)");
  SEQ_NCCL("ncclBroadcast", nccl.broadcast(ptr, ptr, bytes, ncclUint8, root, comm, 0));
  return SEQ_OK;
}

static const seq_cuda_nccl table = {
    .unique_id = nccl_unique_id,
    .init = nccl_init,
    .allreduce = nccl_allreduce,
    .broadcast = nccl_broadcast,
};

const seq_cuda_nccl *seq_cuda_nccl_table(void) { return &table; }
#else
const seq_cuda_nccl *seq_cuda_nccl_table(void) { return NULL; }
#endif

/* One GPU per process: SEQLUA_CUDA_DEVICE when set, else the launcher's
 * local rank (Open MPI, MPICH/Hydra, Slurm), modulo the devices present. */
int seq_cuda_pick_device(int count) {
  static const char *vars[] = {"SEQLUA_CUDA_DEVICE", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                               "PMI_LOCAL_RANK", "SLURM_LOCALID"};
  if (count <= 0) return 0;
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && v[0]) {
      long k = strtol(v, NULL, 10);
      return k >= 0 ? (int)(k % count) : 0;
    }
  }
  return 0;
}
