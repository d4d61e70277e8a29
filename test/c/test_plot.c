/* test_plot.c - canvas drawing, PNG round trip, heat map and line plot
 * files (decoded again and checked for size and a few pixels). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_plot.h"
#include "seq_png.h"
#include "check.h"

static uint32_t px(const uint8_t *p, int w, int x, int y) {
  const uint8_t *q = p + ((size_t)y * w + x) * 3;
  return (uint32_t)q[0] << 16 | (uint32_t)q[1] << 8 | q[2];
}

int main(int argc, char **argv) {
  /* argv[1]: keep the pictures in that folder to look at them */
  const char *dir = argc > 1 ? argv[1] : "/tmp";
  int keep = argc > 1;
  char path[512];

  /* Canvas + PNG round trip. */
  seq_canvas c;
  CHECK(seq_canvas_init(&c, 40, 30, 0xFFFFFF) == SEQ_OK);
  seq_canvas_fill_rect(&c, 5, 5, 10, 10, 0xFF0000);
  seq_canvas_line(&c, 0, 29, 39, 29, 0x0000FF, 1);
  seq_canvas_text(&c, 20, 2, "A", 0x000000, 1, 0);
  snprintf(path, sizeof path, "%s/seq_test_canvas.png", dir);
  CHECK(seq_canvas_save_png(&c, path) == SEQ_OK);
  seq_canvas_free(&c);
  uint8_t *p;
  int w, h;
  CHECK(seq_png_read(path, 3, &p, &w, &h) == SEQ_OK);
  CHECK(w == 40 && h == 30);
  CHECK(px(p, w, 7, 7) == 0xFF0000);
  CHECK(px(p, w, 0, 0) == 0xFFFFFF);
  CHECK(px(p, w, 10, 29) == 0x0000FF);
  CHECK(px(p, w, 22, 4) == 0x000000); /* apex of the 'A' (cell row 2, column 2) */
  free(p);
  if (!keep) remove(path);
  CHECK(seq_png_read("/nonexistent.png", 3, &p, &w, &h) == SEQ_EIO);

  /* Heat map: a 3x4 ramp; the top-left cell has the lowest value (viridis
   * dark purple) and the bottom-right the highest (yellow). */
  double v[12];
  for (int i = 0; i < 12; i++) v[i] = i;
  seq_heatmap_opts ho = {0};
  ho.vmin = ho.vmax = NAN;
  ho.cell = 20;
  ho.title = "ramp";
  ho.xlabel = "column";
  ho.ylabel = "row";
  snprintf(path, sizeof path, "%s/seq_test_heatmap.png", dir);
  CHECK(seq_plot_heatmap(path, v, 3, 4, &ho) == SEQ_OK);
  CHECK(seq_png_read(path, 3, &p, &w, &h) == SEQ_OK);
  CHECK(w > 80 && h > 60);
  int found_lo = 0, found_hi = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint32_t q = px(p, w, x, y);
      if (q == 0x440154) found_lo = 1;
      if (q == 0xFDE725) found_hi = 1;
    }
  CHECK(found_lo && found_hi);
  free(p);
  if (!keep) remove(path);

  /* Line plot. */
  double x[50], y1[50], y2[50];
  for (int i = 0; i < 50; i++) {
    x[i] = i + 1;
    y1[i] = exp(-i / 10.0);
    y2[i] = 0.5 + 0.3 * sin(i / 5.0);
  }
  seq_series s[2] = {{x, y1, 50, "loss", 0, 0, 0, 0}, {x, y2, 50, "val_loss", 0, 0, 0, 0}};
  seq_lines_opts lo = {0};
  lo.xmin = lo.xmax = lo.ymin = lo.ymax = NAN;
  lo.legend = 1;
  lo.title = "history";
  lo.xlabel = "epoch";
  lo.ylabel = "loss";
  snprintf(path, sizeof path, "%s/seq_test_lines.png", dir);
  CHECK(seq_plot_lines(path, s, 2, &lo) == SEQ_OK);
  CHECK(seq_png_read(path, 3, &p, &w, &h) == SEQ_OK);
  CHECK(w == 640 && h == 480);
  int blue = 0, orange = 0;
  for (int i = 0; i < w * h; i++) {
    uint32_t q = px(p, w, i % w, i / w);
    blue += q == 0x1F77B4;
    orange += q == 0xFF7F0E;
  }
  CHECK(blue > 200 && orange > 200);
  free(p);
  if (!keep) remove(path);

  if (failures) fprintf(stderr, "test_plot: %d failures\n", failures);
  else printf("test_plot: ok\n");
  return failures ? 1 : 0;
}
