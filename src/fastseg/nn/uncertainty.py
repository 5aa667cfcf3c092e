"""Monte-Carlo dropout (Bayesian segmentation, seed 000 section 3): the predictive distribution
P(y | x, D) ~ 1/S sum_s P(y | x, theta_s), each theta_s a dropout mask, and its uncertainty."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..autograd import Tensor, no_grad
from . import functional as F
from .layers import Dropout
from .module import Module


class Uncertainty(NamedTuple):
    mean: np.ndarray                # (N, C, H, W) mean class probabilities over the samples
    entropy: np.ndarray             # (N, H, W) predictive entropy H[mean p] (nats)
    mutual_information: np.ndarray  # (N, H, W) BALD: H[mean p] - mean_s H[p_s] >= 0


def _entropy(p: np.ndarray, axis: int = 1) -> np.ndarray:
    """-sum p log p over `axis`, with 0 log 0 = 0."""
    logp = np.log(np.where(p > 0, p, 1))
    return -(p * logp).sum(axis=axis)


def predict_with_uncertainty(model: Module, x, samples: int = 20) -> Uncertainty:
    """`samples` stochastic forward passes with the model in eval mode (BatchNorm uses its
    running statistics) but its Dropout layers sampling, as MC dropout prescribes. Returns the
    mean softmax probabilities, the per-pixel predictive entropy and the mutual information
    between the prediction and the weights (BALD). The model's modes are restored afterwards."""
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples: expected an int >= 1, got {samples!r}")
    dropouts = [m for m in model.modules() if isinstance(m, Dropout) and m.p > 0]
    if samples > 1 and not dropouts:
        raise ValueError("model: has no Dropout layer with p > 0, so Monte-Carlo samples would "
                         "all be equal; build it with dropout > 0 (or use samples=1)")
    modes = [(m, m.training) for m in model.modules()]
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    try:
        model.eval()
        for m in dropouts:
            m.train()
        mean = expected_entropy = None
        with no_grad():
            for _ in range(samples):
                p = F.softmax(model(x), 1).data.astype(np.float64)
                h = _entropy(p)
                mean = p if mean is None else mean + p
                expected_entropy = h if expected_entropy is None else expected_entropy + h
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    mean /= samples
    expected_entropy /= samples
    entropy = _entropy(mean)
    mutual_information = np.maximum(entropy - expected_entropy, 0.0)
    dtype = x.dtype if x.dtype.kind == "f" else np.float32
    return Uncertainty(mean.astype(dtype), entropy.astype(dtype), mutual_information.astype(dtype))
