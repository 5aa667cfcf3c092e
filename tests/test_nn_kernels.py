"""The fused nn kernels (csrc/cpu/nn.cpp) against float64 NumPy references on every ISA path:
BatchNorm statistics / forward / backward, the ReLU gradient, the Adam(W) step."""

import numpy as np
import pytest

import fastseg
from fastseg import _C
from helpers import TOLERANCE, assert_close

SHAPES = [(1, 1, 2), (2, 3, 5), (3, 4, 37), (2, 5, 1), (4, 2, 257), (1, 7, 1031)]


def nan(shape, dtype):
    return np.full(shape, np.nan, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_stats_forward(shape, dtype, isa, rng):
    n, c, m = shape
    x = (rng.standard_normal(shape) * rng.uniform(0.1, 5, (1, c, 1)) + 100).astype(dtype)
    mean, var = nan(c, dtype), nan(c, dtype)
    _C.batch_norm_stats(mean, var, x)
    x64 = x.astype(np.float64)
    assert_close(mean, x64.mean((0, 2)), TOLERANCE[np.dtype(dtype)], "mean")
    # a large mean (100) must not cost the variance its precision (shifted sums)
    assert_close(var, x64.var((0, 2)), 1e-5 if dtype == np.float32 else 1e-11, "var")
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    invstd = (1 / np.sqrt(var.astype(np.float64) + 1e-5)).astype(dtype)
    for (weight, bias), relu in [((w, b), False), ((w, b), True), ((None, None), False)]:
        y = nan(shape, dtype)
        _C.batch_norm_forward(y, x, mean, invstd, weight, bias, relu)
        ref = (x64 - mean[:, None].astype(np.float64)) * invstd[:, None]
        if weight is not None:
            ref = ref * w[:, None] + b[:, None]
        assert_close(y, np.maximum(ref, 0) if relu else ref, 10 * TOLERANCE[np.dtype(dtype)], "y")


def batch_norm_backward_reference(dy, x, mean, invstd, w, training, y=None):
    """Gradients of batch norm (then a ReLU of output y when y is given) in float64."""
    dy, x = dy.astype(np.float64), x.astype(np.float64)
    if y is not None:
        dy = np.where(y > 0, dy, 0)
    mean, invstd, w = (a.astype(np.float64)[:, None] for a in (mean, invstd, w))
    xhat = (x - mean) * invstd
    db = dy.sum((0, 2))
    dw = (dy * xhat).sum((0, 2))
    if not training:
        return dy * w * invstd, dw, db
    count = x.shape[0] * x.shape[2]
    dx = w * invstd * (dy - db[:, None] / count - xhat * dw[:, None] / count)
    return dx, dw, db


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_backward(shape, dtype, training, relu, isa, rng):
    n, c, m = shape
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    mean = x.astype(np.float64).mean((0, 2)).astype(dtype)
    invstd = (1 / np.sqrt(x.astype(np.float64).var((0, 2)) + 0.1)).astype(dtype)
    w = rng.standard_normal(c).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype) if relu else None  # only its sign matters
    dx, dw, db = nan(shape, dtype), np.ones(c, dtype), np.ones(c, dtype)  # dw, db accumulate
    _C.batch_norm_backward(dx, dw, db, dy, y, x, mean, invstd, w, training)
    rdx, rdw, rdb = batch_norm_backward_reference(dy, x, mean, invstd, w, training, y)
    tol = 10 * TOLERANCE[np.dtype(dtype)]
    assert_close(dx, rdx, tol, "dx")
    assert_close(dw, rdw + 1, tol, "dweight")
    assert_close(db, rdb + 1, tol, "dbias")
    only_dx = nan(shape, dtype)
    _C.batch_norm_backward(only_dx, None, None, dy, y, x, mean, invstd, None, training)
    assert_close(only_dx, batch_norm_backward_reference(dy, x, mean, invstd, np.ones(c), training,
                                                        y)[0], tol, "dx without weight")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backward(dtype, isa, rng):
    for n in (1, 7, 100, 70001):
        y = np.maximum(rng.standard_normal(n), 0).astype(dtype)
        dy = rng.standard_normal(n).astype(dtype)
        dx = nan(n, dtype)
        _C.relu_backward(dx, dy, y)
        assert np.array_equal(dx, np.where(y > 0, dy, 0))


def adam_reference(p, m, v, vmax, g, lr, b1, b2, eps, wd, step, amsgrad, decoupled, maximize):
    """torch.optim.Adam's single-tensor update in float64."""
    g = -g if maximize else g
    if wd and decoupled:
        p = p * (1 - lr * wd)
    elif wd:
        g = g + wd * p
    m = m + (1 - b1) * (g - m)
    v = v * b2 + (1 - b2) * g * g
    if amsgrad:
        vmax = np.maximum(vmax, v)
    denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - b2 ** step) + eps
    return p - lr / (1 - b1 ** step) * m / denom, m, v, vmax


@pytest.mark.parametrize("options", [(0.0, False, False, False), (0.1, False, False, False),
                                     (0.1, True, False, False), (0.05, False, True, True),
                                     (0.05, True, True, False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_step(dtype, options, isa, rng):
    wd, decoupled, amsgrad, maximize = options
    n = 70003  # more than one chunk, and a tail
    p, g = rng.standard_normal(n), rng.standard_normal(n)
    m, v = rng.standard_normal(n) * 0.1, rng.random(n) * 0.1
    vmax = v + rng.random(n) * 0.01
    state = [a.astype(dtype) for a in (p, m, v, vmax)]
    step, lr, b1, b2, eps = 3, 1e-2, 0.9, 0.99, 1e-8
    _C.adam_step(state[0], state[1], state[2], state[3] if amsgrad else None, g.astype(dtype), lr,
                 b1, b2, eps, wd, step, amsgrad, decoupled, maximize)
    ref = adam_reference(*(a.astype(dtype).astype(np.float64) for a in (p, m, v, vmax)),
                         g.astype(dtype).astype(np.float64), lr, b1, b2, eps, wd, step, amsgrad,
                         decoupled, maximize)
    tol = TOLERANCE[np.dtype(dtype)]
    for name, got, want in zip(("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"), state, ref):
        if name != "max_exp_avg_sq" or amsgrad:
            assert_close(got, want, tol, name)


def test_results_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((2, 5, 240007)).astype(np.float32)  # large enough for 2-3 threads
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w = rng.standard_normal(5).astype(np.float32)
    results = []
    previous = fastseg.get_num_threads()
    try:
        for threads in (1, 2, 3):
            fastseg.set_num_threads(threads)
            mean, var = np.empty(5, np.float32), np.empty(5, np.float32)
            _C.batch_norm_stats(mean, var, x)
            dx, dw, db = np.empty_like(x), np.zeros(5, np.float32), np.zeros(5, np.float32)
            _C.batch_norm_backward(dx, dw, db, dy, None, x, mean, 1 / np.sqrt(var + 1e-5), w, True)
            results.append((mean, var, dx, dw, db))
    finally:
        fastseg.set_num_threads(previous)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def test_bad_arguments_raise():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="mean: expected shape \\(3,\\), got \\(2,\\)"):
        _C.batch_norm_stats(np.zeros(2, np.float32), np.zeros(3, np.float32), x)
    with pytest.raises(ValueError, match="x: expected a 3-D array"):
        _C.batch_norm_stats(np.zeros(3, np.float32), np.zeros(3, np.float32), x[0])
    with pytest.raises(TypeError, match="mean: expected dtype float64"):
        _C.batch_norm_stats(np.zeros(3, np.float32), np.zeros(3), x.astype(np.float64))
    with pytest.raises(ValueError, match="dy: expected shape"):
        _C.batch_norm_backward(None, None, None, x[:1], None, x, np.zeros(3, np.float32),
                               np.ones(3, np.float32), None, True)
    with pytest.raises(ValueError, match="y: expected a writeable"):
        y = np.zeros_like(x)
        y.flags.writeable = False
        _C.batch_norm_forward(y, x, np.zeros(3, np.float32), np.ones(3, np.float32), None, None,
                              False)
    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="max_exp_avg_sq: needed with amsgrad"):
        _C.adam_step(p, p.copy(), p.copy(), None, p.copy(), 1e-3, 0.9, 0.999, 1e-8, 0, 1, True,
                     False, False)
    with pytest.raises(ValueError, match="step: expected >= 1"):
        _C.adam_step(p, p.copy(), p.copy(), None, p.copy(), 1e-3, 0.9, 0.999, 1e-8, 0, 0, False,
                     False, False)
    with pytest.raises(ValueError, match="grad: expected shape"):
        _C.adam_step(p, p.copy(), p.copy(), None, p[:2].copy(), 1e-3, 0.9, 0.999, 1e-8, 0, 1,
                     False, False, False)
