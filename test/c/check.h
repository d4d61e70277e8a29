/* check.h - the one assertion kit of the C unit tests: a failed check prints
 * where and what, counts, and lets the test go on so one run reports every
 * failure.  Each test is one translation unit, so the counter is static. */
#ifndef SEQ_TEST_CHECK_H
#define SEQ_TEST_CHECK_H

#include <stdio.h>

static int failures = 0;

/* CHECK(cond): prints the condition's text when it does not hold. */
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* CHECKF(cond, fmt, ...): prints a message of the test's own instead. */
#define CHECKF(cond, ...)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      failures++;                                                              \
      fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
    }                                                                          \
  } while (0)

/* CHECK_OK(expr): expr returns a seq_status; prints the core's message. */
#define CHECK_OK(expr)                                                         \
  do {                                                                         \
    seq_status s_ = (expr);                                                    \
    if (s_ != SEQ_OK) {                                                        \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,     \
              seq_last_error());                                               \
      failures++;                                                              \
    }                                                                          \
  } while (0)

#endif
