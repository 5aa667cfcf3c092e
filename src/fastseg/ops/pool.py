"""max_pool2d, max_unpool2d, avg_pool2d, interpolate and their gradients (torch.nn.functional
semantics; the gradients as torch computes them in autograd).

Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=). These
ops have no parameters: each gradient function returns a new array.

Like PyTorch: max_pool2d's indices are int64 and flat within each (n, c) plane of the input;
a NaN in a window wins (the last NaN of the window when there are several), among equal values
the first in the window's row-major order wins. Inputs may be unbatched (C, H, W), except for
interpolate (4-D only).

Beyond PyTorch: max_unpool2d is deterministic when indices repeat within a plane (the element
that comes last in the input's row-major order wins, whatever the thread count); every index is
checked before it is used: an index out of range raises a ValueError naming the first one (in
row-major order) and its position, nothing is ever written out of bounds, and no partial result
is returned. Inputs are never modified. A max_pool2d whose dilated window would hold no
input element at all (PyTorch returns -inf and an out-of-range index there) raises a ValueError.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .._args import float_array, int_tuple, integer, new_array, shape_tuple
from .._backend import array_module, as_device_array, is_device_array, kernels

__all__ = ["max_pool2d", "max_unpool2d", "avg_pool2d", "interpolate", "max_pool2d_input",
           "max_unpool2d_input", "avg_pool2d_input", "interpolate_input"]

INTERPOLATION_MODES = ("nearest", "bilinear")  # same order as fastseg::cpu::InterpMode


# ---- Argument checks ---------------------------------------------------------------------------

def _flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return bool(value)


def _batched(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """x with a batch axis, and whether it had one (PyTorch accepts unbatched (C, H, W))."""
    return (x, True) if x.ndim == 4 else (x[None], False)


def _unbatched_shape(shape: tuple[int, ...], batched: bool) -> tuple[int, ...]:
    return tuple(shape) if batched else tuple(shape[1:])


def _nonzero_planes(shape, name: str) -> None:
    """Every size but a batch size (of 4-D shapes) must be non-zero."""
    if any(v == 0 for v in shape[len(shape) - 3:]):
        raise ValueError(f"{name}: expected non-zero channel and spatial sizes, got shape "
                         f"{tuple(shape)}")


def _indices_array(value, name: str = "indices"):
    """A C-contiguous int64 copy (or view) of an integer array, on the device it came from."""
    device = is_device_array(value)
    array = as_device_array(value) if device else np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer (int64) array, got dtype {array.dtype}")
    # uint64 values above the int64 range wrap to negative ones, which the kernels reject.
    xp = array_module(indices=array)
    return xp.ascontiguousarray(array, dtype=np.int64)


def _raise_bad_index(position: int, user_indices, plane_shape) -> None:
    """The kernels return the flat position of the first index out of range, or -1."""
    if position < 0:
        return
    if not is_device_array(user_indices):
        user_indices = np.asarray(user_indices)
    where = tuple(int(i) for i in np.unravel_index(position, user_indices.shape))
    size = plane_shape[0] * plane_shape[1]
    raise ValueError(f"indices: index {int(user_indices[where])} at position {where} is out of "
                     f"range for planes of {plane_shape[0]}x{plane_shape[1]} "
                     f"(expected 0 <= index < {size})")


def _stride(stride, kernel: tuple[int, int]) -> tuple[int, int]:
    """The stride, the kernel size when None or empty (PyTorch's default)."""
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel
    return int_tuple(stride, 2, "stride", 1)


@dataclass(frozen=True)
class PoolGeometry:
    """A checked window sweep: x (N, C, H, W) -> y (N, C, P, Q), PyTorch's pooling rules."""

    x_shape: tuple[int, int, int, int]
    y_shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]


def _pool_output_size(size, kernel, stride, pad, dilation, ceil_mode) -> int:
    """PyTorch's pooling_output_shape: the last window must start inside the input or the left
    padding."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _empty_windows(out, size, kernel, stride, pad, dilation) -> np.ndarray:
    """Outputs whose dilated window holds no input element (possible only with dilation > 1)."""
    start = np.arange(out, dtype=np.int64) * stride - pad
    first = np.where(start < 0, -(start // dilation), 0)  # first tap at or after 0
    return np.flatnonzero((first >= kernel) | (start + first * dilation >= size))


def pool_geometry(x_shape, kernel_size, stride, padding, dilation, ceil_mode) -> PoolGeometry:
    """Validates pooling arguments (PyTorch's checks, as ValueErrors naming the argument)."""
    _nonzero_planes(x_shape, "input")
    kernel = int_tuple(kernel_size, 2, "kernel_size", 1)
    stride = _stride(stride, kernel)
    padding = int_tuple(padding, 2, "padding", 0)
    dilation = int_tuple(dilation, 2, "dilation", 1)
    ceil_mode = _flag(ceil_mode, "ceil_mode")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"padding: expected at most half of kernel_size {kernel} in each "
                         f"dimension, got {padding}")
    size = tuple(x_shape[2:])
    out = tuple(_pool_output_size(*args, ceil_mode)
                for args in zip(size, kernel, stride, padding, dilation))
    if min(out) < 1:
        raise ValueError(f"input: spatial size {size} is too small for kernel_size {kernel}, "
                         f"stride {stride}, padding {padding} and dilation {dilation} "
                         f"(output size {out})")
    for axis, name in enumerate(("row", "column")):
        empty = _empty_windows(out[axis], size[axis], kernel[axis], stride[axis], padding[axis],
                               dilation[axis]) if dilation[axis] > 1 else ()
        if len(empty):
            raise ValueError(f"dilation: the window of output {name} {empty[0]} holds no input "
                             f"element (dilation {dilation}, padding {padding}, input size {size})")
    return PoolGeometry(tuple(x_shape), tuple(x_shape[:2]) + out, kernel, stride, padding,
                        dilation)


def _grad_output(grad_output, expected_shape) -> np.ndarray:
    dy = float_array(grad_output, "grad_output", (len(expected_shape),))
    if dy.shape != tuple(expected_shape):
        raise ValueError(f"grad_output: expected shape {tuple(expected_shape)}, got {dy.shape}")
    return dy


def _input_size(input_size) -> tuple[tuple[int, ...], bool]:
    """input_size as (N, C, H, W), and whether it was batched."""
    n = len(input_size) if isinstance(input_size, (tuple, list)) else 0
    shape = shape_tuple(input_size, "input_size", 3 if n == 3 else 4)
    _nonzero_planes(shape, "input_size")
    return ((1,) + shape, False) if n == 3 else (shape, True)


# ---- max_pool2d ------------------------------------------------------------------------------

def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling of input (N, C, H, W) or (C, H, W), as ``torch.nn.functional.max_pool2d``.

    With ``return_indices=True`` returns ``(y, indices)``: int64 positions of each maximum, flat
    within its (n, c) plane of the input, for ``max_unpool2d`` and ``grad.max_pool2d_input``.
    Ties go to the first element in the window's row-major order; a NaN wins (the last NaN of
    the window when there are several), as on PyTorch's CPU.
    """
    x = float_array(input, "input", (3, 4))
    xb, batched = _batched(x)
    g = pool_geometry(xb.shape, kernel_size, stride, padding, dilation, ceil_mode)
    y = new_array(g.y_shape, x.dtype, x)
    indices = new_array(g.y_shape, np.int64, x) if _flag(return_indices, "return_indices") else None
    kernels(x).max_pool2d_forward(y, indices, xb, g.kernel, g.stride, g.padding, g.dilation)
    y = y.reshape(_unbatched_shape(g.y_shape, batched))
    return y if indices is None else (y, indices.reshape(y.shape))


def max_pool2d_input(grad_output, indices, input_size):
    """Gradient of max_pool2d with respect to its input: each grad_output element added at its
    index (the ``indices`` of ``max_pool2d``) of a zero (N, C, H, W) gradient, in row-major order
    within each plane (deterministic)."""
    shape, batched = _input_size(input_size)
    array_module(grad_output=grad_output, indices=indices)
    idx = _indices_array(indices)
    leading = _unbatched_shape(shape, batched)[:-2]
    if idx.ndim != len(leading) + 2 or idx.shape[:-2] != leading:
        raise ValueError(f"indices: expected shape ({', '.join(map(str, leading))}, P, Q) (the "
                         f"batch and channels of input_size), got {idx.shape}")
    dy = _grad_output(grad_output, idx.shape)
    dx = new_array(shape, dy.dtype, dy)
    four = (shape[0], shape[1]) + idx.shape[-2:]
    bad = kernels(dy).max_pool2d_backward_input(dx, dy.reshape(four), idx.reshape(four))
    _raise_bad_index(bad, indices, shape[2:])
    return dx.reshape(_unbatched_shape(shape, batched))


# ---- max_unpool2d ----------------------------------------------------------------------------

def _unpool_output_size(in_size, kernel, stride, padding, output_size) -> tuple[int, int]:
    """PyTorch's _unpool_output_size: the default size, or output_size (2 or 4 ints, the last
    two used) within stride of it."""
    default = tuple((i - 1) * s - 2 * p + k for i, k, s, p in zip(in_size, kernel, stride, padding))
    if output_size is None:
        if min(default) < 1:
            raise ValueError(f"input: the default output size {default} of kernel_size {kernel}, "
                             f"stride {stride} and padding {padding} is not positive")
        return default
    if not isinstance(output_size, (tuple, list)) or len(output_size) not in (2, 4):
        raise ValueError(f"output_size: expected 2 (or 4, of which the last 2 are used) ints, "
                         f"got {output_size!r}")
    size = tuple(integer(v, "output_size", 1) for v in output_size[-2:])
    for d in range(2):
        low, high = default[d] - stride[d], default[d] + stride[d]
        if not low < size[d] < high:
            raise ValueError(f"output_size: expected dim {d} strictly between {low} and {high}, "
                             f"got {tuple(output_size)}")
    return size


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool2d, as ``torch.nn.functional.max_unpool2d``: a zero
    (N, C, H_out, W_out) array with each input element at its index in its plane.

    Deterministic where PyTorch is not: when indices repeat within a plane, the element that
    comes last in the input's row-major order wins, whatever the thread count. Every index is
    checked before anything is written at it; one out of range raises a ValueError naming the
    first (in row-major order) and its position; nothing is ever written out of bounds. The
    inputs are never modified.
    """
    array_module(input=input, indices=indices)
    x = float_array(input, "input", (3, 4))
    idx = _indices_array(indices)
    if idx.shape != x.shape:
        raise ValueError(f"indices: expected shape {x.shape} (the shape of input), got {idx.shape}")
    xb, batched = _batched(x)
    _nonzero_planes(xb.shape, "input")
    kernel = int_tuple(kernel_size, 2, "kernel_size", 1)
    stride = _stride(stride, kernel)
    padding = int_tuple(padding, 2, "padding", 0)
    size = _unpool_output_size(xb.shape[2:], kernel, stride, padding, output_size)
    y = new_array(xb.shape[:2] + size, x.dtype, x)
    bad = kernels(x).max_unpool2d_forward(y, xb, idx.reshape(xb.shape))
    _raise_bad_index(bad, indices, size)
    return y.reshape(_unbatched_shape(y.shape, batched))


def max_unpool2d_input(grad_output, indices):
    """Gradient of max_unpool2d with respect to its input: grad_output gathered at indices (as
    PyTorch; with repeated indices every element gets the gradient at its index)."""
    array_module(grad_output=grad_output, indices=indices)
    dy = float_array(grad_output, "grad_output", (3, 4))
    idx = _indices_array(indices)
    if idx.ndim != dy.ndim or idx.shape[:-2] != dy.shape[:-2]:
        raise ValueError(f"indices: expected shape (..., h, w) with the batch and channels of "
                         f"grad_output {dy.shape}, got {idx.shape}")
    dyb, batched = _batched(dy)
    _nonzero_planes(dyb.shape, "grad_output")
    idxb = idx.reshape((dyb.shape[0], dyb.shape[1]) + idx.shape[-2:])
    dx = new_array(idxb.shape, dy.dtype, dy)
    bad = kernels(dy).max_unpool2d_backward_input(dx, dyb, idxb)
    _raise_bad_index(bad, indices, dyb.shape[2:])
    return dx.reshape(idx.shape)


# ---- avg_pool2d ------------------------------------------------------------------------------

def _divisor(divisor_override) -> int:
    if divisor_override is None:
        return 0
    value = integer(divisor_override, "divisor_override")
    if value == 0:
        raise ValueError("divisor_override: expected a non-zero int, got 0")
    return value


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling of input (N, C, H, W) or (C, H, W), as
    ``torch.nn.functional.avg_pool2d``."""
    x = float_array(input, "input", (3, 4))
    xb, batched = _batched(x)
    g = pool_geometry(xb.shape, kernel_size, stride, padding, 1, ceil_mode)
    include, divisor = _flag(count_include_pad, "count_include_pad"), _divisor(divisor_override)
    y = new_array(g.y_shape, x.dtype, x)
    kernels(x).avg_pool2d_forward(y, xb, g.kernel, g.stride, g.padding, include, divisor)
    return y.reshape(_unbatched_shape(g.y_shape, batched))


def avg_pool2d_input(grad_output, input_size, kernel_size, stride=None, padding=0,
                     ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Gradient of avg_pool2d with respect to its input (of shape input_size)."""
    shape, batched = _input_size(input_size)
    g = pool_geometry(shape, kernel_size, stride, padding, 1, ceil_mode)
    include, divisor = _flag(count_include_pad, "count_include_pad"), _divisor(divisor_override)
    dy = _grad_output(grad_output, _unbatched_shape(g.y_shape, batched))
    dx = new_array(shape, dy.dtype, dy)
    kernels(dy).avg_pool2d_backward_input(dx, dy.reshape(g.y_shape), g.kernel, g.stride,
                                          g.padding, include, divisor)
    return dx.reshape(_unbatched_shape(shape, batched))


# ---- interpolate -----------------------------------------------------------------------------

def _interp_mode(mode, align_corners) -> tuple[int, bool]:
    if mode not in INTERPOLATION_MODES:
        raise ValueError(f"mode: expected 'nearest' or 'bilinear', got {mode!r}")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(f"align_corners: only valid with mode='bilinear', got "
                             f"{align_corners!r} with mode='nearest'")
        return 0, False
    return 1, False if align_corners is None else _flag(align_corners, "align_corners")


def _scale_factors(scale_factor) -> tuple[float, float]:
    values = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
    if len(values) != 2:
        raise ValueError(f"scale_factor: expected a number or 2 numbers, got {scale_factor!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"scale_factor: expected a number, got {type(v).__name__}")
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"scale_factor: expected finite numbers > 0, got {scale_factor!r}")
    return tuple(float(v) for v in values)


def _scaled_size(in_size, scales) -> tuple[int, int]:
    """PyTorch's output size for a scale factor (recompute_scale_factor=None): floor(in * s)."""
    out = tuple(math.floor(float(i) * s) for i, s in zip(in_size, scales))
    if min(out) < 1:
        raise ValueError(f"scale_factor: input size {tuple(in_size)} scaled by {scales} gives "
                         f"output size {out}, expected sizes >= 1")
    return out


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Resizes input (N, C, H, W), as ``torch.nn.functional.interpolate`` with
    ``recompute_scale_factor=None``. Give exactly one of ``size`` (an int or 2 ints) and
    ``scale_factor`` (a number or 2): a scale factor sets the output size to
    floor(input size * scale_factor) and is itself used for the source coordinates.

    ``'nearest'``: source index floor(dst * scale), scale = 1 / scale_factor or in / out, in the
    input's precision, as PyTorch's generic CPU kernel. (PyTorch's kernel for small outputs,
    H_out + W_out <= 128, and its gradient instead take dst for out == in and dst // 2 for
    out == 2*in; the results differ only for a scale factor that is not exactly 1 or 2 giving
    such sizes. fastseg's gradient is always the exact adjoint of its forward.)
    ``'bilinear'``: PyTorch's source coordinates and weights, ``align_corners`` False by default.
    """
    x = float_array(input, "input", (4,))
    _nonzero_planes(x.shape, "input")
    mode_index, corners = _interp_mode(mode, align_corners)
    if (size is None) == (scale_factor is None):
        raise ValueError("size, scale_factor: expected exactly one of them, got "
                         + ("both" if size is not None else "neither"))
    if size is not None:
        out, scales = int_tuple(size, 2, "size", 1), (0.0, 0.0)
    else:
        scales = _scale_factors(scale_factor)
        out = _scaled_size(x.shape[2:], scales)
    y = new_array(x.shape[:2] + tuple(out), x.dtype, x)
    kernels(x).interpolate_forward(y, x, mode_index, corners, *scales)
    return y


def interpolate_input(grad_output, input_size, mode="nearest", align_corners=None,
                      scale_factor=None):
    """Gradient of interpolate with respect to its input (of shape input_size), given the
    gradient of its output; pass the forward call's scale_factor when it had one (it sets the
    source coordinates)."""
    shape = shape_tuple(input_size, "input_size", 4)
    _nonzero_planes(shape, "input_size")
    mode_index, corners = _interp_mode(mode, align_corners)
    dy = float_array(grad_output, "grad_output", (4,))
    if dy.shape[:2] != shape[:2] or 0 in dy.shape[2:]:
        raise ValueError(f"grad_output: expected shape ({shape[0]}, {shape[1]}, H_out, W_out) "
                         f"with H_out, W_out >= 1, got {dy.shape}")
    scales = (0.0, 0.0)
    if scale_factor is not None:
        scales = _scale_factors(scale_factor)
        expected = _scaled_size(shape[2:], scales)
        if dy.shape[2:] != expected:
            raise ValueError(f"grad_output: expected spatial size {expected} (input_size scaled "
                             f"by scale_factor {scales}), got {dy.shape[2:]}")
    dx = new_array(shape, dy.dtype, dy)
    kernels(dy).interpolate_backward_input(dx, dy, mode_index, corners, *scales)
    return dx
