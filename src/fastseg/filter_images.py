"""`fastseg filters`: the image analyses of seed 004 (fastseg.filters) as figures.

gradient   Sobel gx, gy, the magnitude |grad I| (edges) and the direction (hue, by angle)
hessian    Gaussian-derivative Hxx, Hxy, Hyy at --sigma and det H (blob-like where > 0)
laplacian  the 5-point Laplacian: large where the brightness changes fastest in all directions
log        the Laplacian of Gaussian at --sigma (scale-normalised, -sigma^2 LoG: bright blobs > 0)
blobs      scale-space LoG maxima, drawn as circles of radius sqrt(2) sigma on the image
"""

from __future__ import annotations

import os

import numpy as np

from . import filters, plots
from .data.io import InputError, read_image

OPS = ("gradient", "hessian", "laplacian", "log", "blobs")


def gray(path) -> np.ndarray:
    """The image as a 2-D float64 array scaled to [0, 1] (its own min and max)."""
    x = read_image(path, channels=1)[0].astype(np.float64)
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _direction(gx, gy, magnitude) -> np.ndarray:
    """RGB (H, W, 3): hue = gradient direction, value = magnitude (normalised)."""
    from matplotlib.colors import hsv_to_rgb

    hue = (np.arctan2(gy, gx) + np.pi) / (2 * np.pi)
    value = magnitude / (magnitude.max() or 1.0)
    return hsv_to_rgb(np.stack([hue, np.ones_like(hue), value], axis=-1))


def analyse(image: np.ndarray, op: str, sigma: float = 2.0, min_sigma: float = 2.0,
            max_sigma: float = 10.0, threshold: float = 0.1) -> tuple[list, np.ndarray | None]:
    """The panels (title, array, colour map, symmetric) of `op` on a 2-D image, and the blobs
    (n, 3) rows (y, x, radius) for op "blobs"."""
    panels = [("image", image, None, False)]
    if op == "gradient":
        gx, gy, magnitude, _ = filters.gradient(image)
        panels += [("gx (Sobel)", gx, "RdBu_r", True), ("gy (Sobel)", gy, "RdBu_r", True),
                   ("|gradient|", magnitude, "magma", False),
                   ("direction (hue) x magnitude", _direction(gx, gy, magnitude), None, False)]
    elif op == "hessian":
        hxx, hxy, hyy = filters.hessian(image, sigma)
        panels += [(f"Hxx (sigma {sigma:g})", hxx, "RdBu_r", True), ("Hxy", hxy, "RdBu_r", True),
                   ("Hyy", hyy, "RdBu_r", True),
                   ("det H = Hxx Hyy - Hxy^2", hxx * hyy - hxy ** 2, "RdBu_r", True)]
    elif op == "laplacian":
        panels += [("Laplacian", filters.laplacian(image), "RdBu_r", True)]
    elif op == "log":
        log = -sigma ** 2 * filters.laplacian_of_gaussian(image, sigma)
        panels += [(f"-sigma^2 LoG (sigma {sigma:g})", log, "RdBu_r", True)]
    elif op == "blobs":
        if max_sigma < min_sigma:
            raise InputError(f"--max-sigma {max_sigma:g}: expected >= --min-sigma {min_sigma:g}")
        blobs = filters.blob_log(image, min_sigma=min_sigma, max_sigma=max_sigma,
                                 num_sigma=10, threshold=threshold)
        circles = np.column_stack([blobs[:, 0], blobs[:, 1], np.sqrt(2) * blobs[:, 2]])
        panels[0] = (f"{len(blobs)} blobs (LoG, sigma {min_sigma:g}..{max_sigma:g})", image,
                     None, False)
        return panels, circles
    else:
        raise InputError(f"--op {op}: expected one of {', '.join(OPS)}")
    return panels, None


def filter_image(path, op: str, out=None, **options) -> str:
    """Writes the figure of `op` on the image at `path` to `out` (default
    <image name>_<op>.png beside the working folder); returns its path."""
    image = gray(path)
    out = out or f"{os.path.splitext(os.path.basename(path))[0]}_{op}.png"
    if os.path.isdir(out):
        raise InputError(f"{out}: is a folder, expected the path of the PNG to write")
    panels, circles = analyse(image, op, **options)
    plots.panels(panels, out, circles=circles, columns=min(len(panels), 3 if op == "gradient"
                                                          or op == "hessian" else 2))
    extra = f", {len(circles)} blobs" if circles is not None else ""
    print(f"{out}: {op} of {path} ({image.shape[1]}x{image.shape[0]}{extra})")
    return out
