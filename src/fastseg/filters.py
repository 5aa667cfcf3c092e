"""Image derivatives for edges and blobs (seed 004): Sobel gradient, Gaussian-derivative Hessian,
Laplacian, Gaussian smoothing, Laplacian of Gaussian and scale-space LoG blob detection.

Images are 2-D (rows = y = axis 0, columns = x = axis 1); float32 stays float32, other real
dtypes are computed in float64. Boundaries are scipy.ndimage's, with its names:

    'reflect'  (d c b a | a b c d | d c b a)   'mirror'   (d c b | a b c d | c b a)
    'nearest'  (a a a | a b c d | d d d)        'wrap'     (b c d | a b c d | a b c)
    'constant' (k k k | a b c d | k k k), k = cval     ('grid-mirror', 'grid-constant' and
    'grid-wrap' are accepted as SciPy's synonyms), for any kernel size, as ndimage.

Every filter is a sum of separable terms: a 1-D kernel along the rows times one along the
columns, centred like ndimage.correlate1d. Small kernels (Sobel, Laplacian) run as one 2-D pass
of the conv2d core with one output channel per result; Gaussian kernels as two 1-D passes (all
row kernels in one call, then every column kernel in one depthwise call). With 'constant' the
core pads with zeros and the contribution of cval is added in closed form, following ndimage's
order of 1-D passes, so results match ndimage's to rounding for every mode.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import ndimage

from ._args import integer
from .signal._direct import core

__all__ = ["gaussian", "gradient", "hessian", "laplacian", "laplacian_of_gaussian", "blob_log"]

# ndimage boundary names -> conv2d padding modes (see padding.h).
MODES = {"reflect": "symmetric", "grid-mirror": "symmetric", "mirror": "reflect",
         "nearest": "replicate", "wrap": "circular", "grid-wrap": "circular",
         "constant": "zeros", "grid-constant": "zeros"}
SOBEL_DERIVATIVE = np.array([-1.0, 0.0, 1.0])
SOBEL_SMOOTH = np.array([1.0, 2.0, 1.0])
SECOND_DIFFERENCE = np.array([1.0, -2.0, 1.0])
IDENTITY = np.array([1.0])
# Largest kernel length run as one 2-D pass rather than two 1-D passes.
MAX_2D_KERNEL = 5


# ---- Arguments -------------------------------------------------------------------------------

def _image(image, name: str = "image") -> np.ndarray:
    x = np.asarray(image)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real array, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {x.shape}")
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    return np.ascontiguousarray(x, dtype)


def _mode(mode) -> str:
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    return MODES[mode]


def _number(value, name: str, minimum: float | None = None, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum) \
            or (positive and value <= 0):
        bound = "> 0" if positive else f">= {minimum:g}" if minimum is not None else "finite"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
    return value


def _sigmas(sigma, positive: bool) -> tuple[float, float]:
    """sigma as (rows, columns); a number applies to both axes."""
    values = tuple(sigma) if isinstance(sigma, (tuple, list, np.ndarray)) else (sigma, sigma)
    if len(values) != 2:
        raise ValueError(f"sigma: expected a number or 2 numbers, got {len(values)}")
    return tuple(_number(v, "sigma", minimum=0.0, positive=positive) for v in values)


# ---- Kernels ---------------------------------------------------------------------------------

def gaussian_kernel(sigma: float, order: int, truncate: float) -> np.ndarray:
    """The sampled, normalised Gaussian (order 0) or its exact first/second derivative as a
    correlation kernel of radius int(truncate * sigma + 0.5), as ndimage.gaussian_filter1d."""
    radius = int(truncate * sigma + 0.5)
    if sigma == 0 or radius == 0 and order == 0:
        return IDENTITY
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * t * t / sigma**2)
    phi /= phi.sum()
    # d/dt of exp(-t^2 / 2s^2) is -t/s^2 times it; a correlation kernel is the convolution
    # kernel reversed, hence +t/s^2 for the first derivative.
    factor = (np.ones_like(t), t / sigma**2, (t * t / sigma**2 - 1) / sigma**2)[order]
    return factor * phi


def _edge_weights(kernel: np.ndarray, n: int) -> np.ndarray:
    """(n,) sum of the kernel taps that fall outside [0, n) at each position of an axis of n."""
    m = kernel.size
    source = np.arange(n)[:, None] + np.arange(m)[None, :] - m // 2
    return np.where((source < 0) | (source >= n), kernel[None, :], 0.0).sum(axis=1)


def _padded(kernel: np.ndarray, length: int) -> np.ndarray:
    """A centred odd kernel zero-padded on both sides to an odd `length`."""
    extra = (length - kernel.size) // 2
    return np.pad(kernel, extra)


# ---- The separable filter engine -------------------------------------------------------------

def _filter(x: np.ndarray, outputs, mode: str, cval: float) -> list[np.ndarray]:
    """Runs 2-D filters on x (H, W). Each output is a list of terms (row_kernel, col_kernel,
    first_axis), summed: a term correlates with row_kernel along axis 0 and col_kernel along
    axis 1; first_axis is the axis ndimage filters first (which matters for 'constant' only)."""
    pad = _mode(mode)
    terms = [t for out in outputs for t in out]
    n_rows = max(t[0].size for t in terms)
    n_cols = max(t[1].size for t in terms)
    if max(n_rows, n_cols) <= MAX_2D_KERNEL:
        weights = np.stack([sum(np.outer(_padded(r, n_rows), _padded(c, n_cols)) for r, c, _ in out)
                            for out in outputs])
        y = core(x[None, None], weights[:, None].astype(x.dtype), (n_rows // 2, n_cols // 2),
                 (n_rows // 2, n_cols // 2), pad)[0]
        results = list(y)
    else:
        results = _separable(x, outputs, terms, n_rows, n_cols, pad)
    if pad == "zeros" and cval != 0:
        for out, result in zip(outputs, results):
            for row, col, first in out:
                result += _constant_term(row, col, first, x.shape, cval).astype(x.dtype)
    return results


def _separable(x, outputs, terms, n_rows, n_cols, pad):
    """Row kernels in one core call, then each term's column kernel in one depthwise call."""
    distinct: list[np.ndarray] = []
    channel = []
    for row, _, _ in terms:
        match = [i for i, k in enumerate(distinct) if k.size == row.size and np.array_equal(k, row)]
        if not match:
            distinct.append(row)
        channel.append(match[0] if match else len(distinct) - 1)
    row_w = np.stack([_padded(k, n_rows) for k in distinct])[:, None, :, None].astype(x.dtype)
    rows = core(x[None, None], row_w, (n_rows // 2, 0), (n_rows // 2, 0), pad)
    if channel != list(range(len(distinct))):
        rows = np.ascontiguousarray(rows[:, channel])
    col_w = np.stack([_padded(t[1], n_cols) for t in terms])[:, None, None, :].astype(x.dtype)
    y = core(rows, col_w, (0, n_cols // 2), (0, n_cols // 2), pad, groups=len(terms))[0]
    results, i = [], 0
    for out in outputs:
        results.append(y[i] if len(out) == 1 else y[i:i + len(out)].sum(axis=0))
        i += len(out)
    return results


def _constant_term(row, col, first, shape, cval):
    """What cval adds to one term with ndimage's 'constant' mode: pass A (along `first`) then
    pass B, each padding its input with cval. With e_A, e_B the weights falling outside the
    image and S_B the sum of B, B(A(x)) = B0(A0(x)) + cval * (e_A * (S_B - e_B) + e_B)."""
    e_rows = _edge_weights(row, shape[0])[:, None]
    e_cols = _edge_weights(col, shape[1])[None, :]
    if first == 0:
        return cval * (e_rows * (col.sum() - e_cols) + e_cols)
    return cval * (e_cols * (row.sum() - e_rows) + e_rows)


# ---- Public filters --------------------------------------------------------------------------

def gaussian(image, sigma, mode="reflect", cval=0.0, truncate=4.0):
    """Gaussian smoothing, as ``scipy.ndimage.gaussian_filter(image, sigma, mode=mode,
    cval=cval, truncate=truncate)``: sigma a number or (rows, columns); 0 leaves an axis as is."""
    x = _image(image)
    sr, sc = _sigmas(sigma, positive=False)
    truncate = _number(truncate, "truncate", minimum=0.0)
    term = (gaussian_kernel(sr, 0, truncate), gaussian_kernel(sc, 0, truncate), 0)
    return _filter(x, [[term]], mode, _number(cval, "cval"))[0]


def gradient(image, mode="reflect", cval=0.0):
    """The image gradient by Sobel filters: (gx, gy, magnitude, direction).

    gx = d/dx along the columns and gy = d/dy along the rows, as ``scipy.ndimage.sobel(image,
    axis=1)`` and ``sobel(image, axis=0)`` (unnormalised: a unit ramp gives 8); magnitude is
    hypot(gx, gy) and direction arctan2(gy, gx) in radians, (-pi, pi]. One pass of the core.
    """
    x = _image(image)
    cval = _number(cval, "cval")
    gx, gy = _filter(x, [[(SOBEL_SMOOTH, SOBEL_DERIVATIVE, 1)], [(SOBEL_DERIVATIVE, SOBEL_SMOOTH, 0)]],
                     mode, cval)
    return gx, gy, np.hypot(gx, gy), np.arctan2(gy, gx)


def laplacian(image, mode="reflect", cval=0.0):
    """The discrete Laplacian d2/dy2 + d2/dx2 by second differences (the 5-point stencil), as
    ``scipy.ndimage.laplace``."""
    x = _image(image)
    terms = [(SECOND_DIFFERENCE, IDENTITY, 0), (IDENTITY, SECOND_DIFFERENCE, 0)]
    return _filter(x, [terms], mode, _number(cval, "cval"))[0]


def _gaussian_terms(sigma, truncate, orders):
    """One separable term per (row order, column order) of Gaussian derivatives."""
    sr, sc = _sigmas(sigma, positive=True)
    truncate = _number(truncate, "truncate", minimum=0.0)
    return [(gaussian_kernel(sr, o_r, truncate), gaussian_kernel(sc, o_c, truncate), 0)
            for o_r, o_c in orders]


def hessian(image, sigma=1.0, mode="reflect", cval=0.0, truncate=4.0):
    """The Hessian at scale sigma by Gaussian-derivative kernels: (hxx, hxy, hyy), as
    ``scipy.ndimage.gaussian_filter(image, sigma, order=o)`` with o = (0, 2), (1, 1), (2, 0)
    (order per axis (rows, columns); x along the columns). Three row kernels in one core call,
    three column kernels in one depthwise call."""
    x = _image(image)
    hyy, hxy, hxx = _gaussian_terms(sigma, truncate, [(2, 0), (1, 1), (0, 2)])
    return tuple(_filter(x, [[hxx], [hxy], [hyy]], mode, _number(cval, "cval")))


def laplacian_of_gaussian(image, sigma, mode="reflect", cval=0.0, truncate=4.0):
    """The Laplacian of the Gaussian-smoothed image, as ``scipy.ndimage.gaussian_laplace``:
    Hxx + Hyy at scale sigma."""
    x = _image(image)
    terms = _gaussian_terms(sigma, truncate, [(2, 0), (0, 2)])
    return _filter(x, [terms], mode, _number(cval, "cval"))[0]


# ---- Blob detection --------------------------------------------------------------------------

def blob_log(image, min_sigma=1, max_sigma=50, num_sigma=10, threshold=0.2, overlap=0.5,
             log_scale=False, *, threshold_rel=None, exclude_border=False):
    """Blobs by the scale-normalised Laplacian of Gaussian, as ``skimage.feature.blob_log``.

    The scale space -sigma^2 * LoG(image, sigma) for `num_sigma` sigmas from min_sigma to
    max_sigma (evenly spaced, or log-spaced with `log_scale`) is searched for local maxima over
    3x3x3 neighbourhoods (edges replicated) above max(threshold, threshold_rel * its maximum);
    `exclude_border` pixels (an int, or True for 1) at the image edges are skipped. Of two blobs
    whose disks (radius sqrt(2) * sigma) overlap by more than `overlap` of the smaller disk's
    area, the smaller is dropped. Returns (n, 3) float64 rows (row, col, sigma), strongest first.
    Bright blobs on a dark background give positive responses. Integer images are divided by
    their dtype's maximum first (uint8 255 -> 1.0), like skimage's img_as_float, so that
    `threshold` means the same for every dtype.
    """
    x = _image(image)
    if np.asarray(image).dtype.kind in "iu":
        x /= np.iinfo(np.asarray(image).dtype).max
    min_sigma = _number(min_sigma, "min_sigma", positive=True)
    max_sigma = _number(max_sigma, "max_sigma", positive=True)
    if max_sigma < min_sigma:
        raise ValueError(f"max_sigma: expected >= min_sigma ({min_sigma:g}), got {max_sigma:g}")
    num_sigma = integer(num_sigma, "num_sigma", 1)
    overlap = _number(overlap, "overlap", minimum=0.0)
    if overlap > 1:
        raise ValueError(f"overlap: expected a number in [0, 1], got {overlap!r}")
    border = integer(int(exclude_border) if isinstance(exclude_border, bool) else exclude_border,
                     "exclude_border", 0)
    if log_scale:
        sigmas = np.logspace(math.log10(min_sigma), math.log10(max_sigma), num_sigma)
    else:
        sigmas = np.linspace(min_sigma, max_sigma, num_sigma)
    cube = np.stack([-laplacian_of_gaussian(x, s) * s**2 for s in sigmas])
    level = cube.min() if threshold is None else _number(threshold, "threshold")
    if threshold_rel is not None:
        level = max(level, _number(threshold_rel, "threshold_rel") * cube.max())
    peaks = cube == ndimage.maximum_filter(cube, size=3, mode="nearest")
    if peaks.all():  # a flat scale space has no peaks
        return np.empty((0, 3))
    peaks &= cube > level
    if border:
        peaks[:, :border] = peaks[:, -border:] = False
        peaks[:, :, :border] = peaks[:, :, -border:] = False
    scale, rows, cols = np.nonzero(peaks)
    order = np.argsort(-cube[scale, rows, cols], kind="stable")
    blobs = np.stack([rows[order], cols[order], sigmas[scale[order]]], axis=1).astype(np.float64)
    return _prune_blobs(blobs, overlap)


def _disk_overlap(d: float, r1: float, r2: float) -> float:
    """Area of the intersection of two disks at distance d, over the smaller disk's area."""
    small = min(r1, r2)
    if d >= r1 + r2:
        return 0.0
    if d <= abs(r1 - r2):
        return 1.0
    a1 = math.acos(np.clip((d * d + r1 * r1 - r2 * r2) / (2 * d * r1), -1, 1))
    a2 = math.acos(np.clip((d * d + r2 * r2 - r1 * r1) / (2 * d * r2), -1, 1))
    kite = 0.5 * math.sqrt(abs((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2)))
    return (r1 * r1 * a1 + r2 * r2 * a2 - kite) / (math.pi * small * small)


def _prune_blobs(blobs: np.ndarray, overlap: float) -> np.ndarray:
    """Drops the smaller of every pair of blobs overlapping by more than `overlap`."""
    if len(blobs) < 2:
        return blobs
    from scipy.spatial import cKDTree

    reach = 2 * math.sqrt(2) * blobs[:, 2].max()
    alive = np.ones(len(blobs), bool)
    for i, j in sorted(cKDTree(blobs[:, :2]).query_pairs(reach)):
        if not (alive[i] and alive[j]):
            continue
        d = math.hypot(*(blobs[i, :2] - blobs[j, :2]))
        r1, r2 = math.sqrt(2) * blobs[i, 2], math.sqrt(2) * blobs[j, 2]
        if _disk_overlap(d, r1, r2) > overlap:
            alive[j if blobs[i, 2] > blobs[j, 2] else i] = False
    return blobs[alive]
