"""The CUDA backend's CPU-side behaviour, checked on every machine: lazy loading, availability
without a GPU, dispatch and the errors for mixed or malformed arrays. The numerical GPU tests
live in test_cuda_conv.py and test_cuda_kernels.py (skipped without a GPU)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastseg
from devices import GPU, FakeCudaArray

try:
    from fastseg import _cuda
except ImportError:
    _cuda = None

requires_module = pytest.mark.skipif(_cuda is None, reason="fastseg built without CUDA")


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env})


def test_cuda_module_is_built_when_nvcc_is_found():
    if shutil.which("nvcc") is None and _cuda is None:
        pytest.skip("no nvcc on PATH: the CUDA module is optional")
    assert _cuda is not None, "nvcc is on PATH but fastseg._cuda was not built"
    assert _cuda.__version__ == fastseg.__version__


def test_import_loads_neither_cupy_nor_the_cuda_module():
    result = run_python("import sys, fastseg; fastseg.conv2d([[[[1.0]]]], [[[[2.0]]]]); "
                        "print('cupy' in sys.modules, 'fastseg._cuda' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_no_visible_gpu_means_unavailable_not_an_error():
    code = ("import fastseg; print(fastseg.cuda.is_available(), fastseg.cuda.device_count()); "
            "fastseg.cuda.device_name()")
    result = run_python(code, CUDA_VISIBLE_DEVICES="")
    assert result.stdout.split() == ["False", "0"], result.stderr
    assert "RuntimeError: fastseg's CUDA kernels found no usable GPU" in result.stderr or \
        "RuntimeError: CUDA arrays need fastseg's CUDA kernels" in result.stderr


def test_availability_matches_the_device():
    if _cuda is None:
        assert not fastseg.cuda.is_available()
        return
    count = _cuda.device_count()
    assert fastseg.cuda.device_count() == count
    assert fastseg.cuda.is_available() == (count > 0 and _cuda.compute_capability(0) >= (8, 0))
    if fastseg.cuda.is_available():
        assert "(sm_" in fastseg.cuda.device_name()
    else:
        with pytest.raises(RuntimeError):
            fastseg.cuda.device_name()


@requires_module
def test_switches_round_trip():
    assert fastseg.cuda.allow_tf32() is False and fastseg.cuda.deterministic() is True
    try:
        fastseg.cuda.set_allow_tf32(True)
        fastseg.cuda.set_deterministic(False)
        assert fastseg.cuda.allow_tf32() is True and fastseg.cuda.deterministic() is False
    finally:
        fastseg.cuda.set_allow_tf32(False)
        fastseg.cuda.set_deterministic(True)
    assert fastseg.cuda.allow_tf32() is False and fastseg.cuda.deterministic() is True


X = np.zeros((1, 2, 5, 5), np.float32)
W = np.zeros((3, 2, 3, 3), np.float32)
DX = FakeCudaArray((1, 2, 5, 5))
DW = FakeCudaArray((3, 2, 3, 3))


@pytest.mark.parametrize("call,match", [
    (lambda: fastseg.conv2d(X, DW), "input: expected a CUDA array like weight"),
    (lambda: fastseg.conv2d(DX, W), "weight: expected a CUDA array like input"),
    (lambda: fastseg.conv2d(DX, DW, np.zeros(3, np.float32)), "bias: expected a CUDA array like input"),
    (lambda: fastseg.grad.conv2d_input(X.shape, DW, np.zeros((1, 3, 3, 3), np.float32)),
     "grad_output: expected a CUDA array like weight"),
    (lambda: fastseg.grad.conv2d_weight(X, W.shape, FakeCudaArray((1, 3, 3, 3))),
     "input: expected a CUDA array like grad_output"),
])
def test_mixing_host_and_device_arrays_is_a_type_error(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_array_module_and_kernels():
    from fastseg import _C
    from fastseg._backend import array_module, is_device_array, kernels
    assert array_module(a=X, b=None, c=W) is np
    assert kernels(X) is _C
    assert is_device_array(DX) and not is_device_array(X) and not is_device_array([1.0])
    cupy = pytest.importorskip("cupy")
    assert array_module(a=DX, b=None) is cupy


def test_host_arrays_are_refused_by_the_training_kernels():
    with pytest.raises(TypeError, match="input: expected a CUDA array"):
        fastseg.cuda.activation(X)
    with pytest.raises(TypeError, match="param: expected a CUDA array"):
        fastseg.cuda.sgd_step(X, X, lr=0.1)


# ---- The bindings' own checks (private API), on fake CUDA arrays: no GPU needed -------------

def geometry(pad=0):
    return fastseg._C.ConvGeometry(1, 1, pad, pad, pad, pad, 1, 1, 1, 0)


@requires_module
@pytest.mark.parametrize("args,error,match", [
    ((X, DX, DW, None), TypeError, "y: expected a CUDA array .with __cuda_array_interface__., got ndarray"),
    ((FakeCudaArray((1, 3, 4, 4)), DX, DW, None), ValueError, r"y: expected shape \(1, 3, 3, 3\), got \(1, 3, 4, 4\)"),
    ((FakeCudaArray((1, 3, 3, 3), readonly=True), DX, DW, None), ValueError, "y: expected a writeable array"),
    ((FakeCudaArray((1, 3, 3, 3)), FakeCudaArray((1, 2, 5, 5), "<i4"), DW, None), TypeError, "x: expected float32, float16 or float64"),
    ((FakeCudaArray((1, 3, 3, 3)), DX, FakeCudaArray((3, 2, 3, 3), "<f8"), None), TypeError, "w: expected typestr <f4, got <f8"),
    ((FakeCudaArray((1, 3, 3, 3)), DX, DW, FakeCudaArray((4,))), ValueError, r"bias: expected shape \(3,\)"),
    ((FakeCudaArray((1, 3, 3, 3)), FakeCudaArray((1, 2, 5, 5), strides=(200, 100, 20, 8)), DW, None), ValueError, "x: expected a C-contiguous array"),
    ((FakeCudaArray((1, 3, 3, 3)), DX, FakeCudaArray((3, 1, 3, 3)), None), ValueError, "do not match groups"),
])
def test_binding_checks(args, error, match):
    with pytest.raises(error, match=match):
        _cuda.conv2d_forward(*args, geometry())


@requires_module
def test_binding_reaches_the_device_only_after_its_checks():
    """Valid arguments pass every check; the fake pointer then fails at the device: no driver
    (RuntimeError), or not device memory (TypeError)."""
    ok = FakeCudaArray((1, 3, 3, 3)), DX, DW, None
    with pytest.raises((RuntimeError, TypeError), match="cuda|device memory"):
        _cuda.conv2d_forward(*ok, geometry())
    with pytest.raises(TypeError, match="indices: expected typestr <i8, got <f4"):
        _cuda.max_unpool2d_forward(FakeCudaArray((1, 2, 10, 10)), DX, FakeCudaArray((1, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"g: expected shape \(1, 2, 2\)"):
        _cuda.gram_forward(FakeCudaArray((1, 2, 3)), DX, 1.0)
    with pytest.raises(ValueError, match="x: expected a 3-D array"):
        _cuda.batch_norm_stats(FakeCudaArray((2,)), FakeCudaArray((2,)), DX)


@requires_module
def test_cuda_functions_mirror_the_cpu_bindings():
    """Every kernel entry point of fastseg._C has a CUDA twin with the same argument names."""
    from fastseg import _C
    shared = [name for name in dir(_C) if name.endswith(("_forward", "_input", "_weight", "_bias",
                                                         "_stats", "_step"))]
    assert "conv2d_forward" in shared
    for name in shared:
        assert hasattr(_cuda, name), f"fastseg._cuda lacks {name}"
        cpu_doc, cuda_doc = getattr(_C, name).__doc__, getattr(_cuda, name).__doc__
        cpu_args = cpu_doc.split("(", 1)[1].split(")", 1)[0]
        cuda_args = cuda_doc.split("(", 1)[1].split(")", 1)[0]
        names = [a.split(":")[0].strip() for a in cpu_args.split(",")]
        assert names == [a.split(":")[0].strip() for a in cuda_args.split(",")], name


def test_gpu_flag_is_consistent():
    assert GPU == (fastseg.cuda.is_available() and "cupy" in sys.modules)
