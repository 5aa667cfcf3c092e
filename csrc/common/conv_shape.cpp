#include "common/conv_shape.h"

#include <string>

#include "common/check.h"

namespace fastseg {

namespace {
std::string str(int64_t v) { return std::to_string(v); }
}  // namespace

ConvShape make_conv_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t Cg,
                          int64_t R, int64_t S, int64_t groups, int64_t stride_h,
                          int64_t stride_w, int64_t pad_top, int64_t pad_left,
                          int64_t pad_bottom, int64_t pad_right, int64_t dil_h, int64_t dil_w,
                          int mode) {
  FASTSEG_CHECK(N >= 0 && C > 0 && H > 0 && W > 0, "bad input shape");
  FASTSEG_CHECK(K > 0 && R > 0 && S > 0, "bad weight shape");
  FASTSEG_CHECK(groups > 0 && C % groups == 0 && K % groups == 0 && Cg == C / groups,
                "channels " + str(C) + "/" + str(K) + " do not match groups " + str(groups) +
                    " and weight channels " + str(Cg));
  FASTSEG_CHECK(stride_h > 0 && stride_w > 0 && dil_h > 0 && dil_w > 0,
                "stride and dilation must be positive");
  FASTSEG_CHECK(pad_top >= 0 && pad_left >= 0, "padding must be non-negative");
  FASTSEG_CHECK(mode >= 0 && mode <= 4, "unknown padding mode " + std::to_string(mode));
  ConvShape s{N, C, H, W, K, R, S, 0, 0, groups, stride_h, stride_w, dil_h, dil_w,
              pad_top, pad_left, pad_bottom, pad_right, static_cast<PadMode>(mode)};
  const int64_t span_h = H + pad_top + pad_bottom - dil_h * (R - 1) - 1;
  const int64_t span_w = W + pad_left + pad_right - dil_w * (S - 1) - 1;
  FASTSEG_CHECK(span_h >= 0 && span_w >= 0, "kernel larger than the padded input");
  s.P = span_h / stride_h + 1;
  s.Q = span_w / stride_w + 1;
  return s;
}

}  // namespace fastseg
