/* seq_dist_plugin.h - the table a communication plugin (dist/, libseqmpi.so)
 * hands core/engine/seq_dist.c.  Raw host buffers only, no tensors, so the
 * plugin does not depend on the core's structs. */
#ifndef SEQ_DIST_PLUGIN_H
#define SEQ_DIST_PLUGIN_H

#include <stddef.h>

#define SEQ_DIST_PLUGIN_ABI 1
enum { SEQ_DIST_F32, SEQ_DIST_F64, SEQ_DIST_I32, SEQ_DIST_I64, SEQ_DIST_U8 }; /* = seq_dtype */
enum { SEQ_DIST_SUM, SEQ_DIST_MEAN };

/* Every function returning int gives 0, or -1 with a message in err. */
typedef struct seq_dist_plugin {
  int abi;
  int (*init)(int *rank, int *size, int *local_rank, char *err, size_t n);
  int (*allreduce)(void *buf, size_t count, int dtype, int op, char *err, size_t n);
  int (*broadcast)(void *buf, size_t bytes, int root, char *err, size_t n);
  int (*barrier)(char *err, size_t n);
  void (*abort)(int code); /* ends every rank of the job */
  void (*finalize)(void);
  void (*library)(char *out, size_t n); /* the MPI library's version line */
} seq_dist_plugin;

#define SEQ_DIST_PLUGIN_ENTRY "seq_dist_plugin_get"
typedef const seq_dist_plugin *(*seq_dist_plugin_get_fn)(void);

#endif
