/* seq_png.c - PNG read/write (seq_png.h). */
#include "seq_png.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

seq_status seq_png_write(const char *path, const uint8_t *pixels, int width, int height,
                         int channels) {
  if (width <= 0 || height <= 0 || width > 100000 || height > 100000)
    return seq_fail(SEQ_EARG, "png_write: bad image size %dx%d", width, height);
  if (channels != 1 && channels != 3 && channels != 4)
    return seq_fail(SEQ_EARG, "png_write: channels must be 1, 3 or 4, got %d", channels);
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)width;
  img.height = (png_uint_32)height;
  img.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  if (!png_image_write_to_file(&img, path, 0, pixels, 0, NULL)) {
    seq_status s = seq_fail(SEQ_EIO, "png_write: cannot write %s: %s", path, img.message);
    png_image_free(&img);
    return s;
  }
  return SEQ_OK;
}

seq_status seq_png_read(const char *path, int channels, uint8_t **pixels, int *width,
                        int *height) {
  if (channels != 3 && channels != 4)
    return seq_fail(SEQ_EARG, "png_read: channels must be 3 or 4, got %d", channels);
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path))
    return seq_fail(SEQ_EIO, "png_read: cannot read %s: %s", path, img.message);
  img.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  size_t n = PNG_IMAGE_SIZE(img);
  uint8_t *buf = malloc(n);
  if (!buf) {
    png_image_free(&img);
    return seq_fail(SEQ_ENOMEM, "png_read: out of memory for %s", path);
  }
  if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
    seq_status s = seq_fail(SEQ_EFORMAT, "png_read: %s: %s", path, img.message);
    free(buf);
    png_image_free(&img);
    return s;
  }
  *pixels = buf;
  *width = (int)img.width;
  *height = (int)img.height;
  return SEQ_OK;
}
