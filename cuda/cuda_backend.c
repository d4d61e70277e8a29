/* cuda_backend.c - the CUDA backend table and the thin host wrappers that
 * adapt seq_tensor arguments to the kernels in cuda_kernels.cu: dtype
 * promotion through scratch copies, contiguity, shape bookkeeping. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "seq_cuda.h"

/* ---- scratch ---- */

seq_status seq_cuda_scratch_alloc(seq_cuda_scratch *s, size_t nbytes) {
  s->ptr = NULL;
  s->nbytes = nbytes ? nbytes : 1;
  seq_status st = seq_cuda_alloc(&s->ptr, s->nbytes);
  if (st != SEQ_OK) s->ptr = NULL;
  return st;
}

void seq_cuda_scratch_free(seq_cuda_scratch *s) {
  if (s->ptr) seq_cuda_free(s->ptr, s->nbytes);
  s->ptr = NULL;
}

seq_status seq_cuda_contig(const seq_tensor *t, seq_dtype want, seq_cuda_scratch *s,
                           const void **out) {
  s->ptr = NULL;
  if (t->dtype == want && seq_tensor_is_contiguous(t)) {
    *out = seq_tensor_data(t);
    return SEQ_OK;
  }
  SEQ_TRY(seq_cuda_scratch_alloc(s, (size_t)t->numel * seq_dtype_size(want)));
  seq_cuda_arr dst = seq_cuda_arr_raw(s->ptr, want, t->ndim, t->shape);
  seq_cuda_arr src = seq_cuda_arr_of(t);
  seq_status st = seq_cuda_k_copy(&dst, &src);
  if (st != SEQ_OK) {
    seq_cuda_scratch_free(s);
    return st;
  }
  *out = s->ptr;
  return SEQ_OK;
}

/* A strided operand converted to dtype `want` when it is not already:
 * `arr` describes either t itself or a contiguous converted copy. */
static seq_status as_dtype(const seq_tensor *t, seq_dtype want, seq_cuda_scratch *s,
                           seq_cuda_arr *arr) {
  s->ptr = NULL;
  if (t->dtype == want) {
    *arr = seq_cuda_arr_of(t);
    return SEQ_OK;
  }
  const void *p;
  SEQ_TRY(seq_cuda_contig(t, want, s, &p));
  *arr = seq_cuda_arr_raw((void *)p, want, t->ndim, t->shape);
  return SEQ_OK;
}

static bool is_cmp(seq_binop op) { return op >= SEQ_BIN_EQ && op <= SEQ_BIN_GE; }

static seq_dtype promote(seq_dtype a, seq_dtype b) {
  if (a == b) return a;
  if (a == SEQ_F64 || b == SEQ_F64) return SEQ_F64;
  if (a == SEQ_F32 || b == SEQ_F32) return SEQ_F32;
  if (a == SEQ_I64 || b == SEQ_I64) return SEQ_I64;
  if (a == SEQ_I32 || b == SEQ_I32) return SEQ_I32;
  return SEQ_U8;
}

/* ---- layout and elementwise ---- */

static seq_status cuda_copy(seq_tensor *out, const seq_tensor *src) {
  if (out->numel == 0) return SEQ_OK;
  seq_cuda_arr o = seq_cuda_arr_of(out), s = seq_cuda_arr_of(src);
  return seq_cuda_k_copy(&o, &s);
}

static seq_status cuda_fill(seq_tensor *out, double value) {
  if (out->numel == 0) return SEQ_OK;
  return seq_cuda_k_fill(seq_tensor_data(out), out->dtype, out->numel, value);
}

static seq_status cuda_binary(seq_binop op, seq_tensor *out, const seq_tensor *a,
                              const seq_tensor *b) {
  if (out->numel == 0) return SEQ_OK;
  seq_dtype work = is_cmp(op) ? promote(a->dtype, b->dtype) : out->dtype;
  if (is_cmp(op) && out->dtype != SEQ_U8)
    return seq_fail(SEQ_EDTYPE, "cuda binary: comparison output must be u8, got %s",
                    seq_dtype_name(out->dtype));
  seq_cuda_scratch sa, sb;
  seq_cuda_arr aa, ab, o = seq_cuda_arr_of(out);
  SEQ_TRY(as_dtype(a, work, &sa, &aa));
  seq_status st = as_dtype(b, work, &sb, &ab);
  if (st == SEQ_OK) st = seq_cuda_k_binary(op, &o, &aa, &ab);
  seq_cuda_scratch_free(&sa);
  seq_cuda_scratch_free(&sb);
  return st;
}

static seq_status cuda_unary(seq_unop op, seq_tensor *out, const seq_tensor *a, double p0,
                             double p1) {
  if (out->numel == 0) return SEQ_OK;
  seq_cuda_scratch sa;
  seq_cuda_arr aa, o = seq_cuda_arr_of(out);
  SEQ_TRY(as_dtype(a, out->dtype, &sa, &aa));
  seq_status st = seq_cuda_k_unary(op, &o, &aa, p0, p1);
  seq_cuda_scratch_free(&sa);
  return st;
}

static seq_status cuda_where(seq_tensor *out, const seq_tensor *cond, const seq_tensor *a,
                             const seq_tensor *b) {
  if (out->numel == 0) return SEQ_OK;
  seq_cuda_scratch sc = {0}, sa = {0}, sb = {0};
  seq_cuda_arr ac, aa, ab, o = seq_cuda_arr_of(out);
  seq_status st = as_dtype(cond, SEQ_U8, &sc, &ac);
  if (st == SEQ_OK) st = as_dtype(a, out->dtype, &sa, &aa);
  if (st == SEQ_OK) st = as_dtype(b, out->dtype, &sb, &ab);
  if (st == SEQ_OK) st = seq_cuda_k_where(&o, &ac, &aa, &ab);
  seq_cuda_scratch_free(&sc);
  seq_cuda_scratch_free(&sa);
  seq_cuda_scratch_free(&sb);
  return st;
}

static seq_status cuda_reduce(seq_redop op, seq_tensor *out, const seq_tensor *a, int dim) {
  int64_t outer = 1, n = a->numel, inner = 1;
  if (dim >= 0) {
    if (dim >= a->ndim) return seq_fail(SEQ_EARG, "cuda reduce: dim %d out of range", dim);
    outer = 1;
    for (int i = 0; i < dim; i++) outer *= a->shape[i];
    n = a->shape[dim];
    inner = 1;
    for (int i = dim + 1; i < a->ndim; i++) inner *= a->shape[i];
  }
  if (outer * inner == 0) return SEQ_OK;
  if (n == 0 && (op == SEQ_RED_MAX || op == SEQ_RED_MIN || op == SEQ_RED_ARGMAX ||
                 op == SEQ_RED_ARGMIN))
    return seq_fail(SEQ_ESHAPE, "reduce: cannot take max/min over an empty dim");
  seq_cuda_scratch sa;
  const void *ap;
  SEQ_TRY(seq_cuda_contig(a, a->dtype, &sa, &ap));
  seq_status st =
      seq_cuda_k_reduce(op, seq_tensor_data(out), out->dtype, ap, a->dtype, outer, n, inner);
  seq_cuda_scratch_free(&sa);
  return st;
}

/* ---- indexing ---- */

static seq_status check_idx(const char *op, const seq_tensor *idx) {
  if (idx->dtype != SEQ_I32 && idx->dtype != SEQ_I64)
    return seq_fail(SEQ_EDTYPE, "%s: indices must be i32 or i64, got %s", op,
                    seq_dtype_name(idx->dtype));
  return SEQ_OK;
}

static seq_status cuda_index_select(seq_tensor *out, const seq_tensor *src, int dim,
                                    const seq_tensor *idx) {
  SEQ_TRY(check_idx("index_select", idx));
  if (out->numel == 0) return SEQ_OK;
  seq_cuda_scratch si;
  const void *ip;
  SEQ_TRY(seq_cuda_contig(idx, idx->dtype, &si, &ip));
  seq_cuda_arr o = seq_cuda_arr_of(out), s = seq_cuda_arr_of(src);
  seq_status st = seq_cuda_k_index_select(&o, &s, dim, ip, idx->dtype, idx->numel);
  seq_cuda_scratch_free(&si);
  return st;
}

static seq_status cuda_index_add(seq_tensor *dst, int dim, const seq_tensor *idx,
                                 const seq_tensor *src) {
  SEQ_TRY(check_idx("index_add", idx));
  if (src->numel == 0) return SEQ_OK;
  seq_cuda_scratch si = {0}, ss = {0};
  const void *ip;
  seq_cuda_arr d = seq_cuda_arr_of(dst), s;
  SEQ_TRY(seq_cuda_contig(idx, idx->dtype, &si, &ip));
  seq_status st = as_dtype(src, dst->dtype, &ss, &s);
  if (st == SEQ_OK) st = seq_cuda_k_index_add(&d, dim, ip, idx->dtype, idx->numel, &s);
  seq_cuda_scratch_free(&si);
  seq_cuda_scratch_free(&ss);
  return st;
}

static seq_status cuda_gather(seq_tensor *out, const seq_tensor *src, int dim,
                              const seq_tensor *idx) {
  SEQ_TRY(check_idx("gather", idx));
  if (out->numel == 0) return SEQ_OK;
  seq_cuda_scratch si;
  const void *ip;
  SEQ_TRY(seq_cuda_contig(idx, idx->dtype, &si, &ip));
  seq_cuda_arr o = seq_cuda_arr_of(out), s = seq_cuda_arr_of(src);
  seq_status st = seq_cuda_k_gather(&o, &s, dim, ip, idx->dtype);
  seq_cuda_scratch_free(&si);
  return st;
}

static seq_status cuda_scatter_add(seq_tensor *dst, int dim, const seq_tensor *idx,
                                   const seq_tensor *src) {
  SEQ_TRY(check_idx("scatter_add", idx));
  if (idx->numel == 0) return SEQ_OK;
  seq_cuda_scratch si = {0}, ss = {0};
  const void *ip;
  seq_cuda_arr d = seq_cuda_arr_of(dst), s;
  SEQ_TRY(seq_cuda_contig(idx, idx->dtype, &si, &ip));
  seq_status st = as_dtype(src, dst->dtype, &ss, &s);
  if (st == SEQ_OK) {
    /* the kernel walks idx's shape and reads src at the same coordinates */
    seq_cuda_arr ia = seq_cuda_arr_raw((void *)ip, idx->dtype, idx->ndim, idx->shape);
    for (int i = 0; i < idx->ndim && i < s.ndim; i++) s.shape[i] = ia.shape[i];
    st = seq_cuda_k_scatter_add(&d, dim, ip, idx->dtype, &s);
  }
  seq_cuda_scratch_free(&si);
  seq_cuda_scratch_free(&ss);
  return st;
}

/* ---- random ---- */

static seq_status check_rand_out(const char *op, const seq_tensor *out) {
  if (out->dtype != SEQ_F32 && out->dtype != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "%s: needs a float tensor, got %s", op, seq_dtype_name(out->dtype));
  if (!seq_tensor_is_contiguous(out))
    return seq_fail(SEQ_EARG, "%s: output must be contiguous", op);
  return SEQ_OK;
}

static seq_status cuda_rand_uniform(seq_tensor *out, uint64_t seed, uint64_t offset, double lo,
                                    double hi) {
  SEQ_TRY(check_rand_out("rand_uniform", out));
  if (out->numel == 0) return SEQ_OK;
  return seq_cuda_k_rand(seq_tensor_data(out), out->dtype, out->numel, seed, offset, false, lo, hi);
}

static seq_status cuda_rand_normal(seq_tensor *out, uint64_t seed, uint64_t offset, double mean,
                                   double std) {
  SEQ_TRY(check_rand_out("rand_normal", out));
  if (out->numel == 0) return SEQ_OK;
  return seq_cuda_k_rand(seq_tensor_data(out), out->dtype, out->numel, seed, offset, true, mean,
                         std);
}

/* ---- softmax and losses ---- */

static seq_status check_float(const char *op, const seq_tensor *t) {
  if (t->dtype != SEQ_F32 && t->dtype != SEQ_F64)
    return seq_fail(SEQ_EDTYPE, "%s: needs f32 or f64 on cuda, got %s", op, seq_dtype_name(t->dtype));
  return SEQ_OK;
}

static seq_status cuda_softmax(seq_tensor *out, const seq_tensor *x, bool log) {
  SEQ_TRY(check_float("softmax", out));
  if (out->numel == 0) return SEQ_OK;
  int64_t cols = x->ndim ? x->shape[x->ndim - 1] : 1;
  seq_cuda_scratch sx;
  const void *xp;
  SEQ_TRY(seq_cuda_contig(x, out->dtype, &sx, &xp));
  seq_status st = seq_cuda_k_softmax(seq_tensor_data(out), xp, out->dtype, out->numel / cols,
                                     cols, log);
  seq_cuda_scratch_free(&sx);
  return st;
}

static seq_status cuda_softmax_backward(seq_tensor *dx, const seq_tensor *y, const seq_tensor *dy,
                                        bool log) {
  SEQ_TRY(check_float("softmax_backward", dx));
  if (dx->numel == 0) return SEQ_OK;
  int64_t cols = y->ndim ? y->shape[y->ndim - 1] : 1;
  seq_cuda_scratch sy = {0}, sd = {0};
  const void *yp, *dp;
  SEQ_TRY(seq_cuda_contig(y, dx->dtype, &sy, &yp));
  seq_status st = seq_cuda_contig(dy, dx->dtype, &sd, &dp);
  if (st == SEQ_OK)
    st = seq_cuda_k_softmax_backward(seq_tensor_data(dx), yp, dp, dx->dtype, dx->numel / cols,
                                     cols, log);
  seq_cuda_scratch_free(&sy);
  seq_cuda_scratch_free(&sd);
  return st;
}

static seq_status cuda_softmax_xent(seq_tensor *loss, seq_tensor *probs, const seq_tensor *logits,
                                    const seq_tensor *target) {
  SEQ_TRY(check_float("softmax_cross_entropy", logits));
  int64_t cols = logits->ndim ? logits->shape[logits->ndim - 1] : 1;
  int64_t rows = cols ? logits->numel / cols : 0;
  if (rows == 0) return SEQ_OK;
  /* integer targets are class ids (u8 ids are widened to i64) */
  int kind = target->dtype == SEQ_I32 ? 1 : seq_dtype_is_float(target->dtype) ? 0 : 2;
  seq_dtype tdt = kind == 0 ? logits->dtype : kind == 1 ? SEQ_I32 : SEQ_I64;
  if (kind == 0 && target->numel != logits->numel)
    return seq_fail(SEQ_ESHAPE, "softmax_cross_entropy: target %s does not match logits %s",
                    seq_tshape(target), seq_tshape(logits));
  if (kind != 0 && target->numel != rows)
    return seq_fail(SEQ_ESHAPE, "softmax_cross_entropy: %lld class ids for %lld rows",
                    (long long)target->numel, (long long)rows);
  seq_cuda_scratch sl = {0}, st_ = {0};
  const void *lp, *tp;
  SEQ_TRY(seq_cuda_contig(logits, logits->dtype, &sl, &lp));
  seq_status st = seq_cuda_contig(target, tdt, &st_, &tp);
  if (st == SEQ_OK)
    st = seq_cuda_k_softmax_xent(seq_tensor_data(loss), probs ? seq_tensor_data(probs) : NULL, lp,
                                 tp, kind, logits->dtype, rows, cols);
  seq_cuda_scratch_free(&sl);
  seq_cuda_scratch_free(&st_);
  return st;
}

static seq_status cuda_sigmoid_bce(seq_tensor *loss, seq_tensor *sig, const seq_tensor *logits,
                                   const seq_tensor *target) {
  SEQ_TRY(check_float("sigmoid_binary_cross_entropy", logits));
  if (target->numel != logits->numel)
    return seq_fail(SEQ_ESHAPE, "sigmoid_binary_cross_entropy: target %s does not match logits %s",
                    seq_tshape(target), seq_tshape(logits));
  if (logits->numel == 0) return SEQ_OK;
  seq_cuda_scratch sl = {0}, stg = {0};
  const void *lp, *tp;
  SEQ_TRY(seq_cuda_contig(logits, logits->dtype, &sl, &lp));
  seq_status st = seq_cuda_contig(target, logits->dtype, &stg, &tp);
  if (st == SEQ_OK)
    st = seq_cuda_k_sigmoid_bce(seq_tensor_data(loss), sig ? seq_tensor_data(sig) : NULL, lp, tp,
                                logits->dtype, logits->numel);
  seq_cuda_scratch_free(&sl);
  seq_cuda_scratch_free(&stg);
  return st;
}

/* ---- optimizer ---- */

/* The checks of one parameter: the kernel's own needs on the param and the
 * gradient (which may be strided or of another dtype: it is converted into
 * scratch), then the shared ones (seq_optim_check_settings). */
static seq_status optim_check_item(const seq_optim_hparams *hp, const seq_optim_item *it) {
  seq_tensor *param = it->param;
  const seq_tensor *grad = it->grad;
  if (!param || !grad) return seq_fail(SEQ_EARG, "optimizer: missing argument");
  const char *name = seq_optim_kind_name(hp->kind);
  SEQ_TRY(check_float("optimizer step", param));
  if (param->numel > 0 && !seq_tensor_is_contiguous(param))
    return seq_fail(SEQ_EARG, "optimizer %s: param %s must be contiguous", name, seq_tshape(param));
  if (grad->numel != param->numel)
    return seq_fail(SEQ_ESHAPE, "optimizer %s: gradient %s does not match param %s", name,
                    seq_tshape(grad), seq_tshape(param));
  return seq_optim_check_settings(hp, it);
}

/* The parameters of dtype dt in one launch: their descriptors go to the
 * device in one copy; gradients that are not contiguous arrays of dt are
 * converted into scratch first. */
static seq_status optim_launch(const seq_optim_hparams *hp, int n, const seq_optim_item *items,
                               seq_dtype dt) {
  seq_cuda_optim_item *descs = calloc((size_t)n, sizeof *descs);
  seq_cuda_scratch *scratch = calloc((size_t)n, sizeof *scratch);
  seq_status st = descs && scratch ? SEQ_OK : seq_fail(SEQ_ENOMEM, "optimizer step: out of memory");
  int count = 0;
  int64_t total = 0;
  for (int i = 0; i < n && st == SEQ_OK; i++) {
    const seq_optim_item *it = &items[i];
    if (it->param->dtype != dt || it->param->numel == 0) continue;
    const void *gp = NULL;
    st = seq_cuda_contig(it->grad, dt, &scratch[count], &gp);
    if (st != SEQ_OK) break;
    descs[count] = (seq_cuda_optim_item){
        .param = seq_tensor_data(it->param), .grad = gp,
        .s0 = it->state0 ? seq_tensor_data(it->state0) : NULL,
        .s1 = it->state1 ? seq_tensor_data(it->state1) : NULL,
        .start = total, .n = it->param->numel, .grad_scale = it->grad_scale};
    total += it->param->numel;
    count++;
  }
  seq_cuda_scratch table = {NULL, 0};
  if (st == SEQ_OK && count > 0) st = seq_cuda_scratch_alloc(&table, (size_t)count * sizeof *descs);
  if (st == SEQ_OK && count > 0)
    st = seq_cuda_upload_impl(table.ptr, descs, (size_t)count * sizeof *descs);
  if (st == SEQ_OK && count > 0) st = seq_cuda_k_optim(hp, table.ptr, count, total, dt);
  seq_cuda_scratch_free(&table);
  for (int i = 0; i < count && scratch; i++) seq_cuda_scratch_free(&scratch[i]);
  free(descs);
  free(scratch);
  return st;
}

static seq_status cuda_optim_step(const seq_optim_hparams *hp, int n, const seq_optim_item *items) {
  if (!hp || n < 0 || (n > 0 && !items)) return seq_fail(SEQ_EARG, "optimizer: missing argument");
  if ((int)hp->kind < 0 || hp->kind > SEQ_OPTIM_LAST)
    return seq_fail(SEQ_EARG, "optimizer: unknown kind %d", (int)hp->kind);
  for (int i = 0; i < n; i++) SEQ_TRY(optim_check_item(hp, &items[i]));
  if (n == 0) return SEQ_OK;
  SEQ_TRY(optim_launch(hp, n, items, SEQ_F32));
  return optim_launch(hp, n, items, SEQ_F64);
}

/* Kernels run on the GPU and the host side is one stream fed by one thread,
 * so a host thread count has nothing to govern here. */
static void cuda_set_threads(int n) { (void)n; }
static int cuda_get_threads(void) { return 1; }

/* ---- the table ---- */

static const seq_backend cuda_backend = {
    .name = "cuda",
    .device = SEQ_CUDA,
    .alloc = seq_cuda_alloc,
    .free = seq_cuda_free,
    .memset_zero = seq_cuda_memset_zero_impl,
    .upload = seq_cuda_upload_impl,
    .download = seq_cuda_download_impl,
    .synchronize = seq_cuda_synchronize_impl,
    .copy = cuda_copy,
    .fill = cuda_fill,
    .binary = cuda_binary,
    .unary = cuda_unary,
    .where = cuda_where,
    .reduce = cuda_reduce,
    .gemm = seq_cuda_gemm,
    .index_select = cuda_index_select,
    .index_add = cuda_index_add,
    .gather = cuda_gather,
    .scatter_add = cuda_scatter_add,
    .rand_uniform = cuda_rand_uniform,
    .rand_normal = cuda_rand_normal,
    .softmax = cuda_softmax,
    .softmax_backward = cuda_softmax_backward,
    .softmax_xent = cuda_softmax_xent,
    .sigmoid_bce = cuda_sigmoid_bce,
    .lstm_forward = seq_cuda_lstm_forward,
    .lstm_backward = seq_cuda_lstm_backward,
    .lstm_free_saved = seq_cuda_lstm_free_saved,
    .rnn_forward = seq_cuda_rnn_forward,
    .rnn_backward = seq_cuda_rnn_backward,
    .rnn_free_saved = seq_cuda_rnn_free_saved,
    .optim_step = cuda_optim_step,
    .set_threads = cuda_set_threads,
    .get_threads = cuda_get_threads,
};

const seq_backend *seq_cuda_backend(void) {
  if (seq_cuda_ensure_init() != SEQ_OK) return NULL;
  return &cuda_backend;
}
