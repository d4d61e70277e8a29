/* emu_cudnn.c - the cuDNN calls the plugin makes (the RNN v8 API of cuDNN 9,
 * tensor and dropout descriptors), computed on the CPU.  Prototypes from
 * NVIDIA's cudnn.h.  Rules are those of the cuDNN 9 API reference
 * (docs.nvidia.com/deeplearning/cudnn/latest/api/): cudnn_graph library
 * ("cudnnCreate", "cudnnGetErrorString"), cudnn_ops library
 * ("cudnnSetTensorNdDescriptor", "cudnnSetDropoutDescriptor",
 * "cudnnDropoutGetStatesSize") and cudnn_adv library (the RNN functions),
 * each cited where it is enforced.
 *
 * Only what seqlua's recurrent ops need is computed: CUDNN_LSTM, CUDNN_GRU,
 * CUDNN_RNN_TANH and CUDNN_RNN_RELU (the cell equations of the
 * cudnnRNNMode_t reference), one unidirectional layer, CUDNN_LINEAR_INPUT,
 * no projection, f32/f64.  Any other valid
 * configuration returns CUDNN_STATUS_NOT_SUPPORTED with an "emulator" note on
 * stderr, so it cannot pass for a result.  Where the real library's output is
 * undefined rather than an error (backward-weights before backward-data on a
 * reserve space, devSeqLengths that disagree with the descriptor), the
 * emulator refuses the call too: that is a bug on a GPU as well.
 *
 * The weight space is laid out in an order of the emulator's own (biases,
 * then recurrent matrices, then input matrices): the plugin must find every
 * piece through cudnnGetRNNWeightParams, as with the real library, whose
 * layout is opaque. */
#include <stdarg.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cudnn.h>

#include "emu_internal.h"
#include "seq_cblas.h"

#define MAGIC_HANDLE 0xd00du
#define MAGIC_TENSOR 0x7e50u
#define MAGIC_RNN 0x4a11u
#define MAGIC_DATA 0xda7au
#define MAGIC_DROPOUT 0xd409u

struct cudnnContext {
  unsigned magic;
};

struct cudnnTensorStruct {
  unsigned magic;
  bool set;
  cudnnDataType_t dt;
  int nd;
  int dims[CUDNN_DIM_MAX], strides[CUDNN_DIM_MAX];
};

struct cudnnDropoutStruct {
  unsigned magic;
  bool set;
  float p;
};

struct cudnnRNNStruct {
  unsigned magic;
  bool set;
  cudnnRNNMode_t cell;
  cudnnRNNBiasMode_t bias;
  cudnnDataType_t dt;
  int I, H;
  uint32_t aux;
  unsigned id; /* ties a reserve space to the descriptor that filled it */
};

struct cudnnRNNDataStruct {
  unsigned magic;
  bool set;
  cudnnDataType_t dt;
  cudnnRNNDataLayout_t layout;
  int T, B, V;
  int *lens;
  bool has_fill;
  double fill;
};

static void note(const char *fn, const char *why) {
  fprintf(stderr, "seqlua CUDA emulator: %s: %s\n", fn, why);
}

/* SEQLUA_EMU_TRACE=<file> appends one line per traced call with the
 * arguments a test wants to see the plugin pass (the real library gives no
 * way to ask what it was given). */
static void trace(const char *fmt, ...) {
  const char *path = getenv("SEQLUA_EMU_TRACE");
  if (!path || !*path) return;
  FILE *f = fopen(path, "a");
  if (!f) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  fclose(f);
}

static bool handle_ok(cudnnHandle_t h) { return h && h->magic == MAGIC_HANDLE; }

static size_t dt_size(cudnnDataType_t dt) {
  return dt == CUDNN_DATA_DOUBLE ? 8 : dt == CUDNN_DATA_FLOAT ? 4 : 0;
}

/* ---- cudnn_graph: handle, errors ---- */

cudnnStatus_t cudnnCreate(cudnnHandle_t *handle) {
  if (!handle) return CUDNN_STATUS_BAD_PARAM;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    (void)cudaGetLastError();
    return CUDNN_STATUS_NOT_INITIALIZED;
  }
  struct cudnnContext *h = calloc(1, sizeof *h);
  if (!h) return CUDNN_STATUS_ALLOC_FAILED;
  h->magic = MAGIC_HANDLE;
  *handle = h;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  if (!handle_ok(handle)) return CUDNN_STATUS_BAD_PARAM;
  handle->magic = 0;
  free(handle);
  return CUDNN_STATUS_SUCCESS;
}

size_t cudnnGetVersion(void) { return CUDNN_VERSION; }

const char *cudnnGetErrorString(cudnnStatus_t s) {
  switch (s) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_ALLOC_FAILED: return "CUDNN_STATUS_ALLOC_FAILED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    default: return "CUDNN_STATUS_UNKNOWN";
  }
}

/* ---- cudnn_ops: tensor descriptors ---- */

/* cudnnCreate<Kind>Descriptor / cudnnDestroy<Kind>Descriptor, the same for
 * the plain kinds: a zeroed object tagged with its kind's magic number, so
 * that a descriptor of another kind, or one already destroyed, is BAD_PARAM.
 * (The RNN data descriptor also owns its length array: written out below.) */
#define EMU_DESCRIPTOR_LIFETIME(Kind, MAGIC)                                  \
  cudnnStatus_t cudnnCreate##Kind##Descriptor(cudnn##Kind##Descriptor_t *d) { \
    if (!d) return CUDNN_STATUS_BAD_PARAM;                                    \
    *d = calloc(1, sizeof **d);                                               \
    if (!*d) return CUDNN_STATUS_ALLOC_FAILED;                                \
    (*d)->magic = MAGIC;                                                      \
    return CUDNN_STATUS_SUCCESS;                                              \
  }                                                                           \
  cudnnStatus_t cudnnDestroy##Kind##Descriptor(cudnn##Kind##Descriptor_t d) { \
    if (!d) return CUDNN_STATUS_SUCCESS;                                      \
    if (d->magic != MAGIC) return CUDNN_STATUS_BAD_PARAM;                     \
    d->magic = 0;                                                             \
    free(d);                                                                  \
    return CUDNN_STATUS_SUCCESS;                                              \
  }

EMU_DESCRIPTOR_LIFETIME(Tensor, MAGIC_TENSOR)

/* "cudnnSetTensorNdDescriptor": BAD_PARAM when an element of dimA is <= 0
 * (or a stride < 0) or dataType is invalid; NOT_SUPPORTED when nbDims exceeds
 * CUDNN_DIM_MAX.  Two dimensions are not allowed ("Do not use 2
 * dimensions"); the cuDNN RNN samples describe hidden states with three. */
cudnnStatus_t cudnnSetTensorNdDescriptor(cudnnTensorDescriptor_t d, cudnnDataType_t dataType,
                                         int nbDims, const int dimA[], const int strideA[]) {
  if (!d || d->magic != MAGIC_TENSOR || !dimA || !strideA) return CUDNN_STATUS_BAD_PARAM;
  if (nbDims > CUDNN_DIM_MAX || nbDims < 3) return CUDNN_STATUS_NOT_SUPPORTED;
  if ((int)dataType < 0 || (int)dataType > CUDNN_DATA_FAST_FLOAT_FOR_FP8)
    return CUDNN_STATUS_BAD_PARAM;
  for (int i = 0; i < nbDims; i++)
    if (dimA[i] <= 0 || strideA[i] < 0) return CUDNN_STATUS_BAD_PARAM;
  d->set = true;
  d->dt = dataType;
  d->nd = nbDims;
  for (int i = 0; i < nbDims; i++) {
    d->dims[i] = dimA[i];
    d->strides[i] = strideA[i];
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetTensorNdDescriptor(const cudnnTensorDescriptor_t d, int nbDimsRequested,
                                         cudnnDataType_t *dataType, int *nbDims, int dimA[],
                                         int strideA[]) {
  if (!d || d->magic != MAGIC_TENSOR || !dataType || !nbDims || nbDimsRequested < 0)
    return CUDNN_STATUS_BAD_PARAM;
  *dataType = d->dt;
  *nbDims = d->set ? d->nd : 0;
  for (int i = 0; i < nbDimsRequested && i < *nbDims; i++) {
    if (dimA) dimA[i] = d->dims[i];
    if (strideA) strideA[i] = d->strides[i];
  }
  return CUDNN_STATUS_SUCCESS;
}

/* set by the RNN weight query: nbDims 3 = {1, rows, cols}, or 0 for "none" */
static void tensor_put(cudnnTensorDescriptor_t d, cudnnDataType_t dt, int rows, int cols) {
  d->dt = dt;
  d->set = rows > 0;
  d->nd = rows > 0 ? 3 : 0;
  d->dims[0] = 1;
  d->dims[1] = rows;
  d->dims[2] = cols;
  d->strides[0] = rows * cols;
  d->strides[1] = cols;
  d->strides[2] = 1;
}

/* ---- cudnn_ops: dropout ---- */

EMU_DESCRIPTOR_LIFETIME(Dropout, MAGIC_DROPOUT)

/* the RNG state buffer; the real size depends on the GPU */
#define DROPOUT_STATES_BYTES (256u * 1024u)

cudnnStatus_t cudnnDropoutGetStatesSize(cudnnHandle_t handle, size_t *sizeInBytes) {
  if (!handle_ok(handle) || !sizeInBytes) return CUDNN_STATUS_BAD_PARAM;
  *sizeInBytes = DROPOUT_STATES_BYTES;
  return CUDNN_STATUS_SUCCESS;
}

/* "cudnnSetDropoutDescriptor": dropout must lie in [0, 1); with dropout > 0
 * the states buffer (device memory, at least cudnnDropoutGetStatesSize bytes,
 * else CUDNN_STATUS_INVALID_VALUE) is initialised.  With dropout == 0 no
 * random state is set up, and states may be NULL with size 0 (what PyTorch's
 * no-dropout descriptor passes). */
cudnnStatus_t cudnnSetDropoutDescriptor(cudnnDropoutDescriptor_t d, cudnnHandle_t handle,
                                        float dropout, void *states, size_t stateSizeInBytes,
                                        unsigned long long seed) {
  if (!d || d->magic != MAGIC_DROPOUT || !handle_ok(handle)) return CUDNN_STATUS_BAD_PARAM;
  if (!(dropout >= 0.0f && dropout < 1.0f)) return CUDNN_STATUS_BAD_PARAM;
  if (dropout > 0.0f) {
    if (!states || stateSizeInBytes < DROPOUT_STATES_BYTES) return CUDNN_STATUS_INVALID_VALUE;
    if (!seq_emu_check_device("cudnnSetDropoutDescriptor", "states", states, DROPOUT_STATES_BYTES))
      return CUDNN_STATUS_EXECUTION_FAILED;
    unsigned long long s = seed ? seed : 1;
    for (size_t i = 0; i < DROPOUT_STATES_BYTES; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      ((unsigned char *)states)[i] = (unsigned char)s;
    }
  }
  d->set = true;
  d->p = dropout;
  return CUDNN_STATUS_SUCCESS;
}

/* ---- cudnn_adv: RNN descriptor ---- */

EMU_DESCRIPTOR_LIFETIME(RNN, MAGIC_RNN)

/* "cudnnSetRNNDescriptor_v8": BAD_PARAM for an invalid enumerant, sizes
 * <= 0, projSize > hiddenSize, a mathPrec that does not match a
 * FLOAT/DOUBLE dataType, or auxFlags bits other than
 * CUDNN_RNN_PADDED_IO_ENABLED.  dropoutDesc: dropout acts between layers
 * only; the reference does not reject a NULL descriptor, so neither does
 * this (a non-NULL one must be a created descriptor). */
cudnnStatus_t cudnnSetRNNDescriptor_v8(cudnnRNNDescriptor_t d, cudnnRNNAlgo_t algo,
                                       cudnnRNNMode_t cellMode, cudnnRNNBiasMode_t biasMode,
                                       cudnnDirectionMode_t dirMode, cudnnRNNInputMode_t inputMode,
                                       cudnnDataType_t dataType, cudnnDataType_t mathPrec,
                                       cudnnMathType_t mathType, int32_t inputSize,
                                       int32_t hiddenSize, int32_t projSize, int32_t numLayers,
                                       cudnnDropoutDescriptor_t dropoutDesc, uint32_t auxFlags) {
  static const char *fn = "cudnnSetRNNDescriptor_v8";
  if (!d || d->magic != MAGIC_RNN) return CUDNN_STATUS_BAD_PARAM;
  if ((int)algo < 0 || (int)algo > CUDNN_RNN_ALGO_PERSIST_DYNAMIC || (int)cellMode < 0 ||
      (int)cellMode > CUDNN_GRU || (int)biasMode < 0 || (int)biasMode > CUDNN_RNN_SINGLE_REC_BIAS ||
      (dirMode != CUDNN_UNIDIRECTIONAL && dirMode != CUDNN_BIDIRECTIONAL) ||
      (inputMode != CUDNN_LINEAR_INPUT && inputMode != CUDNN_SKIP_INPUT) ||
      (int)mathType < 0 || (int)mathType > CUDNN_FMA_MATH)
    return CUDNN_STATUS_BAD_PARAM;
  if (inputSize <= 0 || hiddenSize <= 0 || projSize <= 0 || numLayers <= 0 || projSize > hiddenSize)
    return CUDNN_STATUS_BAD_PARAM;
  if ((dataType == CUDNN_DATA_FLOAT || dataType == CUDNN_DATA_DOUBLE) && mathPrec != dataType)
    return CUDNN_STATUS_BAD_PARAM;
  if (auxFlags & ~(uint32_t)CUDNN_RNN_PADDED_IO_ENABLED) return CUDNN_STATUS_BAD_PARAM;
  if (dropoutDesc && dropoutDesc->magic != MAGIC_DROPOUT) return CUDNN_STATUS_BAD_PARAM;
  if (dropoutDesc)
    trace("cudnnSetRNNDescriptor_v8 dropoutDesc=%s p=%g", dropoutDesc->set ? "set" : "unset",
          (double)dropoutDesc->p);
  else
    trace("cudnnSetRNNDescriptor_v8 dropoutDesc=NULL");
  if (dirMode != CUDNN_UNIDIRECTIONAL || inputMode != CUDNN_LINEAR_INPUT || numLayers != 1 ||
      projSize != hiddenSize || algo != CUDNN_RNN_ALGO_STANDARD ||
      (dataType != CUDNN_DATA_FLOAT && dataType != CUDNN_DATA_DOUBLE)) {
    note(fn, "emulator: only a one-layer unidirectional f32/f64 LSTM, GRU or simple RNN (standard "
             "algorithm, linear input, no projection) is implemented");
    return CUDNN_STATUS_NOT_SUPPORTED;
  }
  static unsigned next_id = 1;
  d->set = true;
  d->cell = cellMode;
  d->bias = biasMode;
  d->dt = dataType;
  d->I = inputSize;
  d->H = hiddenSize;
  d->aux = auxFlags;
  d->id = next_id++;
  return CUDNN_STATUS_SUCCESS;
}

/* Matrices per direction (the number of gates): "cudnnGetRNNWeightParams"
 * numbers them 0..G-1 (input) and G..2G-1 (recurrent). */
static int ngates(const struct cudnnRNNStruct *r) {
  return r->cell == CUDNN_LSTM ? 4 : r->cell == CUDNN_GRU ? 3 : 1;
}

/* weight-space layout (in elements) */
static bool has_bw(const struct cudnnRNNStruct *r) {
  return r->bias == CUDNN_RNN_DOUBLE_BIAS || r->bias == CUDNN_RNN_SINGLE_INP_BIAS;
}
static bool has_br(const struct cudnnRNNStruct *r) {
  return r->bias == CUDNN_RNN_DOUBLE_BIAS || r->bias == CUDNN_RNN_SINGLE_REC_BIAS;
}
static size_t off_bw(const struct cudnnRNNStruct *r) { (void)r; return 0; }
static size_t off_br(const struct cudnnRNNStruct *r) {
  return has_bw(r) ? (size_t)ngates(r) * r->H : 0;
}
static size_t off_R(const struct cudnnRNNStruct *r) {
  return off_br(r) + (has_br(r) ? (size_t)ngates(r) * r->H : 0);
}
static size_t off_W(const struct cudnnRNNStruct *r) {
  return off_R(r) + (size_t)ngates(r) * r->H * r->H;
}
static size_t weight_elems(const struct cudnnRNNStruct *r) {
  return off_W(r) + (size_t)ngates(r) * r->H * r->I;
}

static bool rnn_ok(cudnnRNNDescriptor_t r) { return r && r->magic == MAGIC_RNN && r->set; }

cudnnStatus_t cudnnGetRNNWeightSpaceSize(cudnnHandle_t handle, cudnnRNNDescriptor_t rnnDesc,
                                         size_t *weightSpaceSize) {
  if (!handle_ok(handle) || !rnn_ok(rnnDesc) || !weightSpaceSize) return CUDNN_STATUS_BAD_PARAM;
  *weightSpaceSize = weight_elems(rnnDesc) * dt_size(rnnDesc->dt);
  return CUDNN_STATUS_SUCCESS;
}

/* "cudnnGetRNNWeightParams": pseudoLayer in [0, numLayers*dirs), linLayerID
 * for CUDNN_LSTM 0-3 the input matrices W and 4-7 the recurrent matrices R
 * of the input, forget, new-memory (cell) and output gates, 8 the
 * projection; for CUDNN_GRU 0-2 the input and 3-5 the recurrent matrices of
 * the reset, update and new-memory gates; for CUDNN_RNN_RELU/TANH 0 the
 * input and 1 the recurrent matrix.
 * mDesc gets {1, rows, cols} (row-major: rows = hiddenSize, cols = the
 * layer's input width), bDesc {1, rows, 1}; a piece that does not exist
 * (the projection, a bias the bias mode leaves out) gets nbDims 0 and a NULL
 * address.  mDesc/bDesc and mAddr/bAddr may be NULL when not wanted.
 * BAD_PARAM also for a weightSpaceSize below cudnnGetRNNWeightSpaceSize. */
cudnnStatus_t cudnnGetRNNWeightParams(cudnnHandle_t handle, cudnnRNNDescriptor_t r,
                                      int32_t pseudoLayer, size_t weightSpaceSize,
                                      const void *weightSpace, int32_t linLayerID,
                                      cudnnTensorDescriptor_t mDesc, void **mAddr,
                                      cudnnTensorDescriptor_t bDesc, void **bAddr) {
  if (!handle_ok(handle) || !rnn_ok(r)) return CUDNN_STATUS_BAD_PARAM;
  const int G = ngates(r);
  if (pseudoLayer != 0 || linLayerID < 0 || linLayerID > (G == 4 ? 8 : 2 * G - 1))
    return CUDNN_STATUS_BAD_PARAM;
  const size_t es = dt_size(r->dt);
  if (weightSpaceSize < weight_elems(r) * es) return CUDNN_STATUS_BAD_PARAM;
  if ((mDesc && mDesc->magic != MAGIC_TENSOR) || (bDesc && bDesc->magic != MAGIC_TENSOR))
    return CUDNN_STATUS_BAD_PARAM;
  char *base = (char *)weightSpace;
  void *m = NULL, *b = NULL;
  int rows = 0, cols = 0, brows = 0;
  if (linLayerID < 2 * G) {
    int g = linLayerID % G;
    bool input = linLayerID < G;
    rows = r->H;
    cols = input ? r->I : r->H;
    m = base + ((input ? off_W(r) : off_R(r)) + (size_t)g * r->H * cols) * es;
    if (input ? has_bw(r) : has_br(r)) {
      brows = r->H;
      b = base + ((input ? off_bw(r) : off_br(r)) + (size_t)g * r->H) * es;
    }
  }
  if (mDesc) tensor_put(mDesc, r->dt, rows, cols);
  if (bDesc) tensor_put(bDesc, r->dt, brows, 1);
  if (mAddr) *mAddr = m;
  if (bAddr) *bAddr = b;
  return CUDNN_STATUS_SUCCESS;
}

/* ---- cudnn_adv: RNN data descriptors ---- */

cudnnStatus_t cudnnCreateRNNDataDescriptor(cudnnRNNDataDescriptor_t *d) {
  if (!d) return CUDNN_STATUS_BAD_PARAM;
  *d = calloc(1, sizeof **d);
  if (!*d) return CUDNN_STATUS_ALLOC_FAILED;
  (*d)->magic = MAGIC_DATA;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyRNNDataDescriptor(cudnnRNNDataDescriptor_t d) {
  if (!d) return CUDNN_STATUS_SUCCESS;
  if (d->magic != MAGIC_DATA) return CUDNN_STATUS_BAD_PARAM;
  d->magic = 0;
  free(d->lens);
  free(d);
  return CUDNN_STATUS_SUCCESS;
}

/* "cudnnSetRNNDataDescriptor": BAD_PARAM for an invalid dataType or
 * layout, maxSeqLength/batchSize/vectorSize <= 0, a NULL seqLengthArray, an
 * element of it < 0 or > maxSeqLength, and (SEQ_MAJOR_PACKED) lengths that are
 * not sorted in decreasing order.  paddingFill (may be NULL) is read as a
 * value of dataType and written to the padding positions of an output. */
cudnnStatus_t cudnnSetRNNDataDescriptor(cudnnRNNDataDescriptor_t d, cudnnDataType_t dataType,
                                        cudnnRNNDataLayout_t layout, int maxSeqLength,
                                        int batchSize, int vectorSize, const int seqLengthArray[],
                                        void *paddingFill) {
  if (!d || d->magic != MAGIC_DATA || !seqLengthArray) return CUDNN_STATUS_BAD_PARAM;
  if ((int)dataType < 0 || (int)dataType > CUDNN_DATA_FAST_FLOAT_FOR_FP8) return CUDNN_STATUS_BAD_PARAM;
  if (layout != CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED && layout != CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED &&
      layout != CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED)
    return CUDNN_STATUS_BAD_PARAM;
  if (maxSeqLength <= 0 || batchSize <= 0 || vectorSize <= 0) return CUDNN_STATUS_BAD_PARAM;
  for (int b = 0; b < batchSize; b++) {
    if (seqLengthArray[b] < 0 || seqLengthArray[b] > maxSeqLength) return CUDNN_STATUS_BAD_PARAM;
    if (layout == CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED && b > 0 &&
        seqLengthArray[b] > seqLengthArray[b - 1])
      return CUDNN_STATUS_BAD_PARAM;
  }
  int *lens = malloc(sizeof(int) * (size_t)batchSize);
  if (!lens) return CUDNN_STATUS_ALLOC_FAILED;
  memcpy(lens, seqLengthArray, sizeof(int) * (size_t)batchSize);
  free(d->lens);
  d->lens = lens;
  d->set = true;
  d->dt = dataType;
  d->layout = layout;
  d->T = maxSeqLength;
  d->B = batchSize;
  d->V = vectorSize;
  d->has_fill = paddingFill != NULL;
  d->fill = !paddingFill ? 0.0
            : dataType == CUDNN_DATA_DOUBLE ? *(const double *)paddingFill
            : dataType == CUDNN_DATA_FLOAT ? (double)*(const float *)paddingFill
                                           : 0.0;
  return CUDNN_STATUS_SUCCESS;
}

/* ---- the LSTM ---- */

/* Temp-space sizes (the real ones depend on the GPU and algorithm; these
 * are what this implementation really uses, so a smaller buffer is caught). */
static size_t work_bytes(const struct cudnnRNNStruct *r, int B) {
  return (size_t)B * 12 * (size_t)r->H * dt_size(r->dt);
}
typedef struct reserve_head {
  unsigned magic, rnn_id;
  int B, T, stage; /* stage 1: forward done, 2: backward data done */
  int pad[3];
} reserve_head;
#define RESERVE_MAGIC 0x5e5eu
#define RESERVE_HEAD 64 /* bytes, keeps the arrays aligned */
static size_t reserve_bytes(const struct cudnnRNNStruct *r, int B, int T) {
  /* LSTM: gates (post-activation) [T,B,4H], cells [T,B,H], gate gradients
   * [T,B,4H].  GRU: r, i, h' and R_h h + b_Rh [T,B,4H], then the gradients of
   * the input and of the recurrent pre-activations [T,B,3H] each.  Simple
   * RNN: h [T,B,H], the two gradients [T,B,H] each. */
  const size_t per = r->cell == CUDNN_LSTM ? 9 : r->cell == CUDNN_GRU ? 10 : 3;
  return RESERVE_HEAD + (size_t)T * B * per * (size_t)r->H * dt_size(r->dt);
}

cudnnStatus_t cudnnGetRNNTempSpaceSizes(cudnnHandle_t handle, cudnnRNNDescriptor_t r,
                                        cudnnForwardMode_t fwdMode, cudnnRNNDataDescriptor_t xDesc,
                                        size_t *workSpaceSize, size_t *reserveSpaceSize) {
  if (!handle_ok(handle) || !rnn_ok(r) || !xDesc || xDesc->magic != MAGIC_DATA || !xDesc->set)
    return CUDNN_STATUS_BAD_PARAM;
  if (fwdMode != CUDNN_FWD_MODE_INFERENCE && fwdMode != CUDNN_FWD_MODE_TRAINING)
    return CUDNN_STATUS_BAD_PARAM;
  if (workSpaceSize) *workSpaceSize = work_bytes(r, xDesc->B);
  if (reserveSpaceSize)
    *reserveSpaceSize = fwdMode == CUDNN_FWD_MODE_TRAINING ? reserve_bytes(r, xDesc->B, xDesc->T) : 0;
  return CUDNN_STATUS_SUCCESS;
}

/* element access in the descriptor's type */
static inline double ld(const void *p, bool f64, size_t i) {
  return f64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}
static inline void st(void *p, bool f64, size_t i, double v) {
  if (f64) ((double *)p)[i] = v;
  else ((float *)p)[i] = (float)v;
}
static inline double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* row-major C[M,N] = A op B + beta C in the descriptor's type */
static void gemm(bool f64, bool ta, bool tb, int M, int N, int K, const void *A, int lda,
                 const void *B, int ldb, double beta, void *C, int ldc) {
  if (M == 0 || N == 0) return;
  enum CBLAS_TRANSPOSE a = ta ? CblasTrans : CblasNoTrans, b = tb ? CblasTrans : CblasNoTrans;
  if (f64)
    cblas_dgemm(CblasRowMajor, a, b, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
  else
    cblas_sgemm(CblasRowMajor, a, b, M, N, K, 1.0f, A, lda, B, ldb, (float)beta, C, ldc);
}

/* The shared checks of the three RNN calls ("cudnnRNNForward",
 * "cudnnRNNBackwardData_v8", "cudnnRNNBackwardWeights_v8"): BAD_PARAM for
 * descriptors that disagree with each other or with rnnDesc (x: vectorSize
 * = inputSize, y: hiddenSize, same layout, maxSeqLength, batch and lengths;
 * h/c: {numLayers*dirs, batch, hiddenSize}, packed), a dataType other than
 * the RNN's, a weight/work/reserve size below what is required, and (the
 * documented layout rule) an unpacked layout without
 * CUDNN_RNN_PADDED_IO_ENABLED.  devSeqLengths must be device memory holding
 * the descriptor's lengths. */
typedef struct rnn_call {
  const char *fn;
  const struct cudnnRNNStruct *r;
  const struct cudnnRNNDataStruct *x, *y;
  bool f64;
  size_t es;
  int B, T, I, H;
  /* element strides of the data layout: x/y element (b, t, v) at
   * b*sb + t*st + v */
  size_t sbx, stx, sby, sty;
} rnn_call;

static cudnnStatus_t check_h(const rnn_call *c, cudnnTensorDescriptor_t h) {
  if (!h || h->magic != MAGIC_TENSOR || !h->set || h->dt != c->r->dt || h->nd != 3 ||
      h->dims[0] != 1 || h->dims[1] != c->B || h->dims[2] != c->H ||
      h->strides[2] != 1 || h->strides[1] != c->H || h->strides[0] != c->B * c->H)
    return CUDNN_STATUS_BAD_PARAM;
  return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t setup(rnn_call *c, const char *fn, cudnnHandle_t handle,
                           cudnnRNNDescriptor_t r, const int32_t *devSeqLengths,
                           cudnnRNNDataDescriptor_t x, cudnnRNNDataDescriptor_t y,
                           cudnnTensorDescriptor_t hDesc, cudnnTensorDescriptor_t cDesc,
                           size_t weightSpaceSize, const void *w, size_t workSpaceSize,
                           const void *work) {
  memset(c, 0, sizeof *c);
  c->fn = fn;
  if (!handle_ok(handle) || !rnn_ok(r) || !x || x->magic != MAGIC_DATA || !x->set || !y ||
      y->magic != MAGIC_DATA || !y->set)
    return CUDNN_STATUS_BAD_PARAM;
  if (x->dt != r->dt || y->dt != r->dt || x->layout != y->layout || x->T != y->T || x->B != y->B ||
      x->V != r->I || y->V != r->H)
    return CUDNN_STATUS_BAD_PARAM;
  for (int b = 0; b < x->B; b++)
    if (x->lens[b] != y->lens[b]) return CUDNN_STATUS_BAD_PARAM;
  if (x->layout != CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED && !(r->aux & CUDNN_RNN_PADDED_IO_ENABLED)) {
    note(fn, "an unpacked data layout needs CUDNN_RNN_PADDED_IO_ENABLED in cudnnSetRNNDescriptor_v8");
    return CUDNN_STATUS_BAD_PARAM;
  }
  if (x->layout == CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED) {
    note(fn, "emulator: the packed layout is not implemented");
    return CUDNN_STATUS_NOT_SUPPORTED;
  }
  c->r = r;
  c->x = x;
  c->y = y;
  c->f64 = r->dt == CUDNN_DATA_DOUBLE;
  c->es = dt_size(r->dt);
  c->B = x->B;
  c->T = x->T;
  c->I = r->I;
  c->H = r->H;
  if (x->layout == CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED) {
    c->sbx = (size_t)c->T * c->I, c->stx = (size_t)c->I;
    c->sby = (size_t)c->T * c->H, c->sty = (size_t)c->H;
  } else {
    c->sbx = (size_t)c->I, c->stx = (size_t)c->B * c->I;
    c->sby = (size_t)c->H, c->sty = (size_t)c->B * c->H;
  }
  if (hDesc && check_h(c, hDesc) != CUDNN_STATUS_SUCCESS) return CUDNN_STATUS_BAD_PARAM;
  if (cDesc && check_h(c, cDesc) != CUDNN_STATUS_SUCCESS) return CUDNN_STATUS_BAD_PARAM;
  if (weightSpaceSize < weight_elems(r) * c->es) return CUDNN_STATUS_BAD_PARAM;
  if (workSpaceSize < work_bytes(r, c->B)) return CUDNN_STATUS_BAD_PARAM;
  if (!seq_emu_check_device(fn, "weightSpace", w, weight_elems(r) * c->es) ||
      !seq_emu_check_device(fn, "workSpace", work, work_bytes(r, c->B)) ||
      !seq_emu_check_device(fn, "devSeqLengths", devSeqLengths, sizeof(int32_t) * (size_t)c->B))
    return CUDNN_STATUS_EXECUTION_FAILED;
  for (int b = 0; b < c->B; b++)
    if (devSeqLengths[b] != x->lens[b]) {
      note(fn, "devSeqLengths differs from the data descriptor's seqLengthArray");
      return CUDNN_STATUS_BAD_PARAM;
    }
  return CUDNN_STATUS_SUCCESS;
}

static bool check_io(const rnn_call *c, const char *what, const void *p, size_t elems) {
  return !p || seq_emu_check_device(c->fn, what, p, elems * c->es);
}

static reserve_head *check_reserve(const rnn_call *c, size_t size, void *reserve) {
  if (!reserve || size < reserve_bytes(c->r, c->B, c->T)) return NULL;
  if (!seq_emu_check_device(c->fn, "reserveSpace", reserve, reserve_bytes(c->r, c->B, c->T)))
    return NULL;
  return (reserve_head *)reserve;
}

/* ---- GRU and simple RNN (the cudnnRNNMode_t equations) ----
 *   RNN:  h_t = act(W_i x_t + R_i h_{t-1} + b_Wi + b_Ri), act relu or tanh
 *   GRU:  i_t = sigm(W_i x_t + R_i h_{t-1} + b_Wi + b_Ri)      (update)
 *         r_t = sigm(W_r x_t + R_r h_{t-1} + b_Wr + b_Rr)      (reset)
 *         h'_t = tanh(W_h x_t + r_t o (R_h h_{t-1} + b_Rh) + b_Wh)
 *         h_t = (1 - i_t) o h'_t + i_t o h_{t-1}
 * with matrices r, i, h' = linear layers 0, 1, 2 (input) and 3, 4, 5
 * (recurrent).  Pre-activations are kept apart per side: A = x W^T + b_W
 * and C = h R^T + b_R, [B, G*H] each; their gradients dA and dC differ
 * only in the new-memory gate (dC_h = dA_h o r). */

/* a training forward's reserve space: whose, which shape, stage 1 */
static void reserve_mark(reserve_head *rh, const struct cudnnRNNStruct *r, int B, int T) {
  memset(rh, 0, sizeof *rh);
  rh->magic = RESERVE_MAGIC;
  rh->rnn_id = r->id;
  rh->B = B;
  rh->T = T;
  rh->stage = 1;
}

/* where the reserve space keeps what backward needs (see reserve_bytes) */
typedef struct gates_reserve {
  char *saved;   /* GRU [T,B,4H]: r, i, h', C_h; RNN [T,B,H]: h */
  char *dA, *dC; /* [T,B,G*H] each */
} gates_reserve;

static gates_reserve gates_layout(const rnn_call *c, void *reserve) {
  const int G = ngates(c->r), H = c->H;
  const size_t TB = (size_t)c->T * c->B;
  gates_reserve g;
  g.saved = (char *)reserve + RESERVE_HEAD;
  g.dA = g.saved + TB * (G == 3 ? 4 : 1) * (size_t)H * c->es;
  g.dC = g.dA + TB * (size_t)G * H * c->es;
  return g;
}

/* adds the bias vector b [n] (NULL: none) to each of the B rows of M [B,n] */
static void add_bias_rows(bool f64, void *M, int B, int n, const void *b) {
  if (!b) return;
  for (int r = 0; r < B; r++)
    for (int j = 0; j < n; j++)
      st(M, f64, (size_t)r * n + j, ld(M, f64, (size_t)r * n + j) + ld(b, f64, j));
}

/* h_{t-1} of sample b, unit j: y of step t-1 (a real step when t is), hx at
 * t = 0 (NULL: zeros) */
static double prev_h(const rnn_call *c, const void *y, const void *hx, int t, int b, int j) {
  if (t > 0) return ld(y, c->f64, (size_t)b * c->sby + (size_t)(t - 1) * c->sty + j);
  return hx ? ld(hx, c->f64, (size_t)b * c->H + j) : 0.0;
}

static void gates_forward(const rnn_call *c, const void *x, void *y, const void *hx, void *hy,
                          const void *w, void *work, void *reserve, const int *len,
                          const struct cudnnRNNDataStruct *yd) {
  const struct cudnnRNNStruct *r = c->r;
  const int B = c->B, T = c->T, I = c->I, H = c->H, GH = ngates(r) * H;
  const bool f64 = c->f64, gru = r->cell == CUDNN_GRU;
  const size_t es = c->es, BH = (size_t)B * H;
  const char *wb = w;
  const void *W = wb + off_W(r) * es, *R = wb + off_R(r) * es;
  const void *bw = has_bw(r) ? wb + off_bw(r) * es : NULL;
  const void *br = has_br(r) ? wb + off_br(r) * es : NULL;
  /* workspace: A [B,GH], C [B,GH], h [B,H] */
  char *A = work, *C = A + (size_t)B * GH * es, *hs = C + (size_t)B * GH * es;
  for (size_t k = 0; k < BH; k++) st(hs, f64, k, hx ? ld(hx, f64, k) : 0.0);
  gates_reserve rs = {0};
  if (reserve) rs = gates_layout(c, reserve);
  for (int t = 0; t < T; t++) {
    gemm(f64, false, true, B, GH, I, (const char *)x + (size_t)t * c->stx * es, (int)c->sbx, W, I,
         0.0, A, GH);
    add_bias_rows(f64, A, B, GH, bw);
    gemm(f64, false, true, B, GH, H, hs, H, R, H, 0.0, C, GH);
    add_bias_rows(f64, C, B, GH, br);
    for (int b = 0; b < B; b++) {
      const size_t yo = (size_t)b * c->sby + (size_t)t * c->sty, row = (size_t)b * GH;
      if (t >= len[b]) { /* finished: the state stays, y gets the fill */
        if (yd->has_fill)
          for (int j = 0; j < H; j++) st(y, f64, yo + j, yd->fill);
        continue;
      }
      for (int j = 0; j < H; j++) {
        const size_t k = (size_t)b * H + j;
        double hn;
        if (gru) {
          double rg = sigm(ld(A, f64, row + j) + ld(C, f64, row + j));
          double ig = sigm(ld(A, f64, row + H + j) + ld(C, f64, row + H + j));
          double ch = ld(C, f64, row + 2 * (size_t)H + j);
          double hp = tanh(ld(A, f64, row + 2 * (size_t)H + j) + rg * ch);
          hn = (1.0 - ig) * hp + ig * ld(hs, f64, k);
          if (reserve) {
            size_t base = ((size_t)t * B + b) * 4 * H;
            st(rs.saved, f64, base + j, rg);
            st(rs.saved, f64, base + H + j, ig);
            st(rs.saved, f64, base + 2 * (size_t)H + j, hp);
            st(rs.saved, f64, base + 3 * (size_t)H + j, ch);
          }
        } else {
          double a = ld(A, f64, row + j) + ld(C, f64, row + j);
          hn = r->cell == CUDNN_RNN_RELU ? (a > 0 ? a : 0.0) : tanh(a);
          if (reserve) st(rs.saved, f64, ((size_t)t * B + b) * H + j, hn);
        }
        st(hs, f64, k, hn);
        st(y, f64, yo + j, hn);
      }
    }
  }
  if (hy) memcpy(hy, hs, BH * es);
}

static void gates_backward_data(const rnn_call *c, const void *y, const void *dy, void *dx,
                                const void *hx, const void *dhy, void *dhx, const void *w,
                                void *work, void *reserve, const int *len) {
  const struct cudnnRNNStruct *r = c->r;
  const int B = c->B, T = c->T, I = c->I, H = c->H, GH = ngates(r) * H;
  const bool f64 = c->f64, gru = r->cell == CUDNN_GRU;
  const size_t es = c->es, BH = (size_t)B * H;
  const char *wb = w;
  const void *W = wb + off_W(r) * es, *R = wb + off_R(r) * es;
  gates_reserve rs = gates_layout(c, reserve);
  /* workspace: dh [B,H], the direct part of dh_{t-1} [B,H], tmp [B,H] */
  char *dh = work, *direct = dh + BH * es, *tmp = direct + BH * es;
  for (size_t k = 0; k < BH; k++) st(dh, f64, k, dhy ? ld(dhy, f64, k) : 0.0);
  for (int t = T - 1; t >= 0; t--) {
    char *dAt = rs.dA + (size_t)t * B * GH * es, *dCt = rs.dC + (size_t)t * B * GH * es;
    for (int b = 0; b < B; b++) {
      const size_t row = (size_t)b * GH;
      if (t >= len[b]) {
        for (int j = 0; j < GH; j++) {
          st(dAt, f64, row + j, 0.0);
          st(dCt, f64, row + j, 0.0);
        }
        continue;
      }
      const size_t yo = (size_t)b * c->sby + (size_t)t * c->sty;
      for (int j = 0; j < H; j++) {
        const size_t k = (size_t)b * H + j;
        const double hg = ld(dy, f64, yo + j) + ld(dh, f64, k);
        if (gru) {
          size_t base = ((size_t)t * B + b) * 4 * H;
          double rg = ld(rs.saved, f64, base + j), ig = ld(rs.saved, f64, base + H + j);
          double hp = ld(rs.saved, f64, base + 2 * (size_t)H + j);
          double ch = ld(rs.saved, f64, base + 3 * (size_t)H + j);
          double hprev = prev_h(c, y, hx, t, b, j);
          double dap = hg * (1.0 - ig) * (1.0 - hp * hp);
          double dr = dap * ch * rg * (1.0 - rg);
          double di = hg * (hprev - hp) * ig * (1.0 - ig);
          st(dAt, f64, row + j, dr);
          st(dAt, f64, row + H + j, di);
          st(dAt, f64, row + 2 * (size_t)H + j, dap);
          st(dCt, f64, row + j, dr);
          st(dCt, f64, row + H + j, di);
          st(dCt, f64, row + 2 * (size_t)H + j, dap * rg);
          st(direct, f64, k, hg * ig);
        } else {
          double hn = ld(rs.saved, f64, ((size_t)t * B + b) * H + j);
          double da = r->cell == CUDNN_RNN_RELU ? (hn > 0 ? hg : 0.0) : hg * (1.0 - hn * hn);
          st(dAt, f64, row + j, da);
          st(dCt, f64, row + j, da);
          st(direct, f64, k, 0.0);
        }
      }
    }
    /* dx_t = dA_t W, dh = dC_t R + the direct part (finished sequences keep theirs) */
    gemm(f64, false, false, B, I, GH, dAt, GH, W, I, 0.0, (char *)dx + (size_t)t * c->stx * es,
         (int)c->sbx);
    gemm(f64, false, false, B, H, GH, dCt, GH, R, H, 0.0, tmp, H);
    for (int b = 0; b < B; b++)
      if (t < len[b])
        for (int j = 0; j < H; j++) {
          size_t k = (size_t)b * H + j;
          st(dh, f64, k, ld(tmp, f64, k) + ld(direct, f64, k));
        }
  }
  if (dhx) memcpy(dhx, dh, BH * es);
}

static void gates_backward_weights(const rnn_call *c, const void *x, const void *hx,
                                   const void *y, void *dw, void *reserve) {
  const struct cudnnRNNStruct *r = c->r;
  const int B = c->B, T = c->T, I = c->I, H = c->H, GH = ngates(r) * H;
  const bool f64 = c->f64;
  const size_t es = c->es;
  char *wb = dw;
  void *dW = wb + off_W(r) * es, *dR = wb + off_R(r) * es;
  void *dbw = has_bw(r) ? wb + off_bw(r) * es : NULL, *dbr = has_br(r) ? wb + off_br(r) * es : NULL;
  gates_reserve rs = gates_layout(c, reserve);
  for (int t = 0; t < T; t++) {
    const char *dAt = rs.dA + (size_t)t * B * GH * es, *dCt = rs.dC + (size_t)t * B * GH * es;
    /* dW += dA_t^T x_t, dR += dC_t^T h_{t-1} (rows of padded steps are 0) */
    gemm(f64, true, false, GH, I, B, dAt, GH, (const char *)x + (size_t)t * c->stx * es,
         (int)c->sbx, 1.0, dW, I);
    if (t > 0)
      gemm(f64, true, false, GH, H, B, dCt, GH, (const char *)y + (size_t)(t - 1) * c->sty * es,
           (int)c->sby, 1.0, dR, H);
    else if (hx)
      gemm(f64, true, false, GH, H, B, dCt, GH, hx, H, 1.0, dR, H);
    for (int b = 0; b < B; b++)
      for (int j = 0; j < GH; j++) {
        if (dbw) st(dbw, f64, j, ld(dbw, f64, j) + ld(dAt, f64, (size_t)b * GH + j));
        if (dbr) st(dbr, f64, j, ld(dbr, f64, j) + ld(dCt, f64, (size_t)b * GH + j));
      }
  }
}

cudnnStatus_t cudnnRNNForward(cudnnHandle_t handle, cudnnRNNDescriptor_t rnnDesc,
                              cudnnForwardMode_t fwdMode, const int32_t devSeqLengths[],
                              cudnnRNNDataDescriptor_t xDesc, const void *x,
                              cudnnRNNDataDescriptor_t yDesc, void *y, cudnnTensorDescriptor_t hDesc,
                              const void *hx, void *hy, cudnnTensorDescriptor_t cDesc,
                              const void *cx, void *cy, size_t weightSpaceSize,
                              const void *weightSpace, size_t workSpaceSize, void *workSpace,
                              size_t reserveSpaceSize, void *reserveSpace) {
  rnn_call c;
  cudnnStatus_t s = setup(&c, "cudnnRNNForward", handle, rnnDesc, devSeqLengths, xDesc, yDesc,
                          hDesc, cDesc, weightSpaceSize, weightSpace, workSpaceSize, workSpace);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  if (fwdMode != CUDNN_FWD_MODE_INFERENCE && fwdMode != CUDNN_FWD_MODE_TRAINING)
    return CUDNN_STATUS_BAD_PARAM;
  const bool lstm = rnnDesc->cell == CUDNN_LSTM; /* cDesc, cx, cy: LSTM only */
  if (!hDesc || (lstm && !cDesc) || !x || !y) return CUDNN_STATUS_BAD_PARAM;
  const bool train = fwdMode == CUDNN_FWD_MODE_TRAINING;
  const int B = c.B, T = c.T, I = c.I, H = c.H;
  const bool f64 = c.f64;
  const size_t BH = (size_t)B * H;
  reserve_head *rh = NULL;
  if (train) {
    if (reserveSpaceSize < reserve_bytes(rnnDesc, B, T) || !reserveSpace) return CUDNN_STATUS_BAD_PARAM;
    if (!(rh = check_reserve(&c, reserveSpaceSize, reserveSpace))) return CUDNN_STATUS_EXECUTION_FAILED;
  }
  if (!check_io(&c, "x", x, (size_t)B * T * I) || !check_io(&c, "y", y, (size_t)B * T * H) ||
      !check_io(&c, "hx", hx, BH) || !check_io(&c, "hy", hy, BH) || !check_io(&c, "cx", cx, BH) ||
      !check_io(&c, "cy", cy, BH))
    return CUDNN_STATUS_EXECUTION_FAILED;
  if (!lstm) {
    gates_forward(&c, x, y, hx, hy, weightSpace, workSpace, train ? reserveSpace : NULL,
                  xDesc->lens, yDesc);
    if (train) reserve_mark(rh, rnnDesc, B, T);
    return CUDNN_STATUS_SUCCESS;
  }
  const char *w = weightSpace;
  const void *Wall = w + off_W(rnnDesc) * c.es, *Rall = w + off_R(rnnDesc) * c.es;
  const void *bw = has_bw(rnnDesc) ? w + off_bw(rnnDesc) * c.es : NULL;
  const void *br = has_br(rnnDesc) ? w + off_br(rnnDesc) * c.es : NULL;
  /* workspace: G [B,4H], h [B,H], c [B,H] */
  char *G = workSpace, *hs = G + (size_t)B * 4 * H * c.es, *cs = hs + BH * c.es;
  for (size_t k = 0; k < BH; k++) {
    st(hs, f64, k, hx ? ld(hx, f64, k) : 0.0);
    st(cs, f64, k, cx ? ld(cx, f64, k) : 0.0);
  }
  char *gates = NULL, *cells = NULL;
  if (train) {
    gates = (char *)reserveSpace + RESERVE_HEAD;
    cells = gates + (size_t)T * B * 4 * H * c.es;
  }
  const int *len = xDesc->lens;
  for (int t = 0; t < T; t++) {
    /* G = x_t W^T + h R^T (rows b: x at b*sbx + t*stx) */
    gemm(f64, false, true, B, 4 * H, I, (const char *)x + (size_t)t * c.stx * c.es, (int)c.sbx,
         Wall, I, 0.0, G, 4 * H);
    gemm(f64, false, true, B, 4 * H, H, hs, H, Rall, H, 1.0, G, 4 * H);
    for (int b = 0; b < B; b++) {
      size_t yo = (size_t)b * c.sby + (size_t)t * c.sty;
      if (t >= len[b]) {
        if (yDesc->has_fill)
          for (int j = 0; j < H; j++) st(y, f64, yo + j, yDesc->fill);
        continue;
      }
      for (int j = 0; j < H; j++) {
        double a[4];
        for (int g = 0; g < 4; g++) {
          size_t gi = (size_t)g * H + j;
          a[g] = ld(G, f64, (size_t)b * 4 * H + gi) + (bw ? ld(bw, f64, gi) : 0.0) +
                 (br ? ld(br, f64, gi) : 0.0);
        }
        double ig = sigm(a[0]), fg = sigm(a[1]), gg = tanh(a[2]), og = sigm(a[3]);
        size_t k = (size_t)b * H + j;
        double cn = fg * ld(cs, f64, k) + ig * gg;
        st(cs, f64, k, cn);
        double hn = og * tanh(ld(cs, f64, k));
        st(hs, f64, k, hn);
        st(y, f64, yo + j, ld(hs, f64, k));
        if (train) {
          size_t base = ((size_t)t * B + b) * 4 * H;
          st(gates, f64, base + j, ig);
          st(gates, f64, base + H + j, fg);
          st(gates, f64, base + 2 * (size_t)H + j, gg);
          st(gates, f64, base + 3 * (size_t)H + j, og);
          st(cells, f64, ((size_t)t * B + b) * H + j, ld(cs, f64, k));
        }
      }
    }
  }
  if (hy) memcpy(hy, hs, BH * c.es);
  if (cy) memcpy(cy, cs, BH * c.es);
  if (train) reserve_mark(rh, rnnDesc, B, T);
  return CUDNN_STATUS_SUCCESS;
}

static reserve_head *reserve_at(const rnn_call *c, size_t size, void *reserve, int stage) {
  reserve_head *rh = check_reserve(c, size, reserve);
  if (!rh) return NULL;
  if (rh->magic != RESERVE_MAGIC || rh->rnn_id != c->r->id || rh->B != c->B || rh->T != c->T ||
      rh->stage < stage)
    return NULL;
  return rh;
}

/* "cudnnRNNBackwardData_v8": needs the reserve space of a training-mode
 * cudnnRNNForward with the same descriptors; dhy/dcy/hx/cx may be NULL
 * (zeros), dhx/dcx may be NULL (not written). */
cudnnStatus_t cudnnRNNBackwardData_v8(cudnnHandle_t handle, cudnnRNNDescriptor_t rnnDesc,
                                      const int32_t devSeqLengths[], cudnnRNNDataDescriptor_t yDesc,
                                      const void *y, const void *dy, cudnnRNNDataDescriptor_t xDesc,
                                      void *dx, cudnnTensorDescriptor_t hDesc, const void *hx,
                                      const void *dhy, void *dhx, cudnnTensorDescriptor_t cDesc,
                                      const void *cx, const void *dcy, void *dcx,
                                      size_t weightSpaceSize, const void *weightSpace,
                                      size_t workSpaceSize, void *workSpace,
                                      size_t reserveSpaceSize, void *reserveSpace) {
  rnn_call c;
  cudnnStatus_t s = setup(&c, "cudnnRNNBackwardData_v8", handle, rnnDesc, devSeqLengths, xDesc,
                          yDesc, hDesc, cDesc, weightSpaceSize, weightSpace, workSpaceSize,
                          workSpace);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  const bool lstm = rnnDesc->cell == CUDNN_LSTM;
  if (!hDesc || (lstm && !cDesc) || !y || !dy || !dx) return CUDNN_STATUS_BAD_PARAM;
  const int B = c.B, T = c.T, I = c.I, H = c.H;
  const bool f64 = c.f64;
  const size_t BH = (size_t)B * H;
  if (reserveSpaceSize < reserve_bytes(rnnDesc, B, T) || !reserveSpace) return CUDNN_STATUS_BAD_PARAM;
  reserve_head *rh = reserve_at(&c, reserveSpaceSize, reserveSpace, 1);
  if (!rh) {
    if (!seq_emu_faulted())
      note(c.fn, "the reserve space does not hold a training forward of this RNN");
    return seq_emu_faulted() ? CUDNN_STATUS_EXECUTION_FAILED : CUDNN_STATUS_BAD_PARAM;
  }
  if (!check_io(&c, "y", y, (size_t)B * T * H) || !check_io(&c, "dy", dy, (size_t)B * T * H) ||
      !check_io(&c, "dx", dx, (size_t)B * T * I) || !check_io(&c, "hx", hx, BH) ||
      !check_io(&c, "dhy", dhy, BH) || !check_io(&c, "dhx", dhx, BH) ||
      !check_io(&c, "cx", cx, BH) || !check_io(&c, "dcy", dcy, BH) || !check_io(&c, "dcx", dcx, BH))
    return CUDNN_STATUS_EXECUTION_FAILED;
  if (!lstm) {
    gates_backward_data(&c, y, dy, dx, hx, dhy, dhx, weightSpace, workSpace, reserveSpace,
                        xDesc->lens);
    rh->stage = 2;
    return CUDNN_STATUS_SUCCESS;
  }
  const char *w = weightSpace;
  const void *Wall = w + off_W(rnnDesc) * c.es, *Rall = w + off_R(rnnDesc) * c.es;
  const char *gates = (const char *)reserveSpace + RESERVE_HEAD;
  const char *cells = gates + (size_t)T * B * 4 * H * c.es;
  char *dG = (char *)cells + (size_t)T * B * H * c.es;
  /* workspace: dh [B,H], dc [B,H], tmp [B,H] */
  char *dh = workSpace, *dc = dh + BH * c.es, *tmp = dc + BH * c.es;
  for (size_t k = 0; k < BH; k++) {
    st(dh, f64, k, dhy ? ld(dhy, f64, k) : 0.0);
    st(dc, f64, k, dcy ? ld(dcy, f64, k) : 0.0);
  }
  const int *len = xDesc->lens;
  for (int t = T - 1; t >= 0; t--) {
    char *dGt = dG + (size_t)t * B * 4 * H * c.es;
    for (int b = 0; b < B; b++) {
      size_t gb = ((size_t)t * B + b) * 4 * H;
      if (t >= len[b]) {
        for (int j = 0; j < 4 * H; j++) st(dG, f64, gb + j, 0.0);
        continue;
      }
      size_t yo = (size_t)b * c.sby + (size_t)t * c.sty;
      for (int j = 0; j < H; j++) {
        size_t k = (size_t)b * H + j;
        double ig = ld(gates, f64, gb + j), fg = ld(gates, f64, gb + H + j);
        double gg = ld(gates, f64, gb + 2 * (size_t)H + j), og = ld(gates, f64, gb + 3 * (size_t)H + j);
        double ct = ld(cells, f64, ((size_t)t * B + b) * H + j);
        double cp = t > 0 ? ld(cells, f64, ((size_t)(t - 1) * B + b) * H + j) : (cx ? ld(cx, f64, k) : 0.0);
        double h_grad = ld(dy, f64, yo + j) + ld(dh, f64, k);
        double tc = tanh(ct);
        double c_grad = ld(dc, f64, k) + h_grad * og * (1.0 - tc * tc);
        st(dG, f64, gb + j, c_grad * gg * ig * (1.0 - ig));
        st(dG, f64, gb + H + j, c_grad * cp * fg * (1.0 - fg));
        st(dG, f64, gb + 2 * (size_t)H + j, c_grad * ig * (1.0 - gg * gg));
        st(dG, f64, gb + 3 * (size_t)H + j, h_grad * tc * og * (1.0 - og));
        st(dc, f64, k, c_grad * fg);
      }
    }
    /* dx_t = dG_t W, dh = dG_t R (finished sequences keep theirs) */
    gemm(f64, false, false, B, I, 4 * H, dGt, 4 * H, Wall, I, 0.0,
         (char *)dx + (size_t)t * c.stx * c.es, (int)c.sbx);
    gemm(f64, false, false, B, H, 4 * H, dGt, 4 * H, Rall, H, 0.0, tmp, H);
    for (int b = 0; b < B; b++)
      if (t < len[b]) memcpy(dh + (size_t)b * H * c.es, tmp + (size_t)b * H * c.es, (size_t)H * c.es);
  }
  if (dhx) memcpy(dhx, dh, BH * c.es);
  if (dcx) memcpy(dcx, dc, BH * c.es);
  rh->stage = 2;
  return CUDNN_STATUS_SUCCESS;
}

/* "cudnnRNNBackwardWeights_v8": only CUDNN_WGRAD_MODE_ADD is supported
 * (the gradients are added to dweightSpace); it must follow
 * cudnnRNNBackwardData_v8 on the same reserve space. */
cudnnStatus_t cudnnRNNBackwardWeights_v8(cudnnHandle_t handle, cudnnRNNDescriptor_t rnnDesc,
                                         cudnnWgradMode_t addGrad, const int32_t devSeqLengths[],
                                         cudnnRNNDataDescriptor_t xDesc, const void *x,
                                         cudnnTensorDescriptor_t hDesc, const void *hx,
                                         cudnnRNNDataDescriptor_t yDesc, const void *y,
                                         size_t weightSpaceSize, void *dweightSpace,
                                         size_t workSpaceSize, void *workSpace,
                                         size_t reserveSpaceSize, void *reserveSpace) {
  rnn_call c;
  cudnnStatus_t s = setup(&c, "cudnnRNNBackwardWeights_v8", handle, rnnDesc, devSeqLengths, xDesc,
                          yDesc, hDesc, NULL, weightSpaceSize, dweightSpace, workSpaceSize,
                          workSpace);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  if (addGrad != CUDNN_WGRAD_MODE_ADD) return CUDNN_STATUS_NOT_SUPPORTED;
  if (!hDesc || !x || !y) return CUDNN_STATUS_BAD_PARAM;
  const int B = c.B, T = c.T, I = c.I, H = c.H;
  const bool f64 = c.f64;
  if (reserveSpaceSize < reserve_bytes(rnnDesc, B, T) || !reserveSpace) return CUDNN_STATUS_BAD_PARAM;
  reserve_head *rh = reserve_at(&c, reserveSpaceSize, reserveSpace, 2);
  if (!rh) {
    if (!seq_emu_faulted())
      note(c.fn, "called before cudnnRNNBackwardData_v8 on this reserve space (the real library "
                 "would compute garbage)");
    return seq_emu_faulted() ? CUDNN_STATUS_EXECUTION_FAILED : CUDNN_STATUS_BAD_PARAM;
  }
  if (!check_io(&c, "x", x, (size_t)B * T * I) || !check_io(&c, "y", y, (size_t)B * T * H) ||
      !check_io(&c, "hx", hx, (size_t)B * H))
    return CUDNN_STATUS_EXECUTION_FAILED;
  if (rnnDesc->cell != CUDNN_LSTM) {
    gates_backward_weights(&c, x, hx, y, dweightSpace, reserveSpace);
    return CUDNN_STATUS_SUCCESS;
  }
  char *w = dweightSpace;
  void *dW = w + off_W(rnnDesc) * c.es, *dR = w + off_R(rnnDesc) * c.es;
  void *dbw = has_bw(rnnDesc) ? w + off_bw(rnnDesc) * c.es : NULL;
  void *dbr = has_br(rnnDesc) ? w + off_br(rnnDesc) * c.es : NULL;
  const char *dG = (const char *)reserveSpace + RESERVE_HEAD + (size_t)T * B * 5 * H * c.es;
  for (int t = 0; t < T; t++) {
    const char *dGt = dG + (size_t)t * B * 4 * H * c.es;
    /* dW += dG_t^T x_t, dR += dG_t^T h_{t-1} (rows of padded steps are 0) */
    gemm(f64, true, false, 4 * H, I, B, dGt, 4 * H, (const char *)x + (size_t)t * c.stx * c.es,
         (int)c.sbx, 1.0, dW, I);
    if (t > 0)
      gemm(f64, true, false, 4 * H, H, B, dGt, 4 * H,
           (const char *)y + (size_t)(t - 1) * c.sty * c.es, (int)c.sby, 1.0, dR, H);
    else if (hx)
      gemm(f64, true, false, 4 * H, H, B, dGt, 4 * H, hx, H, 1.0, dR, H);
    for (int b = 0; b < B; b++)
      for (int j = 0; j < 4 * H; j++) {
        double g = ld(dGt, f64, (size_t)b * 4 * H + j);
        if (dbw) st(dbw, f64, j, ld(dbw, f64, j) + g);
        if (dbr) st(dbr, f64, j, ld(dbr, f64, j) + g);
      }
  }
  return CUDNN_STATUS_SUCCESS;
}
