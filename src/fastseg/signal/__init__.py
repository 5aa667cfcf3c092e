"""scipy.signal's convolution functions on fastseg's kernels, plus an n-point moving average.

``convolve``, ``correlate``, ``convolve2d``, ``correlate2d``, ``fftconvolve``, ``oaconvolve`` and
``choose_conv_method`` take SciPy's arguments and return SciPy's results (shapes, dtypes,
alignment of 'same', the swap of inputs in 'valid'), so that code written for scipy.signal runs
unchanged with ``from fastseg import signal``.

Real float32/float64 inputs of one or two dimensions (integer or bool arrays mixed with them
included, when the result type is float32/float64; any number of dimensions for fftconvolve and
oaconvolve) run on fastseg: the direct method on the conv2d core (one image, one channel; 1-D
as height 1), FFTs through scipy.fft on ``fastseg.get_num_threads()`` workers (one for small
transforms), ``method='auto'`` by a cost model of these two paths measured on this machine (see
``_method.py``). Everything else (complex, integer-only, float16 or object inputs, N-d inputs
of the other functions, empty arrays, bad arguments) is handed to scipy.signal itself, so
results and error messages are SciPy's own. One deliberate difference: ``convolve2d``/``correlate2d``
with boundary 'wrap'/'symm' and an empty ``in1`` in 'full' mode raise ValueError where SciPy
divides by zero and kills the process.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.signal as _scipy

from .._args import integer
from . import _direct, _fft, _method

__all__ = ["convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "oaconvolve",
           "choose_conv_method", "moving_average"]

MODES = ("full", "same", "valid")
METHODS = ("auto", "direct", "fft")
# scipy.signal.convolve2d boundary names -> conv2d padding modes.
BOUNDARIES = {"fill": "zeros", "pad": "zeros", "wrap": "circular", "circular": "circular",
              "symm": "symmetric", "symmetric": "symmetric"}
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


# ---- Which inputs run on fastseg ------------------------------------------------------------

def _fast_pair(in1, in2, ndims=(1, 2), ints=True):
    """(a, b) as arrays of their result dtype when fastseg computes this pair, else None.

    Both must be non-empty with the same number of dimensions in `ndims`, real, float32/float64
    or (with `ints`) integer/bool, with a float32/float64 result type."""
    a, b = np.asarray(in1), np.asarray(in2)
    kinds = "biuf" if ints else "f"
    if a.dtype.kind not in kinds or b.dtype.kind not in kinds:
        return None
    if a.dtype.kind == "f" and a.dtype not in FLOATS or b.dtype.kind == "f" and b.dtype not in FLOATS:
        return None
    dtype = np.result_type(a, b)
    if dtype not in FLOATS or a.ndim != b.ndim or a.ndim not in ndims or not a.size or not b.size:
        return None
    return a.astype(dtype, copy=False), b.astype(dtype, copy=False)


def _valid_order(mode, s1, s2):
    """For 'valid': whether in1 must be at least as large as in2 in every dimension or the other
    way round; None when neither holds (SciPy raises)."""
    if mode != "valid":
        return True
    if all(m >= n for m, n in zip(s1, s2)):
        return True
    if all(n >= m for m, n in zip(s1, s2)):
        return False
    return None


# ---- Windows of the full result -------------------------------------------------------------

def _window(n: int, m: int, mode: str, same_start: int) -> tuple[int, int]:
    """(start, length) of the `mode` output in the full result of lengths n (in1) and m (in2)."""
    if mode == "full":
        return 0, n + m - 1
    if mode == "valid":
        return min(n, m) - 1, abs(n - m) + 1
    return same_start, n


def _windows(s1, s2, mode, centered=True):
    """Per axis (start, length). 'same' is centered in the full result as scipy.signal.convolve
    and correlate have it (start (m-1)//2); correlate2d's 'same' starts at m//2 instead."""
    return [_window(n, m, mode, (m - 1) // 2 if centered else m // 2) for n, m in zip(s1, s2)]


def _direct_result(a, b, mode, flip, centered=True, boundary="fill", fillvalue=0.0):
    """The direct method: the window of the full correlation of a with b (flipped: convolution)."""
    windows = _windows(a.shape, b.shape, mode, centered)
    if mode == "valid":  # reads no boundary (when in2 is the larger, the roles swap)
        boundary, fillvalue = "fill", 0.0
    if flip:
        b = b[(slice(None, None, -1),) * b.ndim]
    starts, lengths = [s for s, _ in windows], [n for _, n in windows]
    if a.ndim == 1:
        a, b, starts, lengths = a[None], b[None], [0, *starts], [1, *lengths]
    y = _direct.correlate_window(np.ascontiguousarray(a), np.ascontiguousarray(b), starts,
                                 lengths, BOUNDARIES[boundary], fillvalue)
    return y.reshape([n for _, n in windows])


def _fft_window(a, b, windows):
    """A window of the full convolution by FFT: overlap-add for a long 1-D signal where blocks
    pay, else one windowed FFT."""
    blocks = _fft.single_axis_blocks(a.shape, b.shape)
    if blocks:
        full = _fft.full_overlap_add(a, b, [blocks[0]])
        return full[tuple(slice(s, s + n) for s, n in windows)].copy()
    return _fft.window_fft(a, b, windows).copy()


def _fft_result(a, b, mode, flip):
    """The FFT method (a window of the full convolution), with SciPy's NaN/inf warning."""
    if not flip:
        b = b[(slice(None, None, -1),) * b.ndim]
    out = _fft_window(a, b, _windows(a.shape, b.shape, mode))
    first = out.flat[0] if out.size else 0.0
    if np.isnan(first) or np.isinf(first):
        warnings.warn("Use of fft convolution on input with NAN or inf results in NAN or inf "
                      "output. Consider using method='direct' instead.", RuntimeWarning,
                      stacklevel=4)
    return out


def _method_for(a, b, mode, method):
    if method != "auto":
        return method
    return _method.choose(a.shape, b.shape, _windows(a.shape, b.shape, mode), a.dtype)


# ---- scipy.signal's API ---------------------------------------------------------------------

def _nd(in1, in2, mode, method, flip, scipy_fn):
    pair = _fast_pair(in1, in2)
    if pair is None or mode not in MODES or method not in METHODS \
            or _valid_order(mode, pair[0].shape, pair[1].shape) is None:
        return scipy_fn(in1, in2, mode=mode, method=method)
    a, b = pair
    if _method_for(a, b, mode, method) == "fft":
        return _fft_result(a, b, mode, flip)
    return _direct_result(a, b, mode, flip)


def convolve(in1, in2, mode="full", method="auto"):
    """Convolve two arrays, as ``scipy.signal.convolve`` (true convolution: the kernel is
    flipped on every axis). ``method='auto'`` picks fastseg's faster path by its cost model."""
    return _nd(in1, in2, mode, method, True, _scipy.convolve)


def correlate(in1, in2, mode="full", method="auto"):
    """Cross-correlate two arrays, as ``scipy.signal.correlate``:
    z[k] = sum_l in1[l] * in2[l - k] over the full range (no flip)."""
    return _nd(in1, in2, mode, method, False, _scipy.correlate)


def _fillvalue(boundary, fillvalue, dtype):
    """The fill value in `dtype` when it is a real number (or one-element real array), else None
    (SciPy then converts or rejects it)."""
    if BOUNDARIES.get(boundary) != "zeros":
        return 0.0
    value = np.asarray(fillvalue)
    if value.dtype.kind not in "biuf" or value.size != 1:
        return None
    with np.errstate(over="ignore"):
        return float(value.astype(dtype).reshape(()))


def _guard_empty(in1, in2, mode, boundary):
    """SciPy divides by zero when wrapping or reflecting around an empty in1; raise instead."""
    a, b = np.asarray(in1), np.asarray(in2)
    if mode == "full" and boundary in BOUNDARIES and BOUNDARIES[boundary] != "zeros" \
            and a.ndim == b.ndim == 2 and a.size == 0 and b.size > 0:
        raise ValueError(f"in1: boundary {boundary!r} needs a non-empty array, got shape {a.shape}")


def _2d(in1, in2, mode, boundary, fillvalue, flip, scipy_fn):
    _guard_empty(in1, in2, mode, boundary)
    pair = _fast_pair(in1, in2, ndims=(2,))
    fill = None if pair is None else _fillvalue(boundary, fillvalue, pair[0].dtype)
    if pair is None or fill is None or mode not in MODES or boundary not in BOUNDARIES \
            or _valid_order(mode, pair[0].shape, pair[1].shape) is None:
        return scipy_fn(in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
    a, b = pair
    # 'same': convolve2d is centred like convolve; correlate2d starts m//2 (not (m-1)//2) into
    # the full correlation, one sample off scipy.signal.correlate for even m (SciPy documents it).
    return _direct_result(a, b, mode, flip, centered=flip, boundary=boundary, fillvalue=fill)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """Convolve two 2-D arrays, as ``scipy.signal.convolve2d``: true convolution, boundary
    'fill' (with `fillvalue`), 'wrap' or 'symm'. Always the direct method."""
    return _2d(in1, in2, mode, boundary, fillvalue, True, _scipy.convolve2d)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """Cross-correlate two 2-D arrays, as ``scipy.signal.correlate2d`` (boundaries as
    convolve2d). Always the direct method."""
    return _2d(in1, in2, mode, boundary, fillvalue, False, _scipy.correlate2d)


def _fft_args(in1, in2, mode, axes):
    """(a, b, axes, every_axis) for fastseg's FFT paths, or None to hand the call to SciPy:
    real float32/float64 arrays, valid mode and axes, broadcastable non-transformed axes.
    every_axis: the given axes are all of them (the others are then size-1 broadcasts, for
    which the convolution of a window is the same)."""
    pair = _fast_pair(in1, in2, ndims=range(1, 64), ints=False)
    if pair is None or mode not in MODES:
        return None
    a, b = pair
    if axes is None:
        axes = list(range(a.ndim))
        every_axis = True
    else:
        axes = np.atleast_1d(np.asarray(axes))
        if axes.dtype.kind not in "iu" or axes.ndim != 1 or not axes.size \
                or ((axes < -a.ndim) | (axes >= a.ndim)).any():
            return None
        axes = [int(i) % a.ndim for i in axes]
        if len(set(axes)) != len(axes):
            return None
        every_axis = len(axes) == a.ndim
    axes = [i for i in axes if a.shape[i] != 1 and b.shape[i] != 1]
    if any(a.shape[i] != b.shape[i] and 1 not in (a.shape[i], b.shape[i])
           for i in range(a.ndim) if i not in axes):
        return None
    order = _valid_order(mode, [a.shape[i] for i in axes], [b.shape[i] for i in axes])
    if order is None:
        return None
    return (a, b, axes, every_axis) if order else (b, a, axes, every_axis)


def _apply_mode(full, s1, s2, mode, axes):
    """SciPy's crop of the full FFT result: 'same' centred on in1's shape, 'valid' on the part
    that needs no padding along `axes`."""
    if mode == "same":
        shape = s1
    elif mode == "valid":
        shape = [s1[i] - s2[i] + 1 if i in axes else full.shape[i] for i in range(full.ndim)]
    else:
        shape = full.shape
    starts = [(f - n) // 2 for f, n in zip(full.shape, shape)]
    return full[tuple(slice(s, s + n) for s, n in zip(starts, shape))].copy()


def fftconvolve(in1, in2, mode="full", axes=None):
    """Convolve two N-d arrays by FFT, as ``scipy.signal.fftconvolve`` (scipy.fft on fastseg's
    threads; over every axis, only the requested window is transformed back)."""
    args = _fft_args(in1, in2, mode, axes)
    if args is None:
        return _scipy.fftconvolve(in1, in2, mode=mode, axes=axes)
    a, b, axes, every_axis = args
    if every_axis:
        return _fft.window_fft(a, b, _windows(a.shape, b.shape, mode)).copy()
    return _apply_mode(_fft.full_fft(a, b, axes), a.shape, b.shape, mode, axes)


def oaconvolve(in1, in2, mode="full", axes=None):
    """Convolve two N-d arrays by overlap-add, as ``scipy.signal.oaconvolve``: along a single
    transformed axis the larger input is cut into blocks of the length that minimises the FFT
    work per output sample. Where blocks do not pay, and over two or more axes (where fastseg's
    windowed FFT is faster on this machine), this is ``fftconvolve``."""
    args = _fft_args(in1, in2, mode, axes)
    if args is None:
        return _scipy.oaconvolve(in1, in2, mode=mode, axes=axes)
    a, b, fft_axes, every_axis = args
    if len(fft_axes) != 1 or not _fft.block_lengths(a.shape, b.shape, fft_axes):
        return fftconvolve(in1, in2, mode, axes)
    if every_axis:
        return _fft_window(a, b, _windows(a.shape, b.shape, mode))
    return _apply_mode(_fft.full_overlap_add(a, b, fft_axes), a.shape, b.shape, mode, fft_axes)


def choose_conv_method(in1, in2, mode="full", measure=False):
    """'direct' or 'fft' for ``convolve``/``correlate`` of these inputs, as
    ``scipy.signal.choose_conv_method``; for inputs fastseg computes, by fastseg's cost model
    (or, with ``measure=True``, by timing both fastseg paths: returns (method, times))."""
    pair = _fast_pair(in1, in2)
    if pair is None or mode not in MODES or _valid_order(mode, pair[0].shape, pair[1].shape) is None:
        return _scipy.choose_conv_method(in1, in2, mode=mode, measure=measure)
    a, b = pair
    if not measure:
        return _method_for(a, b, mode, "auto")
    times = {m: _best_time(lambda: convolve(a, b, mode=mode, method=m)) for m in ("fft", "direct")}
    return ("fft" if times["fft"] < times["direct"] else "direct"), times


def _best_time(fn, repeat: int = 3) -> float:
    """Seconds per call: the best of `repeat` runs of enough calls to last about 5 ms."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= 5e-4 or number >= 10**6:
            break
        number *= 10
    best = elapsed / number
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number * 10):
            fn()
        best = min(best, (time.perf_counter() - start) / (number * 10))
    return best


# ---- fastseg additions ----------------------------------------------------------------------

def moving_average(x, n, mode="valid"):
    """The n-point moving average of a 1-D signal: the FIR filter h = (1/n, ..., 1/n) of the
    seed notes, y = h * x (true convolution, ``convolve(x, h, mode)``).

    ``mode='valid'`` (default) keeps the len(x) - n + 1 outputs that average n real samples,
    y[i] = mean(x[i : i + n]), i.e. the causal filter output at times n-1 .. len(x)-1 (what a
    stock chart's n-day average shows); ``'full'`` is the causal filter with zero initial state,
    y[t] = (x[t] + x[t-1] + ... + x[t-n+1]) / n for t < len(x) + n - 1; ``'same'`` centres it.
    float32 stays float32; other real inputs are computed in float64.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x: expected a real array, got dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"x: expected a 1-D array, got shape {x.shape}")
    n = integer(n, "n", 1)
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    if mode == "valid" and n > x.size:
        raise ValueError(f"n: 'valid' needs n <= len(x) = {x.size}, got {n}")
    if x.size == 0:
        raise ValueError("x: expected a non-empty array, got shape (0,)")
    dtype = x.dtype if x.dtype in FLOATS else np.dtype(np.float64)
    return convolve(x.astype(dtype, copy=False), np.full(n, 1 / n, dtype), mode=mode)
