"""fastseg.filters against scipy.ndimage (float64 reference), every boundary mode and ISA path;
blob_log on synthetic images with known blobs."""

import math

import numpy as np
import pytest
import scipy.ndimage as ndi

import fastseg
from fastseg import filters
from helpers import assert_close

MODES = ("reflect", "constant", "nearest", "mirror", "wrap")
TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


def check(got, reference, dtype):
    """got equals the float64 reference within TOL of max(|reference|, 1) (the inputs are of
    order 1; filters of flat or one-pixel images are exactly 0 in ndimage, rounding noise here).
    NaN fails."""
    assert got.dtype == dtype, f"dtype {got.dtype} != {dtype}"
    assert got.shape == reference.shape, f"shape {got.shape} != {reference.shape}"
    scale = max(np.abs(reference).max(), 1.0)
    error = np.abs(got.astype(np.float64) - reference)
    worst = np.unravel_index(np.argmax(error), error.shape)
    assert error.max() <= TOL[np.dtype(dtype)] * scale, (
        f"max error {error.max():g} at {worst}: got {got[worst]!r}, expected {reference[worst]!r}")


SIZES = [(1, 1), (1, 9), (7, 1), (2, 3), (9, 13), (31, 17), (40, 70)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_sobel_laplace_match_ndimage(size, dtype, isa, rng):
    x = rng.standard_normal(size).astype(dtype)
    x64 = x.astype(np.float64)
    for mode in MODES:
        for cval in ((0.0, 1.75) if mode == "constant" else (0.0,)):
            gx, gy, magnitude, direction = filters.gradient(x, mode, cval)
            check(gx, ndi.sobel(x64, axis=1, mode=mode, cval=cval), dtype)
            check(gy, ndi.sobel(x64, axis=0, mode=mode, cval=cval), dtype)
            np.testing.assert_array_equal(magnitude, np.hypot(gx, gy))
            np.testing.assert_array_equal(direction, np.arctan2(gy, gx))
            check(filters.laplacian(x, mode, cval), ndi.laplace(x64, mode=mode, cval=cval), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size,sigma", [((1, 12), 1.0), ((9, 13), 0.6), ((31, 17), (2.5, 1.2)),
                                        ((6, 5), 3.0), ((40, 70), 1.7)])
def test_gaussian_filters_match_ndimage(size, sigma, dtype, isa, rng):
    """Separable passes, incl. kernels much larger than the image (repeated reflection)."""
    x = rng.standard_normal(size).astype(dtype)
    x64 = x.astype(np.float64)
    for mode in MODES:
        for cval in ((0.0, -2.5) if mode == "constant" else (0.0,)):
            args = dict(mode=mode, cval=cval)
            check(filters.gaussian(x, sigma, **args), ndi.gaussian_filter(x64, sigma, **args), dtype)
            hxx, hxy, hyy = filters.hessian(x, sigma, **args)
            check(hxx, ndi.gaussian_filter(x64, sigma, order=(0, 2), **args), dtype)
            check(hxy, ndi.gaussian_filter(x64, sigma, order=(1, 1), **args), dtype)
            check(hyy, ndi.gaussian_filter(x64, sigma, order=(2, 0), **args), dtype)
            check(filters.laplacian_of_gaussian(x, sigma, **args),
                  ndi.gaussian_laplace(x64, sigma, **args), dtype)


def test_gaussian_arguments_like_ndimage(rng):
    x = rng.standard_normal((20, 25))
    for sigma, truncate in [(0.0, 4.0), ((0.0, 2.0), 4.0), (1.5, 1.0), (0.2, 4.0), (2.0, 0.1)]:
        assert_close(filters.gaussian(x, sigma, truncate=truncate),
                     ndi.gaussian_filter(x, sigma, truncate=truncate), 1e-12)
    assert_close(filters.hessian(x, 0.2)[0], ndi.gaussian_filter(x, 0.2, order=(0, 2)), 1e-12)
    for mode in ("grid-mirror", "grid-wrap", "grid-constant"):
        assert_close(filters.gaussian(x, 1.3, mode, 0.5), ndi.gaussian_filter(x, 1.3, mode=mode, cval=0.5), 1e-12)
    image = (rng.random((12, 10)) * 255).astype(np.uint8)
    assert filters.gaussian(image, 1.0).dtype == np.float64
    assert_close(filters.gaussian(image, 1.0), ndi.gaussian_filter(image.astype(np.float64), 1.0), 1e-12)
    f = np.asfortranarray(x)[::2]
    f.flags.writeable = False
    copy = f.copy()
    assert_close(filters.laplacian(f), ndi.laplace(copy), 1e-12)
    assert np.array_equal(f, copy)


def test_derivatives_of_known_functions():
    """Sobel of a unit ramp is 8 inside; the Hessian of x^2/2 + 3xy - y^2 is (1, 3, -2) away
    from the edges (up to the sampled, truncated kernels); the Laplacian of x^2 + y^2 is 4."""
    rows, cols = np.mgrid[0:40, 0:50].astype(np.float64)
    gx, gy, magnitude, direction = filters.gradient(cols)
    assert np.allclose(gx[:, 1:-1], 8) and np.allclose(gy, 0) and np.allclose(direction[:, 1:-1], 0)
    gx, gy, magnitude, direction = filters.gradient(rows)
    assert np.allclose(direction[1:-1], math.pi / 2) and np.allclose(magnitude[1:-1], 8)
    hxx, hxy, hyy = filters.hessian(cols**2 / 2 + 3 * rows * cols - rows**2, 2.0, truncate=8.0)
    inner = (slice(17, -17), slice(17, -17))
    for h, value in ((hxx, 1), (hxy, 3), (hyy, -2)):
        assert np.allclose(h[inner], value, rtol=1e-3)
    assert np.allclose(filters.laplacian(rows**2 + cols**2)[1:-1, 1:-1], 4)


def gaussian_blobs(shape, blobs):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    image = np.zeros(shape)
    for r, c, s in blobs:
        image += np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * s * s))
    return image


def assert_found(found, blobs):
    assert len(found) == len(blobs), f"found {found.tolist()}, expected {blobs}"
    for r, c, s in blobs:
        d = np.hypot(found[:, 0] - r, found[:, 1] - c)
        i = int(np.argmin(d))
        assert d[i] <= 1, f"no blob within 1 px of ({r}, {c}): {found.tolist()}"
        assert abs(found[i, 2] - s) <= 0.2 * s, f"sigma {found[i, 2]} for a blob of sigma {s}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blob_log_finds_gaussian_blobs(dtype):
    blobs = [(50, 60, 4.0), (120, 150, 8.0), (160, 40, 6.0), (40, 170, 3.0), (100, 90.5, 5.0)]
    image = gaussian_blobs((200, 220), blobs).astype(dtype)
    found = filters.blob_log(image, min_sigma=2, max_sigma=10, num_sigma=17, threshold=0.05)
    assert found.shape[1] == 3 and found.dtype == np.float64
    assert_found(found, blobs)
    found = filters.blob_log(image, min_sigma=2, max_sigma=10, num_sigma=12, threshold=0.05, log_scale=True)
    assert_found(found, blobs)
    photo = np.round(image / image.max() * 255).astype(np.uint8)  # scaled to [0, 1] first
    assert_found(filters.blob_log(photo, 2, 10, 17, threshold=0.05), blobs)


def test_blob_log_finds_disks():
    """A disk of radius r responds most at sigma = r / sqrt(2)."""
    rows, cols = np.mgrid[0:120, 0:120]
    disks = [(30, 35, 6.0), (80, 70, 11.0), (25, 95, 4.0)]
    image = np.zeros((120, 120))
    for r, c, radius in disks:
        image[(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = 1.0
    found = filters.blob_log(image, min_sigma=2, max_sigma=10, num_sigma=33, threshold=0.1)
    assert_found(found, [(r, c, radius / math.sqrt(2)) for r, c, radius in disks])


def test_blob_log_prunes_overlaps_and_thresholds():
    image = gaussian_blobs((60, 80), [(30, 30, 4.0), (30, 38, 2.5)])
    kept = filters.blob_log(image, 2, 6, 9, threshold=0.01, overlap=0.0)
    both = filters.blob_log(image, 2, 6, 9, threshold=0.01, overlap=1.0)
    assert len(both) > len(kept) >= 1
    assert kept[0, 2] == both[:, 2].max()  # the larger blob survives
    assert len(filters.blob_log(image, 2, 6, 9, threshold=10.0)) == 0
    assert len(filters.blob_log(image, 2, 6, 9, threshold=0.0, threshold_rel=0.9)) == 1
    assert filters.blob_log(np.zeros((20, 20))).shape == (0, 3)
    edge = gaussian_blobs((40, 40), [(1, 20, 3.0), (20, 20, 3.0)])
    assert len(filters.blob_log(edge, 2, 4, 5, 0.05)) == 2
    assert filters.blob_log(edge, 2, 4, 5, 0.05, exclude_border=3).tolist() == [[20, 20, 3.0]]


def test_disk_overlap_geometry():
    assert filters._disk_overlap(10.0, 1.0, 2.0) == 0.0
    assert filters._disk_overlap(0.5, 1.0, 2.0) == 1.0
    # Two unit disks at distance 1 share 2*pi/3 - sqrt(3)/2 of area.
    assert math.isclose(filters._disk_overlap(1.0, 1.0, 1.0), (2 * math.pi / 3 - math.sqrt(3) / 2) / math.pi)


X = np.zeros((8, 8))


@pytest.mark.parametrize("call,error,match", [
    (lambda: filters.gaussian(np.zeros((3, 3, 3)), 1.0), ValueError, r"image: expected a 2-D array, got shape \(3, 3, 3\)"),
    (lambda: filters.gaussian(np.zeros((0, 3)), 1.0), ValueError, "image: expected a non-empty array"),
    (lambda: filters.gradient(X.astype(complex)), TypeError, "image: expected a real array, got dtype complex128"),
    (lambda: filters.gaussian(X, -1.0), ValueError, "sigma: expected a finite number >= 0, got -1.0"),
    (lambda: filters.gaussian(X, (1.0, 2.0, 3.0)), ValueError, "sigma: expected a number or 2 numbers, got 3"),
    (lambda: filters.gaussian(X, "1"), TypeError, "sigma: expected a real number, got str"),
    (lambda: filters.hessian(X, 0.0), ValueError, "sigma: expected a finite number > 0, got 0.0"),
    (lambda: filters.laplacian_of_gaussian(X, float("nan")), ValueError, "sigma: expected a finite number > 0"),
    (lambda: filters.laplacian(X, "edge"), ValueError, "mode: expected one of reflect, grid-mirror"),
    (lambda: filters.gradient(X, "constant", None), TypeError, "cval: expected a real number, got NoneType"),
    (lambda: filters.gaussian(X, 1.0, truncate=-1), ValueError, "truncate: expected a finite number >= 0"),
    (lambda: filters.blob_log(X, min_sigma=0), ValueError, "min_sigma: expected a finite number > 0"),
    (lambda: filters.blob_log(X, min_sigma=3, max_sigma=2), ValueError, r"max_sigma: expected >= min_sigma \(3\), got 2"),
    (lambda: filters.blob_log(X, num_sigma=0), ValueError, "num_sigma: expected an int >= 1, got 0"),
    (lambda: filters.blob_log(X, overlap=1.5), ValueError, r"overlap: expected a number in \[0, 1\]"),
    (lambda: filters.blob_log(X, exclude_border=-1), ValueError, "exclude_border: expected an int >= 0"),
])
def test_bad_input_raises_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_results_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((45, 67)).astype(np.float32)
    before = fastseg.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 3):
            fastseg.set_num_threads(threads)
            runs.append([*filters.gradient(x), *filters.hessian(x, 1.5, "constant", 0.5),
                         filters.laplacian(x), filters.gaussian(x, (2.0, 0.7))])
    finally:
        fastseg.set_num_threads(before)
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            assert np.array_equal(a, b)
