"""Argument checks shared by every op: each error names the argument, the expected and the given."""

from __future__ import annotations

import numbers
import operator
import os

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Same order as fastseg::PadMode in csrc/common/padding.h.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
# FASTSEG_POISON=1 fills freshly allocated outputs with NaN, so that an element a kernel forgets
# to write shows up in tests instead of passing as leftover memory.
POISON = os.environ.get("FASTSEG_POISON", "") not in ("", "0")


def new_array(shape, dtype) -> np.ndarray:
    """An output array for a kernel to overwrite completely."""
    return np.full(shape, np.nan, dtype) if POISON else np.empty(shape, dtype)


def float_array(value, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    """A C-contiguous float32/float64 array with one of `ndims` dimensions (copied if needed)."""
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {array.dtype}")
    if array.ndim not in ndims:
        expected = " or ".join(str(n) for n in ndims)
        raise ValueError(f"{name}: expected a {expected}-D array, got shape {array.shape}")
    return np.ascontiguousarray(array)


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


def output_array(out, shape: tuple[int, ...], dtype: np.dtype, *inputs: np.ndarray) -> np.ndarray:
    """`out` checked against the result's shape and dtype, or a new array."""
    if out is None:
        return new_array(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out: expected a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out: expected shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"out: expected dtype {dtype}, got {out.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out: expected a writeable C-contiguous array")
    for array in inputs:
        if array is not None and np.shares_memory(out, array):
            raise ValueError("out: must not overlap an input")
    return out
