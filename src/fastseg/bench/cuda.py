"""GPU cases (fastseg._cuda on CuPy arrays): the U-Net conv2d layers of the CPU suite at batch 16
and the decoder's 2x2/stride-2 transposed convolutions, against cuDNN through PyTorch when it
has CUDA; pooling, unpooling and upsampling against the device's measured copy bandwidth, and
PyTorch's CUDA kernels. Without CuPy or a usable GPU every case returns no implementation (and
is skipped).

Timing: each call runs the operation between two CUDA events on the current stream and waits
for the second, so the runner's clock measures device time plus one synchronisation. float32,
TF32 off (PyTorch's cuDNN convolutions are set to full float32 too), deterministic kernels.
"""

from __future__ import annotations

import functools

import numpy as np

import fastseg

from .case import Case, add, optional_import

BATCH = 16
# (C, K, H=W, kernel) of conv.py's U-Net layers, at batch 16.
LAYERS = [(3, 64, 256, 3), (64, 64, 256, 3), (128, 128, 128, 3), (64, 64, 128, 3),
          (256, 256, 64, 3), (512, 512, 32, 3), (64, 2, 256, 1)]
# (C, K, H=W) of the decoder's up-convolutions: 2x2 kernels, stride 2, input H -> output 2H.
UPCONVS = [(1024, 512, 16), (512, 256, 32), (256, 128, 64), (128, 64, 128)]
POOL_SHAPE = (BATCH, 64, 256, 256)


def _gpu():
    """(cupy, fastseg._cuda) when the CUDA kernels can run, else None."""
    if not fastseg.cuda.is_available():
        return None
    try:
        import cupy  # noqa: PLC0415
    except ImportError:
        return None
    from fastseg import _cuda  # noqa: PLC0415
    return cupy, _cuda


@functools.lru_cache(maxsize=None)
def _peak(unit: str) -> float:
    gpu = _gpu()
    if gpu is None:
        return float("nan")
    _, cuda = gpu
    return cuda.fma_peak_gflops() if unit == "GFLOP/s" else cuda.copy_bandwidth_gbs(1 << 30, 5)


def _timed(cupy, fn):
    """fn between two CUDA events on the current stream, waiting for the second."""
    def call():
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
    return call


def _torch_cuda(peers):
    torch = optional_import("torch", peers)
    if torch is None or not torch.cuda.is_available():
        return None
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


def _random(cupy, shape, scale=1.0):
    return cupy.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32) * scale)


def _conv_setup(c, k, size, kernel, backward):
    def setup(peers):
        gpu = _gpu()
        if gpu is None:
            return {}
        cupy, _ = gpu
        pad = kernel // 2
        x = _random(cupy, (BATCH, c, size, size))
        w = _random(cupy, (k, c, kernel, kernel), (c * kernel**2) ** -0.5)
        b = _random(cupy, (k,))
        dy = _random(cupy, (BATCH, k, size, size))

        def step():
            fastseg.conv2d(x, w, b, padding=pad)
            if backward:
                fastseg.grad.conv2d_input(x.shape, w, dy, padding=pad)
                fastseg.grad.conv2d_weight(x, w.shape, dy, padding=pad)
                fastseg.grad.conv2d_bias(dy)

        impls = {"fastseg": _timed(cupy, step)}
        torch = _torch_cuda(peers)
        if torch is not None:
            xt, wt, bt, dyt = (torch.as_tensor(a, device="cuda") for a in (x, w, b, dy))
            for t in (xt, wt, bt):
                t.requires_grad_(backward)

            def torch_step():
                if not backward:
                    with torch.no_grad():
                        return torch.nn.functional.conv2d(xt, wt, bt, padding=pad)
                y = torch.nn.functional.conv2d(xt, wt, bt, padding=pad)
                return torch.autograd.grad(y, (xt, wt, bt), dyt)

            impls["torch"] = _timed(cupy, torch_step)
        return impls

    return setup


def _upconv_setup(c, k, size):
    """conv_transpose2d(x (N,C,H,W), w (C,K,2,2), stride 2) as the conv2d input gradient with a
    bias, the CPU path's formulation (fastseg.conv_transpose2d when it lands)."""
    def setup(peers):
        gpu = _gpu()
        if gpu is None:
            return {}
        cupy, cuda = gpu
        x = _random(cupy, (BATCH, c, size, size))
        w = _random(cupy, (c, k, 2, 2), (c * 4) ** -0.5)
        b = _random(cupy, (k,))
        y = cupy.empty((BATCH, k, 2 * size, 2 * size), np.float32)
        geometry = fastseg._C.ConvGeometry(2, 2, 0, 0, 0, 0, 1, 1, 1, 0)
        impls = {"fastseg": _timed(cupy, lambda: cuda.conv2d_backward_input(y, x, w, b, geometry))}
        torch = _torch_cuda(peers)
        if torch is not None:
            xt, wt, bt = (torch.as_tensor(a, device="cuda") for a in (x, w, b))

            def torch_step():
                with torch.no_grad():
                    return torch.nn.functional.conv_transpose2d(xt, wt, bt, stride=2)

            impls["torch"] = _timed(cupy, torch_step)
        return impls

    return setup


def _pool_setup(op):
    def setup(peers):
        gpu = _gpu()
        if gpu is None:
            return {}
        cupy, cuda = gpu
        n, c, h, w = POOL_SHAPE
        x = _random(cupy, POOL_SHAPE)
        y = cupy.empty((n, c, h // 2, w // 2), np.float32)
        idx = cupy.empty((n, c, h // 2, w // 2), np.int64)
        cuda.max_pool2d_forward(y, idx, x, (2, 2), (2, 2), (0, 0), (1, 1))
        up = cupy.empty(POOL_SHAPE, np.float32)
        ours = {"max_pool2d": lambda: cuda.max_pool2d_forward(y, idx, x, (2, 2), (2, 2), (0, 0), (1, 1)),
                "max_unpool2d": lambda: cuda.max_unpool2d_forward(up, y, idx),
                "avg_pool2d": lambda: cuda.avg_pool2d_forward(y, x, (2, 2), (2, 2), (0, 0), True, 0),
                "interpolate": lambda: cuda.interpolate_forward(up, y, 1, False, 2.0, 2.0)}
        impls = {"fastseg": _timed(cupy, ours[op])}
        torch = _torch_cuda(peers)
        if torch is not None:
            F = torch.nn.functional
            xt, yt = torch.as_tensor(x, device="cuda"), torch.as_tensor(y, device="cuda")
            it = torch.as_tensor(idx, device="cuda")
            theirs = {"max_pool2d": lambda: F.max_pool2d(xt, 2, 2, return_indices=True),
                      "max_unpool2d": lambda: F.max_unpool2d(yt, it, 2, 2),
                      "avg_pool2d": lambda: F.avg_pool2d(xt, 2, 2),
                      "interpolate": lambda: F.interpolate(yt, scale_factor=2.0, mode="bilinear")}
            impls["torch"] = _timed(cupy, theirs[op])
        return impls

    return setup


for _c, _k, _s, _r in LAYERS:
    _flops = 2.0 * BATCH * _k * _c * _r * _r * _s * _s
    _shape = f"N{BATCH} C{_c}->{_k} {_s}x{_s} {_r}x{_r}"
    add(Case(f"cuda conv2d fwd {_shape}", "cuda conv2d", _flops, "GFLOP/s",
             _conv_setup(_c, _k, _s, _r, backward=False), peak=functools.partial(_peak, "GFLOP/s")))
    add(Case(f"cuda conv2d fwd+bwd {_shape}", "cuda conv2d", 3 * _flops, "GFLOP/s",
             _conv_setup(_c, _k, _s, _r, backward=True), peak=functools.partial(_peak, "GFLOP/s")))

for _c, _k, _s in UPCONVS:
    add(Case(f"cuda conv_transpose2d fwd N{BATCH} C{_c}->{_k} {_s}->{2 * _s} 2x2/s2",
             "cuda conv_transpose2d", 2.0 * BATCH * _c * _k * 4 * _s * _s, "GFLOP/s",
             _upconv_setup(_c, _k, _s), peak=functools.partial(_peak, "GFLOP/s")))

_N, _C, _H, _W = POOL_SHAPE
_IN, _OUT = _N * _C * _H * _W * 4, _N * _C * _H * _W  # bytes of the input, of a quarter-size output
# Bytes each op must move at least: max_pool2d reads x, writes y and int64 indices (2 words);
# max_unpool2d reads y and indices, writes the full-size output; avg_pool2d reads x, writes y;
# bilinear x2 upsampling reads y, writes the full-size output.
POOL_BYTES = {"max_pool2d": _IN + _OUT + 2 * _OUT, "max_unpool2d": _OUT + 2 * _OUT + _IN,
              "avg_pool2d": _IN + _OUT, "interpolate": _OUT + _IN}
for _op, _bytes in POOL_BYTES.items():
    add(Case(f"cuda {_op} fwd N{_N} C{_C} {_H}x{_W} 2x2", f"cuda {_op}", float(_bytes), "GB/s",
             _pool_setup(_op), peak=functools.partial(_peak, "GB/s")))
