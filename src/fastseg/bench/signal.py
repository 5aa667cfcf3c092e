"""fastseg.signal and fastseg.filters cases against scipy.signal and scipy.ndimage.

Rates are GFLOP/s of the direct method (2 * outputs * taps); for method='auto'/FFT cases that is
the direct-equivalent rate ("equiv" in the name), which can exceed the FMA peak.
"""

from __future__ import annotations

import numpy as np

from fastseg import filters, signal

from .case import Case, add, optional_import


def _images(shape, kernel, dtype):
    rng = np.random.default_rng(0)
    return (rng.standard_normal(shape).astype(dtype), rng.standard_normal(kernel).astype(dtype))


def _pair_setup(ours, theirs, shape, kernel, dtype):
    """fastseg's ours(a, b) against scipy's theirs(scipy, a, b) on the same arrays."""
    def setup(peers):
        a, b = _images(shape, kernel, dtype)
        impls = {"fastseg": lambda: ours(a, b)}
        scipy = optional_import("scipy", peers)
        if scipy is not None:
            import scipy.ndimage  # noqa: F401  (submodules the peers use)
            import scipy.signal  # noqa: F401
            impls["scipy"] = lambda: theirs(scipy, a, b)
        return impls
    return setup


def _sobel_gradient(sp, a):
    """What filters.gradient returns, from scipy.ndimage.sobel."""
    gx, gy = sp.ndimage.sobel(a, 1), sp.ndimage.sobel(a, 0)
    return gx, gy, np.hypot(gx, gy), np.arctan2(gy, gx)


def _direct_flops(shape, kernel):
    return 2.0 * np.prod(shape) * np.prod(kernel)


def _dtype_name(dtype):
    return "f32" if dtype == np.float32 else "f64"


for _dtype in (np.float32, np.float64):
    _t = _dtype_name(_dtype)
    for _size, _k in ((512, 5), (512, 3), (2048, 5)):
        add(Case(f"signal correlate2d {_size}x{_size} {_k}x{_k} same {_t}", "signal",
                 _direct_flops((_size, _size), (_k, _k)), "GFLOP/s",
                 _pair_setup(lambda a, b: signal.correlate2d(a, b, "same"),
                             lambda sp, a, b: sp.signal.correlate2d(a, b, "same"),
                             (_size, _size), (_k, _k), _dtype)))
    add(Case(f"signal correlate2d 512x512 5x5 same symm {_t}", "signal",
             _direct_flops((512, 512), (5, 5)), "GFLOP/s",
             _pair_setup(lambda a, b: signal.correlate2d(a, b, "same", "symm"),
                         lambda sp, a, b: sp.signal.correlate2d(a, b, "same", "symm"),
                         (512, 512), (5, 5), _dtype)))
    # method='auto' against each of SciPy's two paths.
    for _size, _k in ((256, 9), (512, 15), (1024, 31), (2048, 63), (512, 63)):
        for _path in ("direct", "fft"):
            if _path == "direct" and _size * _k > 512 * 15:
                continue  # SciPy's direct path takes seconds here
            add(Case(f"signal convolve auto {_size}x{_size} {_k}x{_k} same {_t} vs scipy {_path} equiv",
                     "signal", _direct_flops((_size, _size), (_k, _k)), "GFLOP/s",
                     _pair_setup(lambda a, b: signal.convolve(a, b, "same"),
                                 lambda sp, a, b, m=_path: sp.signal.convolve(a, b, "same", m),
                                 (_size, _size), (_k, _k), _dtype)))
    add(Case(f"signal correlate 1-D 2^20 31 same {_t}", "signal",
             _direct_flops((1 << 20,), (31,)), "GFLOP/s",
             _pair_setup(lambda a, b: signal.correlate(a, b, "same", "direct"),
                         lambda sp, a, b: sp.signal.correlate(a, b, "same", "direct"),
                         (1 << 20,), (31,), _dtype)))
    add(Case(f"signal fftconvolve 1024x1024 63x63 same {_t} equiv", "signal",
             _direct_flops((1024, 1024), (63, 63)), "GFLOP/s",
             _pair_setup(lambda a, b: signal.fftconvolve(a, b, "same"),
                         lambda sp, a, b: sp.signal.fftconvolve(a, b, "same"),
                         (1024, 1024), (63, 63), _dtype)))
    add(Case(f"signal oaconvolve 2^20 1001 same {_t} equiv", "signal",
             _direct_flops((1 << 20,), (1001,)), "GFLOP/s",
             _pair_setup(lambda a, b: signal.oaconvolve(a, b, "same"),
                         lambda sp, a, b: sp.signal.oaconvolve(a, b, "same"),
                         (1 << 20,), (1001,), _dtype)))

    # Filters against scipy.ndimage (rate: FLOPs of fastseg's passes).
    _n = 512 * 512
    _radius = int(4.0 * 2.0 + 0.5)
    add(Case(f"filters gaussian 512x512 sigma 2 {_t}", "filters", 2 * 2.0 * (2 * _radius + 1) * _n,
             "GFLOP/s", _pair_setup(lambda a, b: filters.gaussian(a, 2.0),
                                    lambda sp, a, b: sp.ndimage.gaussian_filter(a, 2.0),
                                    (512, 512), (1,), _dtype)))
    add(Case(f"filters gradient (sobel x+y) 512x512 {_t}", "filters", 2 * 2.0 * 9 * _n, "GFLOP/s",
             _pair_setup(lambda a, b: filters.gradient(a),
                         lambda sp, a, b: _sobel_gradient(sp, a),
                         (512, 512), (1,), _dtype)))
    add(Case(f"filters laplacian 512x512 {_t}", "filters", 2.0 * 9 * _n, "GFLOP/s",
             _pair_setup(lambda a, b: filters.laplacian(a),
                         lambda sp, a, b: sp.ndimage.laplace(a), (512, 512), (1,), _dtype)))
    add(Case(f"filters hessian 512x512 sigma 2 {_t}", "filters", 3 * 2 * 2.0 * (2 * _radius + 1) * _n,
             "GFLOP/s", _pair_setup(lambda a, b: filters.hessian(a, 2.0),
                                    lambda sp, a, b: [sp.ndimage.gaussian_filter(a, 2.0, order=o)
                                                      for o in ((0, 2), (1, 1), (2, 0))],
                                    (512, 512), (1,), _dtype)))
    add(Case(f"filters laplacian_of_gaussian 512x512 sigma 2 {_t}", "filters",
             2 * 2 * 2.0 * (2 * _radius + 1) * _n, "GFLOP/s",
             _pair_setup(lambda a, b: filters.laplacian_of_gaussian(a, 2.0),
                         lambda sp, a, b: sp.ndimage.gaussian_laplace(a, 2.0),
                         (512, 512), (1,), _dtype)))
