"""Running a test on each device: `device` is "cpu" (NumPy arrays, fastseg._C) or "cuda" (CuPy
arrays, fastseg._cuda; skipped unless CuPy imports and fastseg.cuda.is_available()). The same
test body then checks both kernels against the same float64 references."""

from __future__ import annotations

import numpy as np
import pytest

import fastseg

try:
    import cupy
except ImportError:  # the CUDA cases skip
    cupy = None

GPU = cupy is not None and fastseg.cuda.is_available()
requires_gpu = pytest.mark.skipif(not GPU, reason="needs CuPy and a CUDA GPU fastseg can use")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=requires_gpu)])
def device(request):
    return request.param


def to_device(array, device: str):
    """array (NumPy) on `device`: unchanged for "cpu", a CuPy copy for "cuda"."""
    return cupy.asarray(array) if device == "cuda" else array


def to_host(array, device: str) -> np.ndarray:
    """A kernel's result back as NumPy, after checking it stayed on `device`."""
    if device == "cuda":
        assert isinstance(array, cupy.ndarray), f"expected a cupy.ndarray, got {type(array)}"
        assert array.device.id == cupy.cuda.Device().id
        return cupy.asnumpy(array)
    assert isinstance(array, np.ndarray), f"expected a numpy.ndarray, got {type(array)}"
    return array


def on(device: str, f):
    """f, taking and returning NumPy arrays, run with its array arguments on `device`."""
    def run(*args, **kwargs):
        args = [to_device(a, device) if isinstance(a, np.ndarray) else a for a in args]
        kwargs = {k: to_device(v, device) if isinstance(v, np.ndarray) else v
                  for k, v in kwargs.items()}
        result = f(*args, **kwargs)
        if isinstance(result, dict):
            return {k: to_host(v, device) for k, v in result.items()}
        return to_host(result, device)
    return run


class FakeCudaArray:
    """An object exposing __cuda_array_interface__ over a pointer that is no device memory: the
    bindings' argument checks run on it without a GPU (the call fails later, at the device)."""

    def __init__(self, shape, typestr="<f4", readonly=False, strides=None, ptr=0x1000):
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": typestr,
                                         "data": (ptr, readonly), "strides": strides,
                                         "version": 3, "stream": 1}
