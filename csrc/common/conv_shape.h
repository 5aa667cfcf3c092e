// Geometry of a 2D convolution (conv1d is the H = 1 case), shared by the CPU and CUDA kernels.
#pragma once
#include <cstdint>

#include "common/padding.h"

namespace fastseg {

// x is (N, C, H, W), w is (K, C/groups, R, S), y is (N, K, P, Q).
struct ConvShape {
  int64_t N, C, H, W;
  int64_t K, R, S;
  int64_t P, Q;
  int64_t groups;
  int64_t stride_h, stride_w, dil_h, dil_w;
  // The padded input spans rows [-pad_top, H + pad_bottom); pad_bottom may be negative when
  // the last rows are never read (transposed convolutions with output_padding).
  int64_t pad_top, pad_left, pad_bottom, pad_right;
  PadMode mode;

  FASTSEG_HOST_DEVICE int64_t Cg() const { return C / groups; }
  FASTSEG_HOST_DEVICE int64_t Kg() const { return K / groups; }
};

// Checks every field (throws file:line) and computes P and Q from the padding.
ConvShape make_conv_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t Cg,
                          int64_t R, int64_t S, int64_t groups, int64_t stride_h,
                          int64_t stride_w, int64_t pad_top, int64_t pad_left,
                          int64_t pad_bottom, int64_t pad_right, int64_t dil_h, int64_t dil_w,
                          int mode);

}  // namespace fastseg
