import os
import zlib

os.environ.setdefault("FASTSEG_POISON", "1")  # before fastseg is imported: NaN-filled outputs

import numpy as np
import pytest

import fastseg
from fastseg import _C

ISAS = [isa for isa in ("scalar", "avx2", "avx512") if _C.isa_supported(isa)]


@pytest.fixture(params=ISAS)
def isa(request):
    """Runs the test once per instruction set this CPU supports."""
    previous = fastseg.cpu_isa()
    _C._force_isa(request.param)
    yield request.param
    _C._force_isa(previous)


@pytest.fixture
def rng(request):
    """A generator seeded by the test's name: reproducible, different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
