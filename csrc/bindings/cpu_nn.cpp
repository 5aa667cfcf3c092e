// Bindings of the nn kernels (BatchNorm, ReLU gradient, Adam). Arguments: outputs first, then
// inputs, then scalars; shapes are checked again here; the GIL is released while computing.
#include <optional>

#include "bindings/array.h"
#include "bindings/nn_args.h"
#include "cpu/nn.h"

namespace fastseg::bind {

namespace {

void bn_stats(py::array mean, py::array var, py::array x) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(shape_of(x), "x");
    T* mp = out<T>(mean, "mean", {s[1]});
    T* vp = out<T>(var, "var", {s[1]});
    const T* xp = in<T>(x, "x");
    check_values_per_channel(s);
    py::gil_scoped_release nogil;
    cpu::batch_norm_stats(mp, vp, xp, s[0], s[1], s[2]);
  });
}

void bn_forward(py::array y, py::array x, py::array mean, py::array invstd,
                std::optional<py::array> weight, std::optional<py::array> bias, bool relu) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(shape_of(x), "x");
    T* yp = out<T>(y, "y", s);
    const T* xp = in<T>(x, "x");
    const T* mp = in<T>(mean, "mean", {s[1]});
    const T* ip = in<T>(invstd, "invstd", {s[1]});
    const T* wp = optional_in<T>(weight, "weight", {s[1]});
    const T* bp = optional_in<T>(bias, "bias", {s[1]});
    py::gil_scoped_release nogil;
    cpu::batch_norm_forward(yp, xp, mp, ip, wp, bp, s[0], s[1], s[2], relu);
  });
}

void bn_backward(std::optional<py::array> dx, std::optional<py::array> dweight,
                 std::optional<py::array> dbias, py::array dy, std::optional<py::array> y,
                 py::array x, py::array mean, py::array invstd, std::optional<py::array> weight,
                 bool training) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(shape_of(x), "x");
    T* dxp = optional_out<T>(dx, "dx", s);
    T* dwp = optional_out<T>(dweight, "dweight", {s[1]});
    T* dbp = optional_out<T>(dbias, "dbias", {s[1]});
    const T* dyp = in<T>(dy, "dy", s);
    const T* yp = optional_in<T>(y, "y", s);
    const T* xp = in<T>(x, "x");
    const T* mp = in<T>(mean, "mean", {s[1]});
    const T* ip = in<T>(invstd, "invstd", {s[1]});
    const T* wp = optional_in<T>(weight, "weight", {s[1]});
    py::gil_scoped_release nogil;
    cpu::batch_norm_backward(dxp, dwp, dbp, dyp, yp, xp, mp, ip, wp, s[0], s[1], s[2], training);
  });
}

void relu_bwd(py::array dx, py::array dy, py::array y) {
  by_dtype(y, "y", [&](auto t) {
    using T = decltype(t);
    const auto shape = shape_of(y);
    T* dxp = out<T>(dx, "dx", shape);
    const T* dyp = in<T>(dy, "dy", shape);
    const T* yp = in<T>(y, "y");
    py::gil_scoped_release nogil;
    cpu::relu_backward(dxp, dyp, yp, static_cast<int64_t>(y.size()));
  });
}

void adam(py::array param, py::array exp_avg, py::array exp_avg_sq,
          std::optional<py::array> max_exp_avg_sq, py::array grad, double lr, double beta1,
          double beta2, double eps, double weight_decay, int64_t step, bool amsgrad,
          bool decoupled_weight_decay, bool maximize) {
  by_dtype(param, "param", [&](auto t) {
    using T = decltype(t);
    const auto shape = shape_of(param);
    T* pp = out<T>(param, "param");
    T* mp = out<T>(exp_avg, "exp_avg", shape);
    T* vp = out<T>(exp_avg_sq, "exp_avg_sq", shape);
    T* vmax = optional_out<T>(max_exp_avg_sq, "max_exp_avg_sq", shape);
    const T* gp = in<T>(grad, "grad", shape);
    const AdamArgs args = adam_args(lr, beta1, beta2, eps, weight_decay, step, amsgrad,
                                    decoupled_weight_decay, maximize, vmax != nullptr);
    py::gil_scoped_release nogil;
    cpu::adam_step(pp, mp, vp, vmax, gp, static_cast<int64_t>(param.size()), args);
  });
}

}  // namespace

void register_nn(py::module_& m) {
  register_nn_functions(m, &bn_stats, &bn_forward, &bn_backward, &relu_bwd, &adam);
}

}  // namespace fastseg::bind
