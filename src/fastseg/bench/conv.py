"""conv2d cases: the U-Net layers of the foundation issue, forward and forward + both gradients."""

from __future__ import annotations

import numpy as np

import fastseg

from .case import Case, add, optional_import

# (N, C, K, H=W, kernel): 3x3 padding-1 U-Net layers and the 1x1 two-class head.
LAYERS = [(1, 3, 64, 256, 3), (1, 64, 64, 256, 3), (1, 128, 128, 128, 3), (4, 64, 64, 128, 3),
          (1, 256, 256, 64, 3), (1, 512, 512, 32, 3), (1, 64, 2, 256, 1)]


def torch_layer_step(torch, op, x, w, b, dy, backward, **kwargs):
    """A callable running torch's op(x, w, b, **kwargs), with `backward` also the gradients of
    x, w and b for grad_output dy."""
    xt, wt, bt, dyt = (torch.from_numpy(a) for a in (x, w, b, dy))
    for t in (xt, wt, bt):
        t.requires_grad_(backward)

    def step():
        if not backward:
            with torch.no_grad():
                return op(xt, wt, bt, **kwargs)
        return torch.autograd.grad(op(xt, wt, bt, **kwargs), (xt, wt, bt), dyt)

    return step


def _layer_setup(n, c, k, size, kernel, backward):
    def setup(peers):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, size, size), dtype=np.float32)
        w = rng.standard_normal((k, c, kernel, kernel), dtype=np.float32) / (c * kernel**2) ** 0.5
        b = rng.standard_normal(k, dtype=np.float32)
        dy = rng.standard_normal((n, k, size, size), dtype=np.float32)
        pad = kernel // 2

        def fastseg_step():
            y = fastseg.conv2d(x, w, b, padding=pad)
            if backward:
                fastseg.grad.conv2d_input(x.shape, w, dy, padding=pad)
                fastseg.grad.conv2d_weight(x, w.shape, dy, padding=pad)
                fastseg.grad.conv2d_bias(dy)
            return y

        impls = {"fastseg": fastseg_step}
        torch = optional_import("torch", peers)
        if torch is not None:
            impls["torch"] = torch_layer_step(torch, torch.nn.functional.conv2d, x, w, b, dy,
                                              backward, padding=pad)
        return impls

    return setup


for _n, _c, _k, _s, _r in LAYERS:
    _flops = 2.0 * _n * _k * _c * _r * _r * _s * _s
    _shape = f"N{_n} C{_c}->{_k} {_s}x{_s} {_r}x{_r}"
    add(Case(f"conv2d fwd {_shape}", "conv2d", _flops, "GFLOP/s",
             _layer_setup(_n, _c, _k, _s, _r, backward=False)))
    add(Case(f"conv2d fwd+bwd {_shape}", "conv2d", 3 * _flops, "GFLOP/s",
             _layer_setup(_n, _c, _k, _s, _r, backward=True)))
