"""Shared by the autograd / nn / optim tests: run the same computation in fastseg and PyTorch
and compare the result and every input gradient."""

from __future__ import annotations

import numpy as np
import pytest

import fastseg
from helpers import assert_close, torch

# Relative (to the largest magnitude) error allowed against PyTorch, per dtype.
TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


@pytest.fixture
def one_thread():
    """For tiny models and finite differences: one thread avoids waking an OpenMP team per small
    kernel, which costs far more than the work on shared cores. Results do not depend on it."""
    previous = fastseg.get_num_threads()
    fastseg.set_num_threads(1)
    if torch is not None:
        previous_torch = torch.get_num_threads()
        torch.set_num_threads(1)
    yield
    fastseg.set_num_threads(previous)
    if torch is not None:
        torch.set_num_threads(previous_torch)


def as_dtype(inputs: dict, dtype) -> dict:
    return {k: (v.astype(dtype) if np.asarray(v).dtype.kind == "f" else v) for k, v in inputs.items()}


def compare_with_torch(fs_fn, torch_fn, inputs: dict, dtype, rng, grad_names=None, tol=None):
    """fs_fn(**fastseg tensors) and torch_fn(**torch tensors) from the same `inputs` (float
    arrays become tensors requiring grad when named in grad_names, default: all float inputs;
    other values pass unchanged). Compares the outputs, then the gradients of sum(dy * out)."""
    dtype = np.dtype(dtype)
    tol = TOL[dtype] if tol is None else tol
    inputs = as_dtype(inputs, dtype)
    floats = [k for k, v in inputs.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    names = floats if grad_names is None else list(grad_names)
    fs_in = {k: (fastseg.tensor(v, requires_grad=k in names) if k in floats else v)
             for k, v in inputs.items()}
    th_in = {k: (torch.tensor(v, requires_grad=k in names) if isinstance(v, np.ndarray) else v)
             for k, v in inputs.items()}
    y = fs_fn(**fs_in)
    y_t = torch_fn(**th_in)
    assert y.dtype == dtype, f"output dtype {y.dtype} != {dtype}"
    assert_close(y.data, y_t.detach().numpy(), tol, "forward vs torch")
    if not names:
        return y
    dy = rng.standard_normal(y.shape).astype(dtype)
    y.backward(dy)
    y_t.backward(torch.tensor(dy))
    for k in names:
        assert fs_in[k].grad is not None, f"no gradient reached {k}"
        assert fs_in[k].grad.dtype == dtype
        assert_close(fs_in[k].grad.data, th_in[k].grad.numpy(), tol, f"grad {k} vs torch")
    return y


def layer_parity(fs_layer, th_layer, x, dtype, rng, train=True):
    """fastseg and torch modules with the torch one's weights (loaded through state_dict), in
    `dtype` and train/eval mode, on the same input: output, input gradient, every parameter
    gradient and every buffer (running statistics) agree. Returns the fastseg output."""
    fs_layer = fs_layer.to(dtype).train(train)
    th_layer = th_layer.to(torch.float64 if dtype == np.float64 else torch.float32).train(train)
    fs_layer.load_state_dict({k: v.detach().numpy() for k, v in th_layer.state_dict().items()})
    fs_layer.zero_grad()
    th_layer.zero_grad()
    xf = fastseg.tensor(x.astype(dtype), requires_grad=True)
    xt = torch.tensor(x.astype(dtype), requires_grad=True)
    y, yt = fs_layer(xf), th_layer(xt)
    tol = TOL[np.dtype(dtype)]
    assert_close(y.data, yt.detach().numpy(), tol, f"forward (train={train})")
    dy = rng.standard_normal(y.shape).astype(dtype)
    y.backward(dy)
    yt.backward(torch.tensor(dy))
    assert_close(xf.grad.data, xt.grad.numpy(), tol, "grad input")
    th_params = dict(th_layer.named_parameters())
    for name, p in fs_layer.named_parameters():
        assert_close(p.grad.data, th_params[name].grad.numpy(), tol, f"grad {name}")
    fs_state = fs_layer.state_dict()
    for name, b in th_layer.named_buffers():
        assert_close(np.asarray(fs_state[name], np.float64), b.numpy(), tol, name)
    return y
