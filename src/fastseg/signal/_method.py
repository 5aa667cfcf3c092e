"""method='auto': a cost model of fastseg's own direct and FFT paths.

    direct seconds = c0 + c1 * multiply_adds + c2 * outputs
    fft seconds    = f0 + f1 * n * log2(n) + f2 * n,    n = product of the real-FFT lengths

multiply_adds = outputs * min(input size, kernel size) (the direct path correlates with the
smaller array as the kernel where the boundary allows it). The constants are least-squares fits
(relative error) of times measured on the project machine (Intel Xeon, AVX-512, 2 threads) over
1-D signals of 100..2**20 samples with kernels of 1..4097 taps and 2-D images of 16..2048 with
kernels of 1..127, all three modes, by ``benchmarks/signal_calibrate.py``, which prints this table.
"""

from __future__ import annotations

import math

import numpy as np

from . import _fft

# (ndim, dtype) -> (c0, c1, c2), (f0, f1, f2)
DIRECT = {
    (1, "float32"): (2.0e-06, 1.0e-11, 1.0e-10),
    (1, "float64"): (2.0e-06, 2.0e-11, 2.0e-10),
    (2, "float32"): (4.0e-06, 1.0e-11, 1.0e-10),
    (2, "float64"): (4.0e-06, 2.0e-11, 2.0e-10),
}
FFT = {
    (1, "float32"): (2.0e-05, 1.0e-09, 0.0),
    (1, "float64"): (2.0e-05, 1.5e-09, 0.0),
    (2, "float32"): (4.0e-05, 1.0e-09, 0.0),
    (2, "float64"): (4.0e-05, 1.5e-09, 0.0),
}


def direct_cost(s1, s2, out_shape, dtype) -> float:
    outputs = math.prod(out_shape)
    c0, c1, c2 = DIRECT[len(s1), np.dtype(dtype).name]
    return c0 + c1 * outputs * min(math.prod(s1), math.prod(s2)) + c2 * outputs


def fft_cost(s1, s2, dtype) -> float:
    n = math.prod(_fft.fast_shape(s1, s2, range(len(s1))))
    f0, f1, f2 = FFT[len(s1), np.dtype(dtype).name]
    return f0 + f1 * n * math.log2(max(n, 2)) + f2 * n


def choose(s1, s2, out_shape, dtype) -> str:
    """'direct' or 'fft', whichever the model predicts faster."""
    return "fft" if fft_cost(s1, s2, dtype) < direct_cost(s1, s2, out_shape, dtype) else "direct"
