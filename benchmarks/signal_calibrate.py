"""Re-derives the constants of fastseg.signal's method='auto' cost model (signal/_method.py).

Times fastseg's own direct and FFT paths of ``fastseg.signal.convolve`` over a grid of 1-D and
2-D shapes, both dtypes and all three modes, fits

    direct seconds = c0 + c1 * multiply_adds + c2 * outputs
    fft seconds    = f0 + f1 * n * log2(n) + f2 * n

by non-negative least squares on the relative error, and prints the DIRECT and FFT tables to
paste into _method.py, with the fit's error and how often the model picks the slower path.

Each time is the minimum of a few calls (the machine is shared: the minimum is the least
disturbed estimate; on a busy machine also set OMP_WAIT_POLICY=passive, or OpenMP wake-up
stalls of the core dominate small cases). Run: python benchmarks/signal_calibrate.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.optimize import nnls

import fastseg
from fastseg import signal as fs
from fastseg.signal import _method

MODES = ("full", "same", "valid")
SHAPES_2D = [(h, r) for h in (16, 32, 64, 128, 256, 512, 1024, 2048)
             for r in (1, 3, 5, 9, 15, 25, 41, 63, 95, 127) if r <= 2 * h]
SHAPES_1D = [(n, m) for n in (100, 1000, 10_000, 100_000, 1_000_000)
             for m in (1, 3, 9, 31, 101, 301, 1001, 4097) if m <= 4 * n]
MAX_MACS = 2e9  # skip direct runs longer than ~20 ms at the core's rate


def min_time(fn, budget: float = 0.02, repeats: int = 3) -> float:
    fn()
    best, spent, calls = math.inf, 0.0, 0
    while calls < repeats or (spent < budget and calls < 50):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, calls = min(best, dt), spent + dt, calls + 1
    return best


def features(s1, s2, mode):
    windows = fs._windows(s1, s2, mode)
    outputs = math.prod(length for _, length in windows)
    macs = outputs * min(math.prod(s1), math.prod(s2))
    n, log_n = _method.fft_size(s1, s2, windows)
    return [1.0, macs, outputs], [1.0, n * log_n, n]


def measure(ndim, dtype, quick, rounds):
    """(s1, s2, mode, direct features, fft features, direct s, fft s) per shape: the minimum
    over `rounds` passes over the whole grid, so that a burst of load elsewhere on the machine
    disturbs one pass, not one shape."""
    rng = np.random.default_rng(0)
    shapes = SHAPES_2D if ndim == 2 else SHAPES_1D
    cases = []
    for size, kernel in shapes[::3] if quick else shapes:
        s1, s2 = (size,) * ndim, (kernel,) * ndim
        a = rng.standard_normal(s1).astype(dtype)
        b = rng.standard_normal(s2).astype(dtype)
        for mode in ("same",) if quick else MODES:
            if mode != "valid" or kernel <= size:
                cases.append((s1, s2, mode, a, b, *features(s1, s2, mode)))
    times = [[math.inf, math.inf] for _ in cases]
    for _ in range(rounds):
        for case, best in zip(cases, times):
            s1, s2, mode, a, b, fd, ff = case
            if fd[1] <= MAX_MACS:
                best[0] = min(best[0], min_time(lambda: fs.convolve(a, b, mode, "direct")))
            best[1] = min(best[1], min_time(lambda: fs.convolve(a, b, mode, "fft")))
    return [(c[0], c[1], c[2], c[5], c[6], None if t[0] == math.inf else t[0], t[1])
            for c, t in zip(cases, times)]


def fit(x, t):
    """Non-negative coefficients minimising sum(((x @ c) - t) / t)^2."""
    x, t = np.asarray(x), np.asarray(t)
    coef, _ = nnls(x / t[:, None], np.ones_like(t))
    return coef


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a third of the grid, 'same' only")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the grid (minimum)")
    args = parser.parse_args()
    print(f"# fastseg {fastseg.__version__}, isa {fastseg.cpu_isa()}, "
          f"{fastseg.get_num_threads()} threads")
    direct_table, fft_table = {}, {}
    for ndim in (1, 2):
        for dtype in ("float32", "float64"):
            rows = measure(ndim, dtype, args.quick, args.rounds)
            timed = [r for r in rows if r[5] is not None]
            cd = fit([r[3] for r in timed], [r[5] for r in timed])
            cf = fit([r[4] for r in rows], [r[6] for r in rows])
            direct_table[ndim, dtype] = tuple(float(f"{c:.3e}") for c in cd)
            fft_table[ndim, dtype] = tuple(float(f"{c:.3e}") for c in cf)
            errors_d = [abs(np.dot(r[3], cd) / r[5] - 1) for r in timed]
            errors_f = [abs(np.dot(r[4], cf) / r[6] - 1) for r in rows]
            wrong, loss = 0, []
            for r in timed:
                pick_fft = np.dot(r[4], cf) < np.dot(r[3], cd)
                chosen = r[6] if pick_fft else r[5]
                loss.append((chosen / min(r[5], r[6]), r[:3]))
                wrong += chosen > min(r[5], r[6])
            worst = max(loss, key=lambda item: item[0])
            print(f"# {ndim}-D {dtype}: {len(rows)} shapes; median relative error direct "
                  f"{np.median(errors_d):.0%}, fft {np.median(errors_f):.0%}; slower path picked "
                  f"{wrong}/{len(timed)} times, worst {worst[0]:.2f}x the faster at {worst[1]}")
    print("DIRECT = {")
    for key, value in direct_table.items():
        print(f"    {key}: {value},")
    print("}\nFFT = {")
    for key, value in fft_table.items():
        print(f"    {key}: {value},")
    print("}")


if __name__ == "__main__":
    main()
