"""method='auto': a cost model of fastseg's own direct and FFT paths.

    direct seconds = c0 + c1 * multiply_adds + c2 * outputs
    fft seconds    = f0 + f1 * n * log2(L) + f2 * n

n is the product of the FFT lengths L of the windowed FFT, or for overlap-add the points of
the block transforms with L the block length (see fft_size).

multiply_adds = outputs * min(input size, kernel size) (the direct path correlates with the
smaller array as the kernel where the boundary allows it). The constants are non-negative
least-squares fits (relative error) of ``benchmarks/signal_calibrate.py``, which prints this
table: minimum times of fastseg's two paths of ``convolve`` on the project machine (Intel Xeon
@ 2.3 GHz, AVX-512, 2 threads, shared; run with OMP_WAIT_POLICY=passive so that other users'
processes did not add OpenMP wake-up stalls; minimum of 3 passes over the grid) over 1-D
signals of 100..10**6 samples with kernels of 1..4097 taps and 2-D images of 16..2048 with
kernels of 1..127, all three modes. Fit: median error 6-10% for the direct path, 6-10% for
2-D FFTs, 22% for 1-D (windowed FFTs and overlap-add share one line); on the grid the model
picked the slower path for 16 of 584 shapes, at worst 1.71x the faster one (2-D float32, a
128x128 image and a 127x127 kernel in 'valid': a 2x2 output) and at most 1.25x in 1-D.
"""

from __future__ import annotations

import math

import numpy as np

from . import _fft

# (ndim, dtype) -> seconds: c0, per multiply-add c1, per output c2.
DIRECT = {
    (1, "float32"): (1.267e-05, 2.858e-11, 9.998e-10),
    (1, "float64"): (1.238e-05, 6.1e-11, 1.844e-09),
    (2, "float32"): (1.377e-05, 2.776e-11, 3.241e-10),
    (2, "float64"): (1.377e-05, 5.298e-11, 7.575e-10),
}
# (ndim, dtype) -> seconds: f0, per n*log2(n) f1, per n f2.
FFT = {
    (1, "float32"): (2.771e-05, 2.825e-10, 5.991e-09),
    (1, "float64"): (2.265e-05, 1.117e-10, 1.442e-08),
    (2, "float32"): (3.615e-05, 3.848e-10, 0.0),
    (2, "float64"): (3.403e-05, 6.764e-10, 0.0),
}


def direct_cost(s1, s2, out_shape, dtype) -> float:
    outputs = math.prod(out_shape)
    c0, c1, c2 = DIRECT[len(s1), np.dtype(dtype).name]
    return c0 + c1 * outputs * min(math.prod(s1), math.prod(s2)) + c2 * outputs


def fft_size(s1, s2, windows) -> tuple[float, float]:
    """(n, log2 of the transform length) of the FFT path: the points of the windowed FFT, or for
    overlap-add the blocks' transforms (2 per block, 1 for the kernel; the model's unit is 3
    transforms of n points)."""
    blocks = _fft.single_axis_blocks(s1, s2)
    if blocks:
        _, count, block = blocks
        return (2 * count + 1) / 3 * block, math.log2(block)
    n = math.prod(_fft.window_lengths(s1, s2, windows))
    return n, math.log2(max(n, 2))


def fft_cost(s1, s2, windows, dtype) -> float:
    n, log_n = fft_size(s1, s2, windows)
    f0, f1, f2 = FFT[len(s1), np.dtype(dtype).name]
    return f0 + f1 * n * log_n + f2 * n


def choose(s1, s2, windows, dtype) -> str:
    """'direct' or 'fft', whichever the model predicts faster for the (start, length) windows."""
    out_shape = [length for _, length in windows]
    if fft_cost(s1, s2, windows, dtype) < direct_cost(s1, s2, out_shape, dtype):
        return "fft"
    return "direct"
