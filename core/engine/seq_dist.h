/* seq_dist.h - data-parallel collectives (seq.dist): all-reduce, broadcast
 * and barrier over the processes of an MPI job.
 *
 * The communication library is a plugin, libseqmpi.so (dist/), opened by
 * seq_dist_init() only: a single-process run never maps libmpi (Open MPI
 * maps ~40 shared objects and opens network transports at MPI_Init).
 * Look-up: $SEQLUA_MPI_PLUGIN, else libseqmpi.so beside the object holding
 * the core, then in its parent, then the install places relative to it.
 *
 * Tensors of any dtype and device: CPU tensors are reduced in place (a
 * contiguous copy first when needed), other devices are staged through
 * host memory. */
#ifndef SEQ_DIST_H
#define SEQ_DIST_H

#include <stdbool.h>

#include "seq_tensor.h"

typedef enum seq_dist_op { SEQ_DIST_OP_SUM, SEQ_DIST_OP_MEAN } seq_dist_op;

/* True when this build has the MPI plugin (it may still fail to load). */
bool seq_dist_built(void);
/* True when the environment says this process was started by mpirun/mpiexec
 * (Open MPI: OMPI_COMM_WORLD_SIZE; MPICH/Hydra and PMIx: PMI_SIZE, PMIX_RANK). */
bool seq_dist_launched(void);
/* Opens the plugin and initialises MPI; idempotent. */
seq_status seq_dist_init(void);
bool seq_dist_is_initialized(void);
int seq_dist_rank(void);       /* 0 when not initialised */
int seq_dist_size(void);       /* 1 when not initialised */
int seq_dist_local_rank(void); /* rank among the processes of this machine */
const char *seq_dist_library(void); /* MPI library version line, "" before init */
const char *seq_dist_plugin_path(void); /* the libseqmpi.so in use, "" before init */
/* How GPU tensors are reduced: "nccl", "host" (staged through host memory
 * over MPI), or "" before the first collective on a GPU tensor. */
const char *seq_dist_gpu_path(void);

seq_status seq_dist_allreduce(seq_tensor *t, seq_dist_op op); /* in place */
seq_status seq_dist_broadcast(seq_tensor *t, int root);       /* in place */
seq_status seq_dist_barrier(void);
/* Ends the whole job (every rank) with `code`; returns only when not
 * initialised. */
void seq_dist_abort(int code);
/* MPI_Finalize, once; also registered with atexit by seq_dist_init. */
void seq_dist_finalize(void);

#endif
