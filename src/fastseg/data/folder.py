"""Datasets held in memory: a user's folder of images and masks, or the embedded synthetic cells.

A folder dataset is DIR/images/* and DIR/masks/* (PNG, TIFF or JPEG) matched by file name stem
(cell01.tif <-> cell01.png). The classes are the sorted distinct mask values over all masks,
mapped to 0..C-1; that mapping travels in the checkpoint so predictions are written back with
the original values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .io import InputError, MaskFormat, image_channels, list_images, read_image, read_mask, \
    standardize
from .synthetic import CLASS_NAMES, synthetic_cells

# The embedded dataset: images of its training and validation splits, and its mask values.
SYNTHETIC_TRAIN = 320
SYNTHETIC_VAL = 64
SYNTHETIC_VALUES = (0, 255)


@dataclass
class Dataset:
    """Standardised images (C, H, W) float32 and class-index masks (H, W) int64, with what a
    checkpoint needs to read and write the same kind of files again."""

    names: list
    images: list
    masks: list
    in_channels: int
    class_values: list
    mask_format: MaskFormat
    class_names: list | None = None

    def __len__(self):
        return len(self.images)

    def subset(self, indices) -> "Dataset":
        pick = lambda seq: [seq[i] for i in indices]  # noqa: E731
        return Dataset(pick(self.names), pick(self.images), pick(self.masks), self.in_channels,
                       self.class_values, self.mask_format, self.class_names)


def synthetic_dataset(count: int, size: int, seed: int) -> Dataset:
    """`count` synthetic cell images of size x size from `seed` (see fastseg.data.synthetic)."""
    images, masks = synthetic_cells(count, size, seed)
    return Dataset([f"synthetic-{seed}-{i:04d}" for i in range(count)],
                   [standardize(x) for x in images], list(masks), 1, list(SYNTHETIC_VALUES),
                   MaskFormat("gray"), list(CLASS_NAMES))


def _pairs(root) -> list[tuple[str, str]]:
    """(image path, mask path) matched by stem; any unmatched or ambiguous file is an error."""
    if not os.path.exists(root):
        raise InputError(f"{root}: no such folder")
    if not os.path.isdir(root):
        raise InputError(f"{root}: not a folder (expected one with images/ and masks/ inside)")
    folders = {}
    for sub in ("images", "masks"):
        path = os.path.join(root, sub)
        if not os.path.isdir(path):
            raise InputError(f"{path}: no such folder (a dataset folder holds images/ and masks/)")
        by_stem = {}
        for file in list_images(path):
            stem = os.path.splitext(os.path.basename(file))[0]
            if stem in by_stem:
                raise InputError(f"{file}: same name as {by_stem[stem]} (names must be unique "
                                 f"without their extension)")
            by_stem[stem] = file
        if not by_stem:
            raise InputError(f"{path}: holds no PNG, TIFF or JPEG file")
        folders[sub] = by_stem
    images, masks = folders["images"], folders["masks"]
    for stem, file in images.items():
        if stem not in masks:
            raise InputError(f"{file}: no mask with the same name in {os.path.join(root, 'masks')}")
    for stem, file in masks.items():
        if stem not in images:
            raise InputError(f"{file}: no image with the same name in "
                             f"{os.path.join(root, 'images')}")
    return [(images[s], masks[s]) for s in sorted(images)]


def folder_dataset(root, in_channels: int | None = None, class_values=None) -> Dataset:
    """Reads every image/mask pair under `root`. `in_channels` (1 or 3) converts the images;
    None takes 3 when any image has colour, else 1. `class_values` fixes the classes (a mask
    value outside them is an error); None takes the sorted distinct values of all masks."""
    pairs = _pairs(root)
    if in_channels is None:
        in_channels = max(image_channels(image) for image, _ in pairs)
    names, images, raw, fmt = [], [], [], None
    for image_path, mask_path in pairs:
        if mask_path.lower().endswith((".jpg", ".jpeg")):
            raise InputError(f"{mask_path}: JPEG compression changes mask values; save masks "
                             f"as PNG or TIFF")
        image = read_image(image_path, in_channels)
        mask, mask_fmt = read_mask(mask_path)
        if mask.shape != image.shape[1:]:
            raise InputError(f"{mask_path}: size {mask.shape[1]}x{mask.shape[0]} does not match "
                             f"its image {image_path} ({image.shape[2]}x{image.shape[1]})")
        if fmt is None:
            fmt, first = mask_fmt, mask_path
        elif mask_fmt.kind != fmt.kind:
            raise InputError(f"{mask_path}: {mask_fmt.kind} mask, but {first} is a {fmt.kind} "
                             f"mask (all masks must store classes the same way)")
        names.append(os.path.splitext(os.path.basename(image_path))[0])
        images.append(standardize(image))
        raw.append((mask_path, mask))
    if class_values is None:
        class_values = sorted(set().union(*(np.unique(m).tolist() for _, m in raw)))
        if len(class_values) < 2:
            raise InputError(f"{os.path.join(root, 'masks')}: every mask holds only the value "
                             f"{class_values[0]}; segmentation needs at least two classes")
    if fmt.kind == "gray" and class_values[-1] > 65535:
        raise InputError(f"{os.path.join(root, 'masks')}: mask value {class_values[-1]} is above "
                         f"65535, the largest a PNG mask can hold")
    lookup = np.asarray(class_values, dtype=np.int64)
    masks = []
    for mask_path, mask in raw:
        index = np.searchsorted(lookup, mask)
        bad = (index >= len(lookup)) | (lookup[np.minimum(index, len(lookup) - 1)] != mask)
        if bad.any():
            value = int(mask[bad][0])
            raise InputError(f"{mask_path}: value {value} is not one of the classes "
                             f"{list(class_values)}")
        masks.append(index.astype(np.int64))
    return Dataset(names, images, masks, in_channels, list(class_values), fmt)


def split(dataset: Dataset, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A seeded random split into (train, validation), each with at least one sample."""
    n = len(dataset)
    if n < 2:
        raise InputError(f"{dataset.names[0] if n else 'dataset'}: need at least 2 image/mask "
                         f"pairs to hold one out for validation, got {n}")
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return dataset.subset(sorted(order[n_val:])), dataset.subset(sorted(order[:n_val]))
