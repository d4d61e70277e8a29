/* seq_orthogonal.c - the orthonormalisation behind Keras's Orthogonal
 * initializer (lua/seq/nn.lua's init.orthogonal).
 *
 * Modified Gram-Schmidt, each row projected out twice ("twice is enough"
 * for full f64 orthogonality), then normalised: the rows become the columns
 * of the Q of a QR with positive diag(R).  It ran in Lua over tables until
 * it cost half a second per LSTM(128); the arithmetic and its order are
 * unchanged, and this file is compiled without floating-point contraction,
 * so the initial weights keep their bits. */
#include <math.h>

#include "seq_ops.h"

seq_status seq_orthonormalize_rows_(seq_tensor *t) {
  if (!t || t->device != SEQ_CPU || t->dtype != SEQ_F64 || t->ndim != 2 ||
      !seq_tensor_is_contiguous(t))
    return seq_fail(SEQ_EARG, "orthonormalize_rows_: expects a contiguous f64 CPU matrix, got %s",
                    t ? seq_tshape(t) : "nil");
  const int64_t n = t->shape[0], m = t->shape[1];
  if (n > m)
    return seq_fail(SEQ_ESHAPE, "orthonormalize_rows_: %lld rows of length %lld cannot be orthonormal",
                    (long long)n, (long long)m);
  double *a = seq_tensor_data(t);
  for (int64_t j = 0; j < n; j++) {
    double *v = a + j * m;
    for (int pass = 0; pass < 2; pass++)
      for (int64_t k = 0; k < j; k++) {
        const double *q = a + k * m;
        double dot = 0;
        for (int64_t i = 0; i < m; i++) dot = dot + q[i] * v[i];
        for (int64_t i = 0; i < m; i++) v[i] = v[i] - dot * q[i];
      }
    double norm = 0;
    for (int64_t i = 0; i < m; i++) norm = norm + v[i] * v[i];
    norm = sqrt(norm);
    if (!(norm >= 1e-12))
      return seq_fail(SEQ_EARG, "orthogonal: degenerate random matrix (try another seed)");
    for (int64_t i = 0; i < m; i++) v[i] = v[i] / norm;
  }
  return SEQ_OK;
}
