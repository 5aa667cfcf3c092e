"""Segmentation models of the seed: U-Net (skip concatenation), FCN (convolutions only, learnable
transposed-convolution upsampling with skips) and SegNet (max-unpooling decoder reusing the
encoder's pooling indices). Each takes any input height and width: the input is zero-padded to
a multiple of 2**depth and the logits cropped back, so shapes always line up inside.

The module structure is PyTorch's, attribute for attribute (see tests/test_unet_parity.py for
the equivalent torch.nn model), so a PyTorch state_dict of the same architecture loads directly.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor, array_module, cat, is_grad_enabled
from ..ops.conv import conv2d_relu
from . import functional as F
from .layers import (BatchNorm2d, Conv2d, ConvTranspose2d, Dropout2d, MaxPool2d, MaxUnpool2d,
                     ReLU, Upsample)
from .module import Module, ModuleList, Sequential


class DoubleConv(Sequential):
    """(3x3 conv [stride on the first], BatchNorm, ReLU) twice, then Dropout2d when dropout > 0.
    Indices in the Sequential: conv 0, bn 1, relu 2, conv 3, bn 4, relu 5 (without BatchNorm:
    conv 0, relu 1, conv 2, relu 3)."""

    def __init__(self, in_channels, out_channels, batchnorm=True, dropout=0.0, stride=1):
        layers = []
        for i, c in enumerate((in_channels, out_channels)):
            layers.append(Conv2d(c, out_channels, 3, stride=stride if i == 0 else 1, padding=1,
                                 bias=not batchnorm))
            if batchnorm:
                layers.append(BatchNorm2d(out_channels))
            layers.append(ReLU(inplace=True))
        if dropout:
            layers.append(Dropout2d(dropout))
        super().__init__(*layers)

    def forward(self, x):
        layers = list(self)
        # Inference without gradients: conv + BatchNorm (running statistics) + ReLU in one pass.
        fold = not self.training and not is_grad_enabled()
        i = 0
        while i < len(layers):
            if (fold and i + 2 < len(layers) and isinstance(layers[i], Conv2d)
                    and isinstance(layers[i + 1], BatchNorm2d) and isinstance(layers[i + 2], ReLU)
                    and layers[i + 1].running_mean is not None
                    and layers[i].padding_mode == "zeros"):
                x = _conv_bn_relu(layers[i], layers[i + 1], x)
                i += 3
            elif (isinstance(layers[i], BatchNorm2d) and i + 1 < len(layers)
                    and isinstance(layers[i + 1], ReLU)):
                x = layers[i](x, fuse_relu=True)  # BatchNorm + ReLU in one kernel
                i += 2
            else:
                x = layers[i](x)
                i += 1
        return x


def _conv_bn_relu(conv, bn, x):
    """relu(bn(conv(x))) for inference: the BatchNorm's running statistics folded into the
    convolution's weight and bias (w * s, (b - mean) * s + beta with s = gamma / sqrt(var + eps))
    and the ReLU fused into the convolution's store."""
    xp = array_module(x.data)
    w = conv.weight.data
    scale = xp.asarray(1 / xp.sqrt(bn.running_var.data + bn.eps), w.dtype)
    if bn.affine:
        scale = scale * bn.weight.data
    shift = -bn.running_mean.data * scale
    if conv.bias is not None:
        shift = shift + conv.bias.data * scale
    if bn.affine:
        shift = shift + bn.bias.data
    return Tensor(conv2d_relu(x.data, w * scale.reshape(-1, 1, 1, 1), shift.astype(w.dtype),
                              conv.stride, conv.padding, conv.dilation, conv.groups))


def _pad_to_multiple(x, multiple: int):
    """x zero-padded (split evenly) so that H and W are multiples of `multiple`, and the slices
    that crop a result of the padded size back to x's size."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    crop = (Ellipsis, slice(ph // 2, ph // 2 + h), slice(pw // 2, pw // 2 + w))
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    return x, (crop if ph or pw else None)


def _crop(x, crop):
    return x if crop is None else x[crop]


def _check_arguments(depth, upsample=None):
    if depth < 1:
        raise ValueError(f"depth: expected an int >= 1, got {depth}")
    if upsample not in (None, "transpose", "bilinear"):
        raise ValueError(f"upsample: expected 'transpose' or 'bilinear', got {upsample!r}")


class UpBlock(Module):
    """Doubles the resolution and halves the channels (``up``), concatenates the skip
    (skip first, as in the U-Net paper's figure: [skip, up]) and applies a DoubleConv."""

    def __init__(self, in_channels, out_channels, upsample, batchnorm, dropout):
        super().__init__()
        if upsample == "transpose":
            self.up = ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
        else:
            self.up = Sequential(Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                 Conv2d(in_channels, in_channels // 2, 1))
        self.conv = DoubleConv(in_channels, out_channels, batchnorm, dropout)

    def forward(self, x, skip):
        return self.conv(cat([skip, self.up(x)], 1))


class UNet(Module):
    """U-Net: encoder.i = DoubleConv at base*2**i channels (max-pooled between levels),
    decoder.j = UpBlock back up, head = 1x1 conv to num_classes logits (softmax is left to the
    loss / prediction)."""

    def __init__(self, in_channels, num_classes, base_channels=64, depth=4, batchnorm=True,
                 upsample="transpose", dropout=0.0):
        super().__init__()
        _check_arguments(depth, upsample)
        ch = [base_channels * 2 ** i for i in range(depth + 1)]
        self.depth = depth
        self.encoder = ModuleList([DoubleConv(in_channels, ch[0], batchnorm, dropout)] +
                                  [DoubleConv(ch[i - 1], ch[i], batchnorm, dropout)
                                   for i in range(1, depth + 1)])
        self.pool = MaxPool2d(2)
        self.decoder = ModuleList([UpBlock(ch[i + 1], ch[i], upsample, batchnorm, dropout)
                                   for i in reversed(range(depth))])
        self.head = Conv2d(ch[0], num_classes, 1)

    def forward(self, x):
        x, crop = _pad_to_multiple(x, 2 ** self.depth)
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for block in self.decoder:
            x = block(x, skips.pop())
        return _crop(self.head(x), crop)


def _bilinear_kernel(channels: int, size: int, dtype) -> np.ndarray:
    """ConvTranspose2d weight (C, C, k, k) that upsamples each channel bilinearly (FCN's init)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.arange(size)
    k1 = 1 - np.abs(og - center) / factor
    w = np.zeros((channels, channels, size, size), dtype)
    w[np.arange(channels), np.arange(channels)] = np.outer(k1, k1)
    return w


class FCN(Module):
    """Fully convolutional network: stages of DoubleConv (stage i > 0 downsamples with a
    stride-2 convolution, no pooling), a 1x1 score layer per stage, and learnable
    ConvTranspose2d(4, stride 2) upsamplers (initialised to bilinear interpolation) that add
    each finer stage's scores on the way up (FCN-8s style skips)."""

    def __init__(self, in_channels, num_classes, base_channels=32, depth=3, batchnorm=True):
        super().__init__()
        _check_arguments(depth)
        ch = [base_channels * 2 ** i for i in range(depth + 1)]
        self.depth = depth
        self.stages = ModuleList([DoubleConv(in_channels, ch[0], batchnorm)] +
                                 [DoubleConv(ch[i - 1], ch[i], batchnorm, stride=2)
                                  for i in range(1, depth + 1)])
        self.score = ModuleList([Conv2d(c, num_classes, 1) for c in ch])
        self.up = ModuleList([ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1)
                              for _ in range(depth)])
        for up in self.up:
            up.weight.data[...] = _bilinear_kernel(num_classes, 4, up.weight.dtype)
            up.bias.data[...] = 0

    def forward(self, x):
        x, crop = _pad_to_multiple(x, 2 ** self.depth)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        scores = self.score[self.depth](features[self.depth])
        for i in reversed(range(self.depth)):
            scores = self.up[i](scores) + self.score[i](features[i])
        return _crop(scores, crop)


class SegNet(Module):
    """SegNet-style encoder/decoder: encoder.i = DoubleConv then 2x2 max-pooling that keeps its
    indices; decoder.j max-unpools with the mirrored indices (values back at the max
    positions, zeros elsewhere) then applies a DoubleConv; head = 1x1 conv."""

    def __init__(self, in_channels, num_classes, base_channels=32, depth=3, batchnorm=True,
                 dropout=0.0):
        super().__init__()
        _check_arguments(depth)
        ch = [base_channels * 2 ** i for i in range(depth)]
        self.depth = depth
        self.encoder = ModuleList([DoubleConv(in_channels, ch[0], batchnorm, dropout)] +
                                  [DoubleConv(ch[i - 1], ch[i], batchnorm, dropout)
                                   for i in range(1, depth)])
        self.pool = MaxPool2d(2, return_indices=True)
        self.unpool = MaxUnpool2d(2)
        self.decoder = ModuleList([DoubleConv(ch[i], ch[max(i - 1, 0)], batchnorm, dropout)
                                   for i in reversed(range(depth))])
        self.head = Conv2d(ch[0], num_classes, 1)

    def forward(self, x):
        x, crop = _pad_to_multiple(x, 2 ** self.depth)
        saved = []
        for block in self.encoder:
            x = block(x)
            size = x.shape
            x, indices = self.pool(x)
            saved.append((indices, size))
        for block in self.decoder:
            indices, size = saved.pop()
            x = block(self.unpool(x, indices, output_size=size[-2:]))
        return _crop(self.head(x), crop)
