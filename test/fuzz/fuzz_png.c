/* fuzz_png.c - the PNG side: the writer's inputs (sizes, channels, pixels,
 * and the heat map and line plots that draw into it: labels in any bytes,
 * NaN/inf values) and the reader on arbitrary bytes. */
#include <math.h>
#include <stdbool.h>

#include "fuzz_common.h"
#include "seq_plot.h"
#include "seq_png.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t mode = 0;
  fuzz_take(&data, &size, &mode, 1);
  char out[512];
  const char *dir = getenv("TMPDIR");
  snprintf(out, sizeof out, "%s/seqfuzz-out-%ld.png", dir && *dir ? dir : "/tmp", (long)getpid());
  if (mode % 3 == 0) { /* png_write with sizes from the input */
    int16_t wh[2];
    uint8_t ch = 0;
    fuzz_take(&data, &size, wh, sizeof wh);
    fuzz_take(&data, &size, &ch, 1);
    int w = wh[0] % 64, h = wh[1] % 64, channels = ch % 5;
    bool sizes_ok = w > 0 && h > 0 && (channels == 1 || channels == 3 || channels == 4);
    if (!sizes_ok) /* refused before any pixel is read */
      seq_png_write(out, NULL, w, h, channels);
    else if ((size_t)w * (size_t)h * (size_t)channels <= size)
      seq_png_write(out, data, w, h, channels);
  } else if (mode % 3 == 1) { /* plots: values and labels from the input */
    uint8_t dims[2];
    fuzz_take(&data, &size, dims, 2);
    int rows = dims[0] % 6, cols = dims[1] % 6;
    double vals[36];
    for (int i = 0; i < 36; i++) {
      double v = 0;
      fuzz_take(&data, &size, &v, sizeof v);
      vals[i] = v;
    }
    char text[3][24];
    for (int i = 0; i < 3; i++) {
      fuzz_take(&data, &size, text[i], sizeof text[i] - 1);
      text[i][sizeof text[i] - 1] = 0;
    }
    const char *labels[6] = {text[0], text[1], text[2], text[0], text[1], text[2]};
    seq_heatmap_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.title = text[0];
    ho.xlabel = text[1];
    ho.xlabels = labels;
    ho.ylabels = labels;
    ho.vmin = ho.vmax = NAN;
    ho.cell = mode & 8 ? 3 : 0;
    seq_plot_heatmap(out, vals, rows, cols, &ho);
    seq_series sr = {NULL, vals, rows * cols, text[2], 0, 0, mode & 16 ? 1 : 0, mode & 32};
    seq_lines_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.width = 80 + (mode & 64);
    lo.height = 60;
    lo.title = text[0];
    lo.legend = 1;
    lo.xmin = lo.xmax = lo.ymin = lo.ymax = NAN;
    seq_plot_lines(out, &sr, 1, &lo);
  } else { /* the reader */
    const char *in = fuzz_write_file("png", data, size);
    uint8_t *px = NULL;
    int w = 0, h = 0;
    if (seq_png_read(in, mode & 4 ? 4 : 3, &px, &w, &h) == SEQ_OK) free(px);
    unlink(in);
  }
  unlink(out);
  return 0;
}
