// CUDA bindings of the pooling family: the same names and arguments as cpu_pool.cpp, with CUDA
// arrays. Arrays are 4-D (N, C, H, W); the kernels that read indices return -1 or the flat
// position of the first index out of range (Python turns it into a ValueError), which waits for
// the stream.
#include <optional>

#include "bindings/cuda_array.h"
#include "bindings/pool_geometry.h"
#include "cuda/pool.h"

namespace fastseg::bind {

namespace {

void max_pool2d_forward(py::object y, std::optional<py::object> indices, py::object x,
                        Pair kernel, Pair stride, Pair padding, Pair dilation) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y");
  const std::optional<DeviceArray> I = call.optional_array(indices, "indices");
  const DeviceArray X = call.array(x, "x");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const PoolShape s = pool_shape(X.shape, Y.shape, kernel, stride, padding, dilation);
    T* yp = out<T>(Y, "y");
    int64_t* ip = optional_out<int64_t>(I, "indices", Y.shape);
    const T* xp = in<T>(X, "x");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::max_pool2d_forward(yp, ip, xp, s, stream);
  });
}

void avg_pool2d_forward(py::object y, py::object x, Pair kernel, Pair stride, Pair padding,
                        bool count_include_pad, int64_t divisor_override) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y"), X = call.array(x, "x");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const PoolShape s = pool_shape(X.shape, Y.shape, kernel, stride, padding, {1, 1});
    T* yp = out<T>(Y, "y");
    const T* xp = in<T>(X, "x");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::avg_pool2d_forward(yp, xp, s, {count_include_pad, divisor_override}, stream);
  });
}

void avg_pool2d_backward_input(py::object dx, py::object dy, Pair kernel, Pair stride,
                               Pair padding, bool count_include_pad, int64_t divisor_override) {
  DeviceCall call;
  const DeviceArray DX = call.array(dx, "dx"), DY = call.array(dy, "dy");
  by_dtype(DY, "dy", [&](auto t) {
    using T = decltype(t);
    const PoolShape s = pool_shape(DX.shape, DY.shape, kernel, stride, padding, {1, 1});
    T* dxp = out<T>(DX, "dx");
    const T* dyp = in<T>(DY, "dy");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::avg_pool2d_backward_input(dxp, dyp, s, {count_include_pad, divisor_override}, stream);
  });
}

// Runs kernel(out, source, indices, shape, stream) on checked pointers: one of `result` and
// `source` is the small side, which `indices` matches; the result is its kernel's (-1 or a bad
// position).
template <class Kernel>
int64_t indexed(py::object result, const char* result_name, py::object source,
                const char* source_name, py::object indices, bool result_is_small, Kernel kernel) {
  DeviceCall call;
  const DeviceArray R = call.array(result, result_name), S = call.array(source, source_name);
  const DeviceArray I = call.array(indices, "indices");
  return by_dtype(S, source_name, [&](auto t) {
    using T = decltype(t);
    const DeviceArray& small = result_is_small ? R : S;
    const DeviceArray& large = result_is_small ? S : R;
    const IndexedShape s = indexed_shape(small.shape, large.shape);
    T* rp = out<T>(R, result_name);
    const T* sp = in<T>(S, source_name);
    const int64_t* ip = in<int64_t>(I, "indices", small.shape);
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    return kernel(rp, sp, ip, s, stream);
  });
}

int64_t max_unpool2d_forward(py::object y, py::object x, py::object indices) {
  return indexed(y, "y", x, "x", indices, false,
                 [](auto* y, auto* x, auto* i, const IndexedShape& s, cudaStream_t stream) {
                   return cuda::max_unpool2d_forward(y, x, i, s.planes, s.small_plane(),
                                                     s.large_plane(), stream);
                 });
}

int64_t max_unpool2d_backward_input(py::object dx, py::object dy, py::object indices) {
  return indexed(dx, "dx", dy, "dy", indices, true,
                 [](auto* dx, auto* dy, auto* i, const IndexedShape& s, cudaStream_t stream) {
                   return cuda::max_unpool2d_backward_input(dx, dy, i, s.planes, s.small_plane(),
                                                            s.large_plane(), stream);
                 });
}

int64_t max_pool2d_backward_input(py::object dx, py::object dy, py::object indices) {
  return indexed(dx, "dx", dy, "dy", indices, false,
                 [](auto* dx, auto* dy, auto* i, const IndexedShape& s, cudaStream_t stream) {
                   return cuda::max_pool2d_backward_input(dx, dy, i, s.planes, s.large_plane(),
                                                          s.small_plane(), stream);
                 });
}

void interpolate_forward(py::object y, py::object x, int mode, bool align_corners, double scale_h,
                         double scale_w) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y"), X = call.array(x, "x");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const InterpShape s = interp_shape(X.shape, Y.shape, mode, align_corners, scale_h, scale_w);
    T* yp = out<T>(Y, "y");
    const T* xp = in<T>(X, "x");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::interpolate_forward(yp, xp, s, stream);
  });
}

void interpolate_backward_input(py::object dx, py::object dy, int mode, bool align_corners,
                                double scale_h, double scale_w) {
  DeviceCall call;
  const DeviceArray DX = call.array(dx, "dx"), DY = call.array(dy, "dy");
  by_dtype(DY, "dy", [&](auto t) {
    using T = decltype(t);
    const InterpShape s = interp_shape(DX.shape, DY.shape, mode, align_corners, scale_h, scale_w);
    T* dxp = out<T>(DX, "dx");
    const T* dyp = in<T>(DY, "dy");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::interpolate_backward_input(dxp, dyp, s, stream);
  });
}

}  // namespace

void register_pool(py::module_& m) {
  register_pool_functions(m, &max_pool2d_forward, &max_pool2d_backward_input,
                          &max_unpool2d_forward, &max_unpool2d_backward_input, &avg_pool2d_forward,
                          &avg_pool2d_backward_input, &interpolate_forward,
                          &interpolate_backward_input);
}

}  // namespace fastseg::bind
