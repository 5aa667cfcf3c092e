// torch.optim.Adam / AdamW: the hyper-parameters of one step and the scalars that the CPU and
// CUDA kernels (csrc/cpu/nn.h, csrc/cuda/nn.h) derive from them on the host.
#pragma once
#include <cmath>
#include <cstdint>

namespace fastseg {

// torch.optim.Adam / AdamW hyper-parameters of one step (step counts from 1).
struct AdamArgs {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;
  bool amsgrad, decoupled_weight_decay, maximize;
};

// Adam scalars of one step, in the parameter's type: computed in double (bias corrections
// included), then rounded to T once.
template <class T>
struct AdamScalars {
  T lr, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor, step_size,
      bias_correction2_sqrt;
  bool amsgrad, decoupled, maximize;
};

template <class T>
AdamScalars<T> adam_scalars(const AdamArgs& a) {
  const double step = double(a.step);
  AdamScalars<T> s{};
  s.lr = T(a.lr);
  s.one_minus_beta1 = T(1 - a.beta1);
  s.beta2 = T(a.beta2);
  s.one_minus_beta2 = T(1 - a.beta2);
  s.eps = T(a.eps);
  s.weight_decay = T(a.weight_decay);
  s.decay_factor = T(a.decoupled_weight_decay ? 1 - a.lr * a.weight_decay : 1.0);
  s.step_size = T(a.lr / (1 - std::pow(a.beta1, step)));
  s.bias_correction2_sqrt = T(std::sqrt(1 - std::pow(a.beta2, step)));
  s.amsgrad = a.amsgrad;
  s.decoupled = a.decoupled_weight_decay;
  s.maximize = a.maximize;
  return s;
}

}  // namespace fastseg
