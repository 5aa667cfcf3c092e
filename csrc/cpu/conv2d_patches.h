// Patch convolutions: the kernel steps by its own size, so every output of the forward pass
// reads a disjoint patch of the input (the U-Net 2x2 stride-2 up-convolution is the input
// gradient of one). conv2d.cpp hands these geometries to the GEMMs of conv2d_patches.cpp.
#pragma once
#include "common/conv_shape.h"

namespace fastseg::cpu {

// S == stride_w == 2, R == stride_h, dilation 1 where it matters, nothing padded before the
// input and nothing after it read (pad_bottom, pad_right <= 0).
bool is_patch_conv(const ConvShape& s);

// conv2d_forward for a patch geometry: y (N,K,P,Q) = w (K,Cg*R*2) x (patches) + bias.
template <class T>
void patch_conv_forward(T* y, const T* x, const T* w, const T* bias, const ConvShape& s,
                        bool relu);

// conv2d_backward_input for a patch geometry (the transposed convolution of dy): each dy pixel
// spreads into its R x 2 patch of dx; rows and columns of dx outside every patch get the bias.
template <class T>
void patch_conv_backward_input(T* dx, const T* dy, const T* w, const T* bias,
                               const ConvShape& s);

// conv2d_backward_weight for a patch geometry with Kg >= lanes: dw (K, Cg*R*2) += dy x
// (patches)^T, accumulated.
template <class T>
void patch_conv_backward_weight(T* dw, const T* x, const T* dy, const ConvShape& s);

}  // namespace fastseg::cpu
