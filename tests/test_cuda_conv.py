"""conv1d / conv2d and their gradients on the GPU (CuPy arrays in and out) against the same
float64 references as test_conv.py, and against the CPU kernels; every case also runs on the CPU
("cpu" device), which checks the harness itself on machines without a GPU."""

import numpy as np
import pytest

import fastseg
import reference as ref
from devices import GPU, cupy, device, on, requires_gpu, to_device, to_host  # noqa: F401
from helpers import Op, assert_close, check_op
from test_conv import conv2d_op, random_config

CONFIGS = [random_config(np.random.default_rng(500 + seed)) for seed in range(16)]


def device_op(cfg, device):
    """conv2d_op of test_conv.py (forward and every gradient) with its calls run on `device`."""
    op = conv2d_op(cfg)
    return Op(on(device, op.forward), on(device, op.grads), op.reference, op.reference_grads,
              op.torch_forward)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_conv2d_sweep_on_device(cfg, dtype, device, rng):
    inputs = dict(x=rng.standard_normal(cfg["x_shape"]), w=rng.standard_normal(cfg["w_shape"]),
                  b=rng.standard_normal(cfg["w_shape"][0]))
    check_op(device_op(cfg, device), inputs, dtype, rng)


@pytest.mark.parametrize("shape", [(2, 16, 40, 64, 32), (1, 3, 70, 130, 8), (2, 64, 17, 33, 80)])
def test_conv2d_unet_layers_on_device(shape, device, rng):
    """Several 64 x 64 tiles in every direction, and split-K weight gradients."""
    n, c, h, w, k = shape
    cfg = dict(x_shape=(n, c, h, w), w_shape=(k, c, 3, 3), stride=(1, 1), padding=1,
               dilation=(1, 1), groups=1, mode="zeros", pads=(1, 1, 1, 1))
    inputs = dict(x=rng.standard_normal(cfg["x_shape"]), w=rng.standard_normal(cfg["w_shape"]),
                  b=rng.standard_normal(k))
    check_op(device_op(cfg, device), inputs, np.float32, rng)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv1d_on_device(stride, device, rng):
    x, w, b = rng.standard_normal((2, 4, 50)), rng.standard_normal((6, 2, 5)), rng.standard_normal(6)
    args = dict(stride=stride, padding=2, groups=2, padding_mode="circular")
    y = on(device, fastseg.conv1d)(x, w, b, **args)
    assert_close(y, fastseg.conv1d(x, w, b, **args), 1e-12, "conv1d vs CPU")
    dy = rng.standard_normal(y.shape)
    assert_close(on(device, fastseg.grad.conv1d_input)(x.shape, w, dy, **args),
                 fastseg.grad.conv1d_input(x.shape, w, dy, **args), 1e-12, "conv1d_input")
    assert_close(on(device, fastseg.grad.conv1d_weight)(x, w.shape, dy, **args),
                 fastseg.grad.conv1d_weight(x, w.shape, dy, **args), 1e-12, "conv1d_weight")


# ---- GPU only ---------------------------------------------------------------------------------

@requires_gpu
@pytest.mark.parametrize("cfg", CONFIGS[:8], ids=[f"cfg{i}" for i in range(8)])
def test_float16_accumulates_in_float32(cfg, rng):
    x, w = rng.standard_normal(cfg["x_shape"]), rng.standard_normal(cfg["w_shape"])
    args = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"],
                groups=cfg["groups"], padding_mode=cfg["mode"])
    xh, wh = x.astype(np.float16), w.astype(np.float16)
    y = fastseg.conv2d(cupy.asarray(xh), cupy.asarray(wh), **args)
    assert y.dtype == np.float16
    expected = ref.conv2d(xh, wh, stride=cfg["stride"], pads=cfg["pads"],
                          dilation=cfg["dilation"], groups=cfg["groups"], mode=cfg["mode"])
    assert_close(cupy.asnumpy(y), expected, 2e-3, "float16 forward")
    dy = rng.standard_normal(expected.shape).astype(np.float16)
    dx, dw, _ = ref.conv2d_grads(xh, wh, dy, stride=cfg["stride"], pads=cfg["pads"],
                                 dilation=cfg["dilation"], groups=cfg["groups"], mode=cfg["mode"])
    assert_close(cupy.asnumpy(fastseg.grad.conv2d_input(x.shape, cupy.asarray(wh), cupy.asarray(dy),
                                                        **args)), dx, 2e-3, "float16 input grad")
    assert_close(cupy.asnumpy(fastseg.grad.conv2d_weight(cupy.asarray(xh), w.shape,
                                                         cupy.asarray(dy), **args)),
                 dw, 2e-3, "float16 weight grad")


@requires_gpu
def test_tf32_switch(rng):
    x = rng.standard_normal((2, 32, 24, 24)).astype(np.float32)
    w = rng.standard_normal((48, 32, 3, 3)).astype(np.float32)
    expected = ref.conv2d(x, w, pads=(1, 1, 1, 1))
    assert not fastseg.cuda.allow_tf32()
    exact = cupy.asnumpy(fastseg.conv2d(cupy.asarray(x), cupy.asarray(w), padding=1))
    assert_close(exact, expected, 3e-5, "float32")
    fastseg.cuda.set_allow_tf32(True)
    try:
        fast = cupy.asnumpy(fastseg.conv2d(cupy.asarray(x), cupy.asarray(w), padding=1))
    finally:
        fastseg.cuda.set_allow_tf32(False)
    assert_close(fast, expected, 3e-3, "tf32")
    assert not np.array_equal(fast, exact), "TF32 products should round differently"


@requires_gpu
def test_weight_gradient_is_deterministic_unless_opted_out(rng):
    x = cupy.asarray(rng.standard_normal((8, 16, 64, 64)).astype(np.float32))
    dy = cupy.asarray(rng.standard_normal((8, 32, 64, 64)).astype(np.float32))
    runs = [cupy.asnumpy(fastseg.grad.conv2d_weight(x, (32, 16, 3, 3), dy, padding=1))
            for _ in range(3)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    fastseg.cuda.set_deterministic(False)
    try:
        fast = cupy.asnumpy(fastseg.grad.conv2d_weight(x, (32, 16, 3, 3), dy, padding=1))
    finally:
        fastseg.cuda.set_deterministic(True)
    assert_close(fast, runs[0], 1e-4, "atomic weight gradient")


@requires_gpu
def test_runs_on_cupys_current_stream_and_device(rng):
    x = rng.standard_normal((4, 8, 33, 47)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        xd, wd = cupy.asarray(x), cupy.asarray(w)
        y = fastseg.conv2d(xd, wd, padding=1)
        y2 = y * 2  # ordered after the kernel on the same stream
    stream.synchronize()
    assert_close(cupy.asnumpy(y2), 2 * ref.conv2d(x, w, pads=(1, 1, 1, 1)), 3e-5, "on a stream")
    if cupy.cuda.runtime.getDeviceCount() > 1:
        with cupy.cuda.Device(1):
            y1 = fastseg.conv2d(cupy.asarray(x), cupy.asarray(w), padding=1)
            assert y1.device.id == 1
            assert_close(cupy.asnumpy(y1), cupy.asnumpy(y), 1e-6, "device 1")


@requires_gpu
def test_device_layouts_zero_batch_and_out(rng):
    x = cupy.asarray(rng.standard_normal((2, 3, 10, 12)).astype(np.float32))
    w = cupy.asarray(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    xt = cupy.asfortranarray(x)
    copy = xt.copy()
    y = fastseg.conv2d(xt, w[:, :, ::-1], padding=1)
    assert_close(cupy.asnumpy(y), ref.conv2d(cupy.asnumpy(x), cupy.asnumpy(w)[:, :, ::-1],
                                             pads=(1, 1, 1, 1)), 3e-5, "strided inputs")
    assert bool((xt == copy).all()), "input modified"
    out = cupy.full((2, 4, 10, 12), np.nan, np.float32)
    assert fastseg.conv2d(x, w, padding=1, out=out) is out
    with pytest.raises(TypeError, match="out: expected a cupy.ndarray"):
        fastseg.conv2d(x, w, padding=1, out=np.empty((2, 4, 10, 12), np.float32))
    empty = fastseg.conv2d(cupy.zeros((0, 3, 10, 12), np.float32), w, padding=1)
    assert empty.shape == (0, 4, 10, 12) and isinstance(empty, cupy.ndarray)


@requires_gpu
def test_torch_cuda_tensors_are_accepted(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch without CUDA")
    x = torch.randn(1, 2, 9, 9, device="cuda")
    w = torch.randn(3, 2, 3, 3, device="cuda")
    y = fastseg.conv2d(x, w, padding=1)
    assert isinstance(y, cupy.ndarray)
    assert_close(cupy.asnumpy(y), torch.nn.functional.conv2d(x, w, padding=1).cpu().numpy(), 3e-5)
