"""fastseg.Tensor: an array (NumPy now, CuPy later) with a gradient and the node that made it."""

from __future__ import annotations

import numbers

import numpy as np

from . import ops
from .function import Function, array_module, is_grad_enabled, run_backward


def _as_array(data, dtype=None):
    """Python scalars and nested lists of floats become float32 (torch's default dtype); arrays
    keep their dtype unless `dtype` is given."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype) if array_module(data) is np else data.astype(dtype)
    if isinstance(data, (np.ndarray, np.generic)) or array_module(data) is not np:
        return data if not isinstance(data, np.generic) else np.asarray(data)
    array = np.asarray(data)
    return array.astype(np.float32) if array.dtype == np.float64 else array


class Tensor:
    """A differentiable array. ``.data`` is the array, ``.grad`` a Tensor (or None) filled by
    ``backward()``. Operators broadcast like NumPy; Python scalars take the tensor's dtype."""

    __array_priority__ = 1000  # ndarray (op) Tensor -> Tensor's reflected operator

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad: Tensor | None = None
        self._ctx: Function | None = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array, requires_grad: bool = False) -> "Tensor":
        t = cls.__new__(cls)
        t.data = array if hasattr(array, "shape") and not isinstance(array, np.generic) \
            else np.asarray(array)
        t.grad, t._ctx, t.requires_grad = None, None, requires_grad
        return t

    # ---- array-like ----
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    is_leaf = property(lambda self: self._ctx is None)
    T = property(lambda self: self.permute(*reversed(range(self.ndim))))

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self):
        return len(self.data)

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def item(self):
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({np.array2string(np.asarray(self.data), separator=', ')}, dtype={self.dtype}{grad})"

    # ---- autograd ----
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.data.dtype.kind not in "fc":
            raise RuntimeError(f"only floating point tensors can require gradients, got {self.dtype}")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        return Tensor._wrap(self.data)

    def backward(self, gradient=None) -> None:
        """Accumulates d(self)/d(leaf) into each leaf's ``.grad``; `gradient` defaults to 1 for a
        single-element tensor. The graph's saved arrays are freed afterwards."""
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        xp = array_module(self.data)
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = xp.ones(self.shape, self.dtype)
        else:
            g = xp.array(gradient.data if isinstance(gradient, Tensor) else gradient,
                         dtype=self.dtype)  # a copy: a leaf's .grad must not alias the caller's
            if g.shape != self.shape:
                raise RuntimeError(f"gradient: expected shape {self.shape}, got {g.shape}")
        run_backward(self, g)

    # ---- conversions ----
    def to(self, dtype) -> "Tensor":
        dtype = np.dtype(dtype)
        return self if dtype == self.dtype else ops.Cast.apply(self, dtype)

    def float(self) -> "Tensor":
        return self.to(np.float32)

    def double(self) -> "Tensor":
        return self.to(np.float64)

    def long(self) -> "Tensor":
        return Tensor._wrap(self.data.astype(np.int64))

    # ---- arithmetic ----
    def _operand(self, other):
        if isinstance(other, Tensor):
            return other
        if isinstance(other, numbers.Number):
            return array_module(self.data).asarray(other, dtype=self.dtype)
        return other

    def __add__(self, other): return ops.Add.apply(self, self._operand(other))
    def __radd__(self, other): return ops.Add.apply(self._operand(other), self)
    def __sub__(self, other): return ops.Sub.apply(self, self._operand(other))
    def __rsub__(self, other): return ops.Sub.apply(self._operand(other), self)
    def __mul__(self, other): return ops.Mul.apply(self, self._operand(other))
    def __rmul__(self, other): return ops.Mul.apply(self._operand(other), self)
    def __truediv__(self, other): return ops.Div.apply(self, self._operand(other))
    def __rtruediv__(self, other): return ops.Div.apply(self._operand(other), self)
    def __neg__(self): return ops.Neg.apply(self)
    def __matmul__(self, other): return ops.MatMul.apply(self, self._operand(other))
    def __rmatmul__(self, other): return ops.MatMul.apply(self._operand(other), self)

    def __pow__(self, exponent):
        if isinstance(exponent, numbers.Number):
            return ops.PowScalar.apply(self, exponent)
        return ops.Pow.apply(self, self._operand(exponent))

    def __rpow__(self, base):
        return ops.Pow.apply(self._operand(base), self)

    pow = __pow__
    add, sub, mul, div, matmul = __add__, __sub__, __mul__, __truediv__, __matmul__

    def _compare(self, other, op):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(op(self.data, other))

    def __lt__(self, o): return self._compare(o, np.less)
    def __le__(self, o): return self._compare(o, np.less_equal)
    def __gt__(self, o): return self._compare(o, np.greater)
    def __ge__(self, o): return self._compare(o, np.greater_equal)
    def __eq__(self, o): return self._compare(o, np.equal)
    def __ne__(self, o): return self._compare(o, np.not_equal)
    __hash__ = object.__hash__

    def exp(self): return ops.Exp.apply(self)
    def log(self): return ops.Log.apply(self)
    def abs(self): return ops.Abs.apply(self)
    def sqrt(self): return ops.PowScalar.apply(self, 0.5)
    def clamp(self, min=None, max=None): return ops.Clamp.apply(self, min=min, max=max)
    def relu(self): return ops.ReLU.apply(self)
    def sigmoid(self): return ops.Sigmoid.apply(self)
    def tanh(self): return ops.Tanh.apply(self)
    def softmax(self, dim): return ops.Softmax.apply(self, dim=dim)
    def log_softmax(self, dim): return ops.LogSoftmax.apply(self, dim=dim)

    # ---- reductions ----
    def sum(self, dim=None, keepdim=False): return ops.Sum.apply(self, dim=dim, keepdim=keepdim)
    def mean(self, dim=None, keepdim=False): return ops.Mean.apply(self, dim=dim, keepdim=keepdim)

    def argmax(self, dim=None, keepdim=False) -> "Tensor":
        return Tensor._wrap(self.data.argmax(axis=dim, keepdims=keepdim))

    # ---- shapes ----
    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return ops.Reshape.apply(self, shape=tuple(shape))

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        end = end_dim % self.ndim if self.ndim else 0
        s = self.shape
        return self.reshape(s[:start_dim] + (-1,) + s[end + 1:]) if self.ndim else self.reshape(1)

    def permute(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return ops.Permute.apply(self, dims=tuple(dims))

    def transpose(self, dim0, dim1):
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    def unsqueeze(self, dim):
        dim = dim % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dim = dim % self.ndim
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:]) if self.shape[dim] == 1 else self

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        return ops.GetItem.apply(self, index=index)


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A new leaf Tensor holding a copy of `data` (``torch.tensor``)."""
    array = _as_array(data, dtype)
    return Tensor(array.copy() if array is data or array.base is not None else array,
                  requires_grad=requires_grad)


def from_numpy(array) -> Tensor:
    """A Tensor sharing `array`'s memory (``torch.from_numpy``)."""
    return Tensor._wrap(array)


def cat(tensors, dim: int = 0) -> Tensor:
    return ops.Cat.apply(*tensors, dim=dim)


def stack(tensors, dim: int = 0) -> Tensor:
    return ops.Stack.apply(*tensors, dim=dim)


__all__ = ["Tensor", "tensor", "from_numpy", "cat", "stack", "is_grad_enabled"]
