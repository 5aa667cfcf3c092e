"""Pooling family cases on the 4x64x256x256 float32 activation of the issue: it is the input of
the pooling ops and the output of the unpooling / upsampling ops (from 4x64x128x128), forward
and backward. Memory-bound ops: the work is bytes read + bytes written, int64 indices counted,
each element counted once (a gather counts the elements it reads, not whole arrays)."""

from __future__ import annotations

import numpy as np

import fastseg

from .case import Case, add, optional_import

N, C, SIZE = 4, 64, 256
LARGE = N * C * SIZE * SIZE  # elements of the 256x256 side
SMALL = LARGE // 4           # elements of the 128x128 side
F32, I64 = 4, 8


def _arrays():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, SIZE, SIZE), dtype=np.float32)
    y, indices = fastseg.max_pool2d(x, 2, return_indices=True)
    small = rng.standard_normal(y.shape, dtype=np.float32)
    return x, y, indices, small


def _setup(fastseg_step, torch_step):
    """A case setup: fastseg_step(arrays) and torch_step(torch, tensors) return the callables."""
    def setup(peers):
        arrays = _arrays()
        impls = {"fastseg": fastseg_step(*arrays)}
        torch = optional_import("torch", peers)
        if torch is not None:
            tensors = [torch.from_numpy(a) for a in arrays]
            impls["torch"] = torch_step(torch, *tensors)
        return impls
    return setup


def _no_grad(torch, fn):
    def step():
        with torch.no_grad():
            return fn()
    return step


def _interp_cases(mode):
    up = dict(scale_factor=2, mode=mode)
    corners = {} if mode == "nearest" else {"align_corners": False}
    backward = {"nearest": "upsample_nearest2d_backward", "bilinear": "upsample_bilinear2d_backward"}
    add(Case(f"interpolate fwd {mode} x2 -> 4x64x256x256", "pool", (SMALL + LARGE) * F32, "GB/s",
             _setup(lambda x, y, i, small: lambda: fastseg.interpolate(small, **up),
                    lambda torch, x, y, i, small: _no_grad(
                        torch, lambda: torch.nn.functional.interpolate(small, **up)))))
    add(Case(f"interpolate bwd {mode} x2 <- 4x64x256x256", "pool", (LARGE + SMALL) * F32, "GB/s",
             _setup(lambda x, y, i, small: lambda: fastseg.grad.interpolate_input(
                        x, small.shape, mode, corners.get("align_corners"), 2),
                    lambda torch, x, y, i, small: lambda: getattr(torch.ops.aten, backward[mode])(
                        x, [SIZE, SIZE], list(small.shape), *corners.values(), 2.0, 2.0))))


add(Case("max_pool2d fwd 2x2/s2 +indices 4x64x256x256", "pool", LARGE * F32 + SMALL * (F32 + I64),
         "GB/s",
         _setup(lambda x, y, i, small: lambda: fastseg.max_pool2d(x, 2, return_indices=True),
                lambda torch, x, y, i, small: _no_grad(
                    torch, lambda: torch.nn.functional.max_pool2d(x, 2, return_indices=True)))))
add(Case("max_pool2d bwd 2x2/s2 4x64x256x256", "pool", SMALL * (F32 + I64) + LARGE * F32, "GB/s",
         _setup(lambda x, y, i, small: lambda: fastseg.grad.max_pool2d_input(small, i, x.shape),
                lambda torch, x, y, i, small: lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                    small, x, [2, 2], [2, 2], [0, 0], [1, 1], False, i))))
add(Case("max_unpool2d fwd 2x2 -> 4x64x256x256", "pool", SMALL * (F32 + I64) + LARGE * F32, "GB/s",
         _setup(lambda x, y, i, small: lambda: fastseg.max_unpool2d(small, i, 2),
                lambda torch, x, y, i, small: _no_grad(
                    torch, lambda: torch.nn.functional.max_unpool2d(small, i, 2)))))
# The gradient of max_unpool2d gathers one element of each 2x2 block: PyTorch's derivative is the
# same gather (torch.gather on the flattened planes).
add(Case("max_unpool2d bwd 2x2 <- 4x64x256x256", "pool", SMALL * (F32 + I64 + F32), "GB/s",
         _setup(lambda x, y, i, small: lambda: fastseg.grad.max_unpool2d_input(x, i),
                lambda torch, x, y, i, small: lambda: torch.gather(
                    x.flatten(2), 2, i.flatten(2)).view(i.shape))))
add(Case("avg_pool2d fwd 2x2/s2 4x64x256x256", "pool", (LARGE + SMALL) * F32, "GB/s",
         _setup(lambda x, y, i, small: lambda: fastseg.avg_pool2d(x, 2),
                lambda torch, x, y, i, small: _no_grad(
                    torch, lambda: torch.nn.functional.avg_pool2d(x, 2)))))
add(Case("avg_pool2d bwd 2x2/s2 4x64x256x256", "pool", (SMALL + LARGE) * F32, "GB/s",
         _setup(lambda x, y, i, small: lambda: fastseg.grad.avg_pool2d_input(small, x.shape, 2),
                lambda torch, x, y, i, small: lambda: torch.ops.aten.avg_pool2d_backward(
                    small, x, [2, 2], [2, 2], [0, 0], False, True, None))))
_interp_cases("nearest")
_interp_cases("bilinear")
