// Gram matrices of feature maps (style transfer) on the GPU: G = F F^T per sample, F = features
// as (C, H*W), on the matrix-product tiles of gemm.cuh. T is float, double or __half (float32
// sums). All work is enqueued on `stream`.
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace fastseg::cuda {

// g (N,C,C) = scale * F F^T for each sample of f (N,C,H,W). Computes the tiles on and above the
// diagonal and writes each element and its mirror from one sum: g is exactly symmetric.
template <class T>
void gram_forward(T* g, const T* f, int64_t N, int64_t C, int64_t H, int64_t W, double scale,
                  cudaStream_t stream);

// df (N,C,H,W) = scale * (dg + dg^T) F for each sample, given dg (N,C,C) and f (N,C,H,W).
template <class T>
void gram_backward_input(T* df, const T* f, const T* dg, int64_t N, int64_t C, int64_t H,
                         int64_t W, double scale, cudaStream_t stream);

}  // namespace fastseg::cuda
