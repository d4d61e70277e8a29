/* fuzz_json.c - seq.json.decode (lua/seq/json.lua) on arbitrary text; what
 * decodes must encode and decode again to the same encoding. */
#include "fuzz_common.h"
#include "fuzz_lua.h"

static const char setup[] =
    "local json = require 'seq.json'\n"
    "function fuzz_json(s)\n"
    "  local ok, v = pcall(json.decode, s)\n"
    "  if not ok then return end\n"
    "  local e = json.encode(v)\n"
    "  local again = json.encode(json.decode(e))\n"
    "  if again ~= e then error('json round trip differs: ' .. e .. ' vs ' .. again) end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fuzz_lua_function(setup, "fuzz_json");
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg && strstr(msg, "round trip")) abort(); /* a decoder/encoder disagreement */
  }
  lua_settop(L, 0);
  return 0;
}
