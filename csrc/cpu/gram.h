// Gram matrices of feature maps (style transfer): G = F F^T per sample, F = features as (C, H*W).
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
#pragma once
#include <cstdint>

namespace fastseg::cpu {

// g (N,C,C) = scale * F F^T for each sample of f (N,C,H,W). Computes the triangle on and above
// the diagonal and mirrors it: g is exactly symmetric.
template <class T>
void gram_forward(T* g, const T* f, int64_t N, int64_t C, int64_t H, int64_t W, T scale);

// df (N,C,H,W) = scale * (dg + dg^T) F for each sample, given dg (N,C,C) and f (N,C,H,W).
template <class T>
void gram_backward_input(T* df, const T* f, const T* dg, int64_t N, int64_t C, int64_t H,
                         int64_t W, T scale);

}  // namespace fastseg::cpu
