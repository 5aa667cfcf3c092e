"""What a benchmark case is, and the registry the op-family modules add theirs to."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

# Modules of fastseg.bench that define cases (each calls `add` at import).
CASE_MODULES = ("conv", "conv_transpose", "gram", "signal", "pool", "cuda", "unet")

_CASES: list["Case"] = []


@dataclass
class Case:
    """One measurement: `setup(peers)` builds the inputs and returns {implementation: callable}
    for "fastseg" and each available peer among `peers` ("torch", "scipy"). `work` is the FLOP
    count (unit "GFLOP/s") or the bytes moved (unit "GB/s") of one call."""

    name: str
    family: str
    work: float
    unit: str
    setup: Callable[[set], dict[str, Callable[[], object]]]
    # The ceiling of `unit` the case runs against, when not the CPU's (GPU cases), measured once.
    peak: Callable[[], float] | None = None


def add(case: Case) -> Case:
    _CASES.append(case)
    return case


def registry() -> list[Case]:
    for module in CASE_MODULES:
        importlib.import_module(f"{__package__}.{module}")
    return list(_CASES)


def optional_import(name: str, peers: set):
    """The peer module if it was asked for and is installed, else None."""
    if name not in peers:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
