"""conv1d / conv2d and their gradients (torch.nn.functional / torch.nn.grad semantics).

conv2d is cross-correlation, as in deep learning. Beyond PyTorch: every padding mode (including
'symmetric', SciPy's 'symm') works with every gradient. CUDA arrays (CuPy...) run on the GPU and
may also be float16 (float32 sums); see fastseg._backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _C
from .._args import (float_array, int_tuple, integer, new_array, output_array, padding_mode,
                     same_dtype, shape_tuple, zeros)
from .._backend import array_module, kernels

__all__ = ["conv1d", "conv2d", "conv2d_relu", "conv1d_input", "conv1d_weight", "conv1d_bias",
           "conv2d_input", "conv2d_weight", "conv2d_bias"]


@dataclass(frozen=True)
class ConvGeometry:
    """A checked conv2d geometry: x (N, C, H, W), w (K, C/groups, R, S) -> y (N, K, P, Q)."""

    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    y_shape: tuple[int, int, int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    dilation: tuple[int, int]
    groups: int
    mode: int

    def native(self):
        return _C.ConvGeometry(*self.stride, *self.pads, *self.dilation, self.groups, self.mode)


def conv_geometry(x_shape, w_shape, stride, padding, dilation, groups, mode: str,
                  dims: int) -> ConvGeometry:
    """Validates conv{dims}d arguments (PyTorch's rules) and returns the conv2d geometry.

    x_shape is (N, C, *spatial) and w_shape (K, C/groups, *kernel) with `dims` spatial axes;
    conv1d is the conv2d of height 1.
    """
    n, c, *size = x_shape
    k, cg, *kernel = w_shape
    nonzero_sizes(x_shape, w_shape)
    groups = integer(groups, "groups", 1)
    if c % groups or k % groups:
        raise ValueError(f"groups: input channels ({c}) and output channels ({k}) must be "
                         f"divisible by groups ({groups})")
    if cg * groups != c:
        raise ValueError(f"weight: expected {c // groups} input channels per group "
                         f"(input channels {c} / groups {groups}), got shape {tuple(w_shape)}")
    stride = int_tuple(stride, dims, "stride", 1)
    dilation = int_tuple(dilation, dims, "dilation", 1)
    mode_index = padding_mode(mode)
    if isinstance(padding, str):
        if padding == "valid":
            before = after = (0,) * dims
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' needs stride 1, got stride {stride}")
            total = [d * (r - 1) for d, r in zip(dilation, kernel)]
            before = tuple(t // 2 for t in total)
            after = tuple(t - b for t, b in zip(total, before))
        else:
            raise ValueError(f"padding: expected 'same', 'valid', an int or {dims} ints, got {padding!r}")
    else:
        before = after = int_tuple(padding, dims, "padding", 0)
    limit = {"reflect": lambda p, s: p < s, "circular": lambda p, s: p <= s,
             "symmetric": lambda p, s: p <= s}.get(mode)
    if limit and not all(limit(p, s) for p, s in zip(before + after, size + size)):
        bound = "smaller than" if mode == "reflect" else "at most"
        raise ValueError(f"padding: {mode} padding must be {bound} the input size {tuple(size)}, "
                         f"got {tuple(before)} / {tuple(after)}")
    out = [(s + b + a - d * (r - 1) - 1) // st + 1
           for s, b, a, d, r, st in zip(size, before, after, dilation, kernel, stride)]
    if any(o < 1 for o in out):
        raise ValueError(f"input: padded size {tuple(s + b + a for s, b, a in zip(size, before, after))} "
                         f"is smaller than the dilated kernel "
                         f"{tuple(d * (r - 1) + 1 for d, r in zip(dilation, kernel))}")
    return geometry_2d((n, c, *size), (k, cg, *kernel), (n, k, *out), stride, before, after,
                       dilation, groups, mode_index)


def nonzero_sizes(x_shape, w_shape) -> None:
    """Rejects zero channel, spatial or kernel sizes (a zero batch is fine)."""
    if any(v == 0 for v in x_shape[1:]):
        raise ValueError(f"input: expected non-zero channel and spatial sizes, got shape {tuple(x_shape)}")
    if any(v == 0 for v in w_shape):
        raise ValueError(f"weight: expected non-zero sizes, got shape {tuple(w_shape)}")


def geometry_2d(x_shape, w_shape, y_shape, stride, before, after, dilation, groups,
                mode: int) -> ConvGeometry:
    """The ConvGeometry of checked conv1d or conv2d shapes and arguments (per spatial axis);
    conv1d is the conv2d of height 1."""
    if len(x_shape) == 3:
        return ConvGeometry((x_shape[0], x_shape[1], 1, x_shape[2]),
                            (w_shape[0], w_shape[1], 1, w_shape[2]),
                            (y_shape[0], y_shape[1], 1, y_shape[2]), (1, stride[0]),
                            (0, before[0], 0, after[0]), (1, dilation[0]), groups, mode)
    return ConvGeometry(tuple(x_shape), tuple(w_shape), tuple(y_shape), tuple(stride),
                        (before[0], before[1], after[0], after[1]), tuple(dilation), groups, mode)


def _batched(x: np.ndarray, dims: int) -> tuple[np.ndarray, bool]:
    """x with a batch axis, and whether it had one (PyTorch accepts unbatched input)."""
    return (x, True) if x.ndim == dims + 2 else (x[None], False)


def _conv_inputs(input, weight, bias, dims: int):
    """The checked arrays of a convolution or transposed convolution: input (batched or not),
    weight, bias (or None) on one device with one float dtype; then input with a batch axis and
    whether it had one."""
    array_module(input=input, weight=weight, bias=bias)
    x = float_array(input, "input", (dims + 1, dims + 2), half=True)
    w = float_array(weight, "weight", (dims + 2,), half=True)
    b = None if bias is None else float_array(bias, "bias", (1,), half=True)
    same_dtype(x, "input", weight=w, bias=b)
    return (x, w, b, *_batched(x, dims))


def _conv_output(out, shape_2d, dims: int, batched: bool, x, w, b):
    """The output (out= or a new array) of a convolution or transposed convolution whose conv2d
    output shape is shape_2d (N, C, H, W), after checking that bias has its C values."""
    if b is not None and b.shape != (shape_2d[1],):
        raise ValueError(f"bias: expected shape ({shape_2d[1]},), got {b.shape}")
    shape = shape_2d[:2] + shape_2d[4 - dims:]
    return output_array(out, shape if batched else shape[1:], x.dtype, x, w, b)


def _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, out, dims,
          relu=False):
    x, w, b, xb, batched = _conv_inputs(input, weight, bias, dims)
    g = conv_geometry(xb.shape, w.shape, stride, padding, dilation, groups, padding_mode, dims)
    y = _conv_output(out, g.y_shape, dims, batched, x, w, b)
    if g.y_shape[0]:
        kernels(x).conv2d_forward(y.reshape(g.y_shape), xb.reshape(g.x_shape),
                                  w.reshape(g.w_shape), b, g.native(), relu)
    return y


def conv2d_relu(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                padding_mode="zeros", out=None):
    """max(conv2d(...), 0), the ReLU fused into the convolution's store (one pass over the
    output instead of two): inference of conv + ReLU (and of conv + BatchNorm + ReLU once the
    BatchNorm is folded into weight and bias). No gradient."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, out, 2,
                 relu=True)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", out=None):
    """2-D cross-correlation of input (N, C, H, W) or (C, H, W) with weight (K, C/groups, R, S).

    Same arguments and result as ``torch.nn.functional.conv2d`` (``padding`` may be an int, a
    pair, ``'same'`` or ``'valid'``), plus ``padding_mode`` as ``torch.nn.Conv2d`` has it, with
    ``'symmetric'`` (half-sample symmetric, SciPy's ``'symm'``) in addition, and ``out=``.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, out, 2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", out=None):
    """1-D cross-correlation of input (N, C, L) or (C, L) with weight (K, C/groups, kL); as conv2d."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, out, 1)


def _grad_output(grad_output, shape_2d, dims: int, like: np.ndarray, like_name: str) -> np.ndarray:
    """grad_output checked against the conv{dims}d shape of `shape_2d` and the dtype of `like`,
    reshaped to `shape_2d`."""
    dy = float_array(grad_output, "grad_output", (dims + 2,), half=True)
    same_dtype(like, like_name, grad_output=dy)
    expected = tuple(shape_2d[:2]) + tuple(shape_2d[4 - dims:])
    if dy.shape != expected:
        raise ValueError(f"grad_output: expected shape {expected}, got {dy.shape}")
    return dy.reshape(shape_2d)


def _conv_input(input_shape, weight, grad_output, stride, padding, dilation, groups,
                padding_mode, dims):
    array_module(weight=weight, grad_output=grad_output)
    w = float_array(weight, "weight", (dims + 2,), half=True)
    shape = shape_tuple(input_shape, "input_size", dims + 2)
    g = conv_geometry(shape, w.shape, stride, padding, dilation, groups, padding_mode, dims)
    dy = _grad_output(grad_output, g.y_shape, dims, w, "weight")
    dx = new_array(g.x_shape, w.dtype, w)
    if shape[0]:
        kernels(w).conv2d_backward_input(dx, dy, w.reshape(g.w_shape), None, g.native())
    return dx.reshape(shape)


def _conv_weight(input, weight_shape, grad_output, stride, padding, dilation, groups,
                 padding_mode, dims):
    array_module(input=input, grad_output=grad_output)
    x = float_array(input, "input", (dims + 2,), half=True)
    shape = shape_tuple(weight_shape, "weight_size", dims + 2)
    g = conv_geometry(x.shape, shape, stride, padding, dilation, groups, padding_mode, dims)
    dy = _grad_output(grad_output, g.y_shape, dims, x, "input")
    dw = zeros(g.w_shape, x.dtype, x)
    kernels(x).conv2d_backward_weight(dw, x.reshape(g.x_shape), dy, g.native())
    return dw.reshape(shape)


def _conv_bias(grad_output, dims):
    dy = float_array(grad_output, "grad_output", (dims + 2,), half=True)
    db = zeros(dy.shape[1], dy.dtype, dy)
    kernels(dy).conv2d_backward_bias(db, dy.reshape(dy.shape[:2] + (math.prod(dy.shape[2:]), 1)))
    return db


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                 padding_mode="zeros"):
    """Gradient of conv2d with respect to its input, as ``torch.nn.grad.conv2d_input``."""
    return _conv_input(input_size, weight, grad_output, stride, padding, dilation, groups,
                       padding_mode, 2)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1,
                  padding_mode="zeros"):
    """Gradient of conv2d with respect to its weight, as ``torch.nn.grad.conv2d_weight``."""
    return _conv_weight(input, weight_size, grad_output, stride, padding, dilation, groups,
                        padding_mode, 2)


def conv2d_bias(grad_output):
    """Gradient of conv2d with respect to its bias: grad_output summed over N, H, W."""
    return _conv_bias(grad_output, 2)


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                 padding_mode="zeros"):
    """Gradient of conv1d with respect to its input, as ``torch.nn.grad.conv1d_input``."""
    return _conv_input(input_size, weight, grad_output, stride, padding, dilation, groups,
                       padding_mode, 1)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1,
                  padding_mode="zeros"):
    """Gradient of conv1d with respect to its weight, as ``torch.nn.grad.conv1d_weight``."""
    return _conv_weight(input, weight_size, grad_output, stride, padding, dilation, groups,
                        padding_mode, 1)


def conv1d_bias(grad_output):
    """Gradient of conv1d with respect to its bias: grad_output summed over N and L."""
    return _conv_bias(grad_output, 1)
