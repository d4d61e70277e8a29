/* seq_error.h - status codes and the last-error message.
 *
 * Library code never aborts and never prints: every fallible function returns
 * a seq_status and, on failure, records a human-readable message with
 * seq_fail().  Only the Lua bindings (lua/) turn a status into a Lua error,
 * using seq_last_error() as the message.  The message buffer is thread-local,
 * so worker threads cannot clobber the caller's message. */
#ifndef SEQ_ERROR_H
#define SEQ_ERROR_H

typedef enum seq_status {
  SEQ_OK = 0,
  SEQ_EARG,     /* bad argument value (negative size, unknown name, ...) */
  SEQ_ESHAPE,   /* shapes do not agree */
  SEQ_EDTYPE,   /* dtype not supported by the op, or dtypes disagree */
  SEQ_EDEVICE,  /* tensors on different devices, or device unavailable */
  SEQ_ENOMEM,   /* allocation failed (host or device) */
  SEQ_EIO,      /* file system or network */
  SEQ_EFORMAT,  /* corrupt or truncated file, bad JSON, ... */
  SEQ_EBACKEND, /* BLAS / CUDA / cuBLAS / cuDNN reported an error */
  SEQ_ENUMERIC, /* NaN / Inf where a finite value is required */
  SEQ_EGRAD     /* autograd misuse (backward twice, non-scalar loss, ...) */
} seq_status;

/* Records a printf-style message and returns `code` so callers can write
 * `return seq_fail(SEQ_ESHAPE, "matmul: shapes %s and %s ...", ...)`. */
seq_status seq_fail(seq_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefixes the current message with "<context>: " (used when a low-level
 * failure is reported from inside a higher-level op). */
seq_status seq_fail_context(seq_status code, const char *context);

const char *seq_last_error(void);
const char *seq_status_name(seq_status s);

#define SEQ_TRY(expr)                                                          \
  do {                                                                         \
    seq_status seq_try_status_ = (expr);                                       \
    if (seq_try_status_ != SEQ_OK) return seq_try_status_;                     \
  } while (0)

#endif
