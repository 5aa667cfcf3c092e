"""Direct correlation on fastseg's conv2d core.

Every direct result of the signal module (correlate, convolve, their 2-D forms, every mode and
boundary) is a window of one *full* cross-correlation, computed by ``_C.conv2d_forward`` on a
single image and channel: x (1, 1, H, W), w (1, 1, R, S). Per axis, with an input of length N
extended by the boundary and a kernel of length M,

    z[k] = sum_{r < M} x[k - (M - 1) + r] * w[r],   k in [0, N + M - 1)

and a window [s, s + L) of z is the core's output for padding (before, after) =
(M - 1 - s, L - N + s). 1-D signals are images of height 1. Convolution is the correlation with
the kernel flipped on every axis.
"""

from __future__ import annotations

import numpy as np

from .. import _C
from .._args import PADDING_MODES, new_array

# Outputs per row when a long 1-D signal is cut into rows so that the core's threads share it.
_ROW_SPLIT = 1 << 14
# Output rows narrower than this (16 float32 lanes of AVX-512) run transposed when taller.
_NARROW = 16


def correlate_window(x: np.ndarray, w: np.ndarray, starts, lengths, pad_mode: str = "zeros",
                     fillvalue: float = 0.0) -> np.ndarray:
    """Window ``[starts, starts + lengths)`` of the full cross-correlation of x (H, W) with
    w (R, S), x extended by `pad_mode` (a conv2d padding mode; 'zeros' with `fillvalue`).

    x and w are C-contiguous and of the same float dtype; the result is a new (L0, L1) array.
    """
    if lengths[1] < _NARROW and lengths[0] > lengths[1]:
        # The core's vectors run along output rows: a tall, narrow window runs transposed.
        y = correlate_window(np.ascontiguousarray(x.T), np.ascontiguousarray(w.T), starts[::-1],
                             lengths[::-1], pad_mode, fillvalue)
        return np.ascontiguousarray(y.T)
    (H, W), (R, S) = x.shape, w.shape
    before = [R - 1 - starts[0], S - 1 - starts[1]]
    after = [lengths[0] - H + starts[0], lengths[1] - W + starts[1]]
    if pad_mode == "zeros":
        if fillvalue != 0:
            return _filled(x, w, before, after, lengths, fillvalue)
        if w.size > x.size:
            # Fewer multiply-adds with the roles swapped: corr(x, w)[k] = corr(w, x)[N+M-2-k].
            swapped = [x.shape[i] + w.shape[i] - 1 - starts[i] - lengths[i] for i in (0, 1)]
            return correlate_window(w, x, swapped, lengths)[::-1, ::-1].copy()
        # Padding beyond what the window reads is cropped from x instead.
        r0, c0 = max(0, -before[0]), max(0, -before[1])
        r1, c1 = H - max(0, -after[0]), W - max(0, -after[1])
        if r0 >= r1 or c0 >= c1:  # the window reads only padding
            return np.zeros(lengths, x.dtype)
        if (r0, c0, r1, c1) != (0, 0, H, W):
            x = np.ascontiguousarray(x[r0:r1, c0:c1])
            before, after = [max(0, b) for b in before], [max(0, a) for a in after]
        if x.shape[0] == 1 and R == 1 and lengths[1] >= 2 * _ROW_SPLIT and _C.get_num_threads() > 1:
            return _long_row(x[0], w[0], before[1], after[1])[None]
    return _core(x, w, before, after, pad_mode)


def core(x, w, before, after, pad_mode, groups=1):
    """y (1, K, P, Q) = _C.conv2d_forward of x (1, C, H, W) with w (K, C/groups, R, S), padded by
    (top, left) = before and (bottom, right) = after (>= 0, any size) in conv2d mode `pad_mode`."""
    P = x.shape[2] + before[0] + after[0] - w.shape[2] + 1
    Q = x.shape[3] + before[1] + after[1] - w.shape[3] + 1
    y = new_array((1, w.shape[0], P, Q), x.dtype)
    geometry = _C.ConvGeometry(1, 1, before[0], before[1], after[0], after[1], 1, 1, groups,
                               PADDING_MODES.index(pad_mode))
    _C.conv2d_forward(y, x, w, None, geometry)
    return y


def _core(x, w, before, after, pad_mode):
    """The 2-D correlation of x (H, W) with w (R, S) padded by before/after (>= 0)."""
    y = core(x[None, None], w[None, None], before, after, pad_mode)
    return y[0, 0]


def _filled(x, w, before, after, lengths, fillvalue):
    """The window with x extended by a constant: padded explicitly, then a valid correlation."""
    pads = [(max(0, b), max(0, a)) for b, a in zip(before, after)]
    crop = tuple(slice(max(0, -b), n - max(0, -a)) for b, a, n in zip(before, after, x.shape))
    if any(s.start >= s.stop for s in crop):  # the window reads only the fill value
        return np.full(lengths, fillvalue * w.sum(), x.dtype)
    xp = np.pad(x[crop], pads, constant_values=x.dtype.type(fillvalue))
    return _core(xp, w, (0, 0), (0, 0), "zeros")


def _long_row(x, w, before, after):
    """A long zero-padded 1-D correlation cut into rows of _ROW_SPLIT outputs (each row copies
    its M - 1 overlapping samples), so that the core spreads the rows over its threads."""
    L = x.size + before + after - w.size + 1
    rows = -(-L // _ROW_SPLIT)
    padded = np.zeros(rows * _ROW_SPLIT + w.size - 1, x.dtype)
    padded[before:before + x.size] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, _ROW_SPLIT + w.size - 1)
    y = _core(np.ascontiguousarray(windows[::_ROW_SPLIT]), w[None], (0, 0), (0, 0), "zeros")
    return y.reshape(-1)[:L]
