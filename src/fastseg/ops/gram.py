"""Gram matrices of feature maps (neural style transfer) and their gradient.

For features F of one sample, C channels by H*W positions, the Gram (style) matrix is
G[k, k'] = sum_p F[k, p] F[k', p]. fastseg computes the triangle on and above the diagonal only
(half the multiply-adds of ``torch.bmm(F, F.transpose(1, 2))``) and mirrors it, so the result is
exactly symmetric.

The style loss of Gatys et al., E = 1 / (2 I J K)^2 * sum (G(x) - G(s))^2 with I x J positions and
K channels, is written for raw Grams: compute them with ``normalize=None``, as in
``((gram(a) - gram(b)) ** 2).sum() / (2 * h * w * c) ** 2``. ``normalize='size'`` instead divides
each Gram by I J K itself (the convention of many style-transfer codes).
"""

from __future__ import annotations

import numpy as np

from .._args import float_array, new_array, output_array, same_dtype
from .._backend import array_module, kernels

__all__ = ["gram", "gram_input"]

NORMALIZE = (None, "spatial", "size")


def _features(features) -> np.ndarray:
    f = float_array(features, "features", (4,), half=True)
    if 0 in f.shape[1:]:
        raise ValueError(f"features: expected non-zero channel and spatial sizes, got shape {f.shape}")
    return f


def _scale(normalize, shape) -> float:
    """The factor of normalize: 1, 1 / (H*W) ('spatial') or 1 / (C*H*W) ('size')."""
    _, c, h, w = shape
    if normalize is None:
        return 1.0
    if normalize == "spatial":
        return 1.0 / (h * w)
    if normalize == "size":
        return 1.0 / (c * h * w)
    raise ValueError(f"normalize: expected None, 'spatial' or 'size', got {normalize!r}")


def gram(features, normalize=None, out=None):
    """Gram matrices (N, C, C) of features (N, C, H, W): G[n] = F F^T with F = features[n] as
    (C, H*W), divided by H*W for ``normalize='spatial'`` or by C*H*W for ``normalize='size'``.

    Same result as ``torch.bmm(F, F.transpose(1, 2))`` (times the normalisation), computed on one
    triangle and mirrored: exactly symmetric. ``out`` may receive the result.
    """
    f = _features(features)
    scale = _scale(normalize, f.shape)
    g = output_array(out, (f.shape[0], f.shape[1], f.shape[1]), f.dtype, f)
    kernels(f).gram_forward(g, f, scale)
    return g


def gram_input(features, grad_output, normalize=None):
    """Gradient of ``gram(features, normalize)`` with respect to features, given grad_output
    (N, C, C): (grad_output + grad_output^T) F times the normalisation, as (N, C, H, W)."""
    array_module(features=features, grad_output=grad_output)
    f = _features(features)
    scale = _scale(normalize, f.shape)
    dg = float_array(grad_output, "grad_output", (3,), half=True)
    same_dtype(f, "features", grad_output=dg)
    expected = (f.shape[0], f.shape[1], f.shape[1])
    if dg.shape != expected:
        raise ValueError(f"grad_output: expected shape {expected}, got {dg.shape}")
    df = new_array(f.shape, f.dtype, f)
    kernels(f).gram_backward_input(df, f, dg, scale)
    return df
