/* seq_atomic.h - replacing a file so that a reader (or a crash) sees the
 * old content or the new, never half of it.
 *
 * The new content goes to "<target>.tmp.<pid>" beside the file it replaces
 * and is renamed over it once complete and synced.  `target` is the path
 * with symlinks resolved, so a link keeps pointing where it did and the
 * file it points to is replaced; the new file gets the old one's
 * permission bits.  A process killed mid-write leaves its temp file behind:
 * the next write of the same path removes those of processes that no
 * longer run.  Tensor-free (core/io uses it for downloads). */
#ifndef SEQ_ATOMIC_H
#define SEQ_ATOMIC_H

#include <stdio.h>

#include "seq_error.h"

typedef struct seq_atomic_file {
  char *target; /* the file replaced (symlinks resolved) */
  char *tmp;    /* where the bytes go until commit */
  FILE *f;
} seq_atomic_file;

/* Opens the temp file for `path`; `who` prefixes messages ("save_tensors"). */
seq_status seq_atomic_open(seq_atomic_file *af, const char *path, const char *who);
/* Flushes, syncs and renames the temp file over the target; on failure the
 * temp file is removed.  Always releases af. */
seq_status seq_atomic_commit(seq_atomic_file *af, const char *who);
/* Removes the temp file and releases af (NULL-safe, idempotent). */
void seq_atomic_abort(seq_atomic_file *af);

/* Removes "<target><infix><pid>" files beside target whose pid is not a
 * running process (temp files of killed writers). */
void seq_atomic_sweep(const char *target, const char *infix);

#endif
