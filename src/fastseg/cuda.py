"""fastseg on NVIDIA GPUs.

Every kernel function of fastseg (``fastseg.conv2d``, ``fastseg.grad.conv2d_weight``...) accepts
CuPy arrays (or any CUDA array, see fastseg._backend) and returns CuPy arrays on the same device,
computed by fastseg's own CUDA kernels (module ``fastseg._cuda``, built when nvcc is found) on
CuPy's current stream, without host round trips. This module says whether that can run, holds
the switches of the CUDA kernels, and gives the training kernels (BatchNorm, activations,
softmax cross-entropy, SGD and Adam(W) steps) to the autograd and optimizer layers: each takes
and returns CuPy arrays (in-place steps return None). Nothing here imports CuPy or touches the driver until
called: ``import fastseg`` works on machines without either.

The GPU code is built for compute capability 8.0 and 9.0, with PTX for newer GPUs; older GPUs
are reported as unavailable.
"""

from __future__ import annotations

import functools

__all__ = ["is_available", "device_count", "device_name", "allow_tf32", "set_allow_tf32",
           "deterministic", "set_deterministic", "activation", "activation_grad",
           "batch_norm_stats", "batch_norm", "batch_norm_grads", "cross_entropy",
           "cross_entropy_grad", "sgd_step", "adam_step"]

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")  # the kernels' kind codes, in order

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


# ---- Training kernels ----------------------------------------------------------------------
# Thin wrappers: check the arrays (CUDA, float32/float64, C-contiguous, shapes), allocate the
# results on the inputs' device and call fastseg._cuda. Reductions run in double and in a fixed
# order; results are deterministic.

def _device(value, name: str, ndims=None, like=None):
    """value as a C-contiguous float CuPy array (TypeError for host arrays)."""
    from ._args import float_array  # noqa: PLC0415
    from ._backend import is_device_array  # noqa: PLC0415
    if not is_device_array(value):
        raise TypeError(f"{name}: expected a CUDA array (e.g. cupy.ndarray), got "
                        f"{type(value).__name__}")
    array = float_array(value, name, ndims or (value.ndim,))
    if like is not None and array.dtype != like.dtype:
        raise TypeError(f"{name}: expected dtype {like.dtype}, got {array.dtype}")
    return array


def _in_place(value, name: str, like=None):
    """A CuPy array updated in place: must already be C-contiguous float32/float64."""
    array = _device(value, name, like=like)
    if array is not value and not (hasattr(value, "data") and array.data.ptr == value.data.ptr):
        raise ValueError(f"{name}: expected a C-contiguous CuPy array (it is updated in place)")
    if like is not None and array.shape != like.shape:
        raise ValueError(f"{name}: expected shape {like.shape}, got {array.shape}")
    return array


def _ncm(x):
    """x (N, C, *spatial) viewed as (N, C, M)."""
    if x.ndim < 2:
        raise ValueError(f"input: expected at least 2 dimensions (N, C, ...), got shape {x.shape}")
    return x.reshape(x.shape[0], x.shape[1], -1)


def _kind(kind: str) -> int:
    if kind not in ACTIVATIONS:
        raise ValueError(f"kind: expected one of {', '.join(ACTIVATIONS)}, got {kind!r}")
    return ACTIVATIONS.index(kind)


def activation(input, kind: str = "relu", negative_slope: float = 0.01):
    """relu, leaky_relu, sigmoid or tanh of a CUDA array, as torch.nn.functional does."""
    from ._args import new_array  # noqa: PLC0415
    x = _device(input, "input")
    y = new_array(x.shape, x.dtype, x)
    _module().activation_forward(y, x, _kind(kind), float(negative_slope))
    return y


def activation_grad(grad_output, kind: str = "relu", input=None, output=None,
                    negative_slope: float = 0.01):
    """Input gradient of `activation`: relu and leaky_relu need the forward's input, sigmoid and
    tanh its output."""
    from ._args import new_array  # noqa: PLC0415
    code = _kind(kind)
    dy = _device(grad_output, "grad_output")
    x = None if input is None else _device(input, "input", like=dy)
    y = None if output is None else _device(output, "output", like=dy)
    if (x is None) if code < 2 else (y is None):
        raise ValueError(f"{'input' if code < 2 else 'output'}: needed for the {kind} gradient")
    dx = new_array(dy.shape, dy.dtype, dy)
    _module().activation_backward(dx, dy, x, y, code, float(negative_slope))
    return dx


def batch_norm_stats(input):
    """(mean, var): per-channel mean and biased variance of input (N, C, *)."""
    from ._args import new_array  # noqa: PLC0415
    x = _ncm(_device(input, "input"))
    mean, var = (new_array((x.shape[1],), x.dtype, x) for _ in range(2))
    _module().batch_norm_stats(mean, var, x)
    return mean, var


def batch_norm(input, mean, invstd, weight=None, bias=None, relu: bool = False):
    """(input - mean) * invstd * weight + bias per channel of input (N, C, *), then ReLU when
    `relu` (fused)."""
    from ._args import new_array  # noqa: PLC0415
    x = _device(input, "input")
    args = [None if v is None else _device(v, name, (1,), like=x)
            for v, name in ((mean, "mean"), (invstd, "invstd"), (weight, "weight"), (bias, "bias"))]
    y = new_array(x.shape, x.dtype, x)
    _module().batch_norm_forward(_ncm(y), _ncm(x), *args, bool(relu))
    return y


def batch_norm_grads(grad_output, input, mean, invstd, weight=None, training: bool = True,
                     output=None):
    """(grad_input, grad_weight, grad_bias) of batch_norm. `training`: mean and invstd are the
    batch statistics of input. `output`: batch_norm's output when it fused a ReLU."""
    from ._args import new_array, zeros  # noqa: PLC0415
    dy = _device(grad_output, "grad_output")
    x = _device(input, "input", like=dy)
    y = None if output is None else _device(output, "output", like=dy)
    m, s = _device(mean, "mean", (1,), like=x), _device(invstd, "invstd", (1,), like=x)
    w = None if weight is None else _device(weight, "weight", (1,), like=x)
    dx = new_array(x.shape, x.dtype, x)
    dw, db = zeros(m.shape, x.dtype, x), zeros(m.shape, x.dtype, x)
    _module().batch_norm_backward(_ncm(dx), dw, db, _ncm(dy), None if y is None else _ncm(y),
                                  _ncm(x), m, s, w, bool(training))
    return dx, dw, db


def _cross_entropy_args(logits, target, weight):
    from ._backend import as_device_array, is_device_array  # noqa: PLC0415
    z = _device(logits, "logits")
    if z.ndim < 2:
        raise ValueError(f"logits: expected (N, C, *), got shape {z.shape}")
    if not is_device_array(target):
        raise TypeError(f"target: expected a CUDA array, got {type(target).__name__}")
    t = as_device_array(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target: expected integer class indices, got dtype {t.dtype}")
    if t.shape != z.shape[:1] + z.shape[2:]:
        raise ValueError(f"target: expected shape {z.shape[:1] + z.shape[2:]}, got {t.shape}")
    t = t.astype("int64", copy=False)
    import cupy  # noqa: PLC0415
    t = cupy.ascontiguousarray(t).reshape(z.shape[0], -1)
    w = None if weight is None else _device(weight, "weight", (1,), like=z)
    if w is not None and w.shape != (z.shape[1],):
        raise ValueError(f"weight: expected shape ({z.shape[1]},), got {w.shape}")
    return z, t, w


def _reduction(value: str) -> str:
    if value not in ("mean", "sum", "none"):
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {value!r}")
    return value


def cross_entropy(logits, target, weight=None, ignore_index: int = -100,
                  reduction: str = "mean"):
    """torch.nn.functional.cross_entropy of logits (N, C, *) and class indices target (N, *):
    per position -weight[t] * log_softmax(logits)[t], 0 where t == ignore_index; reduced by
    the weighted mean (default), the sum, or not ('none': shape (N, *)). ValueError for a
    target outside [0, C) (this check waits for the GPU)."""
    from ._args import new_array  # noqa: PLC0415
    z, t, w = _cross_entropy_args(logits, target, weight)
    reduction = _reduction(reduction)
    loss, weight_of = (new_array(t.shape, z.dtype, z) for _ in range(2))
    bad = _module().softmax_cross_entropy_forward(loss, weight_of, _ncm(z), t, w,
                                                  int(ignore_index))
    if bad >= 0:
        raise ValueError(f"target: class index {int(t.ravel()[bad])} at flat position {bad} is "
                         f"outside [0, {z.shape[1]}) and not ignore_index ({ignore_index})")
    if reduction == "none":
        return loss.reshape(z.shape[:1] + z.shape[2:])
    return loss.sum() / weight_of.sum() if reduction == "mean" else loss.sum()


def cross_entropy_grad(grad_loss, logits, target, weight=None, ignore_index: int = -100,
                       reduction: str = "mean"):
    """Gradient of cross_entropy with respect to logits, given the gradient of its result
    (a scalar, or (N, *) for reduction='none')."""
    from ._args import new_array  # noqa: PLC0415
    import cupy  # noqa: PLC0415
    z, t, w = _cross_entropy_args(logits, target, weight)
    reduction = _reduction(reduction)
    g = cupy.asarray(grad_loss, dtype=z.dtype)
    if reduction == "none":
        if g.shape != z.shape[:1] + z.shape[2:]:
            raise ValueError(f"grad_loss: expected shape {z.shape[:1] + z.shape[2:]}, got {g.shape}")
        dloss = cupy.ascontiguousarray(g).reshape(t.shape)
    else:
        if g.size != 1:
            raise ValueError(f"grad_loss: expected a scalar, got shape {g.shape}")
        dloss = cupy.broadcast_to(g.reshape(1, 1), t.shape)
        if reduction == "mean":
            valid = t != ignore_index
            total = (w[cupy.where(valid, t, 0)] * valid).sum() if w is not None else valid.sum()
            dloss = dloss / total.astype(z.dtype)
        dloss = cupy.ascontiguousarray(dloss, dtype=z.dtype)
    dz = new_array(z.shape, z.dtype, z)
    _module().softmax_cross_entropy_backward(_ncm(dz), dloss, _ncm(z), t, w, int(ignore_index))
    return dz


def sgd_step(param, grad, momentum_buffer=None, *, lr: float, momentum: float = 0.0,
             dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
             maximize: bool = False, first_step: bool = False) -> None:
    """One torch.optim.SGD step in place on param (and momentum_buffer when momentum != 0;
    first_step: the buffer starts as the gradient, as torch's does)."""
    p = _in_place(param, "param")
    g = _device(grad, "grad", like=p)
    if g.shape != p.shape:
        raise ValueError(f"grad: expected shape {p.shape}, got {g.shape}")
    buf = None if momentum_buffer is None else _in_place(momentum_buffer, "momentum_buffer", p)
    _module().sgd_step(p, buf, g, float(lr), float(momentum), float(dampening),
                       float(weight_decay), bool(nesterov), bool(maximize), bool(first_step))


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step: int, lr: float = 1e-3,
              betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
              amsgrad: bool = False, max_exp_avg_sq=None, decoupled_weight_decay: bool = False,
              maximize: bool = False) -> None:
    """One torch.optim.Adam step in place (AdamW: decoupled_weight_decay=True) on param,
    exp_avg, exp_avg_sq (and max_exp_avg_sq with amsgrad); step counts from 1."""
    p = _in_place(param, "param")
    g = _device(grad, "grad", like=p)
    if g.shape != p.shape:
        raise ValueError(f"grad: expected shape {p.shape}, got {g.shape}")
    m, v = _in_place(exp_avg, "exp_avg", p), _in_place(exp_avg_sq, "exp_avg_sq", p)
    vmax = None if max_exp_avg_sq is None else _in_place(max_exp_avg_sq, "max_exp_avg_sq", p)
    _module().adam_step(p, m, v, vmax, g, float(lr), float(betas[0]), float(betas[1]), float(eps),
                        float(weight_decay), int(step), bool(amsgrad),
                        bool(decoupled_weight_decay), bool(maximize))
