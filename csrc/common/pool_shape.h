// Geometry of the pooling family (window sweeps and interpolation), shared by the CPU and CUDA
// kernels (csrc/cpu/pool.h, csrc/cuda/pool.h) and their bindings.
#pragma once
#include <cstdint>

#include "common/math.h"

namespace fastseg {

// A window sweep over planes of (H, W) inputs -> (P, Q) outputs, PyTorch's pooling geometry:
// output (p, q) reads input rows p*sh - ph + i*dh (i < kh) and columns q*sw - pw + j*dw (j < kw)
// that lie inside the plane.
struct PoolShape {
  int64_t planes;  // N * C
  int64_t H, W, P, Q;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};

// Checks every field, and that every window holds at least one input element (throws file:line).
PoolShape make_pool_shape(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, int64_t kh,
                          int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                          int64_t dw);

// Averaging rule of avg_pool2d: divisor_override > 0 replaces the divisor; otherwise the window
// size clipped to the padded input (count_include_pad) or the number of input elements in it.
struct AvgRule {
  bool count_include_pad;
  int64_t divisor_override;  // 0: none
};

enum class InterpMode : int { nearest = 0, bilinear = 1 };

// Resampling of (H, W) planes to (P, Q), PyTorch's source-index rules. scale_h/scale_w are the
// user's scale factors (output / input), or <= 0 when the output size was given.
struct InterpShape {
  int64_t planes, H, W, P, Q;
  InterpMode mode;
  bool align_corners;  // bilinear only
  double scale_h, scale_w;
};

// Checks every field (throws file:line); mode 0: nearest, 1: bilinear.
InterpShape make_interp_shape(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                              int mode, bool align_corners, double scale_h, double scale_w);

// First i >= 0 with start + i*step >= 0 (step > 0): the first tap of a window inside the plane.
FASTSEG_HOST_DEVICE inline int64_t first_inside(int64_t start, int64_t step) {
  return start < 0 ? ceil_div(-start, step) : 0;
}

// The taps [begin, end) (`dil` apart from begin) of a window of `kernel` taps starting at
// `start` that lie inside [0, n), and the window's extent inside the padded input [-pad, n + pad)
// (avg_pool2d, which has no dilation).
struct Span {
  int64_t begin, end, padded;
};
FASTSEG_HOST_DEVICE inline Span window_span(int64_t start, int64_t kernel, int64_t dil, int64_t n,
                                            int64_t pad) {
  const int64_t last = start + (kernel - 1) * dil + 1, padded_end = start + kernel;
  return {start + first_inside(start, dil) * dil, last < n ? last : n,
          (padded_end < n + pad ? padded_end : n + pad) - start};
}

// The input columns of the window of output column q.
FASTSEG_HOST_DEVICE inline Span window_cols(const PoolShape& s, int64_t q) {
  return window_span(q * s.sw - s.pw, s.kw, s.dw, s.W, s.pw);
}

// The input rows and columns of the window of output (p, q) of avg_pool2d, which has no
// dilation (dh = dw = 1; the literal 1 spares window_span its division).
FASTSEG_HOST_DEVICE inline Span avg_rows(const PoolShape& s, int64_t p) {
  return window_span(p * s.sh - s.ph, s.kh, 1, s.H, s.ph);
}
FASTSEG_HOST_DEVICE inline Span avg_cols(const PoolShape& s, int64_t q) {
  return window_span(q * s.sw - s.pw, s.kw, 1, s.W, s.pw);
}

// avg_pool2d's divisor of the window of rows r and columns c.
FASTSEG_HOST_DEVICE inline int64_t avg_divisor(const Span& r, const Span& c, AvgRule rule) {
  if (rule.divisor_override) return rule.divisor_override;
  return rule.count_include_pad ? r.padded * c.padded : (r.end - r.begin) * (c.end - c.begin);
}

// Whether index i lies outside [0, size) (the check of every index the unpool ops read).
FASTSEG_HOST_DEVICE inline bool bad_index(int64_t i, int64_t size) {
  return static_cast<uint64_t>(i) >= static_cast<uint64_t>(size);
}

}  // namespace fastseg
