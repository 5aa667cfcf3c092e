"""method='auto': a cost model of fastseg's own direct and FFT paths.

    direct seconds = c0 + c1 * multiply_adds + c2 * outputs
    fft seconds    = f0 + f1 * n * log2(n) + f2 * n,    n = product of the FFT lengths

multiply_adds = outputs * min(input size, kernel size) (the direct path correlates with the
smaller array as the kernel where the boundary allows it). The constants are non-negative
least-squares fits (relative error) of ``benchmarks/signal_calibrate.py``, which prints this
table: minimum times of fastseg's two paths of ``convolve`` on the project machine (Intel Xeon
@ 2.3 GHz, AVX-512, 2 threads, shared; run with OMP_WAIT_POLICY=passive so that other users'
processes did not add OpenMP wake-up stalls; minimum of 3 passes over the grid) over 1-D
signals of 100..10**6 samples with kernels of 1..4097 taps and 2-D images of 16..2048 with
kernels of 1..127, all three modes. Fit: median error 6-17%; on the grid the model picked the
slower path for 21 of 584 shapes, at worst 1.72x the faster one (2-D float32; single noisy
timings on the shared machine account for part of it).
"""

from __future__ import annotations

import math

import numpy as np

from . import _fft

# (ndim, dtype) -> seconds: c0, per multiply-add c1, per output c2.
DIRECT = {
    (1, "float32"): (1.291e-05, 2.947e-11, 9.993e-10),
    (1, "float64"): (1.229e-05, 7.021e-11, 1.901e-09),
    (2, "float32"): (1.4e-05, 2.501e-11, 3.204e-10),
    (2, "float64"): (1.469e-05, 3.668e-11, 6.533e-10),
}
# (ndim, dtype) -> seconds: f0, per n*log2(n) f1, per n f2.
FFT = {
    (1, "float32"): (1.796e-05, 1.175e-09, 0.0),
    (1, "float64"): (1.734e-05, 1.226e-09, 0.0),
    (2, "float32"): (3.636e-05, 3.627e-10, 0.0),
    (2, "float64"): (3.595e-05, 5.865e-10, 0.0),
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
