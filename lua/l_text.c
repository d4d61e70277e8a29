/* l_text.c - Lua bindings for core/io/seq_text (registered into seq.core with
 * the prefix text_).  The Lua face is lua/seq/text.lua. */
#include <stdlib.h>
#include <string.h>

#include "seq_lua.h"
#include "seq_ops.h"
#include "seq_text.h"

/* text_lower(s) -> string, like Python's s.lower() */
static int l_lower(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char *out;
  size_t m;
  SEQ_LUA_CHECK(L, seq_text_lower(s, n, &out, &m));
  lua_pushlstring(L, out, m);
  free(out);
  return 1;
}

/* text_len(s) -> number of code points (errors on invalid UTF-8) */
static int l_len(lua_State *L) {
  size_t n, c;
  const char *s = luaL_checklstring(L, 1, &n);
  SEQ_LUA_CHECK(L, seq_utf8_count(s, n, &c));
  lua_pushinteger(L, (lua_Integer)c);
  return 1;
}

static void push_cp(lua_State *L, uint32_t cp) {
  char buf[4];
  int k = seq_utf8_encode_cp(cp, buf);
  lua_pushlstring(L, buf, (size_t)k);
}

/* text_chars(s) -> {c1, c2, ...}: distinct characters sorted by code point */
static int l_chars(lua_State *L) {
  size_t n, count;
  const char *s = luaL_checklstring(L, 1, &n);
  uint32_t *cps;
  SEQ_LUA_CHECK(L, seq_text_chars(s, n, &cps, &count));
  lua_createtable(L, (int)count, 0);
  for (size_t i = 0; i < count; i++) {
    push_cp(L, cps[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  free(cps);
  return 1;
}

/* text_split_chars(s) -> {c1, c2, ...}: every character in order */
static int l_split_chars(lua_State *L) {
  size_t n, count;
  const char *s = luaL_checklstring(L, 1, &n);
  SEQ_LUA_CHECK(L, seq_utf8_count(s, n, &count));
  lua_createtable(L, (int)count, 0);
  size_t pos = 0;
  for (size_t i = 0; i < count; i++) {
    size_t start = pos;
    uint32_t cp;
    seq_utf8_next(s, n, &pos, &cp);
    lua_pushlstring(L, s + start, pos - start);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* text_codepoint(c) -> integer code point of a one-character string */
static int l_codepoint(lua_State *L) {
  size_t n, pos = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  uint32_t cp;
  if (!seq_utf8_next(s, n, &pos, &cp) || pos != n)
    return luaL_argerror(L, 1, "a single UTF-8 character expected");
  lua_pushinteger(L, cp);
  return 1;
}

/* Reads a vocabulary table {c1, c2, ...} of one-character strings into a
 * code point array kept as userdata (so a Lua error cannot leak it). */
static uint32_t *check_vocab(lua_State *L, int idx, size_t *nvocab) {
  size_t nv = (size_t)seq_lua_list(L, idx, "text.vectorize: vocabulary", 1 << 24, LUA_TSTRING);
  int copy = lua_gettop(L);
  uint32_t *v = lua_newuserdatauv(L, (nv ? nv : 1) * sizeof *v, 0);
  for (size_t i = 0; i < nv; i++) {
    lua_rawgeti(L, copy, (lua_Integer)i + 1);
    size_t n, pos = 0;
    const char *c = lua_tolstring(L, -1, &n);
    if (!c || !seq_utf8_next(c, n, &pos, &v[i]) || pos != n)
      luaL_error(L, "text.vectorize: vocabulary entry %d must be a single UTF-8 character",
                 (int)i + 1);
    lua_pop(L, 1);
  }
  *nvocab = nv;
  return v;
}

/* text_vectorize(s, vocab [, unknown]) -> i32 tensor [n] of 0-based
 * positions in vocab; unknown (an id) replaces missing characters, which
 * are an error otherwise. */
static int l_vectorize(lua_State *L) {
  size_t n, nv, count;
  const char *s = luaL_checklstring(L, 1, &n);
  uint32_t *vocab = check_vocab(L, 2, &nv);
  lua_Integer unknown = luaL_optinteger(L, 3, -1);
  SEQ_LUA_CHECK(L, seq_utf8_count(s, n, &count));
  seq_tensor *t;
  int64_t shape[1] = {(int64_t)count};
  SEQ_LUA_CHECK(L, seq_tensor_empty(&t, SEQ_I32, SEQ_CPU, 1, shape));
  seq_lua_push_tensor(L, t); /* owned by Lua from here on */
  size_t got;
  SEQ_LUA_CHECK(L, seq_text_vectorize(s, n, vocab, nv, (int32_t)unknown,
                                      (int32_t *)seq_tensor_data(t), &got));
  return 1;
}

/* An i32 contiguous CPU copy/view of tensor (or table) argument idx; it is
 * pushed on the stack so Lua owns it. */
static seq_tensor *check_ids(lua_State *L, int idx) {
  return seq_lua_contiguous_arg(L, idx, SEQ_I32, SEQ_CPU);
}

/* text_bigram_counts(ids, vocab_size) -> i64 tensor [V, V]:
 * counts[a][b] = number of i with ids[i] == a and ids[i+1] == b */
static int l_bigram_counts(lua_State *L) {
  lua_Integer v = luaL_checkinteger(L, 2);
  /* A dense V x V i64 matrix: 8192 already means 512 MiB. */
  if (v <= 0 || v > 8192)
    return luaL_argerror(L, 2, "vocabulary size must be in 1..8192 (use text.bigram_pairs for larger vocabularies)");
  seq_tensor *ids = check_ids(L, 1);
  seq_tensor *t;
  int64_t shape[2] = {v, v};
  SEQ_LUA_CHECK(L, seq_tensor_zeros(&t, SEQ_I64, SEQ_CPU, 2, shape));
  seq_lua_push_tensor(L, t);
  SEQ_LUA_CHECK(L, seq_text_bigram_counts((const int32_t *)seq_tensor_data(ids), (size_t)ids->numel,
                                          (int32_t)v, (int64_t *)seq_tensor_data(t)));
  return 1;
}

/* text_bigram_pairs(ids) -> a, b (i32 [K]), counts (i64 [K]): the distinct
 * consecutive pairs sorted by (a, b) */
static int l_bigram_pairs(lua_State *L) {
  seq_tensor *ids = check_ids(L, 1);
  int32_t *a, *b;
  int64_t *c;
  size_t np;
  SEQ_LUA_CHECK(L, seq_text_bigram_pairs((const int32_t *)seq_tensor_data(ids), (size_t)ids->numel,
                                         &a, &b, &c, &np));
  int64_t shape[1] = {(int64_t)np};
  seq_tensor *ta = NULL, *tb = NULL, *tc = NULL;
  seq_status st = seq_tensor_from_host(&ta, SEQ_I32, 1, shape, a, np * sizeof *a);
  if (st == SEQ_OK) st = seq_tensor_from_host(&tb, SEQ_I32, 1, shape, b, np * sizeof *b);
  if (st == SEQ_OK) st = seq_tensor_from_host(&tc, SEQ_I64, 1, shape, c, np * sizeof *c);
  free(a);
  free(b);
  free(c);
  if (st != SEQ_OK) {
    seq_tensor_release(ta);
    seq_tensor_release(tb);
    seq_tensor_release(tc);
    return seq_lua_error(L, st);
  }
  seq_lua_push_tensor(L, ta);
  seq_lua_push_tensor(L, tb);
  seq_lua_push_tensor(L, tc);
  return 3;
}

/* text_words(s [, mode]) -> {w1, w2, ...}; mode 'words' (default:
 * re.findall(r"\w+(?:'\w+)*")) or 'space' (str.split()) */
static int l_words(lua_State *L) {
  size_t n, count;
  const char *s = luaL_checklstring(L, 1, &n);
  static const char *const modes[] = {"words", "space", NULL};
  int mode = luaL_checkoption(L, 2, "words", modes);
  seq_text_span *sp;
  SEQ_LUA_CHECK(L, seq_text_tokens(s, n, mode == 0 ? SEQ_SPLIT_WORDS : SEQ_SPLIT_SPACE, &sp, &count));
  if (count > (size_t)INT32_MAX) {
    free(sp);
    return luaL_error(L, "text.words: too many tokens");
  }
  lua_createtable(L, (int)count, 0);
  for (size_t i = 0; i < count; i++) {
    lua_pushlstring(L, s + sp[i].start, sp[i].len);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  free(sp);
  return 1;
}

void seq_lua_register_text(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"text_lower", l_lower},
      {"text_len", l_len},
      {"text_chars", l_chars},
      {"text_split_chars", l_split_chars},
      {"text_codepoint", l_codepoint},
      {"text_vectorize", l_vectorize},
      {"text_bigram_counts", l_bigram_counts},
      {"text_bigram_pairs", l_bigram_pairs},
      {"text_words", l_words},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
