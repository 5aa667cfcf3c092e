"""fastseg.autograd: every primitive op by float64 finite differences (gradcheck) and against
PyTorch, and the engine's rules (accumulation, graph freeing, no_grad, aliasing)."""

import gc
import weakref

import numpy as np
import pytest

import fastseg
from fastseg.autograd import Function, GradcheckError, gradcheck, hessian, jacobian
from helpers import torch
from nn_helpers import compare_with_torch


def t64(rng, *shape, positive=False):
    a = rng.standard_normal(shape)
    return fastseg.tensor(np.abs(a) + 0.5 if positive else a, requires_grad=True, dtype=np.float64)


# (name, fastseg fn, torch fn, input shapes, positive inputs)
UNARY = [
    ("neg", lambda a: -a, lambda a: -a),
    ("exp", lambda a: a.exp(), lambda a: a.exp()),
    ("abs", lambda a: a.abs(), lambda a: a.abs()),
    ("pow3", lambda a: a ** 3, lambda a: a ** 3),
    ("sqrt", lambda a: (a * a + 1).sqrt(), lambda a: (a * a + 1).sqrt()),
    ("clamp", lambda a: a.clamp(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7)),
    ("relu", lambda a: a.relu(), lambda a: a.relu()),
    ("leaky_relu", lambda a: fastseg.nn.functional.leaky_relu(a, 0.2),
     lambda a: torch.nn.functional.leaky_relu(a, 0.2)),
    ("sigmoid", lambda a: a.sigmoid(), lambda a: a.sigmoid()),
    ("tanh", lambda a: a.tanh(), lambda a: a.tanh()),
    ("softmax", lambda a: a.softmax(1), lambda a: a.softmax(1)),
    ("log_softmax", lambda a: a.log_softmax(-1), lambda a: a.log_softmax(-1)),
    ("sum_axes", lambda a: a.sum((0, 2)), lambda a: a.sum((0, 2))),
    ("mean_keepdim", lambda a: a.mean(1, keepdim=True), lambda a: a.mean(1, keepdim=True)),
    ("sum_all", lambda a: a.sum(), lambda a: a.sum()),
    ("reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1)),
    ("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1)),
    ("transpose", lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2)),
    ("slice", lambda a: a[1:, ::2, -1], lambda a: a[1:, ::2, -1]),
    ("fancy_index", lambda a: a[np.array([0, 1, 0]), :, np.array([2, 2, 2])],
     lambda a: a[torch.tensor([0, 1, 0]), :, torch.tensor([2, 2, 2])]),
    ("unsqueeze_squeeze", lambda a: a.unsqueeze(1).squeeze(1), lambda a: a.unsqueeze(1).squeeze(1)),
]


@pytest.mark.parametrize("name,fs_fn,th_fn", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ops(name, fs_fn, th_fn, rng):
    x = t64(rng, 2, 3, 4)
    assert gradcheck(fs_fn, [x])
    if torch is not None:
        for dtype in (np.float64, np.float32):
            compare_with_torch(fs_fn, th_fn, {"a": x.data}, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_keeps_nan_and_passes_its_gradient_as_torch(dtype):
    """relu(NaN) = NaN and its gradient flows through NaN (torch's threshold_backward), in the
    kernel path (same dtypes) and the mixed-dtype one."""
    x = fastseg.tensor(np.array([np.nan, -1.0, 0.0, 2.0]), requires_grad=True, dtype=dtype)
    y = x.relu()
    assert np.isnan(y.data[0]) and np.array_equal(y.data[1:], [0, 0, 2])
    y.backward(fastseg.tensor(np.array([3.0, 4.0, 5.0, 6.0]), dtype=dtype))
    assert np.array_equal(x.grad.data, [3, 0, 0, 6])
    x.grad = None
    x.relu().backward(fastseg.tensor(np.full(4, 2.0), dtype=np.float16 if dtype == np.float32
                                     else np.float32))
    assert np.array_equal(x.grad.data, [2, 0, 0, 2])


def test_log_and_pow_of_positive(rng):
    x, e = t64(rng, 3, 4, positive=True), t64(rng, 3, 4)
    assert gradcheck(lambda a: a.log(), [x])
    assert gradcheck(lambda a, b: a ** b, [x, e])
    assert gradcheck(lambda b: 2.0 ** b, [e])
    assert gradcheck(lambda a: 1.0 / a, [x])


BINARY = [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / (b * b + 1)),
]


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 1, 4), (3, 1)), ((4,), (3, 2, 4)),
                                    ((), (2, 2))])
@pytest.mark.parametrize("name,fn", BINARY, ids=[b[0] for b in BINARY])
def test_broadcasting_binary_ops(name, fn, shapes, rng):
    a, b = t64(rng, *shapes[0]), t64(rng, *shapes[1])
    assert gradcheck(fn, [a, b])
    if torch is not None:
        compare_with_torch(fn, fn, {"a": a.data, "b": b.data}, np.float32, rng)


def test_scalars_keep_dtype_and_reflected_ops(rng):
    x = fastseg.tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)
    y = 2 - x * 3 + 1 / (x * x + 1) - (-x) / 2
    assert y.dtype == np.float32
    assert gradcheck(lambda a: 2 - a * 3 + 1 / (a * a + 1) - (-a) / 2, [t64(rng, 5)])


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                                    ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul(shapes, rng):
    a, b = t64(rng, *shapes[0]), t64(rng, *shapes[1])
    assert gradcheck(lambda a, b: a @ b, [a, b])
    if torch is not None:
        compare_with_torch(lambda a, b: a @ b, lambda a, b: a @ b, {"a": a.data, "b": b.data},
                           np.float64, rng)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack(dim, rng):
    a, b, c = t64(rng, 2, 3), t64(rng, 2, 3), t64(rng, 2, 3)
    assert gradcheck(lambda a, b, c: fastseg.cat([a, b, c], dim), [a, b, c])
    assert gradcheck(lambda a, b, c: fastseg.stack([a, b, c], dim), [a, b, c])
    if torch is not None:
        inputs = {"a": a.data, "b": b.data, "c": c.data}
        compare_with_torch(lambda a, b, c: fastseg.cat([a, b, c], dim),
                           lambda a, b, c: torch.cat([a, b, c], dim), inputs, np.float64, rng)
        compare_with_torch(lambda a, b, c: fastseg.stack([a, b, c], dim),
                           lambda a, b, c: torch.stack([a, b, c], dim), inputs, np.float64, rng)


@pytest.mark.parametrize("mode,pad", [("constant", (1, 2, 0, 3)), ("constant", (-1, 2)),
                                      ("reflect", (2, 1, 1, 2)), ("replicate", (3, 0, 2, 1)),
                                      ("circular", (2, 3, 1, 0))])
def test_pad(mode, pad, rng):
    x = t64(rng, 2, 3, 4, 5)
    fn = lambda a: fastseg.nn.functional.pad(a, pad, mode)  # noqa: E731
    assert gradcheck(fn, [x])
    if torch is not None:
        compare_with_torch(fn, lambda a: torch.nn.functional.pad(a, pad, mode), {"a": x.data},
                           np.float64, rng)


def test_cast_between_dtypes(rng):
    x = t64(rng, 3)
    y = x.float()
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64 and np.all(x.grad.data == 2)


# ---- the engine ----------------------------------------------------------------------------------

def test_gradients_accumulate_into_leaves_and_fan_out_sums(rng):
    x = t64(rng, 4)
    y = x * x + x.exp() * x  # x used three times
    y.sum().backward()
    expected = 2 * x.data + np.exp(x.data) * (x.data + 1)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-14)
    (x * 3).sum().backward()  # accumulates
    np.testing.assert_allclose(x.grad.data, expected + 3, rtol=1e-14)


def test_graph_is_freed_and_second_backward_raises(rng):
    x = t64(rng, 3)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_unsaved_intermediates_are_freed_during_forward(rng):
    x = t64(rng, 1000)
    hidden = x * 2  # Mul saves its inputs, not its output
    ref = weakref.ref(hidden.data)
    y = (hidden + 1).sum()  # Add saves nothing
    del hidden
    gc.collect()
    assert ref() is None, "the graph keeps an intermediate array alive"
    y.backward()
    assert np.all(x.grad.data == 2)


def test_leaf_gradients_never_alias(rng):
    a, b = t64(rng, 3), t64(rng, 3)
    (a + b).sum().backward()
    a.grad.data *= 5  # e.g. gradient clipping in place
    assert np.all(b.grad.data == 1)


def test_boolean_mask_index_and_leaf_backward_copies(rng):
    x = t64(rng, 3, 4)
    mask = x.data > 0
    assert gradcheck(lambda a: a[mask] * 2, [x])
    dy = np.ones(x.shape)
    x.backward(dy)
    x.grad.data *= 3
    assert np.all(dy == 1)  # the caller's gradient array is not the leaf's .grad


def test_no_grad_detach_and_requires_grad_rules(rng):
    x = t64(rng, 3)
    with fastseg.no_grad():
        y = x * 2
    assert not y.requires_grad
    assert not x.detach().requires_grad
    z = x * 2
    assert z.requires_grad and not z.is_leaf
    with pytest.raises(RuntimeError, match="only floating point"):
        fastseg.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="does not require grad"):
        fastseg.tensor([1.0]).backward()
    with pytest.raises(RuntimeError, match="implicitly created only for scalar"):
        z.backward()
    with pytest.raises(RuntimeError, match="numpy"):
        x.numpy()

    @fastseg.no_grad()
    def decorated(a):
        return a * 2
    assert not decorated(x).requires_grad


def test_tensor_creation_and_conversions():
    t = fastseg.tensor([1.0, 2.0])
    assert t.dtype == np.float32 and t.shape == (2,)
    assert fastseg.tensor(np.zeros(2)).dtype == np.float64
    assert fastseg.tensor([1, 2]).dtype == np.int64
    a = np.ones(3, np.float32)
    assert fastseg.from_numpy(a).data is a
    assert fastseg.tensor(a).data is not a
    assert np.asarray(t).tolist() == [1.0, 2.0] and t.numpy() is t.data


# ---- derivative tools ----------------------------------------------------------------------------

class WrongSquare(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved_tensors[0]  # missing factor 2


def test_gradcheck_catches_a_wrong_backward(rng):
    with pytest.raises(GradcheckError, match="inputs\\[0\\]"):
        gradcheck(WrongSquare.apply, [t64(rng, 3)])
    with pytest.raises(GradcheckError, match="random direction"):
        gradcheck(WrongSquare.apply, [t64(rng, 50)], max_elements=10)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda a: a * 2, [fastseg.tensor(np.ones(2, np.float32), requires_grad=True)])


def test_jacobian_is_exact(rng):
    x = t64(rng, 3)
    w = rng.standard_normal((2, 3))
    jac = jacobian(lambda a: (fastseg.tensor(w) @ a).tanh(), x)
    expected = (1 - np.tanh(w @ x.data) ** 2)[:, None] * w
    np.testing.assert_allclose(jac, expected, rtol=1e-14)


def test_hessian_matches_the_analytic_one(rng):
    x = t64(rng, 4)
    fn = lambda a: (a ** 3).sum() + a[0] * a[1] + (a * a).sum().exp() * 0.1  # noqa: E731
    h = hessian(fn, x)
    v = x.data
    s = np.exp((v * v).sum()) * 0.1
    expected = np.diag(6 * v) + s * (2 * np.eye(4) + 4 * np.outer(v, v))
    expected[0, 1] += 1
    expected[1, 0] += 1
    np.testing.assert_allclose(h, expected, rtol=1e-7, atol=1e-7)
    assert np.array_equal(h, h.T)
