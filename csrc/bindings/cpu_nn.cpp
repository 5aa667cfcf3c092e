// Bindings of the nn kernels (BatchNorm, ReLU gradient, Adam). Arguments: outputs first, then
// inputs, then scalars; shapes are checked again here; the GIL is released while computing.
#include <optional>

#include "bindings/array.h"
#include "cpu/nn.h"

namespace fastseg::bind {

namespace {

template <class T>
T* optional_out(std::optional<py::array>& a, const char* name, const std::vector<int64_t>& shape) {
  return a ? out<T>(*a, name, shape) : nullptr;
}

// (N, C, M) of a 3-D array.
std::vector<int64_t> ncm(const py::array& x, const char* name) {
  if (x.ndim() != 3)
    throw py::value_error(std::string(name) + ": expected a 3-D array (N, C, M), got shape " +
                          shape_str(shape_of(x)));
  return shape_of(x);
}

void bn_stats(py::array mean, py::array var, py::array x) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(x, "x");
    T* mp = out<T>(mean, "mean", {s[1]});
    T* vp = out<T>(var, "var", {s[1]});
    const T* xp = in<T>(x, "x");
    if (s[0] * s[2] == 0) throw py::value_error("x: expected at least one value per channel");
    py::gil_scoped_release nogil;
    cpu::batch_norm_stats(mp, vp, xp, s[0], s[1], s[2]);
  });
}

void bn_forward(py::array y, py::array x, py::array mean, py::array invstd,
                std::optional<py::array> weight, std::optional<py::array> bias, bool relu) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(x, "x");
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
    const auto s = ncm(x, "x");
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
    if (amsgrad && !vmax) throw py::value_error("max_exp_avg_sq: needed with amsgrad");
    if (step < 1) throw py::value_error("step: expected >= 1, got " + std::to_string(step));
    const cpu::AdamArgs args{lr, beta1, beta2, eps, weight_decay, step, amsgrad,
                             decoupled_weight_decay, maximize};
    py::gil_scoped_release nogil;
    cpu::adam_step(pp, mp, vp, vmax, gp, static_cast<int64_t>(param.size()), args);
  });
}

}  // namespace

void register_nn(py::module_& m) {
  m.def("batch_norm_stats", &bn_stats, py::arg("mean"), py::arg("var"), py::arg("x"),
        "mean, var (C,) = per-channel mean and biased variance of x (N,C,M)");
  m.def("batch_norm_forward", &bn_forward, py::arg("y"), py::arg("x"), py::arg("mean"),
        py::arg("invstd"), py::arg("weight"), py::arg("bias"), py::arg("relu"),
        "y (N,C,M) = (x - mean) * invstd * weight + bias, then max(y, 0) when relu");
  m.def("batch_norm_backward", &bn_backward, py::arg("dx"), py::arg("dweight"), py::arg("dbias"),
        py::arg("dy"), py::arg("y"), py::arg("x"), py::arg("mean"), py::arg("invstd"),
        py::arg("weight"), py::arg("training"),
        "dx (N,C,M) = input gradient; dweight, dbias (C,) += their gradients (None: skipped); "
        "y: the output of a fused ReLU (or None)");
  m.def("relu_backward", &relu_bwd, py::arg("dx"), py::arg("dy"), py::arg("y"),
        "dx = dy where y > 0 else 0");
  m.def("adam_step", &adam, py::arg("param"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("max_exp_avg_sq"), py::arg("grad"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("step"),
        py::arg("amsgrad"), py::arg("decoupled_weight_decay"), py::arg("maximize"),
        "one torch.optim.Adam(W) step in place on param, exp_avg, exp_avg_sq (, max_exp_avg_sq)");
}

}  // namespace fastseg::bind
