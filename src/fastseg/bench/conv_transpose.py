"""conv_transpose2d cases: the U-Net up-convolution (2x2, stride 2), forward and forward + all
gradients. FLOPs count every multiply-add of the input with the kernel: 2*N*C_in*C_out*kH*kW*H*W."""

from __future__ import annotations

import numpy as np

import fastseg

from .case import Case, add, optional_import
from .conv import torch_layer_step

# (N, C_in, C_out, H=W of the input): the up-convolutions of a U-Net decoder.
LAYERS = [(1, 128, 64, 64), (1, 256, 128, 32), (4, 64, 32, 128)]


def _layer_setup(n, cin, cout, size, backward):
    def setup(peers):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, cin, size, size), dtype=np.float32)
        w = rng.standard_normal((cin, cout, 2, 2), dtype=np.float32) / (cin * 4) ** 0.5
        b = rng.standard_normal(cout, dtype=np.float32)
        dy = rng.standard_normal((n, cout, 2 * size, 2 * size), dtype=np.float32)

        def fastseg_step():
            y = fastseg.conv_transpose2d(x, w, b, stride=2)
            if backward:
                fastseg.grad.conv_transpose2d_input(dy, w, stride=2)
                fastseg.grad.conv_transpose2d_weight(x, w.shape, dy, stride=2)
                fastseg.grad.conv_transpose2d_bias(dy)
            return y

        impls = {"fastseg": fastseg_step}
        torch = optional_import("torch", peers)
        if torch is not None:
            impls["torch"] = torch_layer_step(torch, torch.nn.functional.conv_transpose2d, x, w, b,
                                              dy, backward, stride=2)
        return impls

    return setup


for _n, _ci, _co, _s in LAYERS:
    _flops = 2.0 * _n * _ci * _co * 4 * _s * _s
    _shape = f"N{_n} C{_ci}->{_co} {_s}x{_s} 2x2/s2"
    add(Case(f"conv_transpose2d fwd {_shape}", "conv_transpose2d", _flops, "GFLOP/s",
             _layer_setup(_n, _ci, _co, _s, backward=False)))
    add(Case(f"conv_transpose2d fwd+bwd {_shape}", "conv_transpose2d", 3 * _flops, "GFLOP/s",
             _layer_setup(_n, _ci, _co, _s, backward=True)))
