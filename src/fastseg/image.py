"""Image compression by low-rank approximation (seed 003: the SVD and its use on images)."""

from __future__ import annotations

import numpy as np

from ._args import integer

__all__ = ["low_rank"]


def low_rank(image, k):
    """The best rank-k approximation of an image and the fraction of its energy it keeps.

    With the SVD A = U diag(s) V^T (s sorted down), A_k = sum_{i<k} s_i u_i v_i^T; by the
    Eckart-Young theorem no matrix of rank <= k is closer to A in the Frobenius or the spectral
    norm: ||A - A_k||_F^2 = sum_{i>=k} s_i^2 and ||A - A_k||_2 = s_k.

    image: (H, W) grayscale, or (H, W, C) approximated channel by channel. float32 stays
    float32; other real dtypes are computed in float64 (no clipping back to the input range).
    k: 0 <= k <= min(H, W).
    Returns (approximation, energy): approximation has the image's shape; energy is
    sum_{i<k} s_i^2 / sum_i s_i^2 (1.0 for an all-zero image), a float for (H, W) and a (C,)
    array for (H, W, C).
    """
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"image: expected a real array, got dtype {a.dtype}")
    if a.ndim not in (2, 3):
        raise ValueError(f"image: expected a 2-D (H, W) or 3-D (H, W, C) array, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"image: expected a non-empty array, got shape {a.shape}")
    rank = min(a.shape[:2])
    k = integer(k, "k", 0)
    if k > rank:
        raise ValueError(f"k: expected an int <= min(H, W) = {rank}, got {k}")
    dtype = np.float32 if a.dtype == np.float32 else np.float64
    channels = a.astype(dtype, copy=False)
    channels = channels[None] if a.ndim == 2 else np.moveaxis(channels, 2, 0)  # (C, H, W)
    u, s, vt = np.linalg.svd(channels, full_matrices=False)
    approx = (u[:, :, :k] * s[:, None, :k]) @ vt[:, :k, :]
    power = s.astype(np.float64) ** 2
    total = power.sum(axis=1)
    energy = np.where(total > 0, power[:, :k].sum(axis=1) / np.where(total > 0, total, 1), 1.0)
    if a.ndim == 2:
        return approx[0], float(energy[0])
    return np.ascontiguousarray(np.moveaxis(approx, 0, 2)), energy
