/* seq_font.h - the built-in bitmap font used by seq_plot.
 *
 * A hand-drawn 5x9 font (7 rows above the baseline, 2 for descenders) in a
 * 6x12 cell with 2 rows on top for accents.  It covers printable ASCII, the
 * letters of Latin-1 and Latin Extended-A (drawn as base letter + accent,
 * plus Æ æ Ø ø ß Œ œ), and draws a hollow box for anything else. */
#ifndef SEQ_FONT_H
#define SEQ_FONT_H

#include <stdint.h>

#define SEQ_FONT_CELL_W 6
#define SEQ_FONT_CELL_H 12

/* Fills rows[12] with the cell bitmap of code point cp: bit (4-x) of rows[y]
 * is pixel (x, y), x in 0..4.  Returns 0 when cp is not in the font (rows
 * then hold the fallback box). */
int seq_font_glyph(uint32_t cp, uint8_t rows[SEQ_FONT_CELL_H]);

#endif
