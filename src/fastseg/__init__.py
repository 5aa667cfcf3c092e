"""fastseg: fast, verified kernels for image segmentation and the convolution math under it."""

from . import _C
from ._C import __version__, cpu_isa, get_num_threads, set_memory_reuse, set_num_threads
from . import cuda, grad
from .ops.conv import conv1d, conv2d
from .ops.conv_transpose import conv_transpose1d, conv_transpose2d
from .ops.gram import gram
from .ops.pool import avg_pool2d, interpolate, max_pool2d, max_unpool2d
from . import signal, filters, image
from .autograd import Tensor, cat, enable_grad, from_numpy, manual_seed, no_grad, stack, tensor
from . import autograd, nn, optim
from .checkpoint import load_checkpoint, save_checkpoint

__all__ = ["__version__", "cpu_isa", "get_num_threads", "set_num_threads", "set_memory_reuse", "cuda", "grad",
           "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "gram",
           "max_pool2d", "max_unpool2d", "avg_pool2d", "interpolate",
           "Tensor", "tensor", "from_numpy", "cat", "stack", "no_grad", "enable_grad",
           "manual_seed", "autograd", "nn", "optim", "save_checkpoint", "load_checkpoint"]
