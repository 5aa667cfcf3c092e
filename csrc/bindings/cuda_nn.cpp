// CUDA bindings of the training kernels. batch_norm_stats / _forward / _backward, relu_backward
// and adam_step have the names and arguments of the CPU module's nn bindings (both register them
// through nn_args.h); activation_*, softmax_cross_entropy_* and sgd_step are CUDA-only
// (fastseg.cuda wraps them).
#include <optional>

#include "bindings/cuda_array.h"
#include "bindings/nn_args.h"
#include "cuda/nn.h"

namespace fastseg::bind {

namespace {

int64_t size_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void bn_stats(py::object mean, py::object var, py::object x) {
  DeviceCall call;
  const DeviceArray MEAN = call.array(mean, "mean"), VAR = call.array(var, "var");
  const DeviceArray X = call.array(x, "x");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(X.shape, "x");
    T* mp = out<T>(MEAN, "mean", {s[1]});
    T* vp = out<T>(VAR, "var", {s[1]});
    const T* xp = in<T>(X, "x");
    check_values_per_channel(s);
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::batch_norm_stats(mp, vp, xp, s[0], s[1], s[2], stream);
  });
}

void bn_forward(py::object y, py::object x, py::object mean, py::object invstd,
                std::optional<py::object> weight, std::optional<py::object> bias, bool relu) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y"), X = call.array(x, "x");
  const DeviceArray MEAN = call.array(mean, "mean"), INVSTD = call.array(invstd, "invstd");
  const auto W = call.optional_array(weight, "weight"), B = call.optional_array(bias, "bias");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(X.shape, "x");
    T* yp = out<T>(Y, "y", s);
    const T* xp = in<T>(X, "x");
    const T* mp = in<T>(MEAN, "mean", {s[1]});
    const T* ip = in<T>(INVSTD, "invstd", {s[1]});
    const T* wp = optional_in<T>(W, "weight", {s[1]});
    const T* bp = optional_in<T>(B, "bias", {s[1]});
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::batch_norm_forward(yp, xp, mp, ip, wp, bp, s[0], s[1], s[2], relu, stream);
  });
}

void bn_backward(std::optional<py::object> dx, std::optional<py::object> dweight,
                 std::optional<py::object> dbias, py::object dy, std::optional<py::object> y,
                 py::object x, py::object mean, py::object invstd,
                 std::optional<py::object> weight, bool training) {
  DeviceCall call;
  const DeviceArray DY = call.array(dy, "dy");  // always present: it gives the stream
  const auto DX = call.optional_array(dx, "dx"), DW = call.optional_array(dweight, "dweight");
  const auto DB = call.optional_array(dbias, "dbias"), Y = call.optional_array(y, "y");
  const DeviceArray X = call.array(x, "x");
  const DeviceArray MEAN = call.array(mean, "mean"), INVSTD = call.array(invstd, "invstd");
  const auto W = call.optional_array(weight, "weight");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(X.shape, "x");
    T* dxp = optional_out<T>(DX, "dx", s);
    T* dwp = optional_out<T>(DW, "dweight", {s[1]});
    T* dbp = optional_out<T>(DB, "dbias", {s[1]});
    const T* dyp = in<T>(DY, "dy", s);
    const T* yp = optional_in<T>(Y, "y", s);
    const T* xp = in<T>(X, "x");
    const T* mp = in<T>(MEAN, "mean", {s[1]});
    const T* ip = in<T>(INVSTD, "invstd", {s[1]});
    const T* wp = optional_in<T>(W, "weight", {s[1]});
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::batch_norm_backward(dxp, dwp, dbp, dyp, yp, xp, mp, ip, wp, s[0], s[1], s[2], training,
                              stream);
  });
}

void relu_bwd(py::object dx, py::object dy, py::object y) {
  DeviceCall call;
  const DeviceArray DX = call.array(dx, "dx"), DY = call.array(dy, "dy"), Y = call.array(y, "y");
  by_dtype(Y, "y", [&](auto t) {
    using T = decltype(t);
    T* dxp = out<T>(DX, "dx", Y.shape);
    const T* dyp = in<T>(DY, "dy", Y.shape);
    const T* yp = in<T>(Y, "y");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::relu_backward(dxp, dyp, yp, size_of(Y.shape), stream);
  });
}

cuda::Activation activation(int kind) {
  if (kind < 0 || kind > 3)
    throw py::value_error("kind: expected 0 (relu), 1 (leaky_relu), 2 (sigmoid) or 3 (tanh), got " +
                          std::to_string(kind));
  return static_cast<cuda::Activation>(kind);
}

void act_forward(py::object y, py::object x, int kind, double slope) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y"), X = call.array(x, "x");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    T* yp = out<T>(Y, "y", X.shape);
    const T* xp = in<T>(X, "x");
    const cuda::Activation a = activation(kind);
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::activation_forward(yp, xp, size_of(X.shape), a, slope, stream);
  });
}

void act_backward(py::object dx, py::object dy, std::optional<py::object> x,
                  std::optional<py::object> y, int kind, double slope) {
  DeviceCall call;
  const DeviceArray DX = call.array(dx, "dx"), DY = call.array(dy, "dy");
  const auto X = call.optional_array(x, "x"), Y = call.optional_array(y, "y");
  by_dtype(DY, "dy", [&](auto t) {
    using T = decltype(t);
    const cuda::Activation a = activation(kind);
    const bool needs_x = a == cuda::Activation::relu || a == cuda::Activation::leaky_relu;
    if (needs_x ? !X : !Y)
      throw py::value_error(std::string(needs_x ? "x" : "y") + ": needed by this activation");
    T* dxp = out<T>(DX, "dx", DY.shape);
    const T* dyp = in<T>(DY, "dy");
    const T* xp = optional_in<T>(X, "x", DY.shape);
    const T* yp = optional_in<T>(Y, "y", DY.shape);
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::activation_backward(dxp, dyp, xp, yp, size_of(DY.shape), a, slope, stream);
  });
}

int64_t ce_forward(py::object loss, py::object weight_of, py::object logits, py::object target,
                   std::optional<py::object> class_weight, int64_t ignore_index) {
  DeviceCall call;
  const DeviceArray L = call.array(loss, "loss"), WO = call.array(weight_of, "weight_of");
  const DeviceArray Z = call.array(logits, "logits"), TG = call.array(target, "target");
  const auto CW = call.optional_array(class_weight, "class_weight");
  return by_dtype(Z, "logits", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(Z.shape, "logits");
    T* lp = out<T>(L, "loss", {s[0], s[2]});
    T* wop = out<T>(WO, "weight_of", {s[0], s[2]});
    const T* zp = in<T>(Z, "logits");
    const int64_t* tp = in<int64_t>(TG, "target", {s[0], s[2]});
    const T* cwp = optional_in<T>(CW, "class_weight", {s[1]});
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    return cuda::softmax_cross_entropy_forward(lp, wop, zp, tp, cwp, s[0], s[1], s[2],
                                               ignore_index, stream);
  });
}

void ce_backward(py::object dlogits, py::object dloss, py::object logits, py::object target,
                 std::optional<py::object> class_weight, int64_t ignore_index) {
  DeviceCall call;
  const DeviceArray DZ = call.array(dlogits, "dlogits"), DL = call.array(dloss, "dloss");
  const DeviceArray Z = call.array(logits, "logits"), TG = call.array(target, "target");
  const auto CW = call.optional_array(class_weight, "class_weight");
  by_dtype(Z, "logits", [&](auto t) {
    using T = decltype(t);
    const auto s = ncm(Z.shape, "logits");
    T* dzp = out<T>(DZ, "dlogits", s);
    const T* dlp = in<T>(DL, "dloss", {s[0], s[2]});
    const T* zp = in<T>(Z, "logits");
    const int64_t* tp = in<int64_t>(TG, "target", {s[0], s[2]});
    const T* cwp = optional_in<T>(CW, "class_weight", {s[1]});
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::softmax_cross_entropy_backward(dzp, dlp, zp, tp, cwp, s[0], s[1], s[2], ignore_index,
                                         stream);
  });
}

void adam(py::object param, py::object exp_avg, py::object exp_avg_sq,
          std::optional<py::object> max_exp_avg_sq, py::object grad, double lr, double beta1,
          double beta2, double eps, double weight_decay, int64_t step, bool amsgrad,
          bool decoupled_weight_decay, bool maximize) {
  DeviceCall call;
  const DeviceArray P = call.array(param, "param"), M = call.array(exp_avg, "exp_avg");
  const DeviceArray V = call.array(exp_avg_sq, "exp_avg_sq");
  const auto VMAX = call.optional_array(max_exp_avg_sq, "max_exp_avg_sq");
  const DeviceArray G = call.array(grad, "grad");
  by_dtype(P, "param", [&](auto t) {
    using T = decltype(t);
    T* pp = out<T>(P, "param");
    T* mp = out<T>(M, "exp_avg", P.shape);
    T* vp = out<T>(V, "exp_avg_sq", P.shape);
    T* vmax = optional_out<T>(VMAX, "max_exp_avg_sq", P.shape);
    const T* gp = in<T>(G, "grad", P.shape);
    const AdamArgs args = adam_args(lr, beta1, beta2, eps, weight_decay, step, amsgrad,
                                    decoupled_weight_decay, maximize, vmax != nullptr);
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::adam_step(pp, mp, vp, vmax, gp, size_of(P.shape), args, stream);
  });
}

void sgd(py::object param, std::optional<py::object> momentum_buffer, py::object grad, double lr,
         double momentum, double dampening, double weight_decay, bool nesterov, bool maximize,
         bool first_step) {
  DeviceCall call;
  const DeviceArray P = call.array(param, "param");
  const auto BUF = call.optional_array(momentum_buffer, "momentum_buffer");
  const DeviceArray G = call.array(grad, "grad");
  by_dtype(P, "param", [&](auto t) {
    using T = decltype(t);
    T* pp = out<T>(P, "param");
    T* bp = optional_out<T>(BUF, "momentum_buffer", P.shape);
    const T* gp = in<T>(G, "grad", P.shape);
    if (momentum != 0 && !bp) throw py::value_error("momentum_buffer: needed with momentum");
    const cuda::SgdArgs args{lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::sgd_step(pp, bp, gp, size_of(P.shape), args, stream);
  });
}

}  // namespace

void register_nn(py::module_& m) {
  register_nn_functions(m, &bn_stats, &bn_forward, &bn_backward, &relu_bwd, &adam);
  m.def("activation_forward", &act_forward, py::arg("y"), py::arg("x"), py::arg("kind"),
        py::arg("slope"), "y = activation(x); kind 0 relu, 1 leaky_relu, 2 sigmoid, 3 tanh");
  m.def("activation_backward", &act_backward, py::arg("dx"), py::arg("dy"), py::arg("x"),
        py::arg("y"), py::arg("kind"), py::arg("slope"),
        "dx = dy * activation'; from x (relu, leaky_relu) or y (sigmoid, tanh)");
  m.def("softmax_cross_entropy_forward", &ce_forward, py::arg("loss"), py::arg("weight_of"),
        py::arg("logits"), py::arg("target"), py::arg("class_weight"), py::arg("ignore_index"),
        "loss, weight_of (N,M) per position of logits (N,K,M), target (N,M) int64; returns -1 or "
        "the position of the first target out of range");
  m.def("softmax_cross_entropy_backward", &ce_backward, py::arg("dlogits"), py::arg("dloss"),
        py::arg("logits"), py::arg("target"), py::arg("class_weight"), py::arg("ignore_index"),
        "dlogits (N,K,M) = dloss (N,M) * weight[t] * (softmax - onehot(t))");
  m.def("sgd_step", &sgd, py::arg("param"), py::arg("momentum_buffer"), py::arg("grad"),
        py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"),
        py::arg("nesterov"), py::arg("maximize"), py::arg("first_step"),
        "one torch.optim.SGD step in place on param (and momentum_buffer)");
}

}  // namespace fastseg::bind
