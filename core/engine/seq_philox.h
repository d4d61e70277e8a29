/* seq_philox.h - Philox4x32-10 (Salmon et al., SC'11), shared by the CPU and
 * CUDA backends so that a seed gives the same numbers on both devices.
 *
 * Mapping: element k of a fill at stream offset `off` uses the counter
 * c = off + k as {lo32(c), hi32(c), 0, 0} with key {lo32(seed), hi32(seed)}.
 *   uniform f32: (r0 >> 8) * 2^-24                      in [0, 1)
 *   uniform f64: ((r0 << 21) ^ (r1 >> 11)) * 2^-53     in [0, 1) (53 bits from r0:r1)
 *   normal:      Box-Muller in double with u1 = (r0 + 1) * 2^-32 in (0, 1],
 *                u2 = r1 * 2^-32: z = sqrt(-2 ln u1) * cos(2 pi u2)
 * then lo + (hi - lo) * u, or mean + std * z, rounded to the dtype. */
#ifndef SEQ_PHILOX_H
#define SEQ_PHILOX_H

#include <stdint.h>

#ifdef __CUDACC__
#define SEQ_PHILOX_FN static __host__ __device__ inline
#else
#define SEQ_PHILOX_FN static inline
#endif

SEQ_PHILOX_FN void seq_philox4x32(uint64_t counter, uint64_t seed, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0;
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

SEQ_PHILOX_FN float seq_philox_uniform_f32(uint64_t counter, uint64_t seed) {
  uint32_t r[4];
  seq_philox4x32(counter, seed, r);
  return (float)(r[0] >> 8) * (1.0f / 16777216.0f);
}

SEQ_PHILOX_FN double seq_philox_uniform_f64(uint64_t counter, uint64_t seed) {
  uint32_t r[4];
  seq_philox4x32(counter, seed, r);
  uint64_t bits = (((uint64_t)r[0] << 21) ^ ((uint64_t)r[1] >> 11)) & ((1ull << 53) - 1);
  return (double)bits * (1.0 / 9007199254740992.0);
}

#endif
