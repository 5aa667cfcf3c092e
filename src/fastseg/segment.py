"""A trained segmentation model: its description (ModelSpec), building it, loading it from a
`fastseg train` checkpoint, and predicting class probabilities on images of any size, whole or
in overlapping tiles, optionally with Monte-Carlo-dropout uncertainty (`fastseg segment`).

Tiles: the image is zero-padded at the bottom/right to a multiple of 2**depth (the model's
pooling grid), cut into tiles whose origins are multiples of 2**depth and that overlap by
2 * margin pixels; each tile keeps only its centre (all but `margin` pixels on sides inside the
image). The margin covers the receptive field of the model (ModelSpec.margin), so a tiled
prediction equals the whole-image prediction up to float rounding: no seams.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from . import nn
from .autograd import Tensor, manual_seed, no_grad
from .checkpoint import read_safetensors
from .data.io import InputError, MaskFormat, atomic_write, list_images, mask_image, read_image, \
    standardize, write_png

MODELS = ("unet", "fcn", "segnet")
# Receptive-field radius in pixels of each model, a function of 2**depth.
RECEPTIVE_RADIUS = {"unet": lambda p: 7 * p - 5, "fcn": lambda p: 5 * p - 3,
                    "segnet": lambda p: (9 * p) // 2 - 5}
SPEC_KEY = "model_spec"


@dataclass
class ModelSpec:
    """Everything needed to rebuild a trained model and to read and write its data."""

    model: str = "unet"
    in_channels: int = 1
    num_classes: int = 2
    base_channels: int = 16
    depth: int = 3
    dropout: float = 0.0
    class_values: list = field(default_factory=lambda: [0, 1])
    class_names: list | None = None
    mask_format: dict = field(default_factory=lambda: MaskFormat().to_json())
    normalization: str = "per-image standardisation (each channel to mean 0, std 1)"

    @property
    def multiple(self) -> int:
        """The models pool `depth` times by 2: inputs are padded to this multiple."""
        return 2 ** self.depth

    @property
    def margin(self) -> int:
        """Tile margin: the receptive-field radius rounded up to a multiple of 2**depth. The
        radius, measured as the support of d(output pixel)/d(input) (tests/test_cli.py), is
        7 * 2**depth - 5 for the U-Net, 5 * 2**depth - 3 for the FCN and 4.5 * 2**depth - 5 for
        SegNet."""
        return -(-RECEPTIVE_RADIUS[self.model](2 ** self.depth) // self.multiple) * self.multiple

    @property
    def min_tile(self) -> int:
        """The smallest tile: both margins and one pooling cell."""
        return 2 * self.margin + self.multiple

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ModelSpec":
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})


def build_model(spec: ModelSpec) -> nn.Module:
    """A freshly initialised model of `spec` (initialisation draws from fastseg.manual_seed's
    generator)."""
    common = dict(base_channels=spec.base_channels, depth=spec.depth)
    if spec.model == "unet":
        return nn.UNet(spec.in_channels, spec.num_classes, dropout=spec.dropout, **common)
    if spec.model == "segnet":
        return nn.SegNet(spec.in_channels, spec.num_classes, dropout=spec.dropout, **common)
    if spec.model == "fcn":
        if spec.dropout:
            raise InputError(f"--dropout {spec.dropout}: the fcn model has no dropout layers "
                             f"(use unet or segnet)")
        return nn.FCN(spec.in_channels, spec.num_classes, **common)
    raise InputError(f"--model {spec.model}: expected one of {', '.join(MODELS)}")


def read_checkpoint(path) -> tuple[dict, dict]:
    """(tensors, extra metadata) of a checkpoint file, with one-line errors for the user."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, expected a .safetensors checkpoint")
    try:
        tensors, metadata = read_safetensors(path)
        extra = json.loads(metadata.get("extra", "{}"))
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise InputError(f"{path}: not a readable safetensors checkpoint ({e})") from None
    return tensors, extra


def load_model(path) -> tuple[nn.Module, ModelSpec, dict]:
    """The model of a `fastseg train` checkpoint (in eval mode), its spec and the checkpoint's
    extra metadata."""
    tensors, extra = read_checkpoint(path)
    if SPEC_KEY not in extra:
        raise InputError(f"{path}: not a checkpoint of `fastseg train` (its metadata does not "
                         f"describe the model)")
    spec = ModelSpec.from_json(extra[SPEC_KEY])
    model = build_model(spec)
    state = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise InputError(f"{path}: its weights do not fit the {spec.model} model it describes "
                         f"({str(e)[:200]})") from None
    return model.eval(), spec, extra


def _starts(extent: int, tile: int, margin: int) -> list[int]:
    if extent <= tile:
        return [0]
    stride = tile - 2 * margin
    return list(range(0, extent - tile, stride)) + [extent - tile]


def _kept(start: int, tile: int, extent: int, margin: int) -> slice:
    """The part of a tile [start, start + tile) that it contributes, in tile coordinates."""
    lo = 0 if start == 0 else margin
    hi = tile if start + tile >= extent else tile - margin
    return slice(lo, hi)


def tiled(fn, x: np.ndarray, multiple: int, tile: int | None, margin: int) -> np.ndarray:
    """fn (1, C, h, w) -> (1, K, h, w) applied to x (C, H, W): whole when `tile` is None or the
    image fits in one tile, else tile by tile as described in the module docstring."""
    c, h, w = x.shape
    hp, wp = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    xp = np.pad(x, ((0, 0), (0, hp - h), (0, wp - w))) if (hp, wp) != (h, w) else x
    if tile is None or (hp <= tile and wp <= tile):
        return fn(xp[None])[0][:, :h, :w]
    th, tw = min(tile, hp), min(tile, wp)
    out = None
    for y0 in _starts(hp, th, margin):
        rows = _kept(y0, th, hp, margin)
        for x0 in _starts(wp, tw, margin):
            cols = _kept(x0, tw, wp, margin)
            result = fn(np.ascontiguousarray(xp[None, :, y0:y0 + th, x0:x0 + tw]))[0]
            if out is None:
                out = np.empty((result.shape[0], hp, wp), result.dtype)
            out[:, y0 + rows.start:y0 + rows.stop, x0 + cols.start:x0 + cols.stop] = \
                result[:, rows, cols]
    return out[:, :h, :w]


def check_tile(tile: int | None, spec: ModelSpec) -> int | None:
    """`tile` rounded down to a multiple of 2**depth; it must leave room for the margins."""
    if tile is None:
        return None
    if tile < spec.min_tile:
        raise InputError(f"--tile {tile}: a {spec.model} of depth {spec.depth} needs tiles of at "
                         f"least {spec.min_tile} pixels (a {spec.margin}-pixel margin on each "
                         f"side)")
    return tile // spec.multiple * spec.multiple


def probabilities(model, spec: ModelSpec, image: np.ndarray, tile: int | None = None,
                  samples: int = 1, seed: int = 0) -> np.ndarray:
    """Class probabilities (K, H, W) of a standardised image (C, H, W) with the model in eval
    mode; with samples > 1, Monte-Carlo dropout: the mean probabilities of `samples` passes
    with dropout on, then the predictive entropy and the mutual information as two more
    channels (K + 2, H, W). The dropout draws restart from `seed` (fastseg.manual_seed) for
    every tile: the models' Dropout2d masks are per channel, so every tile sees the same S
    networks and tiled uncertainty equals whole-image uncertainty too."""
    def forward(x):
        if samples > 1:
            manual_seed(seed)
            u = nn.predict_with_uncertainty(model, x, samples)
            return np.concatenate([u.mean, u.entropy[:, None], u.mutual_information[:, None]], 1)
        with no_grad():
            return nn.functional.softmax(model(Tensor(x)), 1).data

    model.eval()
    return tiled(forward, image, spec.multiple, tile, spec.margin)


def has_dropout(model) -> bool:
    return any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules())


def write_prediction(out_dir: str, stem: str, image: np.ndarray, labels: np.ndarray,
                     spec: ModelSpec, entropy: np.ndarray | None = None) -> list[str]:
    """Writes <stem>_mask.png (the original class values), <stem>_overlay.png and, with
    `entropy`, <stem>_entropy.png; returns their paths."""
    from . import plots

    values = np.asarray(spec.class_values, np.int64)[labels]
    array, palette = mask_image(values, MaskFormat.from_json(spec.mask_format))
    paths = [os.path.join(out_dir, f"{stem}_{kind}.png") for kind in ("mask", "overlay")]
    write_png(paths[0], array, palette)
    write_png(paths[1], plots.overlay(image, labels, spec.num_classes))
    if entropy is not None:
        paths.append(os.path.join(out_dir, f"{stem}_entropy.png"))
        write_png(paths[2], plots.colormap(entropy, 0.0, float(np.log(spec.num_classes))))
    return paths


def _expand(paths) -> list:
    """The paths, with each folder replaced by the images in it."""
    out = []
    for path in paths:
        if os.path.isdir(path):
            found = list_images(path)
            if not found:
                raise InputError(f"{path}: holds no PNG, TIFF or JPEG file")
            out += found
        else:
            out.append(path)
    return out


def segment(checkpoint, images, out_dir, tile=None, uncertainty=0, log=print) -> list[dict]:
    """`fastseg segment`: predicts every image with the checkpoint's model and writes the
    mask, overlay (and entropy map) of each into out_dir. Every input is checked before any
    output is written."""
    model, spec, _ = load_model(checkpoint)
    tile = check_tile(tile, spec)
    if uncertainty and uncertainty < 2:
        raise InputError(f"--uncertainty {uncertainty}: expected at least 2 Monte-Carlo samples")
    if uncertainty and not has_dropout(model):
        raise InputError(f"{checkpoint}: the model has no dropout (trained with --dropout 0), so "
                         f"Monte-Carlo samples would all agree; train with --dropout 0.1 or more "
                         f"to use --uncertainty")
    stems = {}
    for path in _expand(images):
        read_image(path, spec.in_channels)  # fails early on a missing or unreadable file
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems:
            raise InputError(f"{path}: same output name as {stems[stem]} (rename one of them)")
        stems[stem] = path
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(f"{out_dir}: exists and is not a folder")
    os.makedirs(out_dir, exist_ok=True)
    results = []
    for stem, path in stems.items():
        raw = read_image(path, spec.in_channels)
        probs = probabilities(model, spec, standardize(raw), tile, uncertainty or 1)
        labels = probs[:spec.num_classes].argmax(0)
        entropy = probs[spec.num_classes] if uncertainty else None
        written = write_prediction(out_dir, stem, raw, labels, spec, entropy)
        counts = np.bincount(labels.ravel(), minlength=spec.num_classes) / labels.size
        record = {"image": path, "outputs": written,
                  "class_fractions": {str(v): float(f) for v, f in zip(spec.class_values, counts)}}
        if uncertainty:
            record["mean_entropy"] = float(entropy.mean())
            record["mean_mutual_information"] = float(probs[spec.num_classes + 1].mean())
        results.append(record)
        fractions = ", ".join(f"{v}: {100 * f:.1f}%" for v, f in zip(spec.class_values, counts))
        extra = f", mean entropy {record['mean_entropy']:.3f} nats" if uncertainty else ""
        log(f"{path}: {raw.shape[2]}x{raw.shape[1]} -> {written[0]} ({fractions}{extra})")
    with atomic_write(os.path.join(out_dir, "segment.json"), "w") as f:
        json.dump({"checkpoint": str(checkpoint), "tile": tile, "uncertainty": uncertainty,
                   "images": results}, f, indent=2)
    return results
