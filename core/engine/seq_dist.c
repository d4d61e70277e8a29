/* seq_dist.c - opens the communication plugin (libseqmpi.so) and runs the
 * collectives on tensors; see seq_dist.h for why it is a plugin. */
#define _GNU_SOURCE /* dladdr */
#include "seq_dist.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_cuda_loader.h"
#include "seq_dist_plugin.h"
#include "seq_ops.h"
#include "seq_plugin.h"

#define SEQ_MPI_PLUGIN_NAME "libseqmpi.so"

static const seq_dist_plugin *plugin; /* set once initialised */
static int my_rank, my_size = 1, my_local_rank;
static bool finalized;
static char library[256];
static char plugin_path[4096]; /* the libseqmpi.so in use, resolved */

_Static_assert(SEQ_DIST_F32 == (int)SEQ_F32 && SEQ_DIST_F64 == (int)SEQ_F64 && SEQ_DIST_I32 == (int)SEQ_I32 &&
                   SEQ_DIST_I64 == (int)SEQ_I64 && SEQ_DIST_U8 == (int)SEQ_U8,
               "plugin dtype codes follow seq_dtype");

bool seq_dist_built(void) {
#ifdef SEQ_HAVE_MPI
  return true;
#else
  return false;
#endif
}

static bool env_set(const char *name) {
  const char *v = getenv(name);
  return v && v[0];
}

bool seq_dist_launched(void) {
  return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMI_SIZE") || env_set("PMIX_RANK");
}

bool seq_dist_is_initialized(void) { return plugin != NULL && !finalized; }
int seq_dist_rank(void) { return my_rank; }
int seq_dist_size(void) { return my_size; }
int seq_dist_local_rank(void) { return my_local_rank; }
const char *seq_dist_library(void) { return library; }
const char *seq_dist_plugin_path(void) { return plugin_path; }

#ifdef SEQ_HAVE_MPI
/* Where libseqmpi.so sits relative to the file holding the core (the
 * executable or seq/core.so), as for the CUDA plugin: the build tree, then
 * an installed prefix found from bin/seqlua or lib/lua/5.4/seq/core.so, then
 * a LuaRocks tree.  Nothing absolute, so a moved install still finds it. */
static const char *const plugin_places[] = {
    SEQ_MPI_PLUGIN_NAME,
    "../" SEQ_MPI_PLUGIN_NAME,
#ifdef SEQ_MPI_PLUGIN_INSTALL_DIR
    "../" SEQ_MPI_PLUGIN_INSTALL_DIR "/" SEQ_MPI_PLUGIN_NAME,
    "../../../seqlua/" SEQ_MPI_PLUGIN_NAME,
    "../seqlua/" SEQ_MPI_PLUGIN_NAME,
#endif
};

static void *open_plugin(char *tried, size_t n) {
  const char *env = getenv("SEQLUA_MPI_PLUGIN");
  if (env && env[0]) return seq_plugin_try_open(env, tried, n);
  char self[4096], dir[4096];
  if (!seq_plugin_own_dir(dir, sizeof dir, self, sizeof self)) return NULL;
  return seq_plugin_open_first(dir, plugin_places, sizeof plugin_places / sizeof plugin_places[0], tried, n);
}
#endif

seq_status seq_dist_init(void) {
  if (plugin) {
    if (finalized) return seq_fail(SEQ_EARG, "dist.init: MPI was already finalized in this process");
    return SEQ_OK;
  }
#ifndef SEQ_HAVE_MPI
  return seq_fail(SEQ_EBACKEND, "dist.init: seqlua was built without MPI (install libopenmpi-dev and rebuild)");
#else
  char tried[4096] = "";
  void *h = open_plugin(tried, sizeof tried);
  if (!h) return seq_fail(SEQ_EBACKEND, "dist.init: the MPI plugin was not found or failed to load (tried %.400s)", tried);
  seq_dist_plugin_get_fn get = (seq_dist_plugin_get_fn)(uintptr_t)dlsym(h, SEQ_DIST_PLUGIN_ENTRY);
  const seq_dist_plugin *p = get ? get() : NULL;
  if (!p || p->abi != SEQ_DIST_PLUGIN_ABI) {
    dlclose(h);
    return seq_fail(SEQ_EBACKEND, "dist.init: %.400s is not an MPI plugin of this build (rebuild seqlua)", tried);
  }
  char err[512] = "";
  if (p->init(&my_rank, &my_size, &my_local_rank, err, sizeof err) != 0)
    return seq_fail(SEQ_EBACKEND, "dist.init: %s", err);
  p->library(library, sizeof library);
  Dl_info info;
  if (dladdr((void *)(uintptr_t)get, &info) && info.dli_fname && !realpath(info.dli_fname, plugin_path))
    snprintf(plugin_path, sizeof plugin_path, "%s", info.dli_fname);
  plugin = p;
  atexit(seq_dist_finalize);
  return SEQ_OK;
#endif
}

static seq_status need_init(const char *what) {
  if (!seq_dist_is_initialized())
    return seq_fail(SEQ_EARG, "%s: seq.dist is not initialised (run under mpirun, or call seq.dist.init())", what);
  return SEQ_OK;
}

/* A contiguous CPU tensor holding t's values (t itself when it already is
 * one); *staged tells whether the result must be copied back. */
static seq_status host_buffer(seq_tensor **out, seq_tensor *t, bool *staged) {
  if (t->device == SEQ_CPU && seq_tensor_is_contiguous(t)) {
    *out = seq_tensor_retain(t);
    *staged = false;
    return SEQ_OK;
  }
  *staged = true;
  seq_tensor *d = NULL, *h = NULL; /* detached: staging is no part of any graph */
  seq_status s = seq_detach(&d, t);
  if (s == SEQ_OK) s = t->device == SEQ_CPU ? seq_clone(out, d) : seq_to_device(&h, d, SEQ_CPU);
  if (s == SEQ_OK && h) s = seq_contiguous(out, h);
  seq_tensor_release(h);
  seq_tensor_release(d);
  return s;
}

/* NCCL for GPU tensors, decided once and by every rank together (the first
 * collective on a GPU tensor): all ranks must have the plugin's NCCL table,
 * and rank 0's unique id reaches the others over MPI.  SEQLUA_DIST_NCCL=0
 * keeps the host-staged path. */
static int nccl_state; /* 0 undecided, 1 on, -1 off */

const char *seq_dist_gpu_path(void) { return nccl_state > 0 ? "nccl" : nccl_state < 0 ? "host" : ""; }

static const seq_cuda_nccl *nccl_ready(void) {
  if (nccl_state) return nccl_state > 0 ? seq_cuda_nccl_get() : NULL;
  const char *env = getenv("SEQLUA_DIST_NCCL");
  const seq_cuda_nccl *n = env && strcmp(env, "0") == 0 ? NULL : seq_cuda_nccl_get();
  unsigned char id[SEQ_CUDA_NCCL_ID_BYTES] = {0};
  int32_t ok = n != NULL;
  if (ok && my_rank == 0 && n->unique_id(id) != SEQ_OK) ok = 0;
  char err[512] = "";
  if (plugin->broadcast(id, sizeof id, 0, err, sizeof err) != 0 ||
      plugin->allreduce(&ok, 1, SEQ_DIST_I32, SEQ_DIST_SUM, err, sizeof err) != 0) {
    nccl_state = -1;
    return NULL;
  }
  nccl_state = ok == my_size && n->init(id, my_rank, my_size) == SEQ_OK ? 1 : -1;
  return nccl_state > 0 ? n : NULL;
}

typedef int (*collective_fn)(void *buf, seq_tensor *t, int arg, char *err, size_t n);

static int do_allreduce(void *buf, seq_tensor *t, int op, char *err, size_t n) {
  return plugin->allreduce(buf, (size_t)t->numel, (int)t->dtype, op, err, n);
}

static int do_broadcast(void *buf, seq_tensor *t, int root, char *err, size_t n) {
  return plugin->broadcast(buf, (size_t)t->numel * seq_dtype_size(t->dtype), root, err, n);
}

static seq_status collective(const char *what, seq_tensor *t, collective_fn fn, int arg) {
  seq_status s = need_init(what);
  if (s != SEQ_OK) return s;
  if (!t) return seq_fail(SEQ_EARG, "%s: no tensor", what);
  if (t->numel == 0) return SEQ_OK;
  if (t->device == SEQ_CUDA && seq_tensor_is_contiguous(t)) {
    const seq_cuda_nccl *n = nccl_ready();
    if (n) {
      if (fn == do_allreduce) return n->allreduce(seq_tensor_data(t), (size_t)t->numel, (int)t->dtype, arg == SEQ_DIST_MEAN);
      return n->broadcast(seq_tensor_data(t), (size_t)t->numel * seq_dtype_size(t->dtype), arg);
    }
  }
  seq_tensor *h = NULL;
  bool staged = false;
  s = host_buffer(&h, t, &staged);
  if (s != SEQ_OK) return s;
  char err[512] = "";
  if (fn(seq_tensor_data(h), h, arg, err, sizeof err) != 0) {
    seq_tensor_release(h);
    return seq_fail(SEQ_EBACKEND, "%s (rank %d of %d): %s", what, my_rank, my_size, err);
  }
  if (staged) {
    /* back on t's device first: a copy does not cross devices */
    seq_tensor *back = NULL;
    s = t->device == h->device ? seq_copy_(t, h) : seq_to_device(&back, h, t->device);
    if (s == SEQ_OK && back) s = seq_copy_(t, back);
    seq_tensor_release(back);
  }
  seq_tensor_release(h);
  return s;
}

seq_status seq_dist_allreduce(seq_tensor *t, seq_dist_op op) {
  if (op != SEQ_DIST_OP_SUM && op != SEQ_DIST_OP_MEAN) return seq_fail(SEQ_EARG, "dist.allreduce: unknown op");
  return collective("dist.allreduce", t, do_allreduce, op == SEQ_DIST_OP_MEAN ? SEQ_DIST_MEAN : SEQ_DIST_SUM);
}

seq_status seq_dist_broadcast(seq_tensor *t, int root) {
  if (plugin && (root < 0 || root >= my_size))
    return seq_fail(SEQ_EARG, "dist.broadcast: root %d is not a rank (0..%d)", root, my_size - 1);
  return collective("dist.broadcast", t, do_broadcast, root);
}

seq_status seq_dist_barrier(void) {
  seq_status s = need_init("dist.barrier");
  if (s != SEQ_OK) return s;
  char err[512] = "";
  if (plugin->barrier(err, sizeof err) != 0) return seq_fail(SEQ_EBACKEND, "dist.barrier (rank %d): %s", my_rank, err);
  return SEQ_OK;
}

void seq_dist_abort(int code) {
  if (seq_dist_is_initialized()) plugin->abort(code);
}

void seq_dist_finalize(void) {
  if (plugin && !finalized) {
    finalized = true;
    plugin->finalize();
  }
}
