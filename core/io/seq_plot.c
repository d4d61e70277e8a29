/* seq_plot.c - raster canvas, heat maps and line plots (seq_plot.h). */
#include "seq_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_font.h"
#include "seq_png.h"
#include "seq_utf8.h"

#define BLACK 0x000000u
#define WHITE 0xFFFFFFu
#define GRID 0xE0E0E0u

/* ----------------------------------------------------------------- canvas */

seq_status seq_canvas_init(seq_canvas *c, int width, int height, uint32_t background) {
  if (width <= 0 || height <= 0 || width > 20000 || height > 20000)
    return seq_fail(SEQ_EARG, "canvas: bad size %dx%d", width, height);
  c->rgb = malloc((size_t)width * (size_t)height * 3);
  if (!c->rgb) return seq_fail(SEQ_ENOMEM, "canvas: out of memory for %dx%d", width, height);
  c->width = width;
  c->height = height;
  c->clip_x0 = c->clip_y0 = 0;
  c->clip_x1 = width;
  c->clip_y1 = height;
  seq_canvas_fill_rect(c, 0, 0, width, height, background);
  return SEQ_OK;
}

void seq_canvas_free(seq_canvas *c) {
  free(c->rgb);
  c->rgb = NULL;
}

void seq_canvas_pixel(seq_canvas *c, int x, int y, uint32_t color) {
  if (x < c->clip_x0 || y < c->clip_y0 || x >= c->clip_x1 || y >= c->clip_y1) return;
  uint8_t *p = c->rgb + ((size_t)y * (size_t)c->width + (size_t)x) * 3;
  p[0] = (uint8_t)(color >> 16);
  p[1] = (uint8_t)(color >> 8);
  p[2] = (uint8_t)color;
}

uint32_t seq_canvas_get(const seq_canvas *c, int x, int y) {
  if (x < 0 || y < 0 || x >= c->width || y >= c->height) return 0;
  const uint8_t *p = c->rgb + ((size_t)y * (size_t)c->width + (size_t)x) * 3;
  return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

void seq_canvas_fill_rect(seq_canvas *c, int x, int y, int w, int h, uint32_t color) {
  for (int j = y; j < y + h; j++)
    for (int i = x; i < x + w; i++) seq_canvas_pixel(c, i, j, color);
}

void seq_canvas_rect(seq_canvas *c, int x, int y, int w, int h, uint32_t color) {
  seq_canvas_fill_rect(c, x, y, w, 1, color);
  seq_canvas_fill_rect(c, x, y + h - 1, w, 1, color);
  seq_canvas_fill_rect(c, x, y, 1, h, color);
  seq_canvas_fill_rect(c, x + w - 1, y, 1, h, color);
}

void seq_canvas_line(seq_canvas *c, double x0, double y0, double x1, double y1, uint32_t color,
                     int thickness) {
  if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
  /* Far-away endpoints (huge values on a fixed axis) would make the walk
   * below endless; clamp them well outside the canvas first. */
  double lim = 4.0 * (c->width + c->height);
  if (fabs(x0) > lim || fabs(x1) > lim || fabs(y0) > lim || fabs(y1) > lim) {
    /* Parametric clip of the segment against the expanded box. */
    double t0 = 0, t1 = 1, dx = x1 - x0, dy = y1 - y0;
    double p[4] = {-dx, dx, -dy, dy}, q[4] = {x0 + lim, lim - x0, y0 + lim, lim - y0};
    for (int k = 0; k < 4; k++) {
      if (p[k] == 0) {
        if (q[k] < 0) return;
      } else {
        double r = q[k] / p[k];
        if (p[k] < 0) {
          if (r > t0) t0 = r;
        } else if (r < t1) {
          t1 = r;
        }
      }
    }
    if (t0 > t1) return;
    x1 = x0 + t1 * dx;
    y1 = y0 + t1 * dy;
    x0 = x0 + t0 * dx;
    y0 = y0 + t0 * dy;
  }
  if (thickness < 1) thickness = 1;
  int ix0 = (int)lround(x0), iy0 = (int)lround(y0), ix1 = (int)lround(x1), iy1 = (int)lround(y1);
  int dx = abs(ix1 - ix0), sx = ix0 < ix1 ? 1 : -1;
  int dy = -abs(iy1 - iy0), sy = iy0 < iy1 ? 1 : -1;
  int err = dx + dy, off = (thickness - 1) / 2;
  for (;;) {
    seq_canvas_fill_rect(c, ix0 - off, iy0 - off, thickness, thickness, color);
    if (ix0 == ix1 && iy0 == iy1) break;
    int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      ix0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      iy0 += sy;
    }
  }
}

/* Next code point of a label; bytes that are not valid UTF-8 show as boxes. */
static uint32_t next_cp(const char *s, size_t n, size_t *pos) {
  uint32_t cp;
  if (seq_utf8_next(s, n, pos, &cp)) return cp;
  (*pos)++;
  return 0xFFFD;
}

int seq_canvas_text_width(const char *utf8, int scale) {
  size_t n = strlen(utf8), pos = 0;
  int count = 0;
  while (pos < n) {
    next_cp(utf8, n, &pos);
    count++;
  }
  return count * SEQ_FONT_CELL_W * scale;
}

int seq_canvas_text_height(int scale) { return SEQ_FONT_CELL_H * scale; }

void seq_canvas_text(seq_canvas *c, int x, int y, const char *utf8, uint32_t color, int scale,
                     int vertical) {
  if (scale < 1) scale = 1;
  size_t n = strlen(utf8), pos = 0;
  int pen = 0;
  uint8_t rows[SEQ_FONT_CELL_H];
  while (pos < n) {
    uint32_t cp = next_cp(utf8, n, &pos);
    seq_font_glyph(cp, rows);
    for (int gy = 0; gy < SEQ_FONT_CELL_H; gy++)
      for (int gx = 0; gx < 5; gx++) {
        if (!(rows[gy] & (1u << (4 - gx)))) continue;
        int u = pen + gx * scale, v = gy * scale;
        if (vertical)
          seq_canvas_fill_rect(c, x + v, y - u - scale, scale, scale, color);
        else
          seq_canvas_fill_rect(c, x + u, y + v, scale, scale, color);
      }
    pen += SEQ_FONT_CELL_W * scale;
  }
}

seq_status seq_canvas_save_png(const seq_canvas *c, const char *path) {
  return seq_png_write(path, c->rgb, c->width, c->height, 3);
}

/* ----------------------------------------------------------------- colour */

static uint32_t lerp_stops(const uint32_t *stops, int n, double t) {
  if (!(t >= 0)) t = 0; /* also maps NaN to the low end */
  if (t > 1) t = 1;
  double f = t * (n - 1);
  int i = (int)f;
  if (i >= n - 1) return stops[n - 1];
  double w = f - i;
  uint32_t a = stops[i], b = stops[i + 1], out = 0;
  for (int sh = 16; sh >= 0; sh -= 8) {
    double ca = (a >> sh) & 0xFF, cb = (b >> sh) & 0xFF;
    out |= (uint32_t)lround(ca + (cb - ca) * w) << sh;
  }
  return out;
}

uint32_t seq_colormap(const char *name, double t) {
  static const uint32_t viridis[] = {0x440154, 0x482475, 0x414487, 0x355F8D, 0x2A788E, 0x21918C,
                                     0x22A884, 0x44BF70, 0x7AD151, 0xBDDF26, 0xFDE725};
  static const uint32_t gray[] = {0x000000, 0xFFFFFF};
  static const uint32_t hot[] = {0x0B0000, 0xE60000, 0xFFD200, 0xFFFFFF};
  static const uint32_t blues[] = {0xF7FBFF, 0xC6DBEF, 0x6BAED6, 0x2171B5, 0x08306B};
  if (name && !strcmp(name, "gray")) return lerp_stops(gray, 2, t);
  if (name && !strcmp(name, "hot")) return lerp_stops(hot, 4, t);
  if (name && !strcmp(name, "blues")) return lerp_stops(blues, 5, t);
  return lerp_stops(viridis, 11, t);
}

uint32_t seq_plot_palette(int i) {
  static const uint32_t tab10[] = {0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD,
                                   0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF};
  return tab10[((i % 10) + 10) % 10];
}

/* ------------------------------------------------------------------ ticks */

typedef struct ticks {
  double lo, hi, step;
  int n;
  double v[64];
  int decimals;
} ticks;

/* "Nice" steps of 1, 2 or 5 times a power of ten, about `target` of them
 * over [lo, hi]. */
static void nice_ticks(ticks *t, double lo, double hi, int target) {
  /* Any finite data reaches here, including ranges whose width overflows
   * (-1e308..1e308) or underflows to a subnormal step (0..5e-324).  Clamp
   * the ends and widen a range too narrow to split, so that the step is a
   * normal number and its exponent fits an int. */
  const double far = 1e300, tiny = 1e-280;
  lo = lo < -far ? -far : lo > far ? far : lo;
  hi = hi < -far ? -far : hi > far ? far : hi;
  double big = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
  if (!(hi - lo > tiny) || !(hi - lo > big * 1e-12)) {
    double pad = big * 0.1 > tiny ? big * 0.1 : big > 0 ? tiny : 0.5;
    double mid = lo / 2 + hi / 2;
    lo = mid - pad;
    hi = mid + pad;
  }
  double rough = (hi - lo) / (target > 1 ? target : 2);
  double mag = pow(10, floor(log10(rough)));
  double norm = rough / mag;
  double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  t->lo = lo;
  t->hi = hi;
  t->step = step;
  t->n = 0;
  for (double k = ceil(lo / step - 1e-9); t->n < 64; k++) {
    double v = k * step;
    if (v > hi + step * 1e-9) break;
    t->v[t->n++] = fabs(v) < step * 1e-9 ? 0 : v;
  }
  int d = -(int)floor(log10(step) + 1e-9);
  t->decimals = d > 0 ? d : 0;
}

static void tick_label(char *buf, size_t n, double v, const ticks *t) {
  double big = fabs(t->lo) > fabs(t->hi) ? fabs(t->lo) : fabs(t->hi);
  if (big >= 1e6 || t->decimals > 6)
    snprintf(buf, n, "%.3g", v);
  else
    snprintf(buf, n, "%.*f", t->decimals, v);
  if (!strcmp(buf, "-0")) strcpy(buf, "0");
}

static void text_centered(seq_canvas *c, int cx, int y, const char *s, uint32_t col, int scale) {
  seq_canvas_text(c, cx - seq_canvas_text_width(s, scale) / 2, y, s, col, scale, 0);
}

/* --------------------------------------------------------------- heat map */

/* The colour scale's ends: the caller's, else the finite data's extent. */
static void heatmap_range(const double *values, size_t n, const seq_heatmap_opts *o, double *vmin,
                          double *vmax) {
  *vmin = o->vmin;
  *vmax = o->vmax;
  if (isnan(*vmin) || isnan(*vmax)) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
      if (isfinite(values[i])) {
        if (values[i] < lo) lo = values[i];
        if (values[i] > hi) hi = values[i];
      }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (isnan(*vmin)) *vmin = lo;
    if (isnan(*vmax)) *vmax = hi;
  }
  if (!(*vmax > *vmin)) *vmax = *vmin + 1;
}

/* Row or column i's label: the caller's, else its number (written to num). */
static const char *cell_label(const char *const *labels, int i, char num[32]) {
  if (labels) return labels[i];
  snprintf(num, 32, "%d", i);
  return num;
}

static int widest_cell_label(const char *const *labels, int n, int fs) {
  char num[32];
  int widest = 0;
  for (int i = 0; i < n; i++) {
    int w = seq_canvas_text_width(cell_label(labels, i, num), fs);
    if (w > widest) widest = w;
  }
  return widest;
}

/* Colour-bar ticks outside [vmin, vmax] (beyond rounding) are not drawn. */
static int tick_in_range(double v, double vmin, double vmax) {
  return !(v < vmin - 1e-12 * fabs(vmin) || v > vmax + 1e-12 * fabs(vmax));
}

typedef struct heatmap_layout {
  int fs, ts, th;         /* tick and title font scales, tick text height */
  int cs;                 /* pixels per cell */
  int xstep, ystep;       /* label every xstep-th column, ystep-th row */
  int x_vertical, xlab_h; /* column labels rotated; their height */
  int top, left, mw, mh;  /* the matrix */
  int cbar_x, cbar_w;     /* the colour bar */
  int width, height;
} heatmap_layout;

static void heatmap_layout_for(heatmap_layout *l, int rows, int cols, const seq_heatmap_opts *o,
                               const ticks *ct, double vmin, double vmax) {
  l->fs = o->font_scale > 0 ? o->font_scale : 1;
  l->ts = l->fs + 1;
  l->th = seq_canvas_text_height(l->fs);
  int fs = l->fs, big = rows > cols ? rows : cols;
  int cs = o->cell > 0 ? o->cell : (560 + big - 1) / big;
  if (o->cell <= 0 && cs > 48) cs = 48;
  if (cs < 1) cs = 1;
  l->cs = cs;

  /* Which rows/columns get a label: all when the cells are tall enough for
   * the glyphs (9 visible pixel rows), otherwise every k-th. */
  int vis = 9 * fs + 1;
  l->ystep = cs >= vis ? 1 : (vis + cs - 1) / cs;
  int maxw = widest_cell_label(o->xlabels, cols, fs);
  l->x_vertical = maxw > cs - 1 && o->xlabels != NULL;
  l->xstep = l->x_vertical ? l->ystep : (maxw + 4 + cs - 1) / cs;
  if (l->xstep < 1) l->xstep = 1;
  l->xlab_h = l->x_vertical ? maxw : l->th;
  int ylab_w = widest_cell_label(o->ylabels, rows, fs);

  int cbar_lab_w = 0;
  char num[32];
  for (int k = 0; k < ct->n; k++) {
    if (!tick_in_range(ct->v[k], vmin, vmax)) continue;
    tick_label(num, sizeof num, ct->v[k], ct);
    int w = seq_canvas_text_width(num, fs);
    if (w > cbar_lab_w) cbar_lab_w = w;
  }

  l->top = 10 + (o->title ? seq_canvas_text_height(l->ts) + 6 : 0);
  l->left = 10 + (o->ylabel ? l->th + 6 : 0) + ylab_w + 6;
  l->mw = cols * cs;
  l->mh = rows * cs;
  int bottom = 6 + l->xlab_h + 6 + (o->xlabel ? l->th + 4 : 0) + 8;
  l->cbar_x = l->left + l->mw + 16;
  l->cbar_w = 16;
  l->width = l->cbar_x + l->cbar_w + 6 + cbar_lab_w + 12;
  l->height = l->top + l->mh + bottom;
  if (o->title) {
    int tw = seq_canvas_text_width(o->title, l->ts) + 20;
    if (tw > l->width) l->width = tw;
  }
}

/* Row labels right-aligned and centred on their row, column labels below
 * the matrix, then the axis labels and the title. */
static void draw_heatmap_labels(seq_canvas *c, const heatmap_layout *l, int rows, int cols,
                                const seq_heatmap_opts *o) {
  int fs = l->fs, cs = l->cs, top = l->top, left = l->left;
  char num[32];
  for (int i = 0; i < rows; i += l->ystep) {
    const char *s = cell_label(o->ylabels, i, num);
    int w = seq_canvas_text_width(s, fs);
    int cy = top + i * cs + cs / 2;
    seq_canvas_fill_rect(c, left - 4, cy, 3, 1, BLACK);
    seq_canvas_text(c, left - 6 - w, cy - 2 * fs - (7 * fs) / 2, s, BLACK, fs, 0);
  }
  for (int j = 0; j < cols; j += l->xstep) {
    const char *s = cell_label(o->xlabels, j, num);
    int cx = left + j * cs + cs / 2;
    seq_canvas_fill_rect(c, cx, top + l->mh + 1, 1, 3, BLACK);
    if (l->x_vertical) {
      /* Rotated: the glyph's top (accent rows) faces left. */
      seq_canvas_text(c, cx - 5 * fs, top + l->mh + 6 + seq_canvas_text_width(s, fs), s, BLACK, fs, 1);
    } else {
      text_centered(c, cx + fs / 2, top + l->mh + 6 - 2 * fs, s, BLACK, fs);
    }
  }
  if (o->xlabel) text_centered(c, left + l->mw / 2, top + l->mh + 6 + l->xlab_h + 6, o->xlabel, BLACK, fs);
  if (o->ylabel) {
    int w = seq_canvas_text_width(o->ylabel, fs);
    seq_canvas_text(c, 10, top + l->mh / 2 + w / 2, o->ylabel, BLACK, fs, 1);
  }
  if (o->title) text_centered(c, l->width / 2, 8, o->title, BLACK, l->ts);
}

static void draw_colour_bar(seq_canvas *c, const heatmap_layout *l, const ticks *ct, double vmin,
                            double vmax, const char *cmap) {
  int fs = l->fs, top = l->top, mh = l->mh, x = l->cbar_x, w = l->cbar_w;
  for (int y = 0; y < mh; y++) {
    double t = 1.0 - (y + 0.5) / mh;
    seq_canvas_fill_rect(c, x, top + y, w, 1, seq_colormap(cmap, t));
  }
  seq_canvas_rect(c, x - 1, top - 1, w + 2, mh + 2, BLACK);
  char num[32];
  for (int k = 0; k < ct->n; k++) {
    double v = ct->v[k];
    if (!tick_in_range(v, vmin, vmax)) continue;
    int y = top + (int)lround((1.0 - (v - vmin) / (vmax - vmin)) * (mh - 1));
    seq_canvas_fill_rect(c, x + w + 1, y, 4, 1, BLACK);
    tick_label(num, sizeof num, v, ct);
    seq_canvas_text(c, x + w + 7, y - 2 * fs - (7 * fs) / 2, num, BLACK, fs, 0);
  }
}

seq_status seq_plot_heatmap(const char *path, const double *values, int rows, int cols,
                            const seq_heatmap_opts *o) {
  seq_heatmap_opts def = {0};
  def.vmin = def.vmax = NAN;
  if (!o) o = &def;
  if (rows <= 0 || cols <= 0 || rows > 4000 || cols > 4000)
    return seq_fail(SEQ_EARG, "heatmap: bad matrix size %dx%d", rows, cols);
  double vmin, vmax;
  heatmap_range(values, (size_t)rows * cols, o, &vmin, &vmax);
  ticks ct;
  nice_ticks(&ct, vmin, vmax, 6);
  heatmap_layout l;
  heatmap_layout_for(&l, rows, cols, o, &ct, vmin, vmax);

  seq_canvas c;
  SEQ_TRY(seq_canvas_init(&c, l.width, l.height, WHITE));
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) {
      double v = values[(size_t)i * cols + j];
      uint32_t col = isfinite(v) ? seq_colormap(o->cmap, (v - vmin) / (vmax - vmin)) : WHITE;
      seq_canvas_fill_rect(&c, l.left + j * l.cs, l.top + i * l.cs, l.cs, l.cs, col);
    }
  seq_canvas_rect(&c, l.left - 1, l.top - 1, l.mw + 2, l.mh + 2, BLACK);
  draw_heatmap_labels(&c, &l, rows, cols, o);
  draw_colour_bar(&c, &l, &ct, vmin, vmax, o->cmap);
  seq_status s = seq_canvas_save_png(&c, path);
  seq_canvas_free(&c);
  return s;
}

/* -------------------------------------------------------------- line plot */

/* The plot area in pixels and the data range it shows. */
typedef struct plot_frame {
  int px0, px1, py0, py1;
  double xmin, xmax, ymin, ymax;
} plot_frame;

static double frame_x(const plot_frame *f, double x) {
  return f->px0 + (x - f->xmin) / (f->xmax - f->xmin) * (f->px1 - f->px0);
}

static double frame_y(const plot_frame *f, double y) {
  return f->py1 - (y - f->ymin) / (f->ymax - f->ymin) * (f->py1 - f->py0);
}

static double series_x(const seq_series *s, int i) { return s->x ? s->x[i] : i + 1; }

static uint32_t series_color(const seq_series *s, int index) {
  return s->has_color ? s->color : seq_plot_palette(index);
}

static int series_thickness(const seq_series *s) { return s->thickness > 0 ? s->thickness : 2; }

/* The extent of the finite points, {x0, x1, y0, y1}; the unit square when
 * there are none. */
static seq_status data_extent(const seq_series *series, int nseries, double ext[4]) {
  ext[0] = ext[2] = INFINITY;
  ext[1] = ext[3] = -INFINITY;
  for (int s = 0; s < nseries; s++) {
    const seq_series *sr = &series[s];
    if (sr->n < 0 || (sr->n > 0 && !sr->y))
      return seq_fail(SEQ_EARG, "plot_lines: series %d has no y values", s + 1);
    for (int i = 0; i < sr->n; i++) {
      double x = series_x(sr, i), y = sr->y[i];
      if (!isfinite(x) || !isfinite(y)) continue;
      if (x < ext[0]) ext[0] = x;
      if (x > ext[1]) ext[1] = x;
      if (y < ext[2]) ext[2] = y;
      if (y > ext[3]) ext[3] = y;
    }
  }
  if (!isfinite(ext[0])) ext[0] = 0, ext[1] = 1, ext[2] = 0, ext[3] = 1;
  return SEQ_OK;
}

/* Integer-valued x data (epochs) should not get fractional ticks. */
static int x_all_integral(const seq_series *series, int nseries) {
  for (int s = 0; s < nseries; s++)
    for (int i = 0; i < series[s].n; i++) {
      double x = series_x(&series[s], i);
      if (isfinite(x) && x != floor(x)) return 0;
    }
  return 1;
}

static void draw_axes(seq_canvas *c, const plot_frame *f, const ticks *xt, const ticks *yt, int grid, int fs) {
  char num[48];
  for (int k = 0; k < xt->n; k++) {
    if (xt->v[k] < f->xmin || xt->v[k] > f->xmax) continue;
    int x = (int)lround(frame_x(f, xt->v[k]));
    if (grid) seq_canvas_fill_rect(c, x, f->py0, 1, f->py1 - f->py0, GRID);
    seq_canvas_fill_rect(c, x, f->py1, 1, 5, BLACK);
    tick_label(num, sizeof num, xt->v[k], xt);
    text_centered(c, x + fs / 2, f->py1 + 6 - 2 * fs, num, BLACK, fs);
  }
  for (int k = 0; k < yt->n; k++) {
    if (yt->v[k] < f->ymin || yt->v[k] > f->ymax) continue;
    int y = (int)lround(frame_y(f, yt->v[k]));
    if (grid) seq_canvas_fill_rect(c, f->px0, y, f->px1 - f->px0, 1, GRID);
    seq_canvas_fill_rect(c, f->px0 - 5, y, 5, 1, BLACK);
    tick_label(num, sizeof num, yt->v[k], yt);
    seq_canvas_text(c, f->px0 - 8 - seq_canvas_text_width(num, fs), y - 2 * fs - (7 * fs) / 2, num,
                    BLACK, fs, 0);
  }
}

/* The series as polylines clipped to the plot area; a non-finite point
 * breaks the line. */
static void draw_series(seq_canvas *c, const plot_frame *f, const seq_series *series, int nseries) {
  c->clip_x0 = f->px0;
  c->clip_y0 = f->py0;
  c->clip_x1 = f->px1 + 1;
  c->clip_y1 = f->py1 + 1;
  for (int s = 0; s < nseries; s++) {
    const seq_series *sr = &series[s];
    uint32_t col = series_color(sr, s);
    int thick = series_thickness(sr);
    double lx = NAN, ly = NAN;
    for (int i = 0; i < sr->n; i++) {
      double x = series_x(sr, i), y = sr->y[i];
      if (!isfinite(x) || !isfinite(y)) {
        lx = ly = NAN;
        continue;
      }
      double X = frame_x(f, x), Y = frame_y(f, y);
      if (!isnan(lx)) seq_canvas_line(c, lx, ly, X, Y, col, thick);
      else if (sr->n == 1 || sr->markers) seq_canvas_line(c, X, Y, X, Y, col, thick);
      if (sr->markers) seq_canvas_fill_rect(c, (int)lround(X) - 2, (int)lround(Y) - 2, 5, 5, col);
      lx = X;
      ly = Y;
    }
  }
  c->clip_x0 = c->clip_y0 = 0;
  c->clip_x1 = c->width;
  c->clip_y1 = c->height;
}

/* Points of all series that fall on a w x h box at (bx, by), with a 4-pixel margin. */
static long points_under(const plot_frame *f, const seq_series *series, int nseries, int bx, int by, int w,
                         int h) {
  long cover = 0;
  for (int s = 0; s < nseries; s++)
    for (int i = 0; i < series[s].n; i++) {
      double x = series_x(&series[s], i), y = series[s].y[i];
      if (!isfinite(x) || !isfinite(y)) continue;
      double X = frame_x(f, x), Y = frame_y(f, y);
      if (X >= bx - 4 && X <= bx + w + 4 && Y >= by - 4 && Y <= by + h + 4) cover++;
    }
  return cover;
}

/* The labelled series' legend, in the corner of the plot area that covers
 * the fewest points. */
static void draw_legend(seq_canvas *c, const plot_frame *f, const seq_series *series, int nseries, int fs) {
  int nlab = 0, lw = 0;
  for (int s = 0; s < nseries; s++)
    if (series[s].label) {
      nlab++;
      int w = seq_canvas_text_width(series[s].label, fs);
      if (w > lw) lw = w;
    }
  if (nlab == 0) return;
  int row_h = seq_canvas_text_height(fs) + 2, bw = 8 + 24 + 6 + lw + 8, bh = 6 + nlab * row_h + 4;
  int best = 0;
  long best_cover = -1;
  for (int corner = 0; corner < 4; corner++) {
    int bx = corner & 1 ? f->px0 + 8 : f->px1 - 8 - bw, by = corner & 2 ? f->py1 - 8 - bh : f->py0 + 8;
    long cover = points_under(f, series, nseries, bx, by, bw, bh);
    if (best_cover < 0 || cover < best_cover) {
      best_cover = cover;
      best = corner;
    }
  }
  int bx = best & 1 ? f->px0 + 8 : f->px1 - 8 - bw, by = best & 2 ? f->py1 - 8 - bh : f->py0 + 8;
  seq_canvas_fill_rect(c, bx, by, bw, bh, WHITE);
  seq_canvas_rect(c, bx, by, bw, bh, 0xA0A0A0);
  int k = 0;
  for (int s = 0; s < nseries; s++) {
    if (!series[s].label) continue;
    int y = by + 6 + k * row_h;
    int mid = y + 2 * fs + (7 * fs) / 2;
    seq_canvas_line(c, bx + 8, mid, bx + 32, mid, series_color(&series[s], s), series_thickness(&series[s]));
    seq_canvas_text(c, bx + 38, y, series[s].label, BLACK, fs, 0);
    k++;
  }
}

seq_status seq_plot_lines(const char *path, const seq_series *series, int nseries,
                          const seq_lines_opts *o) {
  seq_lines_opts def = {0};
  def.xmin = def.xmax = def.ymin = def.ymax = NAN;
  def.legend = 1;
  if (!o) o = &def;
  if (nseries < 0 || nseries > 64) return seq_fail(SEQ_EARG, "plot_lines: bad series count %d", nseries);
  int W = o->width > 0 ? o->width : 640, H = o->height > 0 ? o->height : 480;
  if (W < 100 || H < 80) return seq_fail(SEQ_EARG, "plot_lines: image %dx%d is too small", W, H);
  int fs = o->font_scale > 0 ? o->font_scale : W >= 1200 ? 2 : 1, ts = fs + 1;
  int th = seq_canvas_text_height(fs);

  double ext[4];
  SEQ_TRY(data_extent(series, nseries, ext));
  /* 5% margins like matplotlib, unless the caller fixed the limits. */
  double mx = (ext[1] - ext[0]) * 0.05, my = (ext[3] - ext[2]) * 0.05;
  if (mx == 0) mx = ext[0] != 0 ? fabs(ext[0]) * 0.05 : 0.5;
  if (my == 0) my = ext[2] != 0 ? fabs(ext[2]) * 0.05 : 0.5;
  plot_frame f;
  f.xmin = isnan(o->xmin) ? ext[0] - mx : o->xmin;
  f.xmax = isnan(o->xmax) ? ext[1] + mx : o->xmax;
  f.ymin = isnan(o->ymin) ? ext[2] - my : o->ymin;
  f.ymax = isnan(o->ymax) ? ext[3] + my : o->ymax;
  if (!(f.xmax > f.xmin)) f.xmax = f.xmin + 1;
  if (!(f.ymax > f.ymin)) f.ymax = f.ymin + 1;

  ticks xt, yt;
  nice_ticks(&xt, f.xmin, f.xmax, W / 100 > 4 ? W / 100 : 4);
  nice_ticks(&yt, f.ymin, f.ymax, H / 70 > 4 ? H / 70 : 4);
  if (xt.step < 1 && x_all_integral(series, nseries)) {
    int span = (int)ceil(f.xmax - f.xmin);
    nice_ticks(&xt, f.xmin, f.xmax, span > 1 ? span : 1);
  }
  char num[48];
  int ylab_w = 0;
  for (int k = 0; k < yt.n; k++) {
    tick_label(num, sizeof num, yt.v[k], &yt);
    int w = seq_canvas_text_width(num, fs);
    if (w > ylab_w) ylab_w = w;
  }
  f.px0 = 10 + (o->ylabel ? th + 6 : 0) + ylab_w + 8;
  f.px1 = W - 20;
  f.py0 = 12 + (o->title ? seq_canvas_text_height(ts) + 6 : 0);
  f.py1 = H - (6 + th + 4 + (o->xlabel ? th + 4 : 0) + 8);
  if (f.px1 - f.px0 < 20 || f.py1 - f.py0 < 20)
    return seq_fail(SEQ_EARG, "plot_lines: image %dx%d leaves no room for the plot", W, H);

  seq_canvas c;
  SEQ_TRY(seq_canvas_init(&c, W, H, WHITE));
  draw_axes(&c, &f, &xt, &yt, o->grid, fs);
  draw_series(&c, &f, series, nseries);
  seq_canvas_rect(&c, f.px0, f.py0, f.px1 - f.px0 + 1, f.py1 - f.py0 + 1, BLACK);
  if (o->legend) draw_legend(&c, &f, series, nseries, fs);
  if (o->title) text_centered(&c, W / 2, 8, o->title, BLACK, ts);
  if (o->xlabel) text_centered(&c, (f.px0 + f.px1) / 2, f.py1 + 6 + th + 4, o->xlabel, BLACK, fs);
  if (o->ylabel) {
    int w = seq_canvas_text_width(o->ylabel, fs);
    seq_canvas_text(&c, 10, (f.py0 + f.py1) / 2 + w / 2, o->ylabel, BLACK, fs, 1);
  }
  seq_status st = seq_canvas_save_png(&c, path);
  seq_canvas_free(&c);
  return st;
}
