/* emu_nccl.c - the emulated build's stand-in for NCCL (built as
 * libnccl.so.2 in <build>/emu/ when MPI is found).  cuda/cuda_nccl.c opens
 * it where a real build opens the system's libnccl.so.2, so `mpirun` with
 * `--device cuda` on the emulated device runs seq.dist's NCCL path end to end.
 *
 * Emulated device memory is host memory, so a collective here is the same
 * collective over MPI_COMM_WORLD of the processes that made the communicator
 * (seq_mpi_plugin.c has initialised MPI before the first GPU collective).
 * Only what cuda_nccl.c calls is implemented, with NCCL's documented
 * signatures and checks: ncclGetUniqueId, ncclCommInitRank (every rank must
 * pass the same id and a distinct rank, as NCCL's bootstrap requires),
 * ncclAllReduce (sum and avg; in place when sendbuff == recvbuff),
 * ncclBroadcast and ncclGetErrorString.  Anything else returns
 * ncclInvalidArgument with an "emulator" note on stderr.  Like the rest of
 * the emulator it is synchronous: the stream argument is accepted, the work
 * is done when the call returns.  Average divides the sum by the number of
 * ranks (integers toward zero); NCCL may round floats differently. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nccl.h>

#define EXPORT __attribute__((visibility("default")))

/* what ncclGetUniqueId writes into the 128 opaque bytes */
typedef struct emu_id {
  char magic[16];
  uint64_t nonce; /* tells ids apart: every rank must bring the same one */
} emu_id;
_Static_assert(sizeof(emu_id) <= sizeof(ncclUniqueId), "the emulator's id fits NCCL's");
static const char id_magic[16] = "seqlua-emu-nccl";

struct ncclComm {
  MPI_Comm mpi;
  int rank, nranks;
};

static ncclResult_t unsupported(const char *what) {
  fprintf(stderr, "emulated NCCL: %s is not implemented by the emulator\n", what);
  return ncclInvalidArgument;
}

static int mpi_ready(void) {
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  return inited && !finalized;
}

EXPORT const char *ncclGetErrorString(ncclResult_t r) {
  switch (r) {
  case ncclSuccess: return "no error";
  case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
  case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
  case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
  case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
  case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
  case ncclRemoteError: return "remote process exited or there was a network error";
  case ncclInProgress: return "NCCL operation in progress";
  default: return "unknown result code";
  }
}

EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId *unique_id) {
  if (!unique_id) return ncclInvalidArgument;
  emu_id id;
  memcpy(id.magic, id_magic, sizeof id.magic);
  /* NCCL's id holds the root's bootstrap address; pid and time tell two
   * jobs' ids apart just as well here */
  id.nonce = ((uint64_t)getpid() << 32) ^ (uint64_t)MPI_Wtime() ^ (uint64_t)(uintptr_t)unique_id;
  memset(unique_id, 0, sizeof *unique_id);
  memcpy(unique_id->internal, &id, sizeof id);
  return ncclSuccess;
}

/* what each rank brings to ncclCommInitRank, gathered so that every rank
 * takes the same decision (a rank that returned early would leave the
 * others waiting in the next collective) */
typedef struct emu_join {
  int64_t rank, nranks, id_ok;
  uint64_t nonce;
} emu_join;

EXPORT ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId comm_id, int rank) {
  if (!comm) return ncclInvalidArgument;
  *comm = NULL;
  if (!mpi_ready()) {
    fprintf(stderr, "emulated NCCL: reduces over MPI, and MPI is not initialised\n");
    return ncclSystemError;
  }
  int world_size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  emu_id id;
  memcpy(&id, comm_id.internal, sizeof id);
  emu_join mine = {rank, nranks, memcmp(id.magic, id_magic, sizeof id.magic) == 0, id.nonce};
  emu_join *all = calloc((size_t)world_size, sizeof *all);
  if (!all) return ncclSystemError;
  if (MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all, sizeof mine, MPI_BYTE, MPI_COMM_WORLD) != MPI_SUCCESS) {
    free(all);
    return ncclSystemError;
  }
  ncclResult_t r = ncclSuccess;
  if (nranks != world_size) r = unsupported("a communicator over part of the MPI job");
  for (int i = 0; i < world_size && r == ncclSuccess; i++) {
    if (!all[i].id_ok) {
      fprintf(stderr, "emulated NCCL: process %d passed an id ncclGetUniqueId did not make\n", i);
      r = ncclInvalidUsage;
    } else if (all[i].nonce != all[0].nonce || all[i].nranks != nranks) {
      fprintf(stderr, "emulated NCCL: process %d passed another unique id or nranks than process 0\n", i);
      r = ncclInvalidUsage;
    } else if (all[i].rank < 0 || all[i].rank >= nranks) {
      r = ncclInvalidArgument;
    }
    for (int j = 0; j < i && r == ncclSuccess; j++) {
      if (all[j].rank == all[i].rank) {
        fprintf(stderr, "emulated NCCL: two processes passed rank %d\n", (int)all[i].rank);
        r = ncclInvalidUsage;
      }
    }
  }
  free(all);
  if (r != ncclSuccess) return r;
  struct ncclComm *c = calloc(1, sizeof *c);
  if (!c) return ncclSystemError;
  /* key = the NCCL rank, so the communicator's ranks are the ones asked for */
  if (MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &c->mpi) != MPI_SUCCESS) {
    free(c);
    return ncclSystemError;
  }
  c->rank = rank;
  c->nranks = nranks;
  *comm = c;
  return ncclSuccess;
}

static MPI_Datatype mpi_type(ncclDataType_t t, size_t *size) {
  switch (t) {
  case ncclFloat32: *size = 4; return MPI_FLOAT;
  case ncclFloat64: *size = 8; return MPI_DOUBLE;
  case ncclInt32: *size = 4; return MPI_INT32_T;
  case ncclInt64: *size = 8; return MPI_INT64_T;
  case ncclUint8: *size = 1; return MPI_UINT8_T;
  default: *size = 0; return MPI_DATATYPE_NULL;
  }
}

#define DIVIDE(T)                                                              \
  do {                                                                         \
    T *p = buf;                                                                \
    for (size_t i = 0; i < count; i++) p[i] = (T)(p[i] / (T)n);                \
  } while (0)

static void divide(void *buf, size_t count, ncclDataType_t t, int n) {
  switch (t) {
  case ncclFloat32: DIVIDE(float); break;
  case ncclFloat64: DIVIDE(double); break;
  case ncclInt32: DIVIDE(int32_t); break;
  case ncclInt64: DIVIDE(int64_t); break;
  case ncclUint8: DIVIDE(uint8_t); break;
  default: break;
  }
}

EXPORT ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                  ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  (void)stream;
  if (!comm) return ncclInvalidArgument;
  size_t esize;
  MPI_Datatype t = mpi_type(datatype, &esize);
  if (t == MPI_DATATYPE_NULL) return unsupported("this ncclDataType_t");
  if (op != ncclSum && op != ncclAvg) return unsupported("this ncclRedOp_t (sum and avg only)");
  if (count == 0) return ncclSuccess;
  if (!sendbuff || !recvbuff) return ncclInvalidArgument;
  /* MPI counts are int */
  const size_t chunk = (size_t)1 << 30;
  for (size_t done = 0; done < count; done += chunk) {
    size_t k = count - done < chunk ? count - done : chunk;
    char *recv = (char *)recvbuff + done * esize;
    const void *send = sendbuff == recvbuff ? MPI_IN_PLACE : (const char *)sendbuff + done * esize;
    if (MPI_Allreduce(send, recv, (int)k, t, MPI_SUM, comm->mpi) != MPI_SUCCESS) return ncclSystemError;
  }
  if (op == ncclAvg) divide(recvbuff, count, datatype, comm->nranks);
  return ncclSuccess;
}

EXPORT ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, int root,
                                  ncclComm_t comm, cudaStream_t stream) {
  (void)stream;
  if (!comm) return ncclInvalidArgument;
  size_t esize;
  if (mpi_type(datatype, &esize) == MPI_DATATYPE_NULL) return unsupported("this ncclDataType_t");
  if (root < 0 || root >= comm->nranks) return ncclInvalidArgument;
  if (count == 0) return ncclSuccess;
  if (!recvbuff || (comm->rank == root && !sendbuff)) return ncclInvalidArgument;
  size_t bytes = count * esize;
  if (comm->rank == root && sendbuff != recvbuff) memmove(recvbuff, sendbuff, bytes);
  const size_t chunk = (size_t)1 << 30;
  for (size_t done = 0; done < bytes; done += chunk) {
    size_t k = bytes - done < chunk ? bytes - done : chunk;
    if (MPI_Bcast((char *)recvbuff + done, (int)k, MPI_BYTE, root, comm->mpi) != MPI_SUCCESS) return ncclSystemError;
  }
  return ncclSuccess;
}
