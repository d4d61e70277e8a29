/* ftz_preload.c - benchmark-only experiment: set FTZ+DAZ (flush denormals)
 * in the MXCSR of the process's first thread before main; threads created
 * later inherit it.  Shows how much a workload loses to denormal floats
 * (vanishing LSTM gradients over 500 steps produce them):
 *   gcc -O2 -shared -fPIC -o /tmp/ftz.so test/bench/ftz_preload.c
 *   LD_PRELOAD=/tmp/ftz.so build/seqlua test/bench/w_imdb_epoch.lua --quick
 * Not for tests; seqlua itself should set this mode (see RESULTS.md). */
#include <xmmintrin.h>
#include <pmmintrin.h>

__attribute__((constructor)) static void seq_bench_ftz(void) {
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
}
