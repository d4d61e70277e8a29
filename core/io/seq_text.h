/* seq_text.h - UTF-8 text utilities for the course's text stages.
 *
 * Everything works on UTF-8 byte strings with explicit lengths (Lua strings
 * may hold NULs) and treats text as a sequence of Unicode code points, like a
 * Python str.  Decoding is strict, as Python's 'utf-8' codec: overlong forms,
 * surrogates and code points above U+10FFFF are errors naming the byte
 * offset.  Case mapping and the word/space classes come from tables generated
 * from CPython (tools/gen_text_tables.py), so lower() equals str.lower(),
 * final sigma and U+0130 included.
 *
 * Functions that return buffers allocate them with malloc; free() them. */
#ifndef SEQ_TEXT_H
#define SEQ_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seq_error.h"
#include "seq_utf8.h" /* seq_utf8_next, seq_utf8_encode_cp */

/* ---- UTF-8 strings ---- */
/* Checks that s is valid UTF-8 and counts its code points. */
seq_status seq_utf8_count(const char *s, size_t n, size_t *count);
/* Decodes all of s into a new array of *count code points. */
seq_status seq_utf8_decode(const char *s, size_t n, uint32_t **cps, size_t *count);
/* Encodes code points into a new NUL-terminated string of *nbytes bytes. */
seq_status seq_utf8_encode(const uint32_t *cps, size_t count, char **out, size_t *nbytes);

/* ---- character classes (Python semantics) ---- */
uint32_t seq_text_lower_cp(uint32_t cp); /* simple mapping; U+0130 -> 'i' */
bool seq_text_is_word_cp(uint32_t cp);   /* re's \w: str.isalnum() or '_' */
bool seq_text_is_space_cp(uint32_t cp);  /* str.isspace() */

/* ---- whole strings ---- */
/* Python's str.lower(): full mapping (U+0130 -> "i\u0307") and the
 * final-sigma rule. */
seq_status seq_text_lower(const char *s, size_t n, char **out, size_t *nbytes);
/* sorted(set(text)): distinct code points in increasing order. */
seq_status seq_text_chars(const char *s, size_t n, uint32_t **cps, size_t *count);

/* Maps each code point of s to its position in vocab (any order, no
 * duplicates).  out needs room for seq_utf8_count(s) entries.  A code point
 * missing from vocab becomes `unknown` when unknown >= 0, else an error that
 * names the character and its position. */
seq_status seq_text_vectorize(const char *s, size_t n, const uint32_t *vocab, size_t nvocab,
                              int32_t unknown, int32_t *out, size_t *count);

/* counts[a*vocab + b] += 1 for every consecutive pair (idx[i], idx[i+1]).
 * counts must hold vocab*vocab zeroed entries; ids must lie in [0, vocab). */
seq_status seq_text_bigram_counts(const int32_t *idx, size_t n, int32_t vocab, int64_t *counts);
/* Sparse version for large vocabularies (words): the distinct pairs sorted
 * by (a, b) with their counts, as three new arrays of *npairs entries. */
seq_status seq_text_bigram_pairs(const int32_t *idx, size_t n, int32_t **a, int32_t **b,
                                 int64_t **counts, size_t *npairs);

/* ---- words ---- */
typedef enum seq_text_split {
  SEQ_SPLIT_WORDS, /* re.findall(r"\w+(?:'\w+)*", text): words with inner apostrophes */
  SEQ_SPLIT_SPACE  /* text.split(): runs of non-space characters */
} seq_text_split;
typedef struct seq_text_span {
  size_t start, len; /* byte offsets into the text */
} seq_text_span;
/* Finds the tokens of s; *spans is a new array of *count entries. */
seq_status seq_text_tokens(const char *s, size_t n, seq_text_split mode, seq_text_span **spans,
                           size_t *count);

#endif
