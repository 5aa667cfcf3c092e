// The FMA peak loop over a SIMD traits class V, compiled per ISA (see simd.h).
#pragma once
#include "cpu/peak.h"
#include "cpu/simd.h"

namespace fastseg::cpu {
inline namespace FASTSEG_ISA_NS {

// More chains than FMA latency x ports on every x86 core (10 on Zen 2), and few enough that the
// chains, a and b stay in registers: 16 chains on AVX2's 16 registers spilled to the stack, and
// the store-to-load round trip in every chain halved the measured peak.
template <class V>
constexpr int kChains = V::registers >= 32 ? 16 : 12;

template <class V>
float fma_chains(int64_t iters) {
  typename V::V acc[kChains<V>];
  for (int j = 0; j < kChains<V>; ++j) acc[j] = V::set1(1.0f + j * 1e-3f);
  const typename V::V a = V::set1(0.999999f), b = V::set1(1e-6f);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < kChains<V>; ++j) acc[j] = V::fma(acc[j], a, b);
  float sum = 0;
  for (int j = 0; j < kChains<V>; ++j) sum += V::reduce_add(acc[j]);
  return sum;
}

template <class V>
PeakKernels make_peak_kernels() {
  return PeakKernels{V::lanes, kChains<V>, &fma_chains<V>};
}

}  // namespace FASTSEG_ISA_NS
}  // namespace fastseg::cpu
