/* seq_cblas.h - the system CBLAS header, minus its side effects.
 * OpenBLAS's cblas.h pulls in <complex.h>, whose `I` macro would clobber
 * any identifier named I (such as seq_lstm_args.I). */
#ifndef SEQ_CBLAS_H
#define SEQ_CBLAS_H
#include <cblas.h>
#ifdef I
#undef I
#endif
#endif
