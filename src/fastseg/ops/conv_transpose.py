"""conv_transpose1d / conv_transpose2d and their gradients (torch.nn.functional semantics).

A transposed convolution is the gradient of a convolution with respect to its input, and runs on
the conv2d kernels: for input x (N, C_in, H_in, W_in) and weight (C_in, C_out/groups, kH, kW),
the "underlying" conv2d has weight (K = C_in, C/groups = C_out/groups, R = kH, S = kW), input
the transposed output (N, C_out, H_out, W_out) and output x. Its padding is `padding` before and
`padding - output_padding` after (negative when output_padding > padding: the last rows of the
transposed output then receive nothing but the bias), so that it maps H_out back to H_in:
    forward          conv2d_backward_input(y, x, w)
    input gradient   conv2d_forward(dx, dy, w)
    weight gradient  conv2d_backward_weight(dw, x = dy, dy = x)
    bias gradient    dy summed over N, H, W
"""

from __future__ import annotations

from .._args import (float_array, int_tuple, integer, new_array, same_dtype, shape_tuple,
                     zeros)
from .._backend import array_module, kernels
from .conv import (ConvGeometry, _conv_bias, _conv_inputs, _conv_output, _grad_output,
                   geometry_2d, nonzero_sizes)

__all__ = ["conv_transpose1d", "conv_transpose2d", "conv_transpose1d_input",
           "conv_transpose1d_weight", "conv_transpose1d_bias", "conv_transpose2d_input",
           "conv_transpose2d_weight", "conv_transpose2d_bias"]


def _arguments(stride, padding, output_padding, groups, dilation, dims):
    """Checked (stride, padding, output_padding, groups, dilation), PyTorch's rules."""
    groups = integer(groups, "groups", 1)
    stride = int_tuple(stride, dims, "stride", 1)
    padding = int_tuple(padding, dims, "padding", 0)
    output_padding = int_tuple(output_padding, dims, "output_padding", 0)
    dilation = int_tuple(dilation, dims, "dilation", 1)
    if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"output_padding: expected each value smaller than the stride {stride} "
                         f"or the dilation {dilation}, got {output_padding}")
    return stride, padding, output_padding, groups, dilation


def transpose_geometry(x_shape, w_shape, args, dims: int) -> ConvGeometry:
    """The geometry of the conv2d whose input gradient is conv_transpose{dims}d of an input of
    x_shape (N, C_in, *spatial) with weight w_shape (C_in, C_out/groups, *kernel); `args` from
    _arguments. Its y_shape is x_shape, its x_shape the transposed output's shape."""
    stride, padding, output_padding, groups, dilation = args
    n, c_in, *size = x_shape
    k, cog, *kernel = w_shape
    nonzero_sizes(x_shape, w_shape)
    if k != c_in:
        raise ValueError(f"weight: expected {c_in} input channels (those of input) in dimension 0, "
                         f"got shape {tuple(w_shape)}")
    if c_in % groups:
        raise ValueError(f"groups: input channels ({c_in}) must be divisible by groups ({groups})")
    out = [(s - 1) * st - 2 * p + d * (r - 1) + o + 1
           for s, st, p, d, r, o in zip(size, stride, padding, dilation, kernel, output_padding)]
    if any(o < 1 for o in out):
        raise ValueError(f"input: the output size {tuple(out)} of input size {tuple(size)} is not "
                         f"positive (padding {padding} too large)")
    after = tuple(p - o for p, o in zip(padding, output_padding))
    return geometry_2d((n, cog * groups, *out), (c_in, cog, *kernel), (n, c_in, *size), stride,
                       padding, after, dilation, groups, 0)


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, out,
                    dims):
    x, w, b, xb, batched = _conv_inputs(input, weight, bias, dims)
    args = _arguments(stride, padding, output_padding, groups, dilation, dims)
    g = transpose_geometry(xb.shape, w.shape, args, dims)
    y = _conv_output(out, g.x_shape, dims, batched, x, w, b)
    if g.x_shape[0]:
        kernels(x).conv2d_backward_input(y.reshape(g.x_shape), xb.reshape(g.y_shape),
                                         w.reshape(g.w_shape), b, g.native())
    return y


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, out=None):
    """2-D transposed convolution of input (N, C_in, H, W) or (C_in, H, W) with weight
    (C_in, C_out/groups, kH, kW), as ``torch.nn.functional.conv_transpose2d`` (note its argument
    order: groups before dilation), plus ``out=``. Output size per axis:
    (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1.
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                           out, 2)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, out=None):
    """1-D transposed convolution of input (N, C_in, L) or (C_in, L) with weight
    (C_in, C_out/groups, kL); as conv_transpose2d."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                           out, 1)


def _input_size(out_size, kernel, args) -> tuple[int, ...] | None:
    """The spatial input size whose transposed output has out_size, or None if there is none."""
    stride, padding, output_padding, _, dilation = args
    size = []
    for o, r, st, p, op, d in zip(out_size, kernel, stride, padding, output_padding, dilation):
        span = o + 2 * p - d * (r - 1) - op - 1
        if span < 0 or span % st:
            return None
        size.append(span // st + 1)
    return tuple(size)


def _conv_transpose_input(grad_output, weight, stride, padding, output_padding, groups,
                          dilation, dims):
    array_module(weight=weight, grad_output=grad_output)
    w = float_array(weight, "weight", (dims + 2,), half=True)
    dy = float_array(grad_output, "grad_output", (dims + 2,), half=True)
    same_dtype(w, "weight", grad_output=dy)
    args = _arguments(stride, padding, output_padding, groups, dilation, dims)
    if 0 in dy.shape[1:]:
        raise ValueError(f"grad_output: expected non-zero channel and spatial sizes, got shape {dy.shape}")
    size = _input_size(dy.shape[2:], w.shape[2:], args)
    if size is None:
        raise ValueError(f"grad_output: spatial size {dy.shape[2:]} is not an output size of "
                         f"conv_transpose{dims}d with these arguments")
    shape = (dy.shape[0], w.shape[0], *size)
    g = transpose_geometry(shape, w.shape, args, dims)
    dy = _grad_output(dy, g.x_shape, dims, w, "weight")
    dx = new_array(g.y_shape, w.dtype, w)
    if shape[0]:
        kernels(w).conv2d_forward(dx, dy, w.reshape(g.w_shape), None, g.native())
    return dx.reshape(shape)


def _conv_transpose_weight(input, weight_shape, grad_output, stride, padding, output_padding,
                           groups, dilation, dims):
    array_module(input=input, grad_output=grad_output)
    x = float_array(input, "input", (dims + 2,), half=True)
    shape = shape_tuple(weight_shape, "weight_size", dims + 2)
    args = _arguments(stride, padding, output_padding, groups, dilation, dims)
    g = transpose_geometry(x.shape, shape, args, dims)
    dy = _grad_output(grad_output, g.x_shape, dims, x, "input")
    dw = zeros(g.w_shape, x.dtype, x)
    kernels(x).conv2d_backward_weight(dw, dy, x.reshape(g.y_shape), g.native())
    return dw.reshape(shape)


def conv_transpose2d_input(grad_output, weight, stride=1, padding=0, output_padding=0, groups=1,
                           dilation=1):
    """Gradient of conv_transpose2d with respect to its input, given grad_output
    (N, C_out, H_out, W_out): the conv2d of grad_output with the same weight. The input size
    follows from grad_output's (a size that no input produces is an error)."""
    return _conv_transpose_input(grad_output, weight, stride, padding, output_padding, groups,
                                 dilation, 2)


def conv_transpose2d_weight(input, weight_size, grad_output, stride=1, padding=0,
                            output_padding=0, groups=1, dilation=1):
    """Gradient of conv_transpose2d with respect to its weight (C_in, C_out/groups, kH, kW)."""
    return _conv_transpose_weight(input, weight_size, grad_output, stride, padding,
                                  output_padding, groups, dilation, 2)


def conv_transpose2d_bias(grad_output):
    """Gradient of conv_transpose2d with respect to its bias: grad_output summed over N, H, W."""
    return _conv_bias(grad_output, 2)


def conv_transpose1d_input(grad_output, weight, stride=1, padding=0, output_padding=0, groups=1,
                           dilation=1):
    """Gradient of conv_transpose1d with respect to its input; as conv_transpose2d_input."""
    return _conv_transpose_input(grad_output, weight, stride, padding, output_padding, groups,
                                 dilation, 1)


def conv_transpose1d_weight(input, weight_size, grad_output, stride=1, padding=0,
                            output_padding=0, groups=1, dilation=1):
    """Gradient of conv_transpose1d with respect to its weight (C_in, C_out/groups, kL)."""
    return _conv_transpose_weight(input, weight_size, grad_output, stride, padding,
                                  output_padding, groups, dilation, 1)


def conv_transpose1d_bias(grad_output):
    """Gradient of conv_transpose1d with respect to its bias: grad_output summed over N and L."""
    return _conv_bias(grad_output, 1)
