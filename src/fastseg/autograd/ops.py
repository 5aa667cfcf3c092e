"""The differentiable primitives: one Function per op, NumPy (or CuPy) in op bodies.

Broadcasting follows NumPy; a gradient flowing to a broadcast input is summed back to the
input's shape (``unbroadcast``).
"""

from __future__ import annotations

import numpy as np

from .._backend import kernels
from .function import Function, array_module


def unbroadcast(grad, shape: tuple):
    """`grad` summed over the axes that broadcasting added or stretched to reach it from `shape`."""
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _axes(dim, ndim: int):
    """torch's `dim` (None, an int or a sequence) as a tuple of non-negative axes, or None."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(d % ndim if ndim else d for d in dims)


# ---- arithmetic ---------------------------------------------------------------------------------

class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        return a + b

    @staticmethod
    def backward(ctx, grad):
        da, db = ctx.needs_input_grad
        return (unbroadcast(grad, ctx.shapes[0]) if da else None,
                unbroadcast(grad, ctx.shapes[1]) if db else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        return a - b

    @staticmethod
    def backward(ctx, grad):
        da, db = ctx.needs_input_grad
        return (unbroadcast(grad, ctx.shapes[0]) if da else None,
                unbroadcast(-grad, ctx.shapes[1]) if db else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da, db = ctx.needs_input_grad
        return (unbroadcast(grad * b, np.shape(a)) if da else None,
                unbroadcast(grad * a, np.shape(b)) if db else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da, db = ctx.needs_input_grad
        return (unbroadcast(grad / b, np.shape(a)) if da else None,
                unbroadcast(-grad * a / (b * b), np.shape(b)) if db else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """a ** b for two arrays (broadcasting); see PowScalar for a constant exponent."""

    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        xp = array_module(out)
        da, db = ctx.needs_input_grad
        ga = unbroadcast(grad * b * a ** (b - 1), np.shape(a)) if da else None
        gb = None
        if db:
            log_a = xp.log(xp.where(a > 0, a, 1))  # d/db a**b = a**b log a, taken as 0 at a <= 0
            gb = unbroadcast(grad * out * log_a, np.shape(b))
        return ga, gb


class PowScalar(Function):
    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a ** exponent

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        e = ctx.exponent
        return grad * (e * a ** (e - 1)) if e != 2 else grad * (2 * a)


class _FromOutput(Function):
    """An elementwise op whose derivative is a function of its output: subclasses give
    ``fn(x)`` and ``derivative(out)``; only the output is saved."""

    @staticmethod
    def forward(ctx, a):
        out = ctx.fn(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.derivative(ctx.saved_tensors[0])


class Exp(_FromOutput):
    fn = staticmethod(lambda a: array_module(a).exp(a))
    derivative = staticmethod(lambda out: out)


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_module(a).log(a)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.saved_tensors[0]


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return abs(a)

    @staticmethod
    def backward(ctx, grad):
        return grad * array_module(grad).sign(ctx.saved_tensors[0])


class Clamp(Function):
    """Clamped to [min, max] (either may be None); the gradient passes where not clamped."""

    @staticmethod
    def forward(ctx, a, min=None, max=None):
        ctx.save_for_backward(a)
        ctx.bounds = (min, max)
        return array_module(a).clip(a, min, max)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        low, high = ctx.bounds
        keep = np.ones(a.shape, bool) if low is None else a >= low
        if high is not None:
            keep &= a <= high
        return grad * keep


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype)


# ---- reductions ----------------------------------------------------------------------------------

def _expand(grad, shape, axes, keepdim):
    """The gradient of a reduction over `axes` broadcast back to the input's `shape`."""
    xp = array_module(grad)
    if axes is None:
        return xp.broadcast_to(grad.reshape((1,) * len(shape)), shape)
    if not keepdim:
        grad = xp.expand_dims(grad, axes)
    return xp.broadcast_to(grad, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, _axes(dim, a.ndim), keepdim
        return a.sum(axis=ctx.axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return _expand(grad, ctx.shape, ctx.axes, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, _axes(dim, a.ndim), keepdim
        out = a.mean(axis=ctx.axes, keepdims=keepdim)
        ctx.count = a.size // max(out.size, 1) if a.size else 0
        return out

    @staticmethod
    def backward(ctx, grad):
        return _expand(grad / ctx.count, ctx.shape, ctx.axes, ctx.keepdim)


# ---- shapes --------------------------------------------------------------------------------------

class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = tuple(d % a.ndim for d in dims)
        return a.transpose(ctx.dims)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(np.argsort(ctx.dims))


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items)


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        out = xp.zeros(ctx.shape, ctx.dtype)
        if _is_basic_index(ctx.index):
            out[ctx.index] = grad
        else:  # an index may repeat: accumulate
            xp.add.at(out, ctx.index, grad)
        return out


class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim % arrays[0].ndim
        ctx.splits = np.cumsum([a.shape[ctx.dim] for a in arrays])[:-1]
        return array_module(arrays[0]).concatenate(arrays, axis=ctx.dim)

    @staticmethod
    def backward(ctx, grad):
        parts = array_module(grad).split(grad, ctx.splits, axis=ctx.dim)
        return tuple(p if n else None for p, n in zip(parts, ctx.needs_input_grad))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim % (arrays[0].ndim + 1)
        return array_module(arrays[0]).stack(arrays, axis=ctx.dim)

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        return tuple(xp.take(grad, i, axis=ctx.dim) if n else None
                     for i, n in enumerate(ctx.needs_input_grad))


def _pad_index(n: int, before: int, after: int, mode: str):
    """Source index along an axis of length n padded by (before, after) in `mode`."""
    i = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    period = 2 * (n - 1)  # reflect
    m = i % period if period else np.zeros_like(i)
    return np.where(m < n, m, period - m)


class Pad(Function):
    """torch.nn.functional.pad: `pad` lists (before, after) pairs from the last axis backwards;
    modes constant, reflect, replicate, circular. Negative constant padding crops."""

    @staticmethod
    def forward(ctx, a, pad, mode="constant", value=0.0):
        xp = array_module(a)
        if len(pad) % 2 or len(pad) // 2 > a.ndim:
            raise ValueError(f"pad: expected an even number of at most {2 * a.ndim} values, "
                             f"got {len(pad)}")
        pairs = [(0, 0)] * (a.ndim - len(pad) // 2) + [
            (pad[i], pad[i + 1]) for i in range(len(pad) - 2, -1, -2)]
        ctx.shape, ctx.pairs, ctx.mode = a.shape, pairs, mode
        if mode == "constant":
            grow = [(max(b, 0), max(e, 0)) for b, e in pairs]
            out = xp.pad(a, grow, constant_values=value) if any(b or e for b, e in grow) else a
            crop = tuple(slice(-min(b, 0), out.shape[i] + min(e, 0)) for i, (b, e) in enumerate(pairs))
            return out[crop]
        if mode not in ("reflect", "replicate", "circular"):
            raise ValueError(f"mode: expected constant, reflect, replicate or circular, got {mode!r}")
        for axis, (b, e) in enumerate(pairs):
            if b or e:
                n = a.shape[axis]
                if mode == "reflect" and max(b, e) >= n or mode == "circular" and max(b, e) > n:
                    raise ValueError(f"pad: {mode} padding ({b}, {e}) is too large for size {n}")
                a = xp.take(a, xp.asarray(_pad_index(n, b, e, mode)), axis=axis)
        return a

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        if ctx.mode == "constant":
            inner = tuple(slice(max(b, 0), grad.shape[i] - max(e, 0))
                          for i, (b, e) in enumerate(ctx.pairs))
            out = xp.zeros(ctx.shape, grad.dtype)
            dst = tuple(slice(-min(b, 0), ctx.shape[i] + min(e, 0)) for i, (b, e) in enumerate(ctx.pairs))
            out[dst] = grad[inner]
            return out
        for axis in reversed(range(grad.ndim)):
            b, e = ctx.pairs[axis]
            if b or e:
                n = ctx.shape[axis]
                moved = xp.moveaxis(grad, axis, 0)
                acc = xp.zeros((n,) + moved.shape[1:], grad.dtype)
                xp.add.at(acc, xp.asarray(_pad_index(n, b, e, ctx.mode)), moved)
                grad = xp.moveaxis(acc, 0, axis)
        return grad


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        xp = array_module(grad)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad.reshape(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) +
                          (a2.shape[-2], b2.shape[-1]))
        da, db = ctx.needs_input_grad
        ga = gb = None
        if da:
            ga = unbroadcast(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if db:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


# ---- activations ---------------------------------------------------------------------------------

class ReLU(Function):
    @staticmethod
    def forward(ctx, a):
        out = array_module(a).maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_tensors[0]
        if grad.dtype != out.dtype:
            return grad * ~(out <= 0)  # NaN passes the gradient, as torch's relu
        xp = array_module(out)
        dx = xp.empty_like(out)
        kernels(out).relu_backward(dx, xp.asarray(grad, order="C"), out)  # one fused pass
        return dx


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, a, negative_slope=0.01):
        ctx.save_for_backward(a)
        ctx.slope = negative_slope
        return array_module(a).where(a > 0, a, a * negative_slope)

    @staticmethod
    def backward(ctx, grad):
        return array_module(grad).where(ctx.saved_tensors[0] > 0, grad, grad * ctx.slope)


def sigmoid_array(a):
    """1 / (1 + exp(-a)) without overflow: exp is only taken of -|a|."""
    xp = array_module(a)
    e = xp.exp(-abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(_FromOutput):
    fn = staticmethod(sigmoid_array)
    derivative = staticmethod(lambda out: out * (1 - out))


class Tanh(_FromOutput):
    fn = staticmethod(lambda a: array_module(a).tanh(a))
    derivative = staticmethod(lambda out: 1 - out * out)


def log_softmax_array(a, axis: int):
    xp = array_module(a)
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, dim):
        out = array_module(a).exp(log_softmax_array(a, dim))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_tensors[0]
        return out * (grad - (grad * out).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, dim):
        out = log_softmax_array(a, dim)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_tensors[0]
        xp = array_module(out)
        return grad - xp.exp(out) * grad.sum(axis=ctx.dim, keepdims=True)
