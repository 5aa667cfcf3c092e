"""torch.nn.functional for fastseg Tensors: layers through fastseg's kernels and their gradient
kernels, activations, dropout and losses. Every op records its backward when a gradient is
needed (see fastseg.autograd)."""

from __future__ import annotations

import numpy as np

from .. import grad as kgrad
from .._backend import kernels
from ..autograd import Function, Tensor, array_module, default_generator, is_grad_enabled
from ..autograd import ops
from ..autograd.ops import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
import fastseg as _fs  # the kernels: fastseg.conv2d, fastseg.max_pool2d, ...

_REDUCTIONS = ("none", "mean", "sum")


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _constant(a, like):
    """An optional constant argument (class weights...) as an array of `like`'s dtype."""
    if a is None:
        return None
    a = _data(a)
    return array_module(a).asarray(a, dtype=_data(like).dtype)


def _needs_graph(*tensors) -> bool:
    return is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


# ---- convolutions ------------------------------------------------------------------------------

class _ConvNd(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, padding_mode, dims):
        ctx.args = (stride, padding, dilation, groups, padding_mode)
        ctx.dims = dims
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None,
                              w if ctx.needs_input_grad[0] else None)
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        conv = _fs.conv2d if dims == 2 else _fs.conv1d
        return conv(x, w, b, stride, padding, dilation, groups, padding_mode)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        two = ctx.dims == 2
        dx = dw = db = None
        if need_x:
            dx = (kgrad.conv2d_input if two else kgrad.conv1d_input)(ctx.x_shape, w, grad, *ctx.args)
        if need_w:
            dw = (kgrad.conv2d_weight if two else kgrad.conv1d_weight)(x, ctx.w_shape, grad, *ctx.args)
        if need_b:
            db = (kgrad.conv2d_bias if two else kgrad.conv1d_bias)(grad)
        return dx, dw, db


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros"):
    """torch.nn.functional.conv2d, plus ``padding_mode`` (zeros, reflect, replicate, circular,
    symmetric) applied by the kernel itself."""
    return _ConvNd.apply(input, weight, bias, stride, padding, dilation, groups, padding_mode, 2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros"):
    return _ConvNd.apply(input, weight, bias, stride, padding, dilation, groups, padding_mode, 1)


class _ConvTranspose2d(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, output_padding, groups, dilation):
        ctx.args = (stride, padding, output_padding, groups, dilation)
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w)
        ctx.w_shape = w.shape
        return _fs.conv_transpose2d(x, w, b, *ctx.args)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        return (kgrad.conv_transpose2d_input(grad, w, *ctx.args) if need_x else None,
                kgrad.conv_transpose2d_weight(x, ctx.w_shape, grad, *ctx.args) if need_w else None,
                kgrad.conv_transpose2d_bias(grad) if need_b else None)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _ConvTranspose2d.apply(input, weight, bias, stride, padding, output_padding, groups,
                                  dilation)


# ---- pooling and upsampling ----------------------------------------------------------------------

class _MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):
        y, indices = _fs.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode,
                                    return_indices=True)
        ctx.x_shape = x.shape
        ctx.save_for_backward(indices)
        return y, indices

    @staticmethod
    def backward(ctx, grad):
        return kgrad.max_pool2d_input(grad, ctx.saved_tensors[0], ctx.x_shape)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    if not return_indices and not _needs_graph(input):
        return Tensor._wrap(_fs.max_pool2d(_data(input), kernel_size, stride, padding, dilation,
                                           ceil_mode))
    y, indices = _MaxPool2d.apply(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (y, indices) if return_indices else y


class _MaxUnpool2d(Function):
    @staticmethod
    def forward(ctx, x, indices, kernel_size, stride, padding, output_size):
        ctx.save_for_backward(indices)
        return _fs.max_unpool2d(x, indices, kernel_size, stride, padding, output_size)

    @staticmethod
    def backward(ctx, grad):
        return kgrad.max_unpool2d_input(grad, ctx.saved_tensors[0]), None


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _MaxUnpool2d.apply(input, _data(indices), kernel_size, stride, padding, output_size)


class _AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, *args):
        ctx.x_shape, ctx.args = x.shape, args
        return _fs.avg_pool2d(x, *args)

    @staticmethod
    def backward(ctx, grad):
        return kgrad.avg_pool2d_input(grad, ctx.x_shape, *ctx.args)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _AvgPool2d.apply(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                            divisor_override)


class _Interpolate(Function):
    @staticmethod
    def forward(ctx, x, size, scale_factor, mode, align_corners):
        ctx.x_shape, ctx.args = x.shape, (mode, align_corners, scale_factor)
        return _fs.interpolate(x, size, scale_factor, mode, align_corners)

    @staticmethod
    def backward(ctx, grad):
        mode, align_corners, scale_factor = ctx.args
        return kgrad.interpolate_input(grad, ctx.x_shape, mode, align_corners, scale_factor)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return _Interpolate.apply(input, size, scale_factor, mode, align_corners)


class _Gram(Function):
    @staticmethod
    def forward(ctx, x, normalize):
        ctx.save_for_backward(x)
        ctx.normalize = normalize
        return _fs.gram(x, normalize)

    @staticmethod
    def backward(ctx, grad):
        return kgrad.gram_input(ctx.saved_tensors[0], grad, ctx.normalize)


def gram(input, normalize=None):
    """Gram matrices (N, C, C) of features (N, C, H, W): sum over pixels of a_c * a_c'
    (normalize None), divided by H*W ("spatial") or C*H*W ("size")."""
    return _Gram.apply(input, normalize)


# ---- normalisation and dropout -------------------------------------------------------------------

class _BatchNorm(Function):
    """Batch normalisation over all axes but 1 through the fused C++ kernels (csrc/cpu/nn.cpp),
    optionally with the ReLU that follows it fused in (one pass, no intermediate array)."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps, relu):
        xp, k = array_module(x), kernels(x)  # NumPy -> fastseg._C, CuPy -> fastseg._cuda
        n, c = x.shape[:2]
        x3 = xp.ascontiguousarray(x).reshape(n, c, -1)
        if training:
            count = n * x3.shape[2]
            if count <= 1:
                raise ValueError(f"Expected more than 1 value per channel when training, got "
                                 f"input size {x.shape}")
            mean, var = xp.empty(c, x.dtype), xp.empty(c, x.dtype)
            k.batch_norm_stats(mean, var, x3)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * count / (count - 1)) * var
        else:
            mean, var = running_mean.astype(x.dtype, copy=False), running_var
        invstd = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        y = xp.empty_like(x3)
        k.batch_norm_forward(y, x3, mean, invstd, weight, bias, relu)
        ctx.save_for_backward(x3, y if relu else None, mean, invstd, weight)
        ctx.training = training
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        x3, y, mean, invstd, weight = ctx.saved_tensors
        xp = array_module(x3)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        c = x3.shape[1]
        dx = xp.empty_like(x3) if need_x else None
        dw = xp.zeros(c, x3.dtype) if need_w else None
        db = xp.zeros(c, x3.dtype) if need_b else None
        kernels(x3).batch_norm_backward(dx, dw, db, xp.ascontiguousarray(grad).reshape(x3.shape),
                                        y, x3, mean, invstd, weight, ctx.training)
        return (None if dx is None else dx.reshape(grad.shape)), dw, db


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """torch.nn.functional.batch_norm: input (N, C, *); in training the batch statistics
    normalise and the running ones (updated in place, unbiased variance) follow them."""
    return _BatchNorm.apply(input, weight, bias, _data(running_mean), _data(running_var),
                            training, momentum, eps, False)


def batch_norm_relu(input, running_mean, running_var, weight=None, bias=None, training=False,
                    momentum=0.1, eps=1e-5):
    """relu(batch_norm(...)) in one fused pass forward and backward (same arguments)."""
    return _BatchNorm.apply(input, weight, bias, _data(running_mean), _data(running_var),
                            training, momentum, eps, True)


class _Scale(Function):
    """x * mask for a constant mask (broadcast): dropout's inverted scaling."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved_tensors[0], None


def _dropout(input, p, training, mask_shape):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    x = _data(input)
    keep = default_generator().random(mask_shape, dtype=np.float32 if x.dtype == np.float32
                                      else np.float64) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    mask = array_module(x).asarray(keep * x.dtype.type(scale))
    return _Scale.apply(input, mask)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability p and scales the rest by 1/(1-p) (inverted)."""
    return _dropout(input, p, training, input.shape)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) with probability p, scales by 1/(1-p)."""
    shape = input.shape[:-2] + (1, 1)
    return _dropout(input, p, training, shape)


# ---- activations and shapes ----------------------------------------------------------------------

def relu(input, inplace=False):
    return ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return LeakyReLU.apply(input, negative_slope=negative_slope)


def sigmoid(input):
    return Sigmoid.apply(input)


def tanh(input):
    return Tanh.apply(input)


def _softmax_dim(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1  # torch's implicit choice


def softmax(input, dim=None):
    return Softmax.apply(input, dim=_softmax_dim(input.ndim) if dim is None else dim)


def log_softmax(input, dim=None):
    return LogSoftmax.apply(input, dim=_softmax_dim(input.ndim) if dim is None else dim)


def pad(input, pad, mode="constant", value=0.0):
    return ops.Pad.apply(input, pad=tuple(pad), mode=mode, value=value)


def linear(input, weight, bias=None):
    out = input @ weight.T
    return out if bias is None else out + bias


# ---- losses --------------------------------------------------------------------------------------

def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {', '.join(_REDUCTIONS)}, got {reduction!r}")
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def _class_last(a):
    """(N, C, *) -> (N, *, C); (C,) stays."""
    return array_module(a).moveaxis(a, 1, -1) if a.ndim >= 2 else a


class _NLLLoss(Function):
    @staticmethod
    def forward(ctx, logp, target, weight, ignore_index, reduction):
        xp = array_module(logp)
        lp = _class_last(logp)
        classes = lp.shape[-1]
        if target.shape != lp.shape[:-1]:
            raise ValueError(f"target: expected shape {lp.shape[:-1]}, got {target.shape}")
        valid = target != ignore_index
        t = xp.where(valid, target, 0)
        if t.size and (t.min() < 0 or t.max() >= classes):
            bad = t[(t < 0) | (t >= classes)].flat[0]
            raise IndexError(f"Target {int(bad)} is out of bounds.")
        w = (weight[t] if weight is not None else xp.ones(t.shape, logp.dtype)) * valid
        picked = xp.take_along_axis(lp, t[..., None], axis=-1)[..., 0]
        losses = -picked * w
        scale = w
        if reduction == "none":
            out = losses
        elif reduction == "sum":
            out = losses.sum()
        else:
            total = w.sum()
            with np.errstate(invalid="ignore", divide="ignore"):  # all ignored -> nan, as torch
                out = losses.sum() / total
                scale = w / total
        ctx.save_for_backward(t, scale)
        ctx.shape, ctx.reduction = logp.shape, reduction
        return xp.asarray(out, dtype=logp.dtype)

    @staticmethod
    def backward(ctx, grad):
        t, scale = ctx.saved_tensors
        xp = array_module(grad)
        g = xp.zeros(ctx.shape, grad.dtype)
        gl = _class_last(g)
        xp.put_along_axis(gl, t[..., None], (-(grad * scale)).astype(grad.dtype)[..., None], -1)
        return g


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """torch.nn.functional.nll_loss: input log-probabilities (N, C, *) or (C,), target class
    indices (N, *) or ()."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {', '.join(_REDUCTIONS)}, got {reduction!r}")
    target = _data(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"target: expected an integer array of class indices, got {target.dtype}")
    return _NLLLoss.apply(input, target, _constant(weight, input), ignore_index, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """torch.nn.functional.cross_entropy: logits (N, C, *) (e.g. (N, C, H, W)) with class-index
    targets (N, *) or class-probability targets of the input's shape; class `weight`,
    `ignore_index`, `label_smoothing` and `reduction` as in PyTorch."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1], got {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    logp = log_softmax(input, class_dim)
    t = _data(target)
    w = _constant(weight, input)
    w_view = None if w is None else w.reshape((classes,) + (1,) * (input.ndim - class_dim - 1))
    if t.dtype.kind == "f":  # class probabilities
        if t.shape != input.shape:
            raise ValueError(f"target: expected shape {input.shape} for probabilities, got {t.shape}")
        if label_smoothing:
            t = t * (1 - label_smoothing) + label_smoothing / classes
        prod = logp * (t if w_view is None else t * w_view)
        loss = -prod.sum(class_dim)
        if reduction == "mean":
            return loss.sum() / (input.numel() // classes)
        return _reduce(loss, reduction)
    nll = nll_loss(logp, t, w, ignore_index, reduction)
    if not label_smoothing:
        return nll
    valid = t != ignore_index
    smooth = -(logp if w_view is None else logp * w_view).sum(class_dim) * valid.astype(logp.dtype)
    if reduction == "mean":
        denom = w[np.where(valid, t, 0)][valid].sum() if w is not None else valid.sum()
        smooth = smooth.sum() / smooth.dtype.type(denom)
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


class _BCEWithLogits(Function):
    @staticmethod
    def forward(ctx, x, y, weight, pos_weight):
        xp = array_module(x)
        softplus_neg = xp.log1p(xp.exp(-abs(x))) + xp.maximum(-x, 0)  # log(1 + exp(-x))
        lw = 1 if pos_weight is None else (pos_weight - 1) * y + 1
        loss = (1 - y) * x + lw * softplus_neg
        ctx.save_for_backward(x, y, weight, pos_weight, softplus_neg)
        return loss if weight is None else loss * weight

    @staticmethod
    def backward(ctx, grad):
        x, y, weight, pos_weight, softplus_neg = ctx.saved_tensors
        g = grad if weight is None else grad * weight
        lw = 1 if pos_weight is None else (pos_weight - 1) * y + 1
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = ops.unbroadcast(g * ((1 - y) - lw * ops.sigmoid_array(-x)), np.shape(x))
        if ctx.needs_input_grad[1]:
            dpw = 0 if pos_weight is None else (pos_weight - 1) * softplus_neg
            dy = ops.unbroadcast(g * (dpw - x), np.shape(y))
        return dx, dy


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """torch.nn.functional.binary_cross_entropy_with_logits (numerically stable; `pos_weight`
    broadcast along the last axis, the class axis of (N, C) inputs)."""
    target = target if isinstance(target, Tensor) else np.asarray(target, _data(input).dtype)
    loss = _BCEWithLogits.apply(input, target, _constant(weight, input),
                                _constant(pos_weight, input))
    return _reduce(loss, reduction)


def mse_loss(input, target, reduction="mean"):
    diff = input - target
    return _reduce(diff * diff, reduction)


class _KLDiv(Function):
    @staticmethod
    def forward(ctx, logq, target, log_target):
        xp = array_module(logq)
        ctx.save_for_backward(logq, target)
        ctx.log_target = log_target
        if log_target:
            return xp.exp(target) * (target - logq)
        with np.errstate(divide="ignore", invalid="ignore"):
            xlogx = xp.where(target > 0, target * xp.log(xp.where(target > 0, target, 1)), 0)
        return xlogx - target * logq

    @staticmethod
    def backward(ctx, grad):
        logq, t = ctx.saved_tensors
        xp = array_module(grad)
        if ctx.log_target:
            e = xp.exp(t)
            dq, dt = -e, e * (t - logq + 1)
        else:
            dq = -t
            dt = xp.where(t > 0, xp.log(xp.where(t > 0, t, 1)) + 1, 0) - logq
        return (ops.unbroadcast(grad * dq, logq.shape) if ctx.needs_input_grad[0] else None,
                ops.unbroadcast(grad * dt, t.shape) if ctx.needs_input_grad[1] else None)


def kl_div(input, target, reduction="mean", log_target=False):
    """torch.nn.functional.kl_div: `input` log-probabilities, `target` probabilities (or log
    ones with log_target); pointwise target * (log target - input), 0 where target is 0.
    reduction 'batchmean' divides the sum by the batch size (the KL divergence per sample)."""
    target = target if isinstance(target, Tensor) else np.asarray(target, _data(input).dtype)
    loss = _KLDiv.apply(input, target, log_target)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def one_hot(target, num_classes: int, dtype=np.float32, axis: int = -1):
    """Class indices (*) -> one-hot (*, num_classes), the class axis moved to `axis`."""
    t = np.asarray(_data(target))
    out = (t[..., None] == np.arange(num_classes)).astype(dtype)
    return np.moveaxis(out, -1, axis)


def dice_loss(input, target, smooth=1.0):
    """1 - mean over classes of the soft Dice coefficient (2|P.G| + smooth) / (|P| + |G| +
    smooth), summed over the batch and pixels. `input`: logits (N, C, *) with class-index
    target (N, *) (softmax over C), or (N, 1, *) / (N, *) logits with a binary target (sigmoid)."""
    t = np.asarray(_data(target))
    dtype = _data(input).dtype
    if input.ndim >= 2 and input.shape[1] > 1 and t.ndim == input.ndim - 1:
        probs = softmax(input, 1)
        truth = one_hot(t, input.shape[1], dtype, axis=1)
    else:
        probs = sigmoid(input)
        truth = t.astype(dtype).reshape(input.shape)
    axes = tuple(i for i in range(input.ndim) if i != 1) if input.ndim >= 2 else None
    inter = (probs * truth).sum(axes)
    denom = probs.sum(axes) + truth.sum(axes)
    dice = (inter * 2 + smooth) / (denom + smooth)
    return 1 - dice.mean()


def content_loss(input, target):
    """The seed's content loss: sum over positions and channels of (a(G) - a(C))^2."""
    diff = input - target
    return (diff * diff).sum()


def style_loss(input, target):
    """The seed's style loss: 1/(2IJK)^2 * sum_kk' (F_kk'(G) - F_kk'(S))^2 with F the
    unnormalised Gram matrix over the I x J positions and K channels of `input` (N, K, I, J),
    summed over the batch. `target` is a feature map (N or 1, K, I', J') or its Gram (K, K) /
    (N, K, K), taken as a constant."""
    _, k, i, j = input.shape
    t = _data(target)
    g_target = t if t.ndim in (2, 3) else _fs.gram(np.ascontiguousarray(t))
    diff = gram(input) - g_target
    return (diff * diff).sum() * (1.0 / (2.0 * i * j * k) ** 2)
