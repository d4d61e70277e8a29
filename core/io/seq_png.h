/* seq_png.h - PNG files through libpng's simplified API.
 * Pixels are 8-bit, row-major, channels interleaved (RGB or RGBA), top row
 * first. */
#ifndef SEQ_PNG_H
#define SEQ_PNG_H

#include <stdint.h>

#include "seq_error.h"

/* channels: 1 (gray), 3 (RGB) or 4 (RGBA). */
seq_status seq_png_write(const char *path, const uint8_t *pixels, int width, int height,
                         int channels);
/* Reads any PNG as 8-bit RGB (channels 3) or RGBA (channels 4); *pixels is
 * malloc'd (free it). */
seq_status seq_png_read(const char *path, int channels, uint8_t **pixels, int *width, int *height);

#endif
