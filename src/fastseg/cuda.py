"""fastseg on NVIDIA GPUs.

Every kernel function of fastseg (``fastseg.conv2d``, ``fastseg.grad.conv2d_weight``...) accepts
CuPy arrays (or any CUDA array, see fastseg._backend) and returns CuPy arrays on the same device,
computed by fastseg's own CUDA kernels (module ``fastseg._cuda``, built when nvcc is found) on
CuPy's current stream, without host round trips. This module says whether that can run, and
holds the switches of the CUDA kernels. Nothing here imports CuPy or touches the driver until
called: ``import fastseg`` works on machines without either.

The GPU code is built for compute capability 8.0 and 9.0, with PTX for newer GPUs; older GPUs
are reported as unavailable.
"""

from __future__ import annotations

import functools

__all__ = ["is_available", "device_count", "device_name", "allow_tf32", "set_allow_tf32",
           "deterministic", "set_deterministic"]

MIN_COMPUTE_CAPABILITY = (8, 0)


@functools.lru_cache(maxsize=1)
def _load():
    """(fastseg._cuda, None), or (None, why it cannot be loaded)."""
    try:
        from . import _cuda  # noqa: PLC0415
    except ImportError as error:
        return None, f"fastseg was built without its CUDA module ({error})"
    return _cuda, None


def _module():
    """fastseg._cuda, or RuntimeError saying why the CUDA kernels cannot run."""
    module, why = _load()
    if module is None:
        raise RuntimeError(f"CUDA arrays need fastseg's CUDA kernels, but {why}; rebuild with "
                           "nvcc on PATH (FASTSEG_CUDA=ON makes a missing nvcc an error)")
    if module.device_count() == 0:
        raise RuntimeError("fastseg's CUDA kernels found no usable GPU (no device or no driver)")
    return module


def device_count() -> int:
    """Number of CUDA devices fastseg's kernels can use (0 without the module, driver or GPU)."""
    module, _ = _load()
    return module.device_count() if module is not None else 0


def is_available() -> bool:
    """Whether fastseg's CUDA kernels can run: the module is built, and a driver and a GPU of
    compute capability >= 8.0 are present. Never raises."""
    try:
        module, _ = _load()
        return (module is not None and module.device_count() > 0
                and tuple(module.compute_capability(_current_device())) >= MIN_COMPUTE_CAPABILITY)
    except Exception:  # noqa: BLE001 (any failure means "no")
        return False


def _current_device() -> int:
    """CuPy's current device when CuPy is imported, else device 0."""
    import sys  # noqa: PLC0415
    cupy = sys.modules.get("cupy")
    return cupy.cuda.Device().id if cupy is not None else 0


def device_name(device: int | None = None) -> str:
    """Name and compute capability of the device the kernels run on (CuPy's current device by
    default), e.g. ``'NVIDIA H100 80GB HBM3 (sm_90)'``. RuntimeError when none is available."""
    return _module().device_name(_current_device() if device is None else int(device))


def allow_tf32() -> bool:
    """Whether float32 convolutions and Gram matrices run on the tensor cores in TF32."""
    module, _ = _load()
    return module.allow_tf32() if module is not None else False


def set_allow_tf32(allow: bool) -> None:
    """Run float32 convolutions and Gram matrices on the tensor cores in TF32 (products of
    10-bit mantissas, float32 sums: ~1e-3 relative error, several times faster) or not (the
    default: full float32). float16 inputs always use the tensor cores."""
    _module_or_build_error().set_allow_tf32(bool(allow))


def deterministic() -> bool:
    """Whether the CUDA kernels give bit-identical results for identical inputs (default True)."""
    module, _ = _load()
    return module.deterministic() if module is not None else True


def set_deterministic(on: bool) -> None:
    """True (default): every sum runs in a fixed order, so identical inputs give identical bits.
    False: the convolution weight gradient and the scatter-adds (max_pool2d's gradient) add with
    float atomics instead, in an order that varies between runs; faster, not reproducible."""
    _module_or_build_error().set_deterministic(bool(on))


def _module_or_build_error():
    module, why = _load()
    if module is None:
        raise RuntimeError(f"no CUDA kernels to configure: {why}")
    return module
