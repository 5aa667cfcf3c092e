// Convolutions on the GPU as implicit matrix products (gemm.cuh): conv2d forward and both
// gradients, any stride, dilation, groups and padding mode; conv1d and the transposed
// convolutions reduce to these (as on the CPU, csrc/cpu/conv2d.h). T is float, double or
// __half (float32 sums). All work is enqueued on `stream`; nothing waits for it.
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "common/conv_shape.h"

namespace fastseg::cuda {

// y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C/g,R,S)) + bias (K,) or no bias.
template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const ConvShape& s,
                    cudaStream_t stream);

// dx (N,C,H,W) = gradient with respect to x given dy (N,K,P,Q). With bias (C,) added (zeros
// padding only) this is the transposed convolution of dy.
template <class T>
void conv2d_backward_input(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s,
                           cudaStream_t stream);

// dw (K,C/g,R,S) += gradient with respect to w given x (N,C,H,W) and dy (N,K,P,Q).
template <class T>
void conv2d_backward_weight(T* dw, const T* x, const T* dy, const ConvShape& s,
                            cudaStream_t stream);

// db (K,) += sum of dy (N,K,P,Q) over N, P, Q.
template <class T>
void conv2d_backward_bias(T* db, const T* dy, const ConvShape& s, cudaStream_t stream);

}  // namespace fastseg::cuda
