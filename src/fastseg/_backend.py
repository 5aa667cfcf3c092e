"""Which kernels run a call: fastseg._C for NumPy arrays, fastseg._cuda for CUDA arrays.

CUDA arrays are CuPy arrays, or any object that exposes ``__cuda_array_interface__`` or DLPack
on a CUDA device (PyTorch, Numba, JAX...), which fastseg views as CuPy arrays without copying.
Results of CUDA inputs are CuPy arrays on the inputs' device, computed on CuPy's current stream.
CuPy is imported only when such an array is passed: fastseg never needs it otherwise.

The pattern at a call site::

    xp = array_module(input=input, weight=weight)   # numpy or cupy; TypeError on a mix
    ...
    kernels(x).conv2d_forward(y, x, w, b, geometry)  # fastseg._C or fastseg._cuda
"""

from __future__ import annotations

import sys

import numpy as np

from . import _C

# DLPack device types that live in CUDA memory: kDLCUDA, kDLCUDAHost, kDLCUDAManaged.
_DLPACK_CUDA = (2, 3, 13)


def _cupy():
    import cupy  # noqa: PLC0415 (optional dependency, imported on first use)
    return cupy


def is_device_array(value) -> bool:
    """Whether value is a CUDA array (CuPy, __cuda_array_interface__, or DLPack on CUDA)."""
    if isinstance(value, np.ndarray) or value is None:
        return False
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(value, cupy.ndarray):
        return True
    try:
        if hasattr(value, "__cuda_array_interface__"):
            return True
        return (hasattr(value, "__dlpack_device__")
                and int(value.__dlpack_device__()[0]) in _DLPACK_CUDA)
    except Exception:  # a CPU tensor may raise from these properties
        return False


def as_device_array(value):
    """A CuPy view of a CUDA array (no copy for CuPy arrays and interface exporters)."""
    cupy = _cupy()
    if isinstance(value, cupy.ndarray):
        return value
    if hasattr(value, "__cuda_array_interface__"):
        return cupy.asarray(value)
    return cupy.from_dlpack(value)


def array_module(**arrays):
    """numpy, or cupy when the named arrays (None skipped) are CUDA arrays; TypeError naming the
    arguments when some are CUDA arrays and others are not."""
    device, host = [], []
    for name, value in arrays.items():
        if value is not None:
            (device if is_device_array(value) else host).append(name)
    if not device:
        return np
    if host:
        raise TypeError(f"{host[0]}: expected a CUDA array like {device[0]} (all arrays of a "
                        f"call on one device), got {type(arrays[host[0]]).__name__}; move it "
                        f"with cupy.asarray() or cupy.asnumpy()")
    return _cupy()


def kernels(array):
    """The kernel module for arrays like `array` (already converted): fastseg._C for NumPy
    arrays, fastseg._cuda for CuPy arrays (RuntimeError when it cannot run)."""
    if isinstance(array, np.ndarray):
        return _C
    from .cuda import _module  # noqa: PLC0415 (loaded on the first CUDA call)
    return _module()
