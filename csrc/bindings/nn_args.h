// The nn-family argument checks and registration the nn bindings of both modules (fastseg._C,
// fastseg._cuda) share: BatchNorm's (N, C, M) layout, the Adam hyper-parameters, and the names
// and arguments of the kernels both modules have. Each module reads its own arrays and passes
// their shapes here.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/shape.h"
#include "common/adam.h"

namespace fastseg::bind {

namespace py = pybind11;

// (N, C, M) of a 3-D array.
inline std::vector<int64_t> ncm(const std::vector<int64_t>& shape, const char* name) {
  if (shape.size() != 3)
    throw py::value_error(std::string(name) + ": expected a 3-D array (N, C, M), got shape " +
                          shape_str(shape));
  return shape;
}

// batch_norm_stats of x (N, C, M) needs a value per channel.
inline void check_values_per_channel(const std::vector<int64_t>& ncm) {
  if (ncm[0] * ncm[2] == 0) throw py::value_error("x: expected at least one value per channel");
}

// The hyper-parameters of adam_step, checked: step >= 1; max_exp_avg_sq given with amsgrad.
inline AdamArgs adam_args(double lr, double beta1, double beta2, double eps, double weight_decay,
                          int64_t step, bool amsgrad, bool decoupled_weight_decay, bool maximize,
                          bool has_max_exp_avg_sq) {
  if (amsgrad && !has_max_exp_avg_sq) throw py::value_error("max_exp_avg_sq: needed with amsgrad");
  if (step < 1) throw py::value_error("step: expected >= 1, got " + std::to_string(step));
  return {lr, beta1, beta2, eps, weight_decay, step, amsgrad, decoupled_weight_decay, maximize};
}

// Registers the nn kernels of a module (fastseg._C or fastseg._cuda) under the names and
// arguments both modules share.
template <class BnStats, class BnForward, class BnBackward, class ReluBackward, class AdamStep>
void register_nn_functions(py::module_& m, BnStats batch_norm_stats, BnForward batch_norm_forward,
                           BnBackward batch_norm_backward, ReluBackward relu_backward,
                           AdamStep adam_step) {
  m.def("batch_norm_stats", batch_norm_stats, py::arg("mean"), py::arg("var"), py::arg("x"),
        "mean, var (C,) = per-channel mean and biased variance of x (N,C,M)");
  m.def("batch_norm_forward", batch_norm_forward, py::arg("y"), py::arg("x"), py::arg("mean"),
        py::arg("invstd"), py::arg("weight"), py::arg("bias"), py::arg("relu"),
        "y (N,C,M) = (x - mean) * invstd * weight + bias, then max(y, 0) when relu");
  m.def("batch_norm_backward", batch_norm_backward, py::arg("dx"), py::arg("dweight"),
        py::arg("dbias"), py::arg("dy"), py::arg("y"), py::arg("x"), py::arg("mean"),
        py::arg("invstd"), py::arg("weight"), py::arg("training"),
        "dx (N,C,M) = input gradient; dweight, dbias (C,) += their gradients (None: skipped); "
        "y: the output of a fused ReLU (or None)");
  m.def("relu_backward", relu_backward, py::arg("dx"), py::arg("dy"), py::arg("y"),
        "dx = dy where y > 0 else 0");
  m.def("adam_step", adam_step, py::arg("param"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("max_exp_avg_sq"), py::arg("grad"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("step"),
        py::arg("amsgrad"), py::arg("decoupled_weight_decay"), py::arg("maximize"),
        "one torch.optim.Adam(W) step in place on param, exp_avg, exp_avg_sq (, max_exp_avg_sq)");
}

}  // namespace fastseg::bind
