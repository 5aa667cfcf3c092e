"""Reverse-mode automatic differentiation over fastseg's kernels (micrograd / early tinygrad
style): Tensor, one Function per op, a reverse topological backward, derivative checks."""

from .check import GradcheckError, gradcheck, hessian, jacobian
from .function import (Function, array_module, enable_grad, is_grad_enabled, no_grad,
                       set_grad_enabled)
from .random import default_generator, manual_seed
from .tensor import Tensor, cat, from_numpy, stack, tensor

__all__ = ["Tensor", "tensor", "from_numpy", "cat", "stack", "Function", "no_grad",
           "enable_grad", "is_grad_enabled", "set_grad_enabled", "array_module", "gradcheck",
           "GradcheckError", "jacobian", "hessian", "manual_seed", "default_generator"]
