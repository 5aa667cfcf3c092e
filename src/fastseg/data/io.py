"""Image and mask files through Pillow, and atomic writes.

Problems with a user's files raise InputError with a one-line message that names the file; the
command line prints it and exits with status 2. Every output is written to a temporary file in
the target's folder and renamed over it, so an interrupted run never leaves a torn file.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._files import atomic_write

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
# ITU-R BT.601 luma, as Pillow's convert("L"), kept in float for 16-bit images.
LUMA = np.array([0.299, 0.587, 0.114])


class InputError(ValueError):
    """A problem with a user's input (file, folder, option value): the message is one line that
    names the file and the problem."""


def _pil():
    from PIL import Image
    return Image


def write_json(path, value) -> None:
    with atomic_write(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def write_png(path, array: np.ndarray, palette=None) -> None:
    """Writes a uint8 (H, W) / (H, W, 3) / (H, W, 4) array or a uint16 (H, W) array (16-bit
    grayscale) as a PNG; `palette` (768 ints) makes a uint8 (H, W) array a palette image."""
    Image = _pil()
    a = np.ascontiguousarray(array)
    if a.dtype == np.uint16:
        image = Image.fromarray(a.astype(np.int32)).convert("I;16")
    else:
        image = Image.fromarray(a)
    if palette is not None:
        image = image.convert("P") if image.mode != "P" else image
        image.putpalette(palette)
    with atomic_write(path) as f:
        image.save(f, format="PNG")


def _open(path):
    """The decoded Pillow image at `path` (the first frame of a multi-page file)."""
    Image = _pil()
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, expected an image file")
    try:
        with warnings.catch_warnings():  # Pillow warns about damage before it raises, or not
            warnings.simplefilter("ignore")
            image = Image.open(path)
            image.load()
    except Image.DecompressionBombError as e:
        raise InputError(f"{path}: image too large to read safely ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        reason = str(e).split("\n")[0] or type(e).__name__
        raise InputError(f"{path}: not a readable image ({reason})") from None
    if image.width == 0 or image.height == 0:
        raise InputError(f"{path}: empty image ({image.width}x{image.height})")
    return image


def _array(image, path) -> np.ndarray:
    """Pixel values without scaling: (H, W) for one-channel modes, (H, W, bands) otherwise."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.array(image, dtype=np.uint16)  # Pillow decodes to native-order uint16
    if image.mode == "P":
        return np.array(image)
    if image.mode in ("1", "L", "I", "F", "LA", "RGB", "RGBA"):
        return np.array(image)
    try:
        return np.array(image.convert("RGB"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unsupported image mode {image.mode} ({e})") from None


def image_channels(path) -> int:
    """1 for a grayscale image, 3 for a colour one (alpha is ignored)."""
    image = _open(path)
    if image.mode == "P":
        return 1 if _gray_palette(image) else 3
    return 1 if image.mode in ("1", "L", "LA", "I", "F") or image.mode.startswith("I;16") else 3


def _gray_palette(image) -> bool:
    rgb = np.array(image.getpalette() or [], dtype=np.int64).reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())


def read_image(path, channels: int | None = None) -> np.ndarray:
    """The image at `path` as float32 (channels, H, W) in its own units (8-bit, 16-bit or float
    values); `channels` 1 converts colour to luma, 3 repeats a gray image; None keeps 1 or 3."""
    image = _open(path)
    if image.mode == "P":
        image = image.convert("L" if _gray_palette(image) else "RGB")
    a = _array(image, path).astype(np.float32)
    if a.ndim == 3:
        a = a[..., :1] if a.shape[2] == 2 else a[..., :3]  # drop alpha
        a = np.moveaxis(a, 2, 0)
    else:
        a = a[None]
    if not np.isfinite(a).all():
        raise InputError(f"{path}: image holds NaN or infinite values")
    if channels == 1 and a.shape[0] == 3:
        a = np.tensordot(LUMA, a, axes=1).astype(np.float32)[None]
    elif channels == 3 and a.shape[0] == 1:
        a = np.repeat(a, 3, axis=0)
    return np.ascontiguousarray(a)


@dataclass
class MaskFormat:
    """How mask values are stored in files: kind "gray" (one channel, values 0..2**32-1),
    "palette" (palette indices, with the palette to write them back) or "color" (RGB, value =
    R*65536 + G*256 + B)."""

    kind: str = "gray"
    palette: list | None = field(default=None)

    def to_json(self) -> dict:
        return {"kind": self.kind, "palette": self.palette}

    @classmethod
    def from_json(cls, d: dict) -> "MaskFormat":
        return cls(d["kind"], d.get("palette"))


def read_mask(path) -> tuple[np.ndarray, MaskFormat]:
    """The label values (H, W) int64 of the mask at `path` and how they are stored."""
    image = _open(path)
    if image.mode == "P":
        return np.array(image).astype(np.int64), MaskFormat("palette", image.getpalette())
    a = _array(image, path)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all() or (a != np.round(a)).any() or (a < 0).any():
            raise InputError(f"{path}: mask holds values that are not non-negative integers")
    if a.ndim == 3:
        a = a[..., :3] if a.shape[2] >= 3 else a[..., :1]
        if a.shape[2] == 1 or ((a == a[..., :1]).all()):
            return a[..., 0].astype(np.int64), MaskFormat("gray")
        a = a.astype(np.int64)
        return (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2], MaskFormat("color")
    return a.astype(np.int64), MaskFormat("gray")


def mask_image(values: np.ndarray, fmt: MaskFormat) -> tuple[np.ndarray, list | None]:
    """The array (and palette) to write so that read_mask gives `values` back."""
    if fmt.kind == "color":
        rgb = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=-1)
        return rgb.astype(np.uint8), None
    top = int(values.max(initial=0))
    if fmt.kind == "palette" or top < 256:
        return values.astype(np.uint8), fmt.palette if fmt.kind == "palette" else None
    if top >= 65536:
        raise InputError(f"class value {top}: a PNG mask holds values up to 65535 only")
    return values.astype(np.uint16), None


def list_images(folder) -> list[str]:
    """Paths of the image files (by suffix, case-insensitive) in `folder`, sorted."""
    names = sorted(n for n in os.listdir(folder)
                   if n.lower().endswith(IMAGE_SUFFIXES) and not n.startswith("."))
    return [os.path.join(folder, n) for n in names]


def standardize(image: np.ndarray) -> np.ndarray:
    """Each channel of (C, H, W) shifted to mean 0 and scaled to standard deviation 1 (constant
    channels to 0): the input normalisation of training and inference alike."""
    x = image.astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    return ((x - mean) / np.where(std > 0, std, 1)).astype(np.float32)
