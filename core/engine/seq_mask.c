/* seq_mask.c - masks to lengths and gather/scatter rows (see seq_mask.h). */
#include "seq_mask.h"

#include <stdlib.h>

#include "seq_checked.h"

/* The mask as host bytes (non-zero = real step). */
static seq_status mask_host(seq_tensor *mask, unsigned char **out) {
  seq_tensor *cpu = NULL, *b = NULL, *c = NULL;
  seq_status st = seq_to_device(&cpu, mask, SEQ_CPU);
  if (st == SEQ_OK) st = seq_cast(&b, cpu, SEQ_U8);
  if (st == SEQ_OK) st = seq_contiguous(&c, b);
  unsigned char *m = NULL;
  if (st == SEQ_OK && !(m = malloc((size_t)(c->numel > 0 ? c->numel : 1))))
    st = seq_fail(SEQ_ENOMEM, "mask: out of memory");
  if (st == SEQ_OK) {
    const unsigned char *src = c->numel ? seq_tensor_data(c) : NULL;
    for (int64_t i = 0; i < c->numel; i++) m[i] = src[i] != 0;
  }
  seq_tensor_release(c);
  seq_tensor_release(b);
  seq_tensor_release(cpu);
  *out = m;
  return st;
}

seq_status seq_mask_plan(seq_tensor **lengths_out, seq_tensor **gather_out,
                         seq_tensor **scatter_out, seq_tensor *mask, bool reverse,
                         bool zero_masked) {
  *lengths_out = *gather_out = *scatter_out = NULL;
  if (!mask) return seq_fail(SEQ_EARG, "mask: a [batch, timesteps] mask is required");
  if (mask->ndim != 2)
    return seq_fail(SEQ_ESHAPE, "mask: expected [batch, timesteps], got %s", seq_tshape(mask));
  const int64_t B = mask->shape[0], T = mask->shape[1];
  if (T > INT32_MAX)
    return seq_fail(SEQ_ESHAPE, "mask: %lld timesteps exceed the kernels' int32 lengths",
                    (long long)T);
  unsigned char *m = NULL;
  SEQ_TRY(mask_host(mask, &m));
  const int64_t n = B * T, sb[1] = {B}, sn[1] = {n};
  int32_t *len = malloc(sizeof(int32_t) * (size_t)(B > 0 ? B : 1));
  int64_t *gat = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  int64_t *sca = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  seq_status st = (len && gat && sca) ? SEQ_OK : seq_fail(SEQ_ENOMEM, "mask: out of memory");
  for (int64_t b = 0; b < B && st == SEQ_OK; b++) {
    const int64_t row = b * T;
    int64_t count = 0;
    for (int64_t p = 0; p < T; p++) {
      const int64_t t = reverse ? T - 1 - p : p;
      if (m[row + t]) {
        gat[row + count] = row + t;
        count++;
        sca[row + p] = row + count - 1;
      } else {
        sca[row + p] = (count == 0 || zero_masked) ? row + T - 1 : row + count - 1;
      }
    }
    for (int64_t p = count; p < T; p++) gat[row + p] = row + (reverse ? T - 1 - p : p);
    len[b] = (int32_t)count;
  }
  free(m);
  seq_tensor *tl = NULL, *tg = NULL, *ts = NULL, *dg = NULL, *ds = NULL;
  if (st == SEQ_OK) st = seq_tensor_from_host(&tl, SEQ_I32, 1, sb, len, sizeof(int32_t) * (size_t)B);
  if (st == SEQ_OK) st = seq_tensor_from_host(&tg, SEQ_I64, 1, sn, gat, sizeof(int64_t) * (size_t)n);
  if (st == SEQ_OK) st = seq_tensor_from_host(&ts, SEQ_I64, 1, sn, sca, sizeof(int64_t) * (size_t)n);
  if (st == SEQ_OK) st = seq_to_device(&dg, tg, mask->device);
  if (st == SEQ_OK) st = seq_to_device(&ds, ts, mask->device);
  free(len);
  free(gat);
  free(sca);
  seq_tensor_release(tg);
  seq_tensor_release(ts);
  if (st != SEQ_OK) {
    seq_tensor_release(tl);
    seq_tensor_release(dg);
    seq_tensor_release(ds);
    return st;
  }
  *lengths_out = tl;
  *gather_out = dg;
  *scatter_out = ds;
  return SEQ_OK;
}
