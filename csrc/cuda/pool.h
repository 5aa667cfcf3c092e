// Pooling, unpooling and upsampling on the GPU, the semantics of the CPU kernels (see the pool
// family's csrc/cpu/pool.h): max_pool2d (PyTorch's flat indices; ties: the first in window
// order; a NaN wins, the last NaN if several), max_unpool2d (the last of repeated indices wins),
// avg_pool2d and interpolate (nearest, bilinear), each with its input gradient. float and double;
// NCHW C-contiguous; every op works on independent (n, c) planes.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=). These
// ops have no parameters: every backward overwrites all of dx.
//
// Determinism: forward passes and the gradients of avg_pool2d, interpolate and max_unpool2d are
// gathers (one thread per output element, fixed order). max_unpool2d resolves repeated indices
// by the largest source position; max_pool2d's gradient (a scatter-add to arbitrary indices)
// runs one warp per plane in source order, or with float atomics when not deterministic.
//
// Index checks: the ops that read indices skip every index out of range and return -1 or the
// smallest flat position (in the indices array) of one; the output is then unspecified. Getting
// that result back waits for the stream: these three calls are the backend's host round trips.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/pool_shape.h"  // PoolShape, AvgRule, InterpShape

namespace fastseg::cuda {

// y (N,C,P,Q) = window maxima of x (N,C,H,W); indices (N,C,P,Q) flat positions in the plane
// (nullptr: not wanted).
template <class T>
void max_pool2d_forward(T* y, int64_t* indices, const T* x, const PoolShape& s,
                        cudaStream_t stream);

// dx (planes, in_plane) = sum of dy (planes, out_plane) at indices (planes, out_plane).
template <class T>
int64_t max_pool2d_backward_input(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                  int64_t in_plane, int64_t out_plane, cudaStream_t stream);

// y (planes, out_plane) = zeros with x (planes, in_plane) at indices (planes, in_plane).
template <class T>
int64_t max_unpool2d_forward(T* y, const T* x, const int64_t* indices, int64_t planes,
                             int64_t in_plane, int64_t out_plane, cudaStream_t stream);

// dx (planes, in_plane) = dy (planes, out_plane) gathered at indices (planes, in_plane).
template <class T>
int64_t max_unpool2d_backward_input(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                    int64_t in_plane, int64_t out_plane, cudaStream_t stream);

// y (N,C,P,Q) = window sums of x (N,C,H,W) / divisor (no dilation).
template <class T>
void avg_pool2d_forward(T* y, const T* x, const PoolShape& s, AvgRule rule, cudaStream_t stream);

// dx (N,C,H,W) = gradient of avg_pool2d_forward given dy (N,C,P,Q).
template <class T>
void avg_pool2d_backward_input(T* dx, const T* dy, const PoolShape& s, AvgRule rule,
                               cudaStream_t stream);

// y (N,C,P,Q) = x (N,C,H,W) resampled; source indices in T arithmetic as the CPU kernels.
template <class T>
void interpolate_forward(T* y, const T* x, const InterpShape& s, cudaStream_t stream);

// dx (N,C,H,W) = gradient of interpolate_forward given dy (N,C,P,Q).
template <class T>
void interpolate_backward_input(T* dx, const T* dy, const InterpShape& s, cudaStream_t stream);

}  // namespace fastseg::cuda
