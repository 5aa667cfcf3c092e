// BatchNorm's per-channel arithmetic, in double, shared by the CPU and CUDA kernels
// (csrc/cpu/nn.cpp, csrc/cuda/nn.cu). mean, invstd, weight, bias are (C,); weight / bias
// nullptr for 1 / 0.
#pragma once
#include <cstdint>

#include "common/math.h"

namespace fastseg {

// The normalisation of channel c as y = x * scale + shift: scale = invstd * weight,
// shift = bias - mean * scale.
struct BnAffine {
  double scale, shift;
};
template <class T>
FASTSEG_HOST_DEVICE inline BnAffine bn_affine(const T* mean, const T* invstd, const T* weight,
                                              const T* bias, int64_t c) {
  const double scale = double(invstd[c]) * (weight ? double(weight[c]) : 1.0);
  return {scale, (bias ? double(bias[c]) : 0.0) - double(mean[c]) * scale};
}

// The input gradient of channel c as dx = a * g + b * x + c0, g the gradient that reaches the
// normalisation, from sum_g = sum(g) and sum_gx = sum(g * (x - mean)) over the channel's `count`
// values: a = weight * invstd; in training, b and c0 carry the gradient through the batch mean
// and variance: dx = a * (g - sum_g / count - (x - mean) * invstd^2 * sum_gx / count).
struct BnGrad {
  double a, b, c0;
};
template <class T>
FASTSEG_HOST_DEVICE inline BnGrad bn_grad(double sum_g, double sum_gx, double count,
                                          const T* mean, const T* invstd, const T* weight,
                                          int64_t c, bool training) {
  const double is = invstd[c], a = (weight ? double(weight[c]) : 1.0) * is;
  const double b = training ? -a * is * is * sum_gx / count : 0.0;
  const double c0 = training ? -a * sum_g / count - b * double(mean[c]) : 0.0;
  return {a, b, c0};
}

}  // namespace fastseg
