// The pooling-family geometry and registration the pooling bindings of both modules
// (fastseg._C, fastseg._cuda) share: the checks of the array shapes (4-D, N, C, H, W), the
// PoolShape / InterpShape / index-op planes built from them, and the names and arguments of the
// eight functions. Each module reads its own arrays and passes their shapes here.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/shape.h"
#include "common/pool_shape.h"

namespace fastseg::bind {

namespace py = pybind11;

using Pair = std::array<int64_t, 2>;  // (height, width)

inline void check_4d(const std::vector<int64_t>& shape, const char* name) {
  if (shape.size() != 4) throw py::value_error(std::string(name) + ": expected a 4-D array");
}

// x (N, C, H, W) and y (N, C, P, Q) of a window sweep or a resampling: 4-D, the same planes.
inline void check_planes(const std::vector<int64_t>& x, const std::vector<int64_t>& y) {
  check_4d(x, "x");
  check_4d(y, "y");
  if (x[0] != y[0] || x[1] != y[1])
    throw py::value_error("y: expected the batch and channels of x " + shape_str(x) + ", got " +
                          shape_str(y));
}

inline PoolShape pool_shape(const std::vector<int64_t>& x, const std::vector<int64_t>& y,
                            Pair kernel, Pair stride, Pair padding, Pair dilation) {
  check_planes(x, y);
  return make_pool_shape(x[0] * x[1], x[2], x[3], y[2], y[3], kernel[0], kernel[1], stride[0],
                         stride[1], padding[0], padding[1], dilation[0], dilation[1]);
}

inline InterpShape interp_shape(const std::vector<int64_t>& x, const std::vector<int64_t>& y,
                                int mode, bool align_corners, double scale_h, double scale_w) {
  check_planes(x, y);
  return make_interp_shape(x[0] * x[1], x[2], x[3], y[2], y[3], mode, align_corners, scale_h,
                           scale_w);
}

// Planes of the index ops: `small` (N, C, h, w) holds one index per element into the planes of
// `large` (N, C, H, W).
struct IndexedShape {
  int64_t planes, h, w, H, W;
  int64_t small_plane() const { return h * w; }
  int64_t large_plane() const { return H * W; }
};

inline IndexedShape indexed_shape(const std::vector<int64_t>& small,
                                  const std::vector<int64_t>& large) {
  check_4d(small, "indices");
  check_4d(large, "output");
  if (small[0] != large[0] || small[1] != large[1])
    throw py::value_error("expected the same batch and channels, got " + shape_str(small) +
                          " and " + shape_str(large));
  return {small[0] * small[1], small[2], small[3], large[2], large[3]};
}

// Registers the pooling kernels of a module (fastseg._C or fastseg._cuda) under the names and
// arguments both modules share. The kernels that read indices return -1 or the flat position
// of the first index out of range.
template <class MaxPool, class MaxPoolBackward, class MaxUnpool, class MaxUnpoolBackward,
          class AvgPool, class AvgPoolBackward, class Interpolate, class InterpolateBackward>
void register_pool_functions(py::module_& m, MaxPool max_pool2d_forward,
                             MaxPoolBackward max_pool2d_backward_input,
                             MaxUnpool max_unpool2d_forward,
                             MaxUnpoolBackward max_unpool2d_backward_input,
                             AvgPool avg_pool2d_forward, AvgPoolBackward avg_pool2d_backward_input,
                             Interpolate interpolate_forward,
                             InterpolateBackward interpolate_backward_input) {
  m.def("max_pool2d_forward", max_pool2d_forward, py::arg("y"), py::arg("indices"), py::arg("x"),
        py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        "y (N,C,P,Q) = window maxima of x (N,C,H,W); indices (N,C,P,Q) int64 or None");
  m.def("max_pool2d_backward_input", max_pool2d_backward_input, py::arg("dx"), py::arg("dy"),
        py::arg("indices"),
        "dx (N,C,H,W) = dy (N,C,P,Q) summed at indices; -1 or the first bad index position");
  m.def("max_unpool2d_forward", max_unpool2d_forward, py::arg("y"), py::arg("x"),
        py::arg("indices"),
        "y (N,C,H,W) = zeros with x (N,C,h,w) at indices; -1 or the first bad index position");
  m.def("max_unpool2d_backward_input", max_unpool2d_backward_input, py::arg("dx"), py::arg("dy"),
        py::arg("indices"),
        "dx (N,C,h,w) = dy (N,C,H,W) at indices; -1 or the first bad index position");
  m.def("avg_pool2d_forward", avg_pool2d_forward, py::arg("y"), py::arg("x"), py::arg("kernel"),
        py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"),
        py::arg("divisor_override"), "y (N,C,P,Q) = window averages of x (N,C,H,W)");
  m.def("avg_pool2d_backward_input", avg_pool2d_backward_input, py::arg("dx"), py::arg("dy"),
        py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"),
        py::arg("divisor_override"), "dx (N,C,H,W) = input gradient of avg_pool2d");
  m.def("interpolate_forward", interpolate_forward, py::arg("y"), py::arg("x"), py::arg("mode"),
        py::arg("align_corners"), py::arg("scale_h"), py::arg("scale_w"),
        "y (N,C,P,Q) = x (N,C,H,W) resampled; mode 0 nearest, 1 bilinear; scales <= 0: none");
  m.def("interpolate_backward_input", interpolate_backward_input, py::arg("dx"), py::arg("dy"),
        py::arg("mode"), py::arg("align_corners"), py::arg("scale_h"), py::arg("scale_w"),
        "dx (N,C,H,W) = input gradient of interpolate given dy (N,C,P,Q)");
}

}  // namespace fastseg::bind
