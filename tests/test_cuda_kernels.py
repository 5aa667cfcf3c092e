"""The CUDA pooling, Gram and training kernels (fastseg._cuda, CuPy arrays) against float64
references: PyTorch on the CPU where it defines the semantics, NumPy otherwise. GPU only: the
module skips without CuPy and a usable GPU. (The CPU twins of these kernels are tested by their
own families' tests.)"""

import numpy as np
import pytest

import fastseg
from devices import GPU, cupy
from helpers import assert_close

pytestmark = pytest.mark.skipif(not GPU, reason="needs CuPy and a CUDA GPU fastseg can use")
torch = pytest.importorskip("torch") if GPU else None
F = torch.nn.functional if torch is not None else None

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 3e-5, np.float64: 1e-12}


def kernels():
    from fastseg import _cuda
    return _cuda


def dev(a):
    return cupy.asarray(np.ascontiguousarray(a))


def host(a):
    return cupy.asnumpy(a)


def nan_like(shape, dtype):
    return cupy.full(shape, np.nan, dtype)


def pooled(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


# ---- Pooling ----------------------------------------------------------------------------------

POOLS = [(2, 2, 0, 1), (3, 2, 1, 1), (3, 1, 1, 2), (5, 3, 2, 1), (1, 1, 0, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,s,p,d", POOLS)
def test_max_pool2d_with_indices_and_gradient(k, s, p, d, dtype, rng):
    x = rng.standard_normal((2, 3, 17, 22)).astype(dtype)
    P, Q = pooled(17, k, s, p, d), pooled(22, k, s, p, d)
    y, idx = nan_like((2, 3, P, Q), dtype), cupy.full((2, 3, P, Q), -7, np.int64)
    kernels().max_pool2d_forward(y, idx, dev(x), (k, k), (s, s), (p, p), (d, d))
    y_t, idx_t = F.max_pool2d(torch.tensor(x, dtype=torch.float64), k, s, p, d,
                              return_indices=True)
    assert_close(host(y), y_t.numpy(), 0, "max_pool2d")
    assert np.array_equal(host(idx), idx_t.numpy())
    dy = rng.standard_normal((2, 3, P, Q)).astype(dtype)
    dx = nan_like(x.shape, dtype)
    assert kernels().max_pool2d_backward_input(dx, dev(dy), idx) == -1
    expected = np.zeros((6, 17 * 22))
    np.add.at(expected, (np.arange(6)[:, None], idx_t.numpy().reshape(6, -1)), dy.reshape(6, -1))
    assert_close(host(dx), expected.reshape(x.shape), TOL[dtype], "max_pool2d gradient")
    fastseg.cuda.set_deterministic(False)
    try:
        fast = nan_like(x.shape, dtype)
        kernels().max_pool2d_backward_input(fast, dev(dy), idx)
    finally:
        fastseg.cuda.set_deterministic(True)
    assert_close(host(fast), expected.reshape(x.shape), TOL[dtype], "atomic gradient")


def test_max_pool2d_nan_and_tie_rules():
    x = np.array([[[[1.0, 1.0, np.nan, 0.0], [np.nan, 5.0, 2.0, 2.0]]]])
    y, idx = nan_like((1, 1, 1, 2), np.float64), cupy.zeros((1, 1, 1, 2), np.int64)
    kernels().max_pool2d_forward(y, idx, dev(x), (2, 2), (2, 2), (0, 0), (1, 1))
    assert np.isnan(host(y)).all()
    assert host(idx).ravel().tolist() == [4, 2]  # the last NaN of each window


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_unpool2d_last_repeat_wins_and_gradient_gathers(dtype, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    idx = rng.integers(0, 8 * 9, size=x.shape)
    idx[0, 0, 0, :3] = 11  # repeated: the last (position 2) wins
    y = nan_like((2, 3, 8, 9), dtype)
    assert kernels().max_unpool2d_forward(y, dev(x), dev(idx)) == -1
    expected = np.zeros((6, 72))
    for plane in range(6):
        for i, at in enumerate(idx.reshape(6, -1)[plane]):
            expected[plane, at] = x.reshape(6, -1)[plane, i]
    assert np.array_equal(host(y), expected.reshape(y.shape).astype(dtype))
    dy = rng.standard_normal((2, 3, 8, 9)).astype(dtype)
    dx = nan_like(x.shape, dtype)
    assert kernels().max_unpool2d_backward_input(dx, dev(dy), dev(idx)) == -1
    gathered = np.take_along_axis(dy.reshape(6, -1), idx.reshape(6, -1), 1).reshape(x.shape)
    assert np.array_equal(host(dx), gathered)


def test_bad_indices_report_the_first_position(rng):
    x = dev(rng.standard_normal((1, 2, 3, 3)))
    idx = np.zeros((1, 2, 3, 3), np.int64)
    idx[0, 1, 2, 0], idx[0, 1, 2, 2] = 100, -1
    assert kernels().max_unpool2d_forward(nan_like((1, 2, 6, 6), np.float64), x, dev(idx)) == 15
    assert kernels().max_unpool2d_backward_input(nan_like((1, 2, 3, 3), np.float64),
                                                 dev(np.zeros((1, 2, 6, 6))), dev(idx)) == 15
    assert kernels().max_pool2d_backward_input(nan_like((1, 2, 6, 6), np.float64), x,
                                               dev(idx)) == 15


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,s,p,include,divisor", [(2, 2, 0, True, 0), (3, 2, 1, True, 0),
                                                   (3, 2, 1, False, 0), (3, 1, 1, True, 5),
                                                   (4, 3, 2, False, 0)])
def test_avg_pool2d_and_gradient(k, s, p, include, divisor, dtype, rng):
    x = rng.standard_normal((2, 3, 13, 16)).astype(dtype)
    P, Q = pooled(13, k, s, p, 1), pooled(16, k, s, p, 1)
    y = nan_like((2, 3, P, Q), dtype)
    kernels().avg_pool2d_forward(y, dev(x), (k, k), (s, s), (p, p), include, divisor)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = F.avg_pool2d(xt, k, s, p, count_include_pad=include, divisor_override=divisor or None)
    assert_close(host(y), yt.detach().numpy(), TOL[dtype], "avg_pool2d")
    dy = rng.standard_normal(yt.shape).astype(dtype)
    (dx_t,) = torch.autograd.grad(yt, xt, torch.tensor(dy, dtype=torch.float64))
    dx = nan_like(x.shape, dtype)
    kernels().avg_pool2d_backward_input(dx, dev(dy), (k, k), (s, s), (p, p), include, divisor)
    assert_close(host(dx), dx_t.numpy(), TOL[dtype], "avg_pool2d gradient")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,align,size,scale", [
    ("nearest", False, (26, 34), None), ("nearest", False, (7, 5), None),
    ("nearest", False, None, 2.0), ("bilinear", False, (26, 34), None),
    ("bilinear", True, (26, 34), None), ("bilinear", False, (6, 9), None),
    ("bilinear", False, None, 1.5), ("bilinear", True, (13, 17), None)])
def test_interpolate_and_gradient(mode, align, size, scale, dtype, rng):
    x = rng.standard_normal((2, 3, 13, 17)).astype(dtype)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    kwargs = {} if mode == "nearest" else {"align_corners": align}
    yt = F.interpolate(xt, size=size, scale_factor=scale, mode=mode, **kwargs)
    y = nan_like(yt.shape, dtype)
    scales = (scale, scale) if scale else (-1.0, -1.0)
    kernels().interpolate_forward(y, dev(x), int(mode == "bilinear"), align, *scales)
    assert_close(host(y), yt.detach().numpy(), TOL[dtype], "interpolate")
    dy = rng.standard_normal(yt.shape).astype(dtype)
    (dx_t,) = torch.autograd.grad(yt, xt, torch.tensor(dy, dtype=torch.float64))
    dx = nan_like(x.shape, dtype)
    kernels().interpolate_backward_input(dx, dev(dy), int(mode == "bilinear"), align, *scales)
    assert_close(host(dx), dx_t.numpy(), TOL[dtype], "interpolate gradient")


# ---- Gram -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES + [np.float16])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 70, 9, 11), (3, 130, 4, 33)])
def test_gram_is_symmetric_and_matches_reference(shape, dtype, rng):
    f = rng.standard_normal(shape).astype(dtype)
    n, c, h, w = shape
    scale = 1.0 / (h * w)
    g = nan_like((n, c, c), dtype)
    kernels().gram_forward(g, dev(f), scale)
    F64 = f.astype(np.float64).reshape(n, c, -1)
    expected = scale * np.einsum("nik,njk->nij", F64, F64)
    tol = 2e-3 if dtype == np.float16 else TOL[dtype]
    result = host(g)
    assert_close(result, expected, tol, "gram")
    assert np.array_equal(result, result.transpose(0, 2, 1)), "not exactly symmetric"
    dg = rng.standard_normal((n, c, c)).astype(dtype)
    df = nan_like(shape, dtype)
    kernels().gram_backward_input(df, dev(f), dev(dg), scale)
    dg64 = dg.astype(np.float64)
    expected_df = scale * np.einsum("nij,njk->nik", dg64 + dg64.transpose(0, 2, 1), F64)
    assert_close(host(df), expected_df.reshape(shape), tol, "gram gradient")


# ---- Training kernels -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu", [False, True])
def test_batch_norm_matches_torch(relu, dtype, rng):
    x = (rng.standard_normal((4, 5, 6, 7)) * 3 + 2).astype(dtype)
    w, b = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
    mean, var = fastseg.cuda.batch_norm_stats(dev(x))
    x64 = x.astype(np.float64)
    assert_close(host(mean), x64.mean(axis=(0, 2, 3)), TOL[dtype], "mean")
    assert_close(host(var), x64.var(axis=(0, 2, 3)), TOL[dtype], "var")
    invstd = 1 / cupy.sqrt(var + 1e-5)
    y = fastseg.cuda.batch_norm(dev(x), mean, invstd, dev(w), dev(b), relu=relu)
    xt = torch.tensor(x64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    yt = F.batch_norm(xt, None, None, wt, bt, training=True, eps=1e-5)
    yt = F.relu(yt) if relu else yt
    assert_close(host(y), yt.detach().numpy(), 1e-4 if dtype == np.float32 else 1e-10, "bn")
    dy = rng.standard_normal(x.shape).astype(dtype)
    grads_t = torch.autograd.grad(yt, (xt, wt, bt), torch.tensor(dy, dtype=torch.float64))
    grads = fastseg.cuda.batch_norm_grads(dev(dy), dev(x), mean, invstd, dev(w), True,
                                          output=y if relu else None)
    for name, g, g_t in zip(("x", "weight", "bias"), grads, grads_t):
        assert_close(host(g), g_t.numpy(), 1e-4 if dtype == np.float32 else 1e-9, f"bn grad {name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", fastseg.cuda.ACTIVATIONS)
def test_activations(kind, dtype, rng):
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
          "sigmoid": torch.sigmoid, "tanh": torch.tanh}[kind](xt)
    y = fastseg.cuda.activation(dev(x), kind, 0.2)
    assert_close(host(y), yt.detach().numpy(), TOL[dtype], kind)
    dy = rng.standard_normal(x.shape).astype(dtype)
    (dx_t,) = torch.autograd.grad(yt, xt, torch.tensor(dy, dtype=torch.float64))
    dx = fastseg.cuda.activation_grad(dev(dy), kind, input=dev(x), output=y, negative_slope=0.2)
    assert_close(host(dx), dx_t.numpy(), TOL[dtype], f"{kind} gradient")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_torch(reduction, weighted, dtype, rng):
    z = (rng.standard_normal((3, 5, 4, 6)) * 4).astype(dtype)
    t = rng.integers(0, 5, size=(3, 4, 6))
    t[0, 0, :3] = -100
    w = rng.random(5).astype(dtype) + 0.5 if weighted else None
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    lt = F.cross_entropy(zt, torch.tensor(t), None if w is None else torch.tensor(w, dtype=torch.float64),
                         reduction=reduction)
    loss = fastseg.cuda.cross_entropy(dev(z), dev(t), None if w is None else dev(w),
                                      reduction=reduction)
    assert_close(host(loss), lt.detach().numpy(), 1e-5 if dtype == np.float32 else 1e-12, "loss")
    g = rng.standard_normal(lt.shape).astype(dtype)
    (dz_t,) = torch.autograd.grad(lt, zt, torch.tensor(g, dtype=torch.float64))
    dz = fastseg.cuda.cross_entropy_grad(dev(g), dev(z), dev(t), None if w is None else dev(w),
                                         reduction=reduction)
    assert_close(host(dz), dz_t.numpy(), 1e-5 if dtype == np.float32 else 1e-12, "dlogits")
    bad = t.copy()
    bad[1, 2, 3] = 5
    with pytest.raises(ValueError, match="target: class index 5 at flat position 39"):
        fastseg.cuda.cross_entropy(dev(z), dev(bad))


@pytest.mark.parametrize("momentum,nesterov,decay", [(0.0, False, 0.0), (0.9, False, 0.01),
                                                     (0.9, True, 0.0)])
def test_sgd_steps_match_torch(momentum, nesterov, decay, rng):
    p0, grads = rng.standard_normal(50), [rng.standard_normal(50) for _ in range(3)]
    pt = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.SGD([pt], lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=decay)
    p, buf = dev(p0), cupy.zeros(50)
    for i, g in enumerate(grads):
        pt.grad = torch.tensor(g)
        opt.step()
        fastseg.cuda.sgd_step(p, dev(g), buf if momentum else None, lr=0.1, momentum=momentum,
                              nesterov=nesterov, weight_decay=decay, first_step=i == 0)
    assert_close(host(p), pt.detach().numpy(), 1e-12, "sgd")


@pytest.mark.parametrize("amsgrad,decoupled", [(False, False), (True, False), (False, True)])
def test_adam_steps_match_torch(amsgrad, decoupled, rng):
    p0, grads = rng.standard_normal(64), [rng.standard_normal(64) for _ in range(3)]
    pt = torch.tensor(p0, requires_grad=True)
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls([pt], lr=0.01, weight_decay=0.1, amsgrad=amsgrad)
    p, m, v, vmax = dev(p0), cupy.zeros(64), cupy.zeros(64), cupy.zeros(64)
    for step, g in enumerate(grads, 1):
        pt.grad = torch.tensor(g)
        opt.step()
        fastseg.cuda.adam_step(p, dev(g), m, v, step=step, lr=0.01, weight_decay=0.1,
                               amsgrad=amsgrad, max_exp_avg_sq=vmax if amsgrad else None,
                               decoupled_weight_decay=decoupled)
    assert_close(host(p), pt.detach().numpy(), 1e-10, "adam")
