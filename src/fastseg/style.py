"""`fastseg style`: neural style transfer (seed 002) through fastseg's autograd.

The result G starts as the content image C and takes Adam steps on its pixels to minimise

    content_weight * E_content(G, C) + style_weight * sum_l E_style_l(G, S)

with E_content = sum (a(G) - a(C))^2 on one feature layer and E_style_l the seed's
1/(2IJK)^2 sum (F(G) - F(S))^2 of the Gram matrices F of layer l (nn.functional.content_loss
and style_loss). Each term is divided by its value for an all-zero feature map (sum a(C)^2,
and the style loss against zero features), so the weights do not depend on the feature scale.

Features: by default a fixed multi-scale network of random 3x3 filters (seeded, no download):
random filters keep texture statistics well (Ustyuzhaninov et al., 2017); or VGG weights from a
safetensors file whose keys are those of torchvision's ``vgg16().features`` / ``vgg19().features``
state_dict prefixed by ``features.``: ``features.<i>.weight`` (K, C, 3, 3) and
``features.<i>.bias`` (K,) for the convolution layers i = 0, 2, 5, 7, 10, ... A gap of 3 between
two convolution indices marks a pooling layer (average pooling here, as Gatys et al. advise);
style layers are the first convolution of each block (relu1_1, relu2_1, ...), the content layer
the second convolution of the fourth block (relu4_2). Export from PyTorch with
``safetensors.torch.save_file({f"features.{k}": v for k, v in vgg.features.state_dict().items()},
"vgg19.safetensors")``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import nn, optim
from .autograd import Tensor
from .checkpoint import read_safetensors
from .data.io import InputError, read_image, write_png

F = nn.functional
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
# The random network: output channels of each 3x3 convolution, average-pooled by 2 between.
RANDOM_CHANNELS = (64, 128, 192, 256)


@dataclass
class FeatureNet:
    """3x3 convolutions with ReLU (weights (K, C, 3, 3), biases (K,)), pooled by 2 before those
    where `pool_before` is set; `style` and `content` are indices of the layers whose ReLU
    outputs feed the losses; inputs in [0, 1] are normalised by `mean` and `std`."""

    weights: list
    biases: list
    pool_before: list
    style: tuple
    content: int
    mean: np.ndarray
    std: np.ndarray

    def features(self, image) -> dict:
        """{layer index: ReLU output} for the layers the losses need, of image (1, 3, H, W)."""
        x = (image - self.mean) * (1.0 / self.std)
        out = {}
        last = max(max(self.style), self.content)
        for i in range(last + 1):
            if self.pool_before[i]:
                x = F.avg_pool2d(x, 2, ceil_mode=True)
            x = F.relu(F.conv2d(x, self.weights[i], self.biases[i], padding=1,
                                padding_mode="reflect"))
            if i in self.style or i == self.content:
                out[i] = x
        return out


def random_features(seed: int) -> FeatureNet:
    """The default feature network: RANDOM_CHANNELS 3x3 filters drawn from a seeded normal
    distribution with He scaling, an average pooling between layers (receptive fields of 3 to
    about 45 pixels); every layer is a style layer and the second one the content layer."""
    rng = np.random.default_rng(seed)
    weights, biases, channels = [], [], 3
    for k in RANDOM_CHANNELS:
        weights.append((rng.standard_normal((k, channels, 3, 3)) *
                        np.sqrt(2.0 / (channels * 9))).astype(np.float32))
        biases.append(np.zeros(k, np.float32))
        channels = k
    n = len(RANDOM_CHANNELS)
    return FeatureNet(weights, biases, [False] + [True] * (n - 1), tuple(range(n)), 1,
                      np.float32(0.5), np.float32(0.25))


def vgg_features(path) -> FeatureNet:
    """A VGG-style network from safetensors weights (layout in the module docstring)."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    try:
        tensors, _ = read_safetensors(path)
    except (ValueError, KeyError, OSError) as e:
        raise InputError(f"{path}: not a readable safetensors file ({e})") from None
    indices = sorted(int(k.split(".")[1]) for k in tensors
                     if k.startswith("features.") and k.endswith(".weight")
                     and k.split(".")[1].isdigit())
    if not indices:
        raise InputError(f"{path}: no features.<i>.weight keys (expected torchvision VGG "
                         f"`features` keys prefixed by 'features.')")
    weights, biases, pool_before, channels = [], [], [], 3
    for n, i in enumerate(indices):
        w = tensors[f"features.{i}.weight"].astype(np.float32)
        b = tensors.get(f"features.{i}.bias", np.zeros(w.shape[0])).astype(np.float32)
        if w.ndim != 4 or w.shape[1:] != (channels, 3, 3) or b.shape != (w.shape[0],):
            raise InputError(f"{path}: features.{i}.weight has shape {w.shape}, expected "
                             f"({w.shape[0] if w.ndim else 'K'}, {channels}, 3, 3) with a "
                             f"bias of ({w.shape[0] if w.ndim else 'K'},)")
        gap = i - indices[n - 1] if n else 0
        if n and gap not in (2, 3):
            raise InputError(f"{path}: features.{indices[n - 1]} -> features.{i}: expected "
                             f"convolutions 2 (ReLU between) or 3 (ReLU, pool) indices apart")
        weights.append(w)
        biases.append(b)
        pool_before.append(gap == 3)
        channels = w.shape[0]
    blocks = np.cumsum(pool_before)
    style = tuple(int(np.argmax(blocks == b)) for b in range(int(blocks[-1]) + 1))
    fourth = [i for i in range(len(blocks)) if blocks[i] == min(3, blocks[-1])]
    content = fourth[1] if len(fourth) > 1 else fourth[0]
    return FeatureNet(weights, biases, pool_before, style, content, IMAGENET_MEAN, IMAGENET_STD)


def load_rgb(path, size: int) -> np.ndarray:
    """The image at `path` as RGB in [0, 1], (1, 3, h, w) with its longest side `size`."""
    from PIL import Image

    x = read_image(path, channels=3)
    lo, hi = (0.0, 255.0) if x.max() <= 255 else (float(x.min()), float(x.max()))
    x = np.clip((x - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    h, w = x.shape[1:]
    scale = size / max(h, w)
    shape = (max(1, round(w * scale)), max(1, round(h * scale)))
    channels = [np.asarray(Image.fromarray(c.astype(np.float32), "F").resize(shape,
                                                                          Image.BICUBIC))
                for c in x]
    return np.clip(np.stack(channels), 0, 1)[None].astype(np.float32)


def style_transfer(content_path, style_path, out, steps: int = 200, size: int = 256,
                   style_weight: float = 20.0, content_weight: float = 1.0, lr: float = 0.05,
                   seed: int = 0, weights=None, progress: bool = True) -> dict:
    """Runs the optimisation and writes the result as an 8-bit RGB PNG at `out`; returns the
    final losses."""
    from tqdm import tqdm

    content = load_rgb(content_path, size)
    style = load_rgb(style_path, size)
    if os.path.isdir(out):
        raise InputError(f"{out}: is a folder, expected the path of the PNG to write")
    net = vgg_features(weights) if weights else random_features(seed)
    content_target = net.features(content)[net.content].data
    content_norm = float((content_target.astype(np.float64) ** 2).sum()) or 1.0
    style_grams, style_norms = {}, {}
    for i, a in net.features(style).items():
        if i in net.style:
            # The Gram matrix of S rescaled to G's number of positions I*J (G has C's size).
            (h, w), k = _feature_size(net, content, i), a.shape[1]
            gram = F.gram(a).data.astype(np.float64) * (h * w / (a.shape[2] * a.shape[3]))
            style_grams[i] = gram.astype(np.float32)
            style_norms[i] = float((gram ** 2).sum()) / (2.0 * h * w * k) ** 2 or 1.0
    image = Tensor(content.copy(), requires_grad=True)
    adam = optim.Adam([image], lr)
    bar = tqdm(range(steps), desc="style", unit="step", dynamic_ncols=True, disable=not progress)
    losses = {}
    for _ in bar:
        adam.zero_grad()
        feats = net.features(image)
        c_loss = F.content_loss(feats[net.content], content_target) * (1.0 / content_norm)
        s_loss = sum(F.style_loss(feats[i], style_grams[i]) * (1.0 / style_norms[i])
                     for i in net.style) * (1.0 / len(net.style))
        loss = c_loss * content_weight + s_loss * style_weight
        loss.backward()
        adam.step()
        np.clip(image.data, 0, 1, out=image.data)
        losses = {"content": c_loss.item(), "style": s_loss.item(), "total": loss.item()}
        bar.set_postfix(content=f"{losses['content']:.4f}", style=f"{losses['style']:.4f}",
                        refresh=False)
    bar.close()
    rgb = (np.moveaxis(image.data[0], 0, 2) * 255 + 0.5).astype(np.uint8)
    write_png(out, rgb)
    print(f"{out}: {rgb.shape[1]}x{rgb.shape[0]}, {steps} steps, content loss "
          f"{losses.get('content', 0):.4f}, style loss {losses.get('style', 0):.4f} "
          f"(relative to all-zero features)")
    return losses


def _feature_size(net: FeatureNet, image: np.ndarray, layer: int) -> tuple:
    """(H, W) of layer `layer`'s features for `image` (poolings round up)."""
    h, w = image.shape[2:]
    for i in range(layer + 1):
        if net.pool_before[i]:
            h, w = -(-h // 2), -(-w // 2)
    return h, w
