-- LuaRocks: `luarocks --lua-version 5.4 make` in a checkout builds seqlua
-- with CMake and installs the `seq` module (seq/*.lua and seq/core.so) and
-- the seqlua executable into the rocks tree.  The C dependencies come from
-- the system (tools/install-deps.sh on Debian).
rockspec_format = "3.0"
package = "seq"
version = "0.1.0-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "A small, fast deep-learning runtime for sequence models (C core, Keras-like Lua 5.4 API)",
  detailed = [[
seq: tensors on the CPU and CUDA GPUs, reverse-mode autograd, a fused LSTM,
losses, optimizers and Keras-like Sequential models with compile/fit/
evaluate/predict, callbacks and safetensors checkpoints.
]],
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    CMAKE_INSTALL_BINDIR = "$(BINDIR)",
    SEQ_LUA_MODULE_DIR = "$(LUADIR)",
    SEQ_LUA_CMODULE_DIR = "$(LIBDIR)",
    SEQ_BUILD_TESTS = "OFF",
  },
}
