/* seq_error.c - the thread-local last-error message. */
#include "seq_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[1024];

seq_status seq_fail(seq_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_message, sizeof last_message, fmt, ap);
  va_end(ap);
  return code;
}

seq_status seq_fail_context(seq_status code, const char *context) {
  char tmp[2 * sizeof last_message];
  size_t n = strlen(context);
  /* Avoid "op: op: ..." when the inner layer already named the op. */
  if (strncmp(last_message, context, n) == 0 && last_message[n] == ':') return code;
  snprintf(tmp, sizeof tmp, "%s: %s", context, last_message);
  memcpy(last_message, tmp, sizeof last_message - 1);
  last_message[sizeof last_message - 1] = 0;
  return code;
}

const char *seq_last_error(void) { return last_message[0] ? last_message : "unknown error"; }

const char *seq_status_name(seq_status s) {
  switch (s) {
    case SEQ_OK: return "ok";
    case SEQ_EARG: return "bad argument";
    case SEQ_ESHAPE: return "shape mismatch";
    case SEQ_EDTYPE: return "dtype mismatch";
    case SEQ_EDEVICE: return "device error";
    case SEQ_ENOMEM: return "out of memory";
    case SEQ_EIO: return "i/o error";
    case SEQ_EFORMAT: return "bad format";
    case SEQ_EBACKEND: return "backend error";
    case SEQ_ENUMERIC: return "numeric error";
    case SEQ_EGRAD: return "autograd error";
  }
  return "unknown status";
}
