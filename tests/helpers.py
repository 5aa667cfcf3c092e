"""Test helpers shared by every op test: one comparison against float64 references (NumPy, and
PyTorch when installed) for the forward result and every gradient, and a finite-difference check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import fastseg

try:
    import torch
except ImportError:  # the PyTorch comparisons skip
    torch = None

# Error allowed relative to the largest magnitude of the reference, per dtype.
TOLERANCE = {np.dtype(np.float32): 3e-5, np.dtype(np.float64): 1e-12}


def assert_close(actual, expected, tol: float, name: str = "result") -> None:
    """|actual - expected| <= tol * (|expected| + max|expected|), elementwise; on failure lists
    the first mismatches with their indices."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    scale = np.abs(expected).max(initial=0.0)
    bound = tol * (np.abs(expected) + scale) + 1e-30
    bad = ~(np.abs(actual.astype(np.float64) - expected) <= bound)  # NaN counts as bad
    if bad.any():
        where = np.argwhere(bad)[:8]
        lines = [f"  {tuple(int(i) for i in idx)}: got {actual[tuple(idx)]!r}, "
                 f"expected {expected[tuple(idx)]!r}" for idx in where]
        raise AssertionError(f"{name}: {int(bad.sum())} of {bad.size} elements differ "
                             f"(tol {tol:g}, max|expected| {scale:g}):\n" + "\n".join(lines))


@dataclass
class Op:
    """An op under test and its references. Each callable takes the inputs as keyword arrays;
    the *_grads callables also take `dy`, the gradient of the output, and return a dict of the
    gradients of the named inputs."""

    forward: Callable[..., np.ndarray]
    grads: Callable[..., dict] | None
    reference: Callable[..., np.ndarray]
    reference_grads: Callable[..., dict] | None = None
    torch_forward: Callable[..., Any] | None = None  # same inputs as torch float64 tensors


def check_op(op: Op, inputs: dict[str, np.ndarray], dtype, rng, tol: float | None = None,
             torch_grads: tuple[str, ...] | None = None) -> None:
    """Runs op in `dtype` and compares its forward result and gradients against the float64
    NumPy reference, and against PyTorch (float64) when installed."""
    dtype = np.dtype(dtype)
    tol = TOLERANCE[dtype] if tol is None else tol
    cast = {k: np.asarray(v).astype(dtype) for k, v in inputs.items()}
    exact = {k: v.astype(np.float64) for k, v in cast.items()}  # same values, float64
    y = op.forward(**cast)
    assert y.dtype == dtype, f"output dtype {y.dtype} != {dtype}"
    y_ref = op.reference(**exact)
    assert_close(y, y_ref, tol, "forward")
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    grads = op.grads(dy=dy, **cast) if op.grads else {}
    if op.reference_grads:
        for name, g_ref in op.reference_grads(dy=dy.astype(np.float64), **exact).items():
            assert grads[name].dtype == dtype, f"grad {name} dtype {grads[name].dtype}"
            assert_close(grads[name], g_ref, tol, f"grad {name}")
    if torch is not None and op.torch_forward is not None:
        names = tuple(grads) if torch_grads is None else torch_grads
        tensors = {k: torch.tensor(v, requires_grad=k in names) for k, v in exact.items()}
        y_t = op.torch_forward(**tensors)
        assert_close(y, y_t.detach().numpy(), tol, "forward vs torch")
        if names:
            g_t = torch.autograd.grad(y_t, [tensors[n] for n in names],
                                      torch.tensor(dy.astype(np.float64)))
            for name, g in zip(names, g_t):
                assert_close(grads[name], g.numpy(), tol, f"grad {name} vs torch")


def check_finite_differences(forward: Callable[..., np.ndarray], grads: Callable[..., dict],
                             inputs: dict[str, np.ndarray], rng, directions: int = 3,
                             eps: float = 1e-6, tol: float = 1e-6) -> None:
    """In float64: for random directions v of each input, <grad, v> must match the central
    difference of L = sum(dy * forward(inputs))."""
    inputs = {k: np.asarray(v, np.float64) for k, v in inputs.items()}
    y = forward(**inputs)
    dy = rng.standard_normal(y.shape)
    analytic = grads(dy=dy, **inputs)
    for name, g in analytic.items():
        for _ in range(directions):
            v = rng.standard_normal(inputs[name].shape)
            plus = dict(inputs, **{name: inputs[name] + eps * v})
            minus = dict(inputs, **{name: inputs[name] - eps * v})
            numeric = (np.sum(dy * forward(**plus)) - np.sum(dy * forward(**minus))) / (2 * eps)
            exact = np.sum(g * v)
            assert abs(numeric - exact) <= tol * (1 + abs(exact)), (
                f"grad {name}: directional derivative {exact!r}, finite difference {numeric!r}")


def assert_same_for_any_thread_count(compute: Callable[[], tuple], counts=(1, 2, 3, 5)) -> None:
    """compute() (a tuple of arrays) must give bitwise identical results for every thread count."""
    runs = []
    before = fastseg.get_num_threads()
    try:
        for threads in counts:
            fastseg.set_num_threads(threads)
            runs.append(compute())
    finally:
        fastseg.set_num_threads(before)
    for threads, run in zip(counts[1:], runs[1:]):
        for i, (a, b) in enumerate(zip(runs[0], run)):
            assert np.array_equal(a, b), f"result {i} differs between 1 and {threads} threads"
