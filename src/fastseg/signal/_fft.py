"""FFT convolution of real float32/float64 arrays through scipy.fft, on fastseg's threads.

`window_fft` computes a window of the full convolution with the shortest circular convolution
that leaves the window unaliased (overlap-save: 'valid' needs only the input's length), a real
FFT along the last axis of just the rows each input has, and the inverse of just the window's
rows: about 1.4-2x less work than SciPy's fftconvolve for an image and a small kernel.
`full_fft` is SciPy's algorithm for any `axes` (one padded FFT of each input, product, inverse);
`full_overlap_add` cuts the larger input into blocks along each axis where that pays, convolves
every block with one FFT of the block size and adds the overlapping tails (used for 1-D
signals, see `single_axis_blocks`). The full results
broadcast over the axes not in `axes` (sizes equal or 1).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sp_fft
from scipy.special import lambertw

from .. import _C


# Transforms of fewer points than this run on one thread: handing work to scipy.fft's pool
# costs ~20 us, more than it saves below ~512x512 (measured: 64x64 1.4x, 256x256 1.04x slower
# on 2 workers; 512x512 and up 1.0-1.25x faster).
_PARALLEL_FFT = 1 << 18


def _workers(points: int) -> int:
    return _C.get_num_threads() if points >= _PARALLEL_FFT else 1


def full_shape(s1, s2, axes):
    return [s1[i] + s2[i] - 1 if i in axes else max(s1[i], s2[i]) for i in range(len(s1))]


def full_fft(a: np.ndarray, b: np.ndarray, axes: list[int]) -> np.ndarray:
    """Full convolution of a and b over `axes` by one FFT of each (result dtype of a and b)."""
    if not axes:
        return a * b
    shape = full_shape(a.shape, b.shape, axes)
    fshape = [sp_fft.next_fast_len(shape[i], True) for i in axes]
    workers = _workers(math.prod(fshape))
    spectrum = sp_fft.rfftn(a, fshape, axes=axes, workers=workers)
    spectrum = spectrum * sp_fft.rfftn(b, fshape, axes=axes, workers=workers)
    out = sp_fft.irfftn(spectrum, fshape, axes=axes, workers=workers)
    return out[tuple(slice(n) for n in shape)]


def window_lengths(s1, s2, windows) -> list[int]:
    """Per axis, the fast circular length whose result holds the window [start, start + length)
    of the full convolution unaliased: >= start + length, and the full result's tail beyond it
    (n + m - 1 - L samples, wrapped to the front) must end before the start."""
    return [sp_fft.next_fast_len(max(start + length, n + m - 1 - start), True)
            for (start, length), n, m in zip(windows, s1, s2)]


def window_fft(a: np.ndarray, b: np.ndarray, windows) -> np.ndarray:
    """Window [(start, length) per axis] of the full convolution of a and b (same ndim, same
    float dtype) by circular convolution of window_lengths."""
    lengths = window_lengths(a.shape, b.shape, windows)
    workers = _workers(math.prod(lengths))

    def spectrum(x):  # real FFT of x's rows, then the other axes (the padding's rows skipped)
        x = sp_fft.rfft(x, lengths[-1], axis=-1, workers=workers)
        for axis in range(x.ndim - 2, -1, -1):
            x = sp_fft.fft(x, lengths[axis], axis=axis, workers=workers, overwrite_x=True)
        return x

    product = spectrum(a)
    product *= spectrum(b)
    for axis, (start, length) in enumerate(windows[:-1]):
        product = sp_fft.ifft(product, axis=axis, workers=workers, overwrite_x=True)
        product = product[(slice(None),) * axis + (slice(start, start + length),)]
    out = sp_fft.irfft(product, lengths[-1], axis=-1, workers=workers)
    start, length = windows[-1]
    return out[..., start:start + length]


def _block_length(big: int, small: int) -> int | None:
    """Block length of the larger input along an axis for overlap-add, or None where one FFT of
    the whole axis is as good. Cost per output ~ B/(B - M + 1) * log(2B) with M - 1 = K samples
    of overlap; its minimum is B = -K * W_{-1}(-1/(2eK)) (W: Lambert's function)."""
    overlap = small - 1
    if overlap == 0 or small >= big / 2:
        return None
    optimum = -overlap * lambertw(-1 / (2 * math.e * overlap), k=-1).real
    block = sp_fft.next_fast_len(math.ceil(optimum), True)
    if block >= big or block - overlap < overlap:
        return None
    return block


def block_lengths(s1, s2, axes) -> dict[int, int | None]:
    """Overlap-add block length per axis of `axes` (None: not blocked); {} if none is."""
    blocks = {i: _block_length(max(s1[i], s2[i]), min(s1[i], s2[i])) for i in axes}
    return blocks if any(v is not None for v in blocks.values()) else {}


def single_axis_blocks(s1, s2) -> tuple[int, int, int] | None:
    """(axis, number of blocks, block length) where overlap-add beats one FFT: a single axis on
    which both inputs are longer than 1 (a 1-D signal), with a block length that pays. With two
    or more such axes the windowed FFT is faster here: 2048x2048 by 31x31 float32 took 55 ms
    against 127 ms by overlap-add (SciPy's oaconvolve: 98 ms)."""
    axes = [i for i in range(len(s1)) if s1[i] > 1 and s2[i] > 1]
    if len(axes) != 1:
        return None
    axis = axes[0]
    small, big = sorted((s1[axis], s2[axis]))
    block = _block_length(big, small)
    if block is None:
        return None
    return axis, -(-big // (block - small + 1)), block


def full_overlap_add(a: np.ndarray, b: np.ndarray, axes: list[int]) -> np.ndarray:
    """Full convolution of a and b over `axes` by overlap-add (some axis must be blocked)."""
    blocks = block_lengths(a.shape, b.shape, axes)
    shape = full_shape(a.shape, b.shape, axes)
    # Each axis i of `axes` becomes two: (number of blocks, samples per block) in both inputs;
    # the smaller input along a blocked axis is one block, padded like the larger one's.
    fft_len, steps, split_a, split_b = {}, {}, [], []
    for i in range(a.ndim):
        if i not in axes:
            split_a.append((a.shape[i],))
            split_b.append((b.shape[i],))
            continue
        block = blocks[i]
        if block is None:
            fft_len[i] = sp_fft.next_fast_len(shape[i], True)
            steps[i] = fft_len[i]
            split_a.append((1, a.shape[i]))
            split_b.append((1, b.shape[i]))
            continue
        small, big = sorted((a.shape[i], b.shape[i]))
        fft_len[i], steps[i] = block, block - small + 1
        count = -(-big // steps[i])
        split_a.append((count, steps[i]) if a.shape[i] > small else (1, a.shape[i]))
        split_b.append((count, steps[i]) if b.shape[i] > small else (1, b.shape[i]))
    a = _split(a, split_a)
    b = _split(b, split_b)
    # Positions of the per-block axes after the split.
    block_axes, pos = {}, 0
    for i in range(len(split_a)):
        if len(split_a[i]) == 2:
            block_axes[i] = pos + 1
        pos += len(split_a[i])
    fft_axes = [block_axes[i] for i in axes]
    fshape = [fft_len[i] for i in axes]
    workers = _workers(a.size + b.size)
    spectrum = sp_fft.rfftn(a, fshape, axes=fft_axes, workers=workers)
    spectrum = spectrum * sp_fft.rfftn(b, fshape, axes=fft_axes, workers=workers)
    out = sp_fft.irfftn(spectrum, fshape, axes=fft_axes, workers=workers)
    for i in sorted(axes, reverse=True):  # merge (blocks, samples) pairs, last axis first
        out = _overlap_add(out, block_axes[i] - 1, steps[i])
    return out[tuple(slice(n) for n in shape)]


def _split(x: np.ndarray, split: list[tuple[int, ...]]) -> np.ndarray:
    """x zero-padded at the end of each split axis to count * step and reshaped to (count, step)."""
    pads = [(0, s[0] * s[1] - n) if len(s) == 2 else (0, 0) for s, n in zip(split, x.shape)]
    if any(p[1] for p in pads):
        x = np.pad(x, pads)
    return x.reshape([n for s in split for n in s])


def _overlap_add(r: np.ndarray, pos: int, step: int) -> np.ndarray:
    """r with axes (pos, pos + 1) = (count, length) of blocks starting `step` apart, summed into
    one axis of count * step + length - step samples (length - step <= step)."""
    r = np.moveaxis(r, (pos, pos + 1), (-2, -1))
    count, length = r.shape[-2:]
    if count == 1:
        return np.moveaxis(r[..., 0, :], -1, pos)
    tail = length - step
    out = np.zeros(r.shape[:-2] + ((count + 1) * step,), r.dtype)
    rows = out.reshape(r.shape[:-2] + (count + 1, step))
    rows[..., :count, :] = r[..., :step]
    rows[..., 1:, :tail] += r[..., step:]
    return np.moveaxis(out[..., :count * step + tail], -1, pos)
