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

namespace fastseg::cuda {

// A window sweep over planes of (H, W) inputs -> (P, Q) outputs: output (p, q) reads input rows
// p*sh - ph + i*dh (i < kh) and columns q*sw - pw + j*dw (j < kw) that lie inside the plane.
struct PoolShape {
  int64_t planes;  // N * C
  int64_t H, W, P, Q;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};

// Checks every field, and that every window holds at least one input element (throws file:line).
PoolShape make_pool_shape(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, int64_t kh,
                          int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                          int64_t dw);

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

// divisor_override > 0 replaces the divisor; otherwise the window size clipped to the padded
// input (count_include_pad) or the number of input elements in it.
struct AvgRule {
  bool count_include_pad;
  int64_t divisor_override;  // 0: none
};

// y (N,C,P,Q) = window sums of x (N,C,H,W) / divisor (no dilation).
template <class T>
void avg_pool2d_forward(T* y, const T* x, const PoolShape& s, AvgRule rule, cudaStream_t stream);

// dx (N,C,H,W) = gradient of avg_pool2d_forward given dy (N,C,P,Q).
template <class T>
void avg_pool2d_backward_input(T* dx, const T* dy, const PoolShape& s, AvgRule rule,
                               cudaStream_t stream);

// Resampling of (H, W) planes to (P, Q) by PyTorch's source-index rules, in T arithmetic as the
// CPU kernels. scale_h/scale_w: the user's scale factors (output / input), <= 0 when the output
// size was given. mode 0: nearest, 1: bilinear.
struct InterpShape {
  int64_t planes, H, W, P, Q;
  int mode;
  bool align_corners;  // bilinear only
  double scale_h, scale_w;
};

InterpShape make_interp_shape(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                              int mode, bool align_corners, double scale_h, double scale_w);

// y (N,C,P,Q) = x (N,C,H,W) resampled.
template <class T>
void interpolate_forward(T* y, const T* x, const InterpShape& s, cudaStream_t stream);

// dx (N,C,H,W) = gradient of interpolate_forward given dy (N,C,P,Q).
template <class T>
void interpolate_backward_input(T* dx, const T* dy, const InterpShape& s, cudaStream_t stream);

}  // namespace fastseg::cuda
