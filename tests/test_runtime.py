"""Package metadata, ISA dispatch and threading controls."""

import os
import pathlib
import subprocess
import sys

import pytest

import fastseg
from conftest import ISAS

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_version_comes_from_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{fastseg.__version__}"' in text


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env})


@pytest.mark.parametrize("isa", ISAS)
def test_fastseg_cpu_forces_a_path(isa):
    result = run_python("import fastseg; print(fastseg.cpu_isa())", FASTSEG_CPU=isa)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == isa


def test_default_path_is_the_best_supported():
    result = run_python("import fastseg; print(fastseg.cpu_isa())", FASTSEG_CPU="")
    assert result.stdout.strip() == ISAS[-1]


def test_unknown_or_unsupported_path_is_a_clear_error():
    result = run_python("import fastseg", FASTSEG_CPU="sse9")
    assert result.returncode != 0
    assert "FASTSEG_CPU must be scalar, avx2 or avx512, got 'sse9'" in result.stderr
    missing = [isa for isa in ("avx2", "avx512") if isa not in ISAS]
    if missing:
        result = run_python("import fastseg", FASTSEG_CPU=missing[0])
        assert "this CPU does not support" in result.stderr


def test_thread_count_setting():
    before = fastseg.get_num_threads()
    try:
        fastseg.set_num_threads(1)
        assert fastseg.get_num_threads() == 1
        with pytest.raises(ValueError, match="num_threads must be >= 1"):
            fastseg.set_num_threads(0)
    finally:
        fastseg.set_num_threads(before)


REUSE_PROBE = r"""
import resource, sys
import numpy as np
import fastseg
print(fastseg.set_memory_reuse(sys.argv[1] == "1"))
def faults_of_a_large_array():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(80 << 20, dtype=np.uint8)  # 80 MB: above glibc's largest heap threshold
    del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults_of_a_large_array(), faults_of_a_large_array())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_memory_reuse_keeps_large_blocks():
    """With set_memory_reuse(True) an 80 MB array freed and allocated again reuses the heap's pages
    (no page faults the second time); glibc's defaults map and unmap it every time. Run in fresh
    processes: the setting is process-wide."""
    def faults(keep):
        out = subprocess.run([sys.executable, "-c", REUSE_PROBE, keep], capture_output=True,
                             text=True, check=True).stdout.split()
        return out[0] == "True", int(out[1]), int(out[2])

    supported, first, second = faults("1")
    if not supported:
        pytest.skip("an allocator without glibc's mallopt")
    assert first >= 16 and second <= first // 8, (first, second)
    _, first, second = faults("0")
    assert second >= first // 2, (first, second)  # the probe tells the two apart
