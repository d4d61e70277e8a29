/* seq_plot.h - a small raster canvas and two chart types, saved as PNG.
 *
 * The canvas is 8-bit RGB with colours as 0xRRGGBB.  Text uses the built-in
 * bitmap font (seq_font.h), scaled by an integer factor; it handles ASCII
 * and the Latin-1 / Latin Extended-A letters, and shows other characters as
 * boxes.  The charts follow matplotlib's look loosely: white background,
 * black axes with ticks and labels, tab10 series colours, viridis heat maps. */
#ifndef SEQ_PLOT_H
#define SEQ_PLOT_H

#include <stdint.h>

#include "seq_error.h"

typedef struct seq_canvas {
  int width, height;
  uint8_t *rgb; /* width*height*3 */
  int clip_x0, clip_y0, clip_x1, clip_y1; /* drawing is limited to [x0,x1) x [y0,y1) */
} seq_canvas;

seq_status seq_canvas_init(seq_canvas *c, int width, int height, uint32_t background);
void seq_canvas_free(seq_canvas *c);
void seq_canvas_pixel(seq_canvas *c, int x, int y, uint32_t color); /* clipped */
uint32_t seq_canvas_get(const seq_canvas *c, int x, int y);
void seq_canvas_fill_rect(seq_canvas *c, int x, int y, int w, int h, uint32_t color);
void seq_canvas_rect(seq_canvas *c, int x, int y, int w, int h, uint32_t color); /* outline */
void seq_canvas_line(seq_canvas *c, double x0, double y0, double x1, double y1, uint32_t color,
                     int thickness);
/* Width and height in pixels of a UTF-8 string at `scale` (invalid UTF-8
 * counts as one box per byte). */
int seq_canvas_text_width(const char *utf8, int scale);
int seq_canvas_text_height(int scale);
/* Draws text with its cell's top-left corner at (x, y); vertical text is
 * rotated 90 degrees counter-clockwise (reads bottom to top) and (x, y) is
 * then the bottom-left corner. */
void seq_canvas_text(seq_canvas *c, int x, int y, const char *utf8, uint32_t color, int scale,
                     int vertical);
seq_status seq_canvas_save_png(const seq_canvas *c, const char *path);

/* Colour maps: "viridis" (default), "gray", "hot", "blues".  t in [0, 1]. */
uint32_t seq_colormap(const char *name, double t);
/* The i-th default series colour (matplotlib tab10). */
uint32_t seq_plot_palette(int i);

typedef struct seq_heatmap_opts {
  int cell;         /* pixels per cell; 0: chosen from the matrix size */
  const char *title, *xlabel, *ylabel, *cmap;
  const char *const *xlabels; /* one per column, or NULL for numbers */
  const char *const *ylabels; /* one per row, or NULL */
  double vmin, vmax;          /* NaN: from the data */
  int font_scale;             /* 0: 1 for ticks, 2 for title */
} seq_heatmap_opts;

/* values: rows x cols, row-major; row i is drawn as the i-th row from the
 * top (like matplotlib's imshow/matshow). */
seq_status seq_plot_heatmap(const char *path, const double *values, int rows, int cols,
                            const seq_heatmap_opts *opts);

typedef struct seq_series {
  const double *x; /* NULL: 1..n */
  const double *y; /* NaN entries break the line */
  int n;
  const char *label;   /* NULL: not in the legend */
  uint32_t color;      /* used when has_color */
  int has_color;
  int thickness;       /* 0: 2 */
  int markers;         /* draw a small square at each point */
} seq_series;

typedef struct seq_lines_opts {
  int width, height; /* 0: 640 x 480 */
  const char *title, *xlabel, *ylabel;
  double xmin, xmax, ymin, ymax; /* NaN: from the data */
  int legend;                    /* draw a legend when any series has a label */
  int grid;
  int font_scale;                /* 0: 1, or 2 for images 1200 pixels wide or more */
} seq_lines_opts;

seq_status seq_plot_lines(const char *path, const seq_series *series, int nseries,
                          const seq_lines_opts *opts);

#endif
