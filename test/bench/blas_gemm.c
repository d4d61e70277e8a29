/* blas_gemm.c - time sgemm at the shapes the course's models use, to choose
 * the CPU BLAS by measurement.  Built by hand (not part of the CMake build):
 *
 *   OpenBLAS (pthread):
 *     gcc -O2 -o /tmp/gemm_openblas test/bench/blas_gemm.c -DUSE_OPENBLAS \
 *         -I/usr/include/x86_64-linux-gnu/openblas-pthread \
 *         -L/usr/lib/x86_64-linux-gnu/openblas-pthread \
 *         -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -lm
 *   BLIS (Debian's libblis; on this machine the alternative is blis-openmp):
 *     gcc -O2 -o /tmp/gemm_blis test/bench/blas_gemm.c -DUSE_BLIS \
 *         -I/usr/include/x86_64-linux-gnu/blis-openmp \
 *         -L/usr/lib/x86_64-linux-gnu/blis-openmp \
 *         -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp -lblis -lm
 *
 *   seqlua's own path (seq_cpu_gemm: the AVX2/FMA tiles, or the BLAS with
 *   SEQLUA_GEMM=blas), after a Release build in build/:
 *     gcc -O2 -fopenmp -o /tmp/gemm_seq test/bench/blas_gemm.c -DUSE_SEQ \
 *         -Icore/cpu -Icore/engine build/libseqcore.a \
 *         -L/usr/lib/x86_64-linux-gnu/blis-openmp \
 *         -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp -lblis -lm -ldl -lpthread
 *
 *   run: /tmp/gemm_openblas [threads ...]     (default: 1 2)
 *   GEMM_CLOCK=cpu times process CPU seconds instead of wall seconds: with
 *   one thread on a loaded machine that is the figure that stays put.
 *
 * Output: one line per (shape, threads): median seconds per call over
 * repeats and GFLOP/s (2*M*N*K / t).  All matrices are row-major f32. */
#define _GNU_SOURCE /* BLIS's cblas.h needs pthread_barrier_t */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(USE_SEQ)
#include "cpu_kernels.h"
static const char *lib_name(void) { return "seqlua seq_cpu_gemm"; }
static void set_threads(int n) { seq_cpu_set_threads(n); }
static void describe(void) { printf("# path: %s\n", seq_cpu_gemm_path()); }
#else
#include <cblas.h>
#endif

#if defined(USE_SEQ)
#elif defined(USE_OPENBLAS)
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int);
static const char *lib_name(void) { return "openblas"; }
static void set_threads(int n) { openblas_set_num_threads(n); }
static void describe(void) {
  printf("# openblas config: %s\n# openblas corename: %s\n", openblas_get_config(),
         openblas_get_corename());
}
#elif defined(USE_BLIS)
/* declared here rather than pulling in the 40k-line blis.h */
extern void bli_thread_set_num_threads(long n);
extern const char *bli_info_get_version_str(void);
extern int bli_arch_query_id(void);
extern const char *bli_arch_string(int id);
static const char *lib_name(void) { return "blis"; }
static void set_threads(int n) { bli_thread_set_num_threads(n); }
static void describe(void) {
  printf("# blis version: %s, arch: %s\n", bli_info_get_version_str(),
         bli_arch_string(bli_arch_query_id()));
}
#else
#error "define USE_OPENBLAS, USE_BLIS or USE_SEQ"
#endif

typedef struct shape {
  const char *name;
  int ta, tb; /* op(A) = A^T when ta */
  int m, n, k;
} shape;

/* C[M,N] = op(A)[M,K] * op(B)[K,N] */
static const shape shapes[] = {
  /* IMDB: Embedding(5000,32) -> LSTM(100), batch 64, 500 steps */
  {"imdb  x_proj   [B*T,I]x[I,4H]      ", 0, 0, 32000, 400, 32},
  {"imdb  rec/step [B,H]x[H,4H]        ", 0, 0, 64, 400, 100},
  {"imdb  dh/step  [B,4H]x[4H,H]^T     ", 0, 1, 64, 100, 400},
  {"imdb  dWrec/st [H,B]^Tx[B,4H]      ", 1, 0, 100, 400, 64},
  {"imdb  dWrec    [H,B*T]^Tx[B*T,4H]  ", 1, 0, 100, 400, 32000},
  {"imdb  dWin     [I,B*T]^Tx[B*T,4H]  ", 1, 0, 32, 400, 32000},
  {"imdb  dx       [B*T,4H]x[4H,I]^T   ", 0, 1, 32000, 32, 400},
  {"imdb  infer rec[256,H]x[H,4H]      ", 0, 0, 256, 400, 100},
  /* char-RNN: LSTM(128) over 40 steps of 57 one-hot chars, batch 128 */
  {"char  x_proj   [B*T,I]x[I,4H]      ", 0, 0, 5120, 512, 57},
  {"char  rec/step [B,H]x[H,4H]        ", 0, 0, 128, 512, 128},
  {"char  dh/step  [B,4H]x[4H,H]^T     ", 0, 1, 128, 128, 512},
  {"char  dWrec/st [H,B]^Tx[B,4H]      ", 1, 0, 128, 512, 128},
  {"char  dWrec    [H,B*T]^Tx[B*T,4H]  ", 1, 0, 128, 512, 5120},
  {"char  dWin     [I,B*T]^Tx[B*T,4H]  ", 1, 0, 57, 512, 5120},
  {"char  dense    [B,H]x[H,57]        ", 0, 0, 128, 57, 128},
  {"char  dense dW [H,B]^Tx[B,57]      ", 1, 0, 128, 57, 128},
  {"char  dense dx [B,57]x[57,H]^T     ", 0, 1, 128, 128, 57},
  {"gen   rec/step [1,H]x[H,4H]        ", 0, 0, 1, 512, 128},
};

static double now(void) {
  static int cpu_clock = -1;
  if (cpu_clock < 0) cpu_clock = getenv("GEMM_CLOCK") && strcmp(getenv("GEMM_CLOCK"), "cpu") == 0;
  struct timespec ts;
  clock_gettime(cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static float *randbuf(size_t n) {
  float *p = malloc(n * sizeof *p);
  if (!p) { perror("malloc"); exit(1); }
  for (size_t i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
  return p;
}

static void call(const shape *s, const float *a, const float *b, float *c) {
  /* row-major: A is [M,K] (or [K,M] when ta), B is [K,N] (or [N,K] when tb) */
  int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
#if defined(USE_SEQ)
  seq_cpu_gemm(SEQ_F32, s->ta, s->tb, s->m, s->n, s->k, 1.0, a, lda, 0, b, ldb, 0, 0.0, c, s->n,
               0, 1);
#else
  cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
              s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
#endif
}

int main(int argc, char **argv) {
  int threads[8], nthreads = 0;
  for (int i = 1; i < argc && nthreads < 8; i++) threads[nthreads++] = atoi(argv[i]);
  if (nthreads == 0) { threads[0] = 1; threads[1] = 2; nthreads = 2; }
  const char *ct = getenv("OPENBLAS_CORETYPE");
  printf("# lib: %s  OPENBLAS_CORETYPE=%s\n", lib_name(), ct ? ct : "(unset)");
  describe();
  printf("%-38s %3s %12s %9s\n", "shape (M x N x K)", "thr", "median_s", "GFLOP/s");
  enum { SAMPLES = 9 };
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const shape *s = &shapes[si];
    float *a = randbuf((size_t)s->m * s->k), *b = randbuf((size_t)s->k * s->n);
    float *c = randbuf((size_t)s->m * s->n);
    double flop = 2.0 * s->m * s->n * s->k;
    for (int ti = 0; ti < nthreads; ti++) {
      set_threads(threads[ti]);
      for (int w = 0; w < 3; w++) call(s, a, b, c); /* warm up */
      /* calls per sample so that one sample takes ~20 ms */
      double t0 = now();
      call(s, a, b, c);
      double one = now() - t0;
      long reps = one > 0 ? (long)(0.02 / one) : 1000;
      if (reps < 1) reps = 1;
      if (reps > 200000) reps = 200000;
      double samp[SAMPLES];
      for (int k = 0; k < SAMPLES; k++) {
        t0 = now();
        for (long r = 0; r < reps; r++) call(s, a, b, c);
        samp[k] = (now() - t0) / reps;
      }
      qsort(samp, SAMPLES, sizeof samp[0], cmp_double);
      double med = samp[SAMPLES / 2];
      printf("%s%5dx%4dx%5d %3d %12.3e %9.1f\n", s->name, s->m, s->n, s->k, threads[ti], med,
             flop / med * 1e-9);
      fflush(stdout);
    }
    free(a); free(b); free(c);
  }
  return 0;
}
