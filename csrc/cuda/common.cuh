// Shared by every CUDA kernel file: checked calls (check.h), element types and their
// accumulators, launch sizes for grid-stride loops, and deterministic warp/block reductions.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "common/math.h"
#include "cuda/check.h"

namespace fastseg::cuda {

// Storage type T and the type its sums run in: float16 accumulates in float32.
template <class T>
struct AccumOf {
  using type = T;
};
template <>
struct AccumOf<__half> {
  using type = float;
};
template <class T>
using Accum = typename AccumOf<T>::type;

template <class T>
__device__ __forceinline__ Accum<T> load(const T* p) {
  return static_cast<Accum<T>>(*p);
}
template <class T, class A>
__device__ __forceinline__ T narrow(A v) {
  if constexpr (std::is_same_v<T, __half>) return __float2half_rn(static_cast<float>(v));
  else return static_cast<T>(v);
}

constexpr int kThreads = 256;  // threads per block of the elementwise kernels

// Blocks for a grid-stride loop over n items (at least 1, at most 2^20: each thread then
// handles several items).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = ceil_div(n > 0 ? n : 1, threads);
  return static_cast<unsigned>(blocks < (int64_t(1) << 20) ? blocks : (int64_t(1) << 20));
}

// for (i = global thread id; i < n; i += all threads): 64-bit indices throughout.
#define FASTSEG_GRID_LOOP(i, n)                                                          \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);              \
       i += int64_t(blockDim.x) * gridDim.x)

template <class A>
__device__ __forceinline__ A warp_sum(A v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;  // lane 0 holds the sum
}

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024), in a fixed order: the
// same inputs give the same bits. Every thread receives the sum. `scratch` holds 32 values.
template <class A>
__device__ A block_sum(A v, A* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : A(0);
  if (warp == 0) v = warp_sum(v);
  if (threadIdx.x == 0) scratch[0] = v;
  __syncthreads();
  return scratch[0];
}

}  // namespace fastseg::cuda
