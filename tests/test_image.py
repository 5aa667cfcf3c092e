"""fastseg.image.low_rank against numpy.linalg.svd and the Eckart-Young error identities."""

import numpy as np
import pytest

from fastseg import image
from helpers import assert_close


def reference(a, k):
    u, s, vt = np.linalg.svd(a.astype(np.float64), full_matrices=False)
    return (u[:, :k] * s[:k]) @ vt[:k], s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 4), (30, 45), (64, 64)])
def test_low_rank_matches_svd_and_eckart_young(shape, dtype, rng):
    a = rng.standard_normal(shape).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for k in sorted({0, 1, min(shape) // 2, min(shape)}):
        approx, energy = image.low_rank(a, k)
        expected, s = reference(a, k)
        assert approx.shape == a.shape and approx.dtype == dtype and isinstance(energy, float)
        assert_close(approx, expected, tol)
        # ||A - A_k||_F^2 = sum_{i>=k} s_i^2 and ||A - A_k||_2 = s_k (0 when k = rank).
        error = a.astype(np.float64) - approx
        assert np.isclose(np.sum(error**2), np.sum(s[k:] ** 2), rtol=tol, atol=tol * np.sum(s**2))
        spectral = np.linalg.norm(error, 2)
        assert np.isclose(spectral, s[k] if k < len(s) else 0.0, rtol=tol, atol=tol * s[0])
        assert np.isclose(energy, np.sum(s[:k] ** 2) / np.sum(s**2), rtol=1e-6)
        kept = np.linalg.svd(approx.astype(np.float64), compute_uv=False)  # s[:k], then zeros
        assert np.allclose(kept, np.where(np.arange(len(s)) < k, s, 0), rtol=tol, atol=tol * s[0])


def test_low_rank_no_other_rank_k_matrix_is_closer(rng):
    a = rng.standard_normal((20, 15))
    approx, _ = image.low_rank(a, 3)
    best = np.linalg.norm(a - approx)
    for _ in range(20):
        other = rng.standard_normal((20, 3)) @ rng.standard_normal((3, 15))
        other = approx + 0.1 * other / np.linalg.norm(other)  # a nearby rank <= 6 competitor
        candidate, _ = image.low_rank(other, 3)
        assert np.linalg.norm(a - candidate) >= best - 1e-12


def test_low_rank_per_channel(rng):
    rgb = rng.random((24, 18, 3))
    approx, energy = image.low_rank(rgb, 4)
    assert approx.shape == rgb.shape and approx.flags.c_contiguous and energy.shape == (3,)
    for c in range(3):
        single, e = image.low_rank(rgb[:, :, c], 4)
        assert_close(approx[:, :, c], single, 1e-12)
        assert np.isclose(energy[c], e)


def test_low_rank_of_a_low_rank_image_is_exact(rng):
    a = rng.standard_normal((40, 2)) @ rng.standard_normal((2, 30))
    approx, energy = image.low_rank(a, 2)
    assert_close(approx, a, 1e-12)
    assert np.isclose(energy, 1.0)
    zeros, energy = image.low_rank(np.zeros((5, 4)), 2)
    assert np.array_equal(zeros, np.zeros((5, 4))) and energy == 1.0


def test_low_rank_integer_image_and_layouts(rng):
    photo = (rng.random((16, 12)) * 255).astype(np.uint8)
    approx, _ = image.low_rank(photo, 5)
    assert approx.dtype == np.float64
    assert_close(approx, reference(photo, 5)[0], 1e-10)
    view = np.asfortranarray(rng.standard_normal((10, 14)))[:, ::2]
    view.flags.writeable = False
    copy = view.copy()
    assert_close(image.low_rank(view, 3)[0], reference(copy, 3)[0], 1e-10)
    assert np.array_equal(view, copy)


@pytest.mark.parametrize("call,error,match", [
    (lambda: image.low_rank(np.zeros(5), 1), ValueError, r"image: expected a 2-D \(H, W\) or 3-D"),
    (lambda: image.low_rank(np.zeros((0, 4)), 0), ValueError, "image: expected a non-empty array"),
    (lambda: image.low_rank(np.zeros((4, 4), complex), 1), TypeError, "image: expected a real array"),
    (lambda: image.low_rank(np.zeros((4, 6)), 5), ValueError, r"k: expected an int <= min\(H, W\) = 4, got 5"),
    (lambda: image.low_rank(np.zeros((4, 6)), -1), ValueError, "k: expected an int >= 0, got -1"),
    (lambda: image.low_rank(np.zeros((4, 6)), 1.5), TypeError, "k: expected an int, got float"),
])
def test_bad_input_raises_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
