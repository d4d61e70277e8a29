/* seq_mpi_plugin.c - libseqmpi.so: the collectives of seq.dist over MPI.
 *
 * A plugin opened by core/engine/seq_dist.c only when a run is distributed
 * (started by mpirun, or seq.dist.init() called), so a single-process run
 * never maps libmpi and its transports.  It works on raw host buffers and
 * knows nothing of tensors: the core checks, stages and reshapes; this file
 * only talks to MPI.  Errors come back as a message in `err`. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_dist_plugin.h"

static int world_rank, world_size, node_rank;
static int we_initialised;

static int fail(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return -1;
}

static int mpi_fail(int rc, const char *what, char *err, size_t n) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", rc);
  return fail(err, n, "%s: %s", what, msg);
}

static MPI_Datatype mpi_type(int dtype) {
  switch (dtype) {
  case SEQ_DIST_F32: return MPI_FLOAT;
  case SEQ_DIST_F64: return MPI_DOUBLE;
  case SEQ_DIST_I32: return MPI_INT32_T;
  case SEQ_DIST_I64: return MPI_INT64_T;
  case SEQ_DIST_U8: return MPI_UINT8_T;
  default: return MPI_DATATYPE_NULL;
  }
}

static int plugin_init(int *rank, int *size, int *local_rank, char *err, size_t n) {
  /* Open MPI's components are plugins that expect libmpi's symbols in the
   * global scope; this library was opened RTLD_LOCAL, so promote libmpi. */
  Dl_info info;
  if (dladdr((void *)(uintptr_t)&MPI_Init, &info) && info.dli_fname)
    (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Init_thread", err, n);
    we_initialised = 1;
  }
  /* a rank that fails must end the job, not leave the others waiting */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm node;
  int rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &node);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Comm_split_type", err, n);
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm_free(&node);
  *rank = world_rank;
  *size = world_size;
  *local_rank = node_rank;
  return 0;
}

/* mean = sum / size; integers round toward zero (C division) */
#define SCALE_LOOP(T)                                                          \
  do {                                                                         \
    T *p = buf;                                                                \
    for (size_t i = 0; i < count; i++) p[i] = (T)(p[i] / (T)world_size);       \
  } while (0)

static int plugin_allreduce(void *buf, size_t count, int dtype, int op, char *err, size_t n) {
  MPI_Datatype t = mpi_type(dtype);
  if (t == MPI_DATATYPE_NULL) return fail(err, n, "allreduce: unsupported dtype code %d", dtype);
  /* MPI counts are int: reduce a large buffer in pieces */
  size_t esize = dtype == SEQ_DIST_F64 || dtype == SEQ_DIST_I64 ? 8 : dtype == SEQ_DIST_U8 ? 1 : 4;
  const size_t chunk = (size_t)1 << 30;
  for (size_t done = 0; done < count; done += chunk) {
    size_t k = count - done < chunk ? count - done : chunk;
    int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + done * esize, (int)k, t, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "allreduce", err, n);
  }
  if (op == SEQ_DIST_MEAN && world_size > 1) {
    switch (dtype) {
    case SEQ_DIST_F32: SCALE_LOOP(float); break;
    case SEQ_DIST_F64: SCALE_LOOP(double); break;
    case SEQ_DIST_I32: SCALE_LOOP(int32_t); break;
    case SEQ_DIST_I64: SCALE_LOOP(int64_t); break;
    case SEQ_DIST_U8: SCALE_LOOP(uint8_t); break;
    }
  }
  return 0;
}

static int plugin_broadcast(void *buf, size_t bytes, int root, char *err, size_t n) {
  const size_t chunk = (size_t)1 << 30;
  for (size_t done = 0; done < bytes; done += chunk) {
    size_t k = bytes - done < chunk ? bytes - done : chunk;
    int rc = MPI_Bcast((char *)buf + done, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "broadcast", err, n);
  }
  return 0;
}

static int plugin_barrier(char *err, size_t n) {
  int rc = MPI_Barrier(MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? 0 : mpi_fail(rc, "barrier", err, n);
}

static void plugin_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static void plugin_finalize(void) {
  int done = 0;
  MPI_Finalized(&done);
  if (we_initialised && !done) MPI_Finalize();
}

static void plugin_library(char *out, size_t n) {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  char *nl = strchr(v, '\n');
  if (nl) *nl = 0;
  snprintf(out, n, "%s", v);
}

static const seq_dist_plugin table = {
    .abi = SEQ_DIST_PLUGIN_ABI,
    .init = plugin_init,
    .allreduce = plugin_allreduce,
    .broadcast = plugin_broadcast,
    .barrier = plugin_barrier,
    .abort = plugin_abort,
    .finalize = plugin_finalize,
    .library = plugin_library,
};

__attribute__((visibility("default"))) const seq_dist_plugin *seq_dist_plugin_get(void) { return &table; }
