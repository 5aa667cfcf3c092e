"""Checks the target of fastseg.signal's method='auto': never more than 10% slower than the
faster of SciPy's direct and FFT paths, for 2-D float32/float64 images of 128..2048 and square
kernels of 3..63 ('same' mode, ``convolve``).

Times fastseg.signal.convolve(method='auto') against scipy.signal.convolve with method='direct'
and method='fft' in the same run (minimum of interleaved calls, more where fastseg is not ahead,
since the machine is shared; SciPy's direct path, ~1.5 GFLOP/s, is only timed where it could be
the faster of the two). Prints one line per case and the worst.
Run: python benchmarks/signal_auto_check.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import scipy.signal as ss

import fastseg
from fastseg import signal as fs

IMAGES = (128, 256, 512, 1024, 2048)
KERNELS = (3, 5, 7, 9, 15, 21, 31, 45, 63)


def min_times(fns: dict, rounds: int = 5) -> dict:
    """Minimum seconds of each callable over `rounds` interleaved calls (after one warm-up), so
    that load elsewhere on the machine falls on all of them alike."""
    best = {name: math.inf for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every other image and kernel size")
    args = parser.parse_args()
    images, kernels = (IMAGES[::2], KERNELS[::2]) if args.quick else (IMAGES, KERNELS)
    rng = np.random.default_rng(0)
    print(f"# fastseg {fastseg.__version__}, isa {fastseg.cpu_isa()}, {fastseg.get_num_threads()} threads")
    print(f"{'dtype':8} {'image':>6} {'kernel':>6} {'auto':>7} {'ms':>9} {'scipy direct':>13} "
          f"{'scipy fft':>10} {'auto / best scipy':>18}")
    worst = (0.0, None)
    for dtype in (np.float32, np.float64):
        scipy_direct_rate = None  # multiply-adds per second of SciPy's direct path
        fft_seen = {}  # image size -> SciPy FFT seconds

        def fft_estimate(size):
            return fft_seen.get(size, 1e-4 * (size / 128) ** 2)

        for size in images:
            for k in kernels:
                a = rng.standard_normal((size, size)).astype(dtype)
                b = rng.standard_normal((k, k)).astype(dtype)
                method = fs.choose_conv_method(a, b, "same")
                fns = {"auto": lambda: fs.convolve(a, b, "same", "auto"),
                       "fft": lambda: ss.convolve(a, b, "same", "fft")}
                macs = size * size * k * k
                # SciPy's direct path only where it could beat its FFT (by the rate measured
                # on the first case of each dtype).
                if scipy_direct_rate is None or macs / scipy_direct_rate < 3 * fft_estimate(size):
                    fns["direct"] = lambda: ss.convolve(a, b, "same", "direct")
                times = min_times(fns, rounds=2 if "direct" in fns else 5)
                if times["auto"] > min(times.values()):  # re-measure: was it a burst of load?
                    again = min_times(fns, rounds=15)
                    times = {name: min(t, again[name]) for name, t in times.items()}
                auto, fft = times["auto"], times["fft"]
                direct = times.get("direct", math.inf)
                if direct < math.inf:
                    scipy_direct_rate = macs / direct
                fft_seen[size] = fft
                ratio = auto / min(fft, direct)
                if ratio > worst[0]:
                    worst = (ratio, (np.dtype(dtype).name, size, k))
                shown = f"{direct * 1e3:13.2f}" if direct < math.inf else f"{'(slower)':>13}"
                print(f"{np.dtype(dtype).name:8} {size:6} {k:6} {method:>7} {auto * 1e3:9.3f} "
                      f"{shown} {fft * 1e3:10.2f} {ratio:18.3f}", flush=True)
    print(f"# worst: auto takes {worst[0]:.3f}x the faster SciPy path, at {worst[1]}")


if __name__ == "__main__":
    main()
