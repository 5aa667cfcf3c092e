// Source coordinates of interpolate (nearest, bilinear) along one axis: PyTorch's rules in T
// arithmetic, its floorf of the source coordinate included. The CPU tables (csrc/cpu/pool.cpp)
// and the CUDA kernels (csrc/cuda/pool.cu) both use these, so both pick the same source pixels
// with the same weights.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common/math.h"
#include "common/pool_shape.h"  // InterpMode

namespace fastseg {

// Products and sums rounded one at a time: on the GPU they are never fused into FMAs (as nvcc
// would), on the host they are plain operations (the files using them are built without FMA).
FASTSEG_HOST_DEVICE inline float mul_rn(float a, float b) {
  return FASTSEG_GPU_OR_HOST(__fmul_rn(a, b), a * b);
}
FASTSEG_HOST_DEVICE inline double mul_rn(double a, double b) {
  return FASTSEG_GPU_OR_HOST(__dmul_rn(a, b), a * b);
}
FASTSEG_HOST_DEVICE inline float add_rn(float a, float b) {
  return FASTSEG_GPU_OR_HOST(__fadd_rn(a, b), a + b);
}
FASTSEG_HOST_DEVICE inline double add_rn(double a, double b) {
  return FASTSEG_GPU_OR_HOST(__dadd_rn(a, b), a + b);
}

// min(a, b), and w clamped to [0, 1]: CUDA's min/max on the GPU (single instructions),
// std::min/max on the host; the same results (for any w but NaN, which no coordinate here is).
FASTSEG_HOST_DEVICE inline int64_t min_index(int64_t a, int64_t b) {
  return FASTSEG_GPU_OR_HOST(min(a, b), std::min(a, b));
}
template <class T>
FASTSEG_HOST_DEVICE inline T clamp01(T w) {
  return FASTSEG_GPU_OR_HOST(min(max(w, T(0)), T(1)), std::min(std::max(w, T(0)), T(1)));
}

// The sources of the outputs along one axis of `in` -> `out` samples (interp_axis below).
template <class T>
struct InterpAxis {
  int64_t in, out;
  T ratio;
  bool align_corners;  // bilinear only

  // Nearest: floor(ratio * i), in T then as float, clamped to in - 1.
  FASTSEG_HOST_DEVICE int64_t nearest(int64_t i) const {
    return min_index(static_cast<int64_t>(floorf(static_cast<float>(mul_rn(ratio, T(i))))), in - 1);
  }

  // Bilinear: sources i0 <= i1 = i0 + (i0 < in - 1) and the weight w1 of i1 (w0 = 1 - w1).
  FASTSEG_HOST_DEVICE void linear(int64_t i, int64_t* i0, int64_t* i1, T* w1) const {
    if (out == in) {
      *i0 = *i1 = i;
      *w1 = 0;
      return;
    }
    T real = align_corners ? mul_rn(ratio, T(i))
                           : add_rn(mul_rn(ratio, add_rn(T(i), T(0.5))), T(-0.5));
    if (!align_corners && real < 0) real = 0;
    *i0 = min_index(static_cast<int64_t>(floorf(static_cast<float>(real))), in - 1);
    *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
    *w1 = clamp01(real - static_cast<T>(*i0));
  }
};

// The axis of `in` -> `out` samples; scale: the user's scale factor (output / input), or <= 0
// when the output size was given. Computed on the host.
template <class T>
InterpAxis<T> interp_axis(int64_t in, int64_t out, InterpMode mode, bool align_corners,
                          double scale) {
  const bool corners = mode == InterpMode::bilinear && align_corners;
  T ratio;
  if (corners) ratio = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  else ratio = scale > 0 ? static_cast<T>(1.0 / scale) : static_cast<T>(in) / static_cast<T>(out);
  return {in, out, ratio, corners};
}

}  // namespace fastseg
