/* seq_plugin.h - finding and opening seqlua's own plugins (libseqcuda.so,
 * libseqmpi.so) next to the file that holds the core.
 *
 * Plugins are looked for relative to the executable or seq/core.so, never at
 * an absolute path, so a moved install or a LuaRocks tree still finds them;
 * every path tried is recorded, with the loader's reason when a file exists
 * but does not load, for the error message. */
#ifndef SEQ_PLUGIN_H
#define SEQ_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>

/* The resolved file holding the core (self) and its directory (dir). */
bool seq_plugin_own_dir(char *dir, size_t ndir, char *self, size_t nself);

/* dlopen(path, RTLD_NOW | RTLD_LOCAL); the path (and why it failed, if the
 * file exists) is appended to the comma-separated list `tried`. */
void *seq_plugin_try_open(const char *path, char *tried, size_t ntried);

/* The first of dir/places[i] that opens, or NULL. */
void *seq_plugin_open_first(const char *dir, const char *const *places, size_t nplaces,
                            char *tried, size_t ntried);

#endif
