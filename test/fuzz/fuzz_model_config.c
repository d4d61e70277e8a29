/* fuzz_model_config.c - seq.load_model's config loader: the input is the
 * architecture JSON (and, after a NUL, the compile JSON) of an otherwise
 * valid model file holding a few small tensors.  Loading must fail with a
 * Lua error or give a model; it must never allocate without bound (ASan's
 * allocation limit catches that) or crash. */
#include "fuzz_common.h"
#include "fuzz_lua.h"

static const char setup[] =
    "function fuzz_model(path, cfg, compile)\n"
    "  local meta = {format = 'seqlua-model', version = '1', config = cfg, epoch = '1'}\n"
    "  if #compile > 0 then meta.compile = compile end\n"
    "  seq.save_tensors(path, {\n"
    "    ['layers.0.embeddings'] = seq.ones(5, 3),\n"
    "    ['layers.1.kernel'] = seq.ones(3, 8), ['layers.1.recurrent_kernel'] = seq.ones(2, 8),\n"
    "    ['layers.1.bias'] = seq.zeros(8),\n"
    "    ['layers.2.kernel'] = seq.ones(2, 1), ['layers.2.bias'] = seq.zeros(1)}, meta)\n"
    "  local ok, m = pcall(seq.load_model, path, {restore_rng = false})\n"
    "  if ok and m.built then pcall(m.predict, m, seq.tensor({{1, 2, 3}}, {dtype = 'i32'}), {verbose = 0}) end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t ncfg = nul ? (size_t)(nul - data) : size;
  char path[512];
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/seqfuzz-model-%ld.safetensors", dir && *dir ? dir : "/tmp", (long)getpid());
  lua_State *L = fuzz_lua_function(setup, "fuzz_model");
  lua_pushstring(L, path);
  lua_pushlstring(L, (const char *)data, ncfg);
  lua_pushlstring(L, nul ? (const char *)nul + 1 : "", nul ? size - ncfg - 1 : 0);
  lua_pcall(L, 3, 0, 0);
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  unlink(path);
  return 0;
}
