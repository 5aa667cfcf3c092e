"""Gradient kernels, as ``torch.nn.grad``: each returns a new array (the gradient itself)."""

from .ops.conv import (conv1d_bias, conv1d_input, conv1d_weight, conv2d_bias, conv2d_input,
                       conv2d_weight)
from .ops.conv_transpose import (conv_transpose1d_bias, conv_transpose1d_input,
                                 conv_transpose1d_weight, conv_transpose2d_bias,
                                 conv_transpose2d_input, conv_transpose2d_weight)
from .ops.gram import gram_input
from .ops.pool import avg_pool2d_input, interpolate_input, max_pool2d_input, max_unpool2d_input

__all__ = ["conv1d_input", "conv1d_weight", "conv1d_bias", "conv2d_input", "conv2d_weight",
           "conv2d_bias", "conv_transpose1d_input", "conv_transpose1d_weight",
           "conv_transpose1d_bias", "conv_transpose2d_input", "conv_transpose2d_weight",
           "conv_transpose2d_bias", "gram_input", "max_pool2d_input", "max_unpool2d_input",
           "avg_pool2d_input", "interpolate_input"]
