"""Gram matrix cases (style transfer): forward and backward against torch.bmm(F, F^T) and its
autograd. FLOPs count one full product, 2*C*C*H*W per sample, in both directions: the forward
although fastseg computes one triangle, the backward as the one product (dG + dG^T) F that
fastseg runs (torch's autograd of bmm(F, F^T) runs two)."""

from __future__ import annotations

import numpy as np

import fastseg

from .case import Case, add, optional_import

# (N, C, H, W): a VGG conv3-sized feature map.
SHAPES = [(1, 256, 128, 128)]


def _setup(shape, backward):
    def setup(peers):
        rng = np.random.default_rng(0)
        n, c, h, w = shape
        f = rng.standard_normal(shape, dtype=np.float32)
        dg = rng.standard_normal((n, c, c), dtype=np.float32)
        if backward:
            impls = {"fastseg": lambda: fastseg.grad.gram_input(f, dg)}
        else:
            impls = {"fastseg": lambda: fastseg.gram(f)}
        torch = optional_import("torch", peers)
        if torch is not None:
            ft = torch.from_numpy(f).reshape(n, c, h * w)
            dgt = torch.from_numpy(dg)
            if backward:
                ft.requires_grad_(True)
                gt = torch.bmm(ft, ft.transpose(1, 2))  # the graph, built once: time backward only

                def torch_step():
                    return torch.autograd.grad(gt, ft, dgt, retain_graph=True)
            else:
                def torch_step():
                    with torch.no_grad():
                        return torch.bmm(ft, ft.transpose(1, 2))

            impls["torch"] = torch_step
        return impls

    return setup


for _shape in SHAPES:
    _n, _c, _h, _w = _shape
    _flops = 2.0 * _n * _c * _c * _h * _w
    _name = f"N{_n} C{_c} {_h}x{_w}"
    add(Case(f"gram fwd {_name}", "gram", _flops, "GFLOP/s", _setup(_shape, backward=False)))
    add(Case(f"gram bwd {_name}", "gram", _flops, "GFLOP/s", _setup(_shape, backward=True)))
