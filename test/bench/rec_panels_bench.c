/* test/bench/rec_panels_bench.c - the recurrent kernels' f32 panels
 * (core/cpu/cpu_recurrent.h, the kernel rec_packed_isa picks) against the
 * BLAS at the course's shapes, one thread, best of many rounds (GFLOP/s):
 * per-step products reading strided rows in place, and the all-steps
 * products (dkernel, drecurrent, dx, x . kernel).  "hot" rows repeat a small
 * product whose operands stay in cache.
 *   gcc -O2 -fopenmp -DSEQ_BLAS_BLIS -I core/cpu -I core/engine \
 *     -I /usr/include/x86_64-linux-gnu/blis-openmp test/bench/rec_panels_bench.c \
 *     build/libseqcore.a -L/usr/lib/x86_64-linux-gnu/blis-openmp \
 *     -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp -lblis -lm \
 *     -o /tmp/rec_panels_bench && /tmp/rec_panels_bench
 * (SEQLUA_LSTM_PANELS=avx2 runs the AVX2 tiles on an AVX-512 CPU.) */
#include <stdio.h>
#include <time.h>
#include "cpu_recurrent.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
/* per-step: C[M,N] += A[M,K] (row stride lda) . R[K,N] */
static void step(int M,int N,int K,int64_t lda,int trans, const char*name){
  float *A=aligned_alloc(64,(size_t)M*lda*4+64), *R=aligned_alloc(64,(size_t)K*N*4), *C=aligned_alloc(64,(size_t)M*N*4+64*4);
  for(int64_t i=0;i<(int64_t)M*lda;i++)A[i]=(i%7)*0.1f; for(int i=0;i<K*N;i++)R[i]=(i%5)*0.1f; memset(C,0,(size_t)M*N*4);
  float *bp=aligned_alloc(64,rec_packed_floats(K,N)*4);
  /* trans: R stored [N,K] */
  rec_pack_f32(R, trans?K:N, trans, K, N, bp);
  int reps=200; double best[2]={1e9,1e9};
  for(int round=0;round<31;round++){
    double t0=now(); for(int r=0;r<reps;r++) rec_sgemm_panels(M,N,K,A,lda,1,bp,K*REC_NR,REC_NR,true,C,N); double t1=now();
    for(int r=0;r<reps;r++) rec_gemm(SEQ_F32,false,trans,M,N,K,A,lda,R,trans?K:N,1.0,C,N); double t2=now();
    if(t1-t0<best[0])best[0]=t1-t0; if(t2-t1<best[1])best[1]=t2-t1;
  }
  double fl=2.0*M*N*K*reps;
  printf("%-28s panels %6.1f GF/s  blas %6.1f GF/s\n",name,fl/best[0]/1e9,fl/best[1]/1e9);
}
/* big: C[M,N] (+)= A^T-view . B, A[m,k] = A[m*ars + k*acs] */
static void big(int M,int N,int K,int64_t ars,int64_t acs,int64_t ldb,int transb,const char*name){
  size_t asz = (size_t)(ars==1? (int64_t)K*acs : (int64_t)M*ars);
  float *A=aligned_alloc(64,asz*4+64), *B=aligned_alloc(64,(size_t)(transb? (int64_t)N*ldb : (int64_t)K*ldb)*4+64), *C=aligned_alloc(64,(size_t)M*N*4+256);
  for(size_t i=0;i<asz;i++)A[i]=(i%7)*0.1f; size_t bs=(size_t)(transb? (int64_t)N*ldb : (int64_t)K*ldb); for(size_t i=0;i<bs;i++)B[i]=(i%5)*0.1f;
  float *buf=rec_big_buf(SEQ_F32,N,false); /* the panels even where the backward uses the BLAS */
  double best[2]={1e9,1e9};
  int reps = K <= 512 && M <= 512 ? 100 : 1;
  for(int round=0;round<21;round++){
    double t0=now(); for(int r=0;r<reps;r++) rec_big_gemm(SEQ_F32,buf,M,N,K,A,ars,acs,B,ldb,transb,false,C,N); double t1=now();
    for(int r=0;r<reps;r++) rec_big_gemm(SEQ_F32,NULL,M,N,K,A,ars,acs,B,ldb,transb,false,C,N); double t2=now();
    if(t1-t0<best[0])best[0]=t1-t0; if(t2-t1<best[1])best[1]=t2-t1;
  }
  double fl=2.0*M*N*K*reps;
  printf("%-28s panels %6.1f GF/s  blas %6.1f GF/s\n",name,fl/best[0]/1e9,fl/best[1]/1e9);
}
int main(){
  bli_thread_set_num_threads(1);
  /* IMDB: per thread 32 rows, y stride T*H = 50000, dG stride T*G4 = 200000 */
  step(32,400,100,50000,0,"imdb fwd step 32x400x100");
  step(32,100,400,200000,1,"imdb bwd dh 32x100x400");
  step(64,512,128,40*128,0,"char fwd step 64x512x128");
  step(64,128,512,40*512,1,"char bwd dh 64x128x512");
  step(32,400,100,100,0,"imdb fwd contiguous A");
  /* big: dkernel = x^T dG: M=I=32, N=400, K=B*T=16000 (per thread half rows) */
  big(32,400,256,1,32,400,0,"dkernel hot K=256");
  big(100,208,256,1,100,400,0,"drec hot K=256");
  big(96,32,400,400,1,400,1,"dx hot M=96");
  big(32,400,16000,1,32,400,0,"dkernel 32x400x16000");
  big(100,200,32000,1,100,400,0,"drec 100x200x32000");
  big(16000,32,400,400,1,400,1,"dx 16000x32x400");
  big(16000,400,32,32,1,400,0,"xk 16000x400x32");
  return 0;
}
