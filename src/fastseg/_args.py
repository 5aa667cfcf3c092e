"""Argument checks shared by every op: each error names the argument, the expected and the given.

Arrays are NumPy arrays, or CUDA arrays (see fastseg._backend), which stay CuPy arrays on their
device: every helper here keeps an array on the side it came from."""

from __future__ import annotations

import numbers
import operator
import os

import numpy as np

from ._backend import as_device_array, is_device_array

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Same order as fastseg::PadMode in csrc/common/padding.h.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
# FASTSEG_POISON=1 fills freshly allocated outputs with NaN, so that an element a kernel forgets
# to write shows up in tests instead of passing as leftover memory.
POISON = os.environ.get("FASTSEG_POISON", "") not in ("", "0")


HALF_DTYPE = np.dtype(np.float16)


def _module_of(like):
    """numpy, or cupy for a CuPy array `like`."""
    if like is None or isinstance(like, np.ndarray):
        return np
    import cupy  # noqa: PLC0415 (like is a CuPy array: cupy is imported)
    return cupy


def new_array(shape, dtype, like=None):
    """An output array for a kernel to overwrite completely, on the device of `like` (poisoned
    with NaN, or the most negative integer, under FASTSEG_POISON)."""
    xp = _module_of(like)
    dtype = np.dtype(dtype)
    poison = np.nan if dtype.kind == "f" else np.iinfo(dtype).min
    if xp is np:
        return np.full(shape, poison, dtype) if POISON else np.empty(shape, dtype)
    with like.device:
        return xp.full(shape, poison, dtype) if POISON else xp.empty(shape, dtype)


def zeros(shape, dtype, like=None):
    """A zero-filled array (a gradient to accumulate into), on the device of `like`."""
    xp = _module_of(like)
    if xp is np:
        return np.zeros(shape, dtype)
    with like.device:
        return xp.zeros(shape, dtype)


def float_array(value, name: str, ndims: tuple[int, ...], half: bool = False):
    """A C-contiguous float32/float64 array with one of `ndims` dimensions (copied if needed).
    CUDA arrays stay on their device; with `half`, float16 CUDA arrays are accepted too (ops
    that accumulate in float32 on the GPU)."""
    device = is_device_array(value)
    if device:
        array = as_device_array(value)
    else:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    allowed = FLOAT_DTYPES + ((HALF_DTYPE,) if half and device else ())
    if array.dtype not in allowed:
        expected = "float32, float16 or float64" if len(allowed) == 3 else "float32 or float64"
        raise TypeError(f"{name}: expected dtype {expected}, got {array.dtype}")
    if array.ndim not in ndims:
        expected = " or ".join(str(n) for n in ndims)
        raise ValueError(f"{name}: expected a {expected}-D array, got shape {array.shape}")
    return _module_of(array).ascontiguousarray(array)


def same_dtype(reference: np.ndarray, reference_name: str, **others: np.ndarray | None) -> None:
    for name, array in others.items():
        if array is not None and array.dtype != reference.dtype:
            raise TypeError(
                f"{name}: expected dtype {reference.dtype} (the dtype of {reference_name}), "
                f"got {array.dtype}"
            )


def integer(value, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{name}: expected an int, got {type(value).__name__}") from None
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return value


def int_tuple(value, n: int, name: str, minimum: int | None = None) -> tuple[int, ...]:
    """An int or a sequence of n ints, each >= minimum, as a tuple of n ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{name}: expected {n} values, got {len(value)}")
        return tuple(integer(v, name, minimum) for v in value)
    return (integer(value, name, minimum),) * n


def shape_tuple(value, name: str, ndim: int) -> tuple[int, ...]:
    shape = tuple(value) if isinstance(value, (tuple, list)) else None
    if shape is None or len(shape) != ndim:
        raise ValueError(f"{name}: expected a shape of {ndim} ints, got {value!r}")
    return tuple(integer(v, name, 0) for v in shape)


def padding_mode(value) -> int:
    if value not in PADDING_MODES:
        raise ValueError(f"padding_mode: expected one of {', '.join(PADDING_MODES)}, got {value!r}")
    return PADDING_MODES.index(value)


def output_array(out, shape: tuple[int, ...], dtype: np.dtype, *inputs):
    """`out` checked against the result's shape, dtype and device (those of inputs[0]), or a
    new array there."""
    like = inputs[0]
    if out is None:
        return new_array(shape, dtype, like)
    xp = _module_of(like)
    if not isinstance(out, xp.ndarray):
        raise TypeError(f"out: expected a {xp.__name__}.ndarray like the inputs, got "
                        f"{type(out).__name__}")
    if xp is not np and out.device != like.device:
        raise ValueError(f"out: expected an array on device {like.device.id}, got device "
                         f"{out.device.id}")
    if out.shape != tuple(shape):
        raise ValueError(f"out: expected shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"out: expected dtype {dtype}, got {out.dtype}")
    if not out.flags.c_contiguous or not getattr(out.flags, "writeable", True):
        raise ValueError("out: expected a writeable C-contiguous array")
    for array in inputs:
        if array is not None and xp.shares_memory(out, array):
            raise ValueError("out: must not overlap an input")
    return out
