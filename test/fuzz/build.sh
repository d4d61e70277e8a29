#!/usr/bin/env bash
# test/fuzz/build.sh - builds the libFuzzer harnesses with clang (ASan + UBSan)
# into build-fuzz/.  Usage: test/fuzz/build.sh && build-fuzz/fuzz_tar -max_total_time=60 CORPUS_DIR
set -eu
cd "$(dirname "$0")/../.."
out=build-fuzz
mkdir -p "$out"
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icore/io -Icore/engine)
clang "${flags[@]}" test/fuzz/fuzz_tar.c core/io/seq_tar.c core/engine/seq_error.c -lz -o "$out/fuzz_tar"
echo "built $out/fuzz_tar"
