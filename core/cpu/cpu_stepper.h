/* cpu_stepper.h - one-row kernels for the generation stepper
 * (core/engine/seq_stepper.c): a batch of one is latency-bound, so these
 * work on host rows the stepper allocated once, with no checks, threads or
 * BLAS call per step.
 *
 * Row lengths n are multiples of SEQ_ROWMV_PAD elements and every row
 * starts 32-byte aligned (the stepper lays its arrays out so).  The matrix
 * of the row kernel is packed (seq_cpu_rowmv_pack) in column panels, each
 * read front to back once per product: blocks of 64 f32 / 32 f64 columns
 * (8 vectors), then single vectors (8 / 4 columns) for the rest; a panel of
 * width w starting at column j holds rows 0..k-1 at offset j*k, stride w. */
#ifndef SEQ_CPU_STEPPER_H
#define SEQ_CPU_STEPPER_H

#include <stdbool.h>
#include <stdint.h>

#define SEQ_ROWMV_PAD 8

/* Does this CPU run the AVX2/FMA row kernel (else the scalar one)? */
bool seq_cpu_rowmv_simd_supported(void);

/* Packs the row-major [k, cols] matrix src (element size es: 4 = f32, 8 =
 * f64) for the row kernel, padded with zero columns to n. */
void seq_cpu_rowmv_pack(size_t es, int64_t k, int64_t cols, int64_t n, const void *src, void *dst);

/* out[0:n] = a[0:n] (+ b[0:n] when b is not NULL) + x[0:k] . W, W packed
 * [k, n].  `simd` picks the AVX2/FMA kernel (only where supported). */
void seq_cpu_rowmv_f32(int64_t n, int64_t k, const float *x, const float *W, const float *a, const float *b,
                       float *out, bool simd);
void seq_cpu_rowmv_f64(int64_t n, int64_t k, const double *x, const double *W, const double *a,
                       const double *b, double *out, bool simd);

/* One step of one row.  LSTM: z [4H] pre-activations (gates i, f, c, o,
 * bias included) -> c, h updated.  GRU (reset_after): gx = x.W + b_in and
 * gh = h.R + b_rec [3H] (gates z, r, h) -> h updated. */
void seq_cpu_lstm_row_f32(int64_t H, const float *z, float *c, float *h);
void seq_cpu_lstm_row_f64(int64_t H, const double *z, double *c, double *h);
void seq_cpu_gru_row_f32(int64_t H, const float *gx, const float *gh, float *h);
void seq_cpu_gru_row_f64(int64_t H, const double *gx, const double *gh, double *h);

/* Activations of seq_stepper.h over one row, in place. */
typedef enum seq_cpu_row_act {
  SEQ_CPU_ROW_LINEAR,
  SEQ_CPU_ROW_SOFTMAX,
  SEQ_CPU_ROW_SIGMOID,
  SEQ_CPU_ROW_TANH,
  SEQ_CPU_ROW_RELU
} seq_cpu_row_act;
void seq_cpu_row_activate_f32(seq_cpu_row_act act, int64_t n, float *x);
void seq_cpu_row_activate_f64(seq_cpu_row_act act, int64_t n, double *x);

#endif
