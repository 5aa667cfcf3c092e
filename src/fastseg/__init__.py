"""fastseg: fast, verified kernels for image segmentation and the convolution math under it."""

from . import _C
from ._C import __version__, cpu_isa, get_num_threads, set_num_threads
from . import cuda, grad
from .ops.conv import conv1d, conv2d

__all__ = ["__version__", "cpu_isa", "get_num_threads", "set_num_threads", "cuda", "grad",
           "conv1d", "conv2d"]
