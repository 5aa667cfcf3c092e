#include "common/pool_shape.h"

#include <cmath>
#include <string>

#include "common/check.h"

namespace fastseg {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Whether the window of output o (start o*stride - pad, `kernel` taps `dil` apart) has a tap in
// [0, n).
bool window_hits(int64_t o, int64_t n, int64_t kernel, int64_t stride, int64_t pad, int64_t dil) {
  const int64_t start = o * stride - pad;
  const int64_t i = first_inside(start, dil);
  return i < kernel && start + i * dil < n;
}

}  // namespace

PoolShape make_pool_shape(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, int64_t kh,
                          int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                          int64_t dw) {
  FASTSEG_CHECK(planes >= 0 && H > 0 && W > 0 && P > 0 && Q > 0,
                "bad plane sizes " + str(H) + "x" + str(W) + " -> " + str(P) + "x" + str(Q));
  FASTSEG_CHECK(kh > 0 && kw > 0 && sh > 0 && sw > 0 && dh > 0 && dw > 0,
                "kernel, stride and dilation must be positive");
  FASTSEG_CHECK(ph >= 0 && pw >= 0, "padding must be non-negative");
  for (int64_t p = 0; p < P; ++p)
    FASTSEG_CHECK(window_hits(p, H, kh, sh, ph, dh), "window of output row " + str(p) + " is empty");
  for (int64_t q = 0; q < Q; ++q)
    FASTSEG_CHECK(window_hits(q, W, kw, sw, pw, dw), "window of output column " + str(q) + " is empty");
  return PoolShape{planes, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw};
}

InterpShape make_interp_shape(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                              int mode, bool align_corners, double scale_h, double scale_w) {
  FASTSEG_CHECK(planes >= 0 && H > 0 && W > 0 && P > 0 && Q > 0,
                "bad plane sizes " + str(H) + "x" + str(W) + " -> " + str(P) + "x" + str(Q));
  FASTSEG_CHECK(mode == 0 || mode == 1, "unknown interpolation mode " + str(mode));
  FASTSEG_CHECK(std::isfinite(scale_h) && std::isfinite(scale_w), "scale factors must be finite");
  return InterpShape{planes, H, W, P, Q, static_cast<InterpMode>(mode), align_corners, scale_h,
                     scale_w};
}

}  // namespace fastseg
