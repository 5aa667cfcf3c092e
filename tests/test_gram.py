"""Gram matrices and their gradient against float64 references and torch.bmm, on every ISA path."""

import numpy as np
import pytest

import fastseg
import reference as ref
from helpers import (TOLERANCE, Op, assert_close, assert_same_for_any_thread_count,
                     check_finite_differences, check_op, torch)

NORMALIZE = (None, "spatial", "size")


def scale_of(normalize, shape):
    _, c, h, w = shape
    return {None: 1.0, "spatial": 1.0 / (h * w), "size": 1.0 / (c * h * w)}[normalize]


def gram_op(normalize, shape):
    scale = scale_of(normalize, shape)

    def torch_forward(f):
        F = f.reshape(f.shape[0], f.shape[1], f.shape[2] * f.shape[3])
        return torch.bmm(F, F.transpose(1, 2)) * scale

    return Op(lambda f: fastseg.gram(f, normalize),
              lambda dy, f: {"f": fastseg.grad.gram_input(f, dy, normalize)},
              lambda f: ref.gram(f, scale),
              lambda dy, f: {"f": ref.gram_grad(f, dy, scale)},
              torch_forward)


# (N, C, H, W): channels below, at and off the vector lengths and tile sizes of every ISA (tiles of
# 2 vectors of channels x 4, 6 or 12 rows), H*W odd, one column, several column chunks, empty batch.
SHAPES = [(1, 1, 1, 1), (3, 5, 7, 9), (1, 13, 1, 31), (2, 24, 6, 8), (1, 37, 11, 13),
          (0, 6, 5, 5), (2, 50, 3, 1), (1, 67, 71, 73), (3, 9, 70, 61)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_gram_sweep(shape, normalize, dtype, isa, rng):
    check_op(gram_op(normalize, shape), {"f": rng.standard_normal(shape)}, dtype, rng)


@pytest.mark.parametrize("shape", [(2, 64, 16, 16), (1, 130, 9, 9)])
def test_gram_larger_channel_counts(shape, isa, rng):
    """Many tiles on and off the diagonal, the threads sharing the tiles of one sample."""
    check_op(gram_op("spatial", shape), {"f": rng.standard_normal(shape)}, np.float32, rng)


def test_gram_is_exactly_symmetric(isa, rng):
    g = fastseg.gram(rng.standard_normal((2, 29, 17, 19)).astype(np.float32))
    assert np.array_equal(g, g.transpose(0, 2, 1))


@pytest.mark.parametrize("normalize", NORMALIZE)
def test_gram_finite_differences(normalize, isa, rng):
    check_finite_differences(lambda f: fastseg.gram(f, normalize),
                             lambda dy, f: {"f": fastseg.grad.gram_input(f, dy, normalize)},
                             {"f": rng.standard_normal((2, 7, 5, 3))}, rng)


def test_style_loss_of_raw_grams(rng):
    """The seed's style loss 1/(2IJK)^2 sum (G(x) - G(s))^2 on raw Grams (normalize=None) and
    its gradient, against finite differences."""
    s = rng.standard_normal((1, 4, 6, 5))
    k, i, j = s.shape[1:]

    def loss(x):
        return np.sum((fastseg.gram(x) - fastseg.gram(s)) ** 2) / (2 * i * j * k) ** 2

    x = rng.standard_normal(s.shape)
    grad = fastseg.grad.gram_input(x, 2 * (fastseg.gram(x) - fastseg.gram(s)) / (2 * i * j * k) ** 2)
    v = rng.standard_normal(x.shape)
    eps = 1e-6
    numeric = (loss(x + eps * v) - loss(x - eps * v)) / (2 * eps)
    assert abs(numeric - np.sum(grad * v)) <= 1e-7 * (1 + abs(numeric))


@pytest.mark.parametrize("shape", [(1, 70, 23, 29), (8, 10, 9, 11), (3, 40, 30, 41)])
def test_results_do_not_depend_on_thread_count(shape, rng):
    """Covers the schedules: threads sharing one sample's column segments (partial sums added in
    a fixed order) and tiles, and whole samples per thread."""
    f = rng.standard_normal(shape).astype(np.float32)
    dg = rng.standard_normal((shape[0], shape[1], shape[1])).astype(np.float32)
    assert_same_for_any_thread_count(
        lambda: (fastseg.gram(f, "size"), fastseg.grad.gram_input(f, dg, "size")))


def test_inputs_of_any_layout_work_and_are_not_modified(rng):
    f = np.asfortranarray(rng.standard_normal((2, 5, 6, 7)))[:, ::-1]
    dg = rng.standard_normal((2, 5, 5)).transpose(0, 2, 1)
    f.flags.writeable = False
    copies = f.copy(), dg.copy()
    assert_close(fastseg.gram(f), ref.gram(f), TOLERANCE[f.dtype])
    assert_close(fastseg.grad.gram_input(f, dg), ref.gram_grad(f, dg), TOLERANCE[f.dtype])
    assert np.array_equal(f, copies[0]) and np.array_equal(dg, copies[1])


def test_out_argument(rng):
    f = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    out = np.full((2, 3, 3), np.nan, np.float32)
    assert fastseg.gram(f, out=out) is out
    assert_close(out, ref.gram(f), TOLERANCE[out.dtype])
    with pytest.raises(ValueError, match=r"out: expected shape \(2, 3, 3\), got \(2, 3, 4\)"):
        fastseg.gram(f, out=np.empty((2, 3, 4), np.float32))
    with pytest.raises(TypeError, match="out: expected dtype float32, got float64"):
        fastseg.gram(f, out=np.empty((2, 3, 3)))


F = np.zeros((2, 3, 4, 5), np.float32)
DG = np.zeros((2, 3, 3), np.float32)


@pytest.mark.parametrize("call,error,match", [
    (lambda: fastseg.gram(F[0]), ValueError, r"features: expected a 4-D array, got shape \(3, 4, 5\)"),
    (lambda: fastseg.gram(F[:, :0]), ValueError, r"features: expected non-zero channel and spatial sizes, got shape \(2, 0, 4, 5\)"),
    (lambda: fastseg.gram(F[:, :, :, :0]), ValueError, "features: expected non-zero channel and spatial sizes"),
    (lambda: fastseg.gram(F.astype(np.int64)), TypeError, "features: expected dtype float32 or float64, got int64"),
    (lambda: fastseg.gram(F, normalize="mean"), ValueError, "normalize: expected None, 'spatial' or 'size', got 'mean'"),
    (lambda: fastseg.gram(F, normalize=True), ValueError, "normalize: expected None, 'spatial' or 'size', got True"),
    (lambda: fastseg.grad.gram_input(F, DG[:, :2]), ValueError, r"grad_output: expected shape \(2, 3, 3\), got \(2, 2, 3\)"),
    (lambda: fastseg.grad.gram_input(F, DG[0]), ValueError, "grad_output: expected a 3-D array"),
    (lambda: fastseg.grad.gram_input(F, DG.astype(np.float64)), TypeError,
     "grad_output: expected dtype float32 .the dtype of features., got float64"),
    (lambda: fastseg.grad.gram_input(F, DG, normalize="all"), ValueError, "normalize: expected None"),
])
def test_bad_input_raises_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
