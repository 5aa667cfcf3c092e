// Small integer helpers shared by every kernel (no ISA-specific code: safe in any file).
#pragma once
#include <cstdint>

// Marks the helpers that CUDA kernels call too (csrc/cuda/*.cu).
#if defined(__CUDACC__)
#define FASTSEG_HOST_DEVICE __host__ __device__
#else
#define FASTSEG_HOST_DEVICE
#endif

// In the body of a FASTSEG_HOST_DEVICE function: `gpu` in device code, `host` elsewhere.
#if defined(__CUDA_ARCH__)
#define FASTSEG_GPU_OR_HOST(gpu, host) gpu
#else
#define FASTSEG_GPU_OR_HOST(gpu, host) host
#endif

namespace fastseg {

FASTSEG_HOST_DEVICE inline constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
FASTSEG_HOST_DEVICE inline constexpr int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
// Floor division and modulo for possibly negative a, positive b.
FASTSEG_HOST_DEVICE inline constexpr int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
FASTSEG_HOST_DEVICE inline constexpr int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

}  // namespace fastseg
