"""fastseg's random number generator: parameter initialisation and dropout draw from it, so
``fastseg.manual_seed(s)`` makes model construction and training reproducible."""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseeds the generator used by ``fastseg.nn`` (initialisation, dropout) and returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    return _generator
