"""Derivative checks and matrices: gradcheck, jacobian, hessian (all in float64).

jacobian is exact (reverse mode, one backward per output element). hessian is the central finite
difference of the analytic gradient, symmetrised: fastseg's backward functions compute with
arrays through non-differentiable kernels, so there is no double backward to run
forward-over-reverse or reverse-over-reverse on; differencing the exact gradient needs only one
level of finite differences (error O(eps^2) ~ 1e-9 relative at the default eps=1e-5 in float64),
which is the accuracy the seed's uses need (curvature, learning-rate bounds, image Hessians).
"""

from __future__ import annotations

import numpy as np

from .function import enable_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _inputs(inputs):
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise TypeError(f"inputs[{i}]: expected float64 for finite differences, got {t.dtype}")
    return inputs


def _output(fn, inputs) -> Tensor:
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"fn: expected a Tensor result, got {type(out).__name__}")
    return out


def _vjp(fn, inputs, cotangent) -> list:
    """cotangent^T J for every input requiring grad (zeros where no gradient reached it)."""
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    with enable_grad():
        out = _output(fn, inputs)
        if out.requires_grad:
            out.backward(cotangent)
    return [None if not (isinstance(t, Tensor) and t.requires_grad) else
            (t.grad.data.copy() if t.grad is not None else np.zeros(t.shape)) for t in inputs]


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              max_elements: int = 2000, seed: int = 0) -> bool:
    """Checks the analytic gradient of `fn` (Tensors -> Tensor) against central differences in
    float64, like ``torch.autograd.gradcheck``. For a random output cotangent u, u^T J of every
    input requiring grad is compared elementwise with (<u, fn(x + eps e_j)> - <u, fn(x - eps e_j)>)
    / 2 eps; inputs with more than `max_elements` elements are checked along 8 random directions
    instead of every e_j. Returns True or raises GradcheckError naming the input and element."""
    inputs = _inputs(inputs)
    rng = np.random.default_rng(seed)
    out = _output(fn, inputs)
    u = rng.standard_normal(out.shape)
    analytic = _vjp(fn, inputs, u)

    def projected():
        with enable_grad():
            return float(np.sum(u * np.asarray(fn(*inputs).data, np.float64)))

    for i, (t, g) in enumerate(zip(inputs, analytic)):
        if g is None:
            continue
        x = t.data
        n = x.size
        directions = (np.eye(1, n, j).reshape(x.shape) for j in range(n)) if n <= max_elements \
            else (rng.standard_normal(x.shape) for _ in range(8))
        original = x.copy()
        for j, v in enumerate(directions):
            try:
                x[...] = original + eps * v
                plus = projected()
                x[...] = original - eps * v
                minus = projected()
            finally:
                x[...] = original
            numeric = (plus - minus) / (2 * eps)
            exact = float(np.sum(g * v))
            if not abs(numeric - exact) <= atol + rtol * abs(numeric):
                where = f"element {np.unravel_index(j, x.shape)}" if n <= max_elements \
                    else f"random direction {j}"
                raise GradcheckError(f"inputs[{i}], {where}: analytic {exact!r}, "
                                     f"numerical {numeric!r}")
    return True


def jacobian(fn, x: Tensor) -> np.ndarray:
    """d fn(x) / d x as an array of shape fn(x).shape + x.shape (exact: one backward per output
    element)."""
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, np.float64))
    if not x.requires_grad:
        x = Tensor(x.data, requires_grad=True)
    out_shape = _output(fn, (x,)).shape
    m = int(np.prod(out_shape))
    rows = [_vjp(fn, (x,), np.eye(1, m, i).reshape(out_shape))[0] for i in range(m)]
    return np.stack(rows).reshape(out_shape + x.shape)


def hessian(fn, x: Tensor, eps: float = 1e-5) -> np.ndarray:
    """d^2 fn(x) / d x^2 for a scalar fn, shape x.shape + x.shape: the central difference of the
    analytic gradient along each e_j, symmetrised (see the module docstring for why)."""
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, np.float64))
    if x.dtype != np.float64:
        raise TypeError(f"x: expected float64 for finite differences, got {x.dtype}")
    x = Tensor(x.data.copy(), requires_grad=True)
    if _output(fn, (x,)).numel() != 1:
        raise ValueError("fn: expected a scalar output for a Hessian")
    n = x.numel()
    original = x.data.copy()
    columns = []
    for j in range(n):
        e = np.eye(1, n, j).reshape(x.shape)
        x.data[...] = original + eps * e
        plus = _vjp(fn, (x,), np.ones(()))[0]
        x.data[...] = original - eps * e
        minus = _vjp(fn, (x,), np.ones(()))[0]
        columns.append(((plus - minus) / (2 * eps)).reshape(n))
    x.data[...] = original
    h = np.stack(columns, axis=1)
    return ((h + h.T) / 2).reshape(x.shape + x.shape)
