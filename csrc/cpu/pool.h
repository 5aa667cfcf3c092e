// Pooling, unpooling and upsampling on the CPU: max_pool2d (PyTorch's flat indices and NaN rule),
// max_unpool2d, avg_pool2d and interpolate (nearest, bilinear), each with its input gradient.
// Arrays are NCHW and C-contiguous; every op works on independent (n, c) planes.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=). These
// ops have no parameters: every backward here overwrites all of dx.
//
// Index checks: the ops that read indices check each index before it is used and never read or
// write outside a plane. They return -1, or the flat position (in the indices array) of the
// first index out of range, in row-major order; the output is then unspecified (the caller
// discards it). Results never depend on the number of threads.
#pragma once
#include <cstdint>

#include "common/pool_shape.h"  // PoolShape, AvgRule, InterpShape

namespace fastseg::cpu {

// y (N,C,P,Q) = max over each window of x (N,C,H,W); indices (N,C,P,Q) the flat position in the
// (H, W) plane of the maximum (nullptr: not wanted). Ties: the first in window order (row-major);
// a NaN wins, the last NaN of the window if several (PyTorch's CPU rule).
template <class T>
void max_pool2d_forward(T* y, int64_t* indices, const T* x, const PoolShape& s);

// The index ops move elements between a small side (planes, h, w) that holds one index per
// element and a large side (planes, H, W) the indices point into (flat plane positions in
// [0, H*W)). When every index lies in its own 2x2 block of the large side (what a 2x2 max
// pooling at stride 2 produces) they run as vector row kernels, else as a scalar loop.

// dx (planes, H, W) = sum of dy (planes, h, w) at indices (planes, h, w), in row-major order.
template <class T>
int64_t max_pool2d_backward_input(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                  int64_t h, int64_t w, int64_t H, int64_t W);

// y (planes, H, W) = zeros, then y[indices[i]] = x[i] for i in row-major order (the last of
// repeated indices wins); x and indices are (planes, h, w).
template <class T>
int64_t max_unpool2d_forward(T* y, const T* x, const int64_t* indices, int64_t planes, int64_t h,
                             int64_t w, int64_t H, int64_t W);

// dx (planes, h, w) = dy (planes, H, W) gathered at indices (planes, h, w).
template <class T>
int64_t max_unpool2d_backward_input(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                    int64_t h, int64_t w, int64_t H, int64_t W);

// y (N,C,P,Q) = sum over each window of x (N,C,H,W) / divisor (dilation must be 1).
template <class T>
void avg_pool2d_forward(T* y, const T* x, const PoolShape& s, AvgRule rule);

// dx (N,C,H,W) = gradient of avg_pool2d_forward given dy (N,C,P,Q).
template <class T>
void avg_pool2d_backward_input(T* dx, const T* dy, const PoolShape& s, AvgRule rule);

// y (N,C,P,Q) = x (N,C,H,W) resampled.
template <class T>
void interpolate_forward(T* y, const T* x, const InterpShape& s);

// dx (N,C,H,W) = gradient of interpolate_forward given dy (N,C,P,Q).
template <class T>
void interpolate_backward_input(T* dx, const T* dy, const InterpShape& s);

}  // namespace fastseg::cpu
