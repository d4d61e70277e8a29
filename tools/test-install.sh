#!/usr/bin/env bash
# tools/test-install.sh - checks that seqlua installs and runs from the
# installed copy alone, both ways a user installs it (CI runs this):
#   1. cmake --install into a temporary prefix; the source tree and the build
#      are then deleted and the prefix moved: seqlua must still find its Lua
#      library, and a plain lua5.4 must `require 'seq'` with the one-line
#      LUA_PATH/LUA_CPATH the README gives;
#   2. luarocks make --tree <tmp> from a copy of the checkout, the copy
#      deleted, then `require 'seq'` from that tree.
# The CUDA backend is left out (SEQ_CUDA=OFF): its build is checked elsewhere.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SEQ_CUDA=OFF
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" # luarocks builds without -j

copy_checkout() { # the working tree without builds or .git
  mkdir -p "$1"
  tar -C "$src" --exclude='./build*' --exclude='./.git' --exclude='./*.log' -cf - . | tar -C "$1" -xf -
}
check='local seq = require "seq"; assert(seq.ones(2, 3):sum():item() == 6)'

echo "== cmake --install into a prefix, then move it =="
copy_checkout "$work/src"
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DSEQ_BUILD_TESTS=OFF > "$work/cmake.log" 2>&1 \
  || { tail -30 "$work/cmake.log"; exit 1; }
cmake --build "$work/build" -j2 >> "$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log"; exit 1; }
cmake --install "$work/build" --prefix "$work/prefix" >> "$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log"; exit 1; }
rm -rf "$work/src" "$work/build"
mv "$work/prefix" "$work/moved"
P="$work/moved"
"$P/bin/seqlua" -e "$check; local f = package.searchpath('seq', package.path); assert(f:find('$P', 1, true), f); print('seqlua runs from ' .. f)"
printf 'print(1 + 1)\n' | "$P/bin/seqlua" | grep -qx 2
LUA_PATH="$P/share/lua/5.4/?.lua;$P/share/lua/5.4/?/init.lua;;" LUA_CPATH="$P/lib/lua/5.4/?.so;;" \
  lua5.4 -e "$check; print('lua5.4 requires seq from ' .. package.searchpath('seq', package.path))"
# the MPI plugin (built when MPI is found) is found relative to seqlua and to
# seq/core.so, not at the deleted prefix: seq.dist initialises from both
if [ -n "$(find "$P" -name libseqmpi.so)" ]; then
  dist_check="seq.dist.init(); local i = seq.dist.info(); assert(i.initialized and i.plugin:find('$P', 1, true), i.plugin)"
  mpi1=()
  command -v mpirun > /dev/null && mpi1=(mpirun -np 1 --allow-run-as-root)
  "${mpi1[@]}" "$P/bin/seqlua" -e "$dist_check; print('seqlua opens the MPI plugin ' .. i.plugin)"
  LUA_PATH="$P/share/lua/5.4/?.lua;$P/share/lua/5.4/?/init.lua;;" LUA_CPATH="$P/lib/lua/5.4/?.so;;" \
    "${mpi1[@]}" lua5.4 -e "seq = require 'seq'; $dist_check; print('lua5.4 opens the MPI plugin ' .. i.plugin)"
fi

echo "== luarocks make --tree =="
if ! command -v luarocks > /dev/null; then echo "luarocks is not installed (tools/install-deps.sh)"; exit 1; fi
copy_checkout "$work/src2"
(cd "$work/src2" && luarocks --lua-version 5.4 make --tree "$work/tree" seq-*.rockspec > "$work/rocks.log" 2>&1) \
  || { tail -40 "$work/rocks.log"; exit 1; }
rm -rf "$work/src2"
eval "$(luarocks --lua-version 5.4 --tree "$work/tree" path)"
lua5.4 -e "$check; print('lua5.4 requires seq from the rocks tree: ' .. package.searchpath('seq', package.path))"
"$work/tree/bin/seqlua" -e "$check; print('the rocks tree seqlua runs')"
echo "install checks passed"
