"""The embedded default dataset: synthetic fluorescence-microscopy images of cells, generated
deterministically from a seed (no download).

Each image holds cells of varied size, elongation, wobbly outline, brightness and texture (some
with a nucleus brighter or darker than the cytoplasm), cells that touch or overlap their
neighbours and cells cut by the border, on an uneven background (a tilted plane plus a smooth
field), blurred by the optics (a Gaussian point-spread function) and corrupted by shot noise and
read noise. The mask is the cells' true outline before blur and noise: 0 = background,
1 = cell.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = ("background", "cell")


def _smooth_fields(rng, n: int, size: int, sigma: float) -> np.ndarray:
    """n white-noise fields (n, size, size) low-passed by a Gaussian of `sigma` pixels
    (periodic), rescaled to unit standard deviation."""
    return _unit_std(_blur(rng.standard_normal((n, size, size)), np.full(n, sigma)))


def _unit_std(x: np.ndarray) -> np.ndarray:
    return x / x.std(axis=(1, 2), keepdims=True)


def _blur(images: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Each image (n, h, w) convolved with a Gaussian of its own sigma, in the Fourier domain
    (periodic boundary, which a synthetic field does not mind)."""
    h, w = images.shape[1:]
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    transfer = np.exp(-2 * np.pi ** 2 * sigmas[:, None, None] ** 2 * (fy ** 2 + fx ** 2))
    return np.fft.irfft2(np.fft.rfft2(images) * transfer, s=(h, w))


def _cell_shapes(rng, size: int, count: int) -> list[tuple]:
    """(cy, cx, radius, aspect, angle, harmonics) per cell; about half the cells are placed
    against an earlier one so that touching cells are common."""
    cells = []
    for _ in range(count):
        radius = rng.uniform(5.0, 12.0)
        if cells and rng.random() < 0.5:
            cy0, cx0, r0 = cells[rng.integers(len(cells))][:3]
            angle = rng.uniform(0, 2 * np.pi)
            distance = (r0 + radius) * rng.uniform(0.8, 1.0)
            cy, cx = cy0 + distance * np.sin(angle), cx0 + distance * np.cos(angle)
        else:
            cy, cx = rng.uniform(-3, size + 3, 2)
        harmonics = [(k, rng.uniform(0, 0.12 / (k - 1)), rng.uniform(0, 2 * np.pi))
                     for k in (2, 3, 4)]
        cells.append((cy, cx, radius, rng.uniform(0.6, 1.0), rng.uniform(0, np.pi), harmonics))
    return cells


def _bounding_box(shape, size: int):
    """Slices of the pixels that the cell's outline can reach, or None when it misses the image
    (the outline stays within 1.25 radii of the centre: harmonics add at most 22%)."""
    cy, cx, radius = shape[:3]
    reach = 1.25 * radius
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, size)
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, size)
    return (slice(y0, y1), slice(x0, x1)) if y0 < y1 and x0 < x1 else None


def _inside(yy, xx, cy, cx, radius, aspect, angle, harmonics, scale=1.0) -> np.ndarray:
    """Normalised radius (< 1 inside) of the wobbly ellipse at every pixel centre."""
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, (-s * dx + c * dy) / aspect
    theta = np.arctan2(v, u)
    outline = radius * scale * (1 + sum(a * np.cos(k * theta + p) for k, a, p in harmonics))
    return np.hypot(u, v) / outline


def synthetic_cells(count: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` images (count, 1, size, size) float32 in about [0, 1.2] and their masks
    (count, size, size) int64 in {0, 1}; the same seed gives the same data on every machine."""
    if count < 1 or size < 16:
        raise ValueError(f"count, size: expected >= 1 and >= 16, got {count} and {size}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    texture = _smooth_fields(rng, count, size, 1.5)
    shading = _smooth_fields(rng, count, size, size / 4)
    images = np.empty((count, size, size))
    masks = np.zeros((count, size, size), np.int64)
    for i in range(count):
        tilt = rng.uniform(-0.12, 0.12, 2)
        uneven = tilt[0] * yy / size + tilt[1] * xx / size + rng.uniform(0.0, 0.04) * shading[i]
        image = rng.uniform(0.03, 0.2) + uneven - uneven.min()
        floor = image.min()
        density = rng.uniform(0.5, 1.2)
        for shape in _cell_shapes(rng, size, max(1, rng.poisson(density * (size / 24) ** 2))):
            box = _bounding_box(shape, size)
            if box is None:
                continue
            r = _inside(yy[box], xx[box], *shape)
            cell = r < 1
            brightness = rng.uniform(0.25, 0.9)
            dome = 0.75 + 0.25 * np.clip(1 - r ** 2, 0, 1)
            grain = 1 + rng.uniform(0.0, 0.3) * texture[i][box]
            value = brightness * dome * grain
            if rng.random() < 0.6:  # a nucleus, off-centre, brighter or darker
                cy, cx, radius, aspect, angle, harmonics = shape
                offset = rng.uniform(-0.3, 0.3, 2) * radius
                nucleus = _inside(yy[box], xx[box], cy + offset[0], cx + offset[1], radius,
                                  aspect, angle, harmonics, scale=rng.uniform(0.35, 0.5)) < 1
                value = np.where(nucleus, value * rng.uniform(0.6, 1.5), value)
            image[box] = np.where(cell, floor + value, image[box])  # later cells occlude earlier
            masks[i][box][cell] = 1
        images[i] = image
    images = _blur(images, rng.uniform(0.6, 1.4, count))
    shot = rng.uniform(0.02, 0.06, (count, 1, 1))
    read = rng.uniform(0.01, 0.04, (count, 1, 1))
    noise = rng.standard_normal(images.shape)
    images = images + noise * np.sqrt(shot ** 2 * np.maximum(images, 0) + read ** 2)
    return images[:, None].astype(np.float32), masks
