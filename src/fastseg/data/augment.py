"""Training batches: random crops (or padding) to the training size, flips and 90-degree
rotations, drawn from a seeded generator whose state a checkpoint can carry."""

from __future__ import annotations

import numpy as np

# Mask value of padded pixels: cross_entropy's default ignore_index, skipped by the metrics too.
IGNORE = -100


def crop_or_pad(image: np.ndarray, mask: np.ndarray, size: int, rng) -> tuple:
    """A random size x size window of image (C, H, W) and mask (H, W); a side shorter than
    `size` is padded at a random offset (image with 0, the mean of a standardised image; mask
    with IGNORE)."""
    out = []
    for axis in (1, 2):
        extent = image.shape[axis]
        if extent >= size:
            start = int(rng.integers(0, extent - size + 1))
            out.append((slice(start, start + size), (0, 0)))
        else:
            before = int(rng.integers(0, size - extent + 1))
            out.append((slice(0, extent), (before, size - extent - before)))
    (rows, pad_r), (cols, pad_c) = out
    image, mask = image[:, rows, cols], mask[rows, cols]
    if pad_r != (0, 0) or pad_c != (0, 0):
        image = np.pad(image, ((0, 0), pad_r, pad_c))
        mask = np.pad(mask, (pad_r, pad_c), constant_values=IGNORE)
    return image, mask


def flip_rotate(image: np.ndarray, mask: np.ndarray, rng) -> tuple:
    """One of the 8 symmetries of the square (rotations by k * 90 degrees, optionally
    mirrored), the same for image (C, H, W) and mask (H, W)."""
    k, mirror = int(rng.integers(4)), bool(rng.integers(2))
    image, mask = np.rot90(image, k, (1, 2)), np.rot90(mask, k, (0, 1))
    if mirror:
        image, mask = image[:, :, ::-1], mask[:, ::-1]
    return image, mask


class Batches:
    """Epochs of shuffled, augmented batches: ``for x, y in batches.epoch(): ...`` with x
    (B, C, size, size) float32 and y (B, size, size) int64. An epoch draws `epoch_size` crops
    (default: one per image) from shuffled passes over the images; its last, smaller batch is
    kept. ``rng`` is a numpy Generator (its state goes in checkpoints)."""

    def __init__(self, images, masks, batch_size: int, size: int, rng, augment: bool = True,
                 epoch_size: int | None = None):
        self.images, self.masks = images, masks
        self.batch_size, self.size, self.rng, self.augment = batch_size, size, rng, augment
        self.epoch_size = epoch_size or len(images)

    def __len__(self):
        return -(-self.epoch_size // self.batch_size)

    def epoch(self):
        passes = -(-self.epoch_size // len(self.images))
        order = np.concatenate([self.rng.permutation(len(self.images))
                                for _ in range(passes)])[:self.epoch_size]
        for start in range(0, len(order), self.batch_size):
            xs, ys = [], []
            for i in order[start:start + self.batch_size]:
                x, y = crop_or_pad(self.images[i], self.masks[i], self.size, self.rng)
                if self.augment:
                    x, y = flip_rotate(x, y, self.rng)
                xs.append(x)
                ys.append(y)
            yield np.ascontiguousarray(np.stack(xs)), np.ascontiguousarray(np.stack(ys))
