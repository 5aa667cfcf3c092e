// Direct 2D convolution on the CPU (conv1d and the transposed convolutions reduce to these).
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
#pragma once
#include "common/conv_shape.h"

namespace fastseg::cpu {

// y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C/g,R,S)) + bias (K,) or no bias; any padding mode;
// with relu, max(y, 0) (a ReLU fused into the store).
template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const ConvShape& s,
                    bool relu = false);

// dx (N,C,H,W) = gradient of the forward pass with respect to x, given dy (N,K,P,Q); any padding
// mode. With bias (C,) added this is the transposed convolution of dy (zeros padding).
template <class T>
void conv2d_backward_input(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s);

// dw (K,C/g,R,S) += gradient with respect to w, given x and dy; any padding mode.
template <class T>
void conv2d_backward_weight(T* dw, const T* x, const T* dy, const ConvShape& s);

// db (K,) += sum of dy (N,K,P,Q) over N, P, Q.
template <class T>
void conv2d_backward_bias(T* db, const T* dy, const ConvShape& s);

}  // namespace fastseg::cpu
