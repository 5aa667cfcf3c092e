"""Regenerates the pictures of README.md from the `fastseg` command itself:

    python docs/make_pictures.py            # about 5 minutes on 2 cores

train_predictions.png, train_curves.png  `fastseg train` (no arguments)
segment.png      `fastseg segment --uncertainty 16 --tile 128` with a model trained with
                 --dropout 0.1: image | overlay | predictive entropy
style.png        `fastseg style` of matplotlib's sample photo (Grace Hopper, public domain)
                 in the style of a generated brush-stroke texture: content | style | result
filters_*.png    `fastseg filters --op gradient` and `--op blobs` on a synthetic cell image
bench.png        `fastseg bench` on a few cases of each kernel family, one thread on every side
                 (OMP_NUM_THREADS=1: on shared cores, threads waiting for a busy core make
                 multi-threaded timings meaningless)

Every picture is quantised to 256 colours to stay small.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

from fastseg.data import synthetic_cells
from fastseg.data.io import write_png

DOCS = os.path.dirname(os.path.abspath(__file__))
BENCH_CASES = (r"conv2d fwd N1 C64->64|conv2d fwd\+bwd N1 C64->64|conv_transpose2d fwd N1 "
               r"C128|gram fwd|max_pool2d fwd|interpolate fwd bilinear|correlate2d 512x512 5x5 "
               r"same f32$|gradient \(sobel x\+y\) 512x512 f32")


def fastseg(*args, env=None):
    print("$ fastseg", " ".join(map(str, args)), flush=True)
    subprocess.run([sys.executable, "-m", "fastseg.cli", *map(str, args)], check=True,
                   env=None if env is None else {**os.environ, **env})


def save(image: Image.Image, name: str) -> None:
    path = os.path.join(DOCS, name)
    image.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path}: {os.path.getsize(path) // 1024} KB")


def row(images, height: int, gap: int = 6) -> Image.Image:
    resized = [im.convert("RGB").resize((round(im.width * height / im.height), height),
                                        Image.LANCZOS) for im in images]
    out = Image.new("RGB", (sum(im.width for im in resized) + gap * (len(resized) - 1), height),
                    "white")
    x = 0
    for im in resized:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def strokes(size: int = 256, seed: int = 3) -> np.ndarray:
    """A brush-stroke texture: short bars in five colours along a swirling flow field."""
    rng = np.random.default_rng(seed)
    palette = np.array([(30, 60, 160), (250, 200, 40), (240, 90, 30), (20, 140, 120),
                        (245, 240, 220)], np.float64)
    image = np.empty((size, size, 3))
    image[:] = palette[0]
    yy, xx = np.mgrid[:size, :size]
    for _ in range(900):
        cy, cx = rng.uniform(0, size, 2)
        angle = np.sin(cy / 40) + 1.5 * np.cos(cx / 50)
        length, width = rng.uniform(6, 18), rng.uniform(1.5, 3.5)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        image[(np.abs(u) < length) & (np.abs(v) < width)] = np.clip(
            palette[rng.integers(len(palette))] * rng.uniform(0.8, 1.1), 0, 255)
    return image.astype(np.uint8)


def main():
    tmp = tempfile.mkdtemp(prefix="fastseg-docs-")
    try:
        fastseg("train", "--out", f"{tmp}/train")
        for name in ("predictions", "curves"):
            save(Image.open(f"{tmp}/train/{name}.png"), f"train_{name}.png")

        fastseg("train", "--dropout", "0.1", "--out", f"{tmp}/mc")
        x, _ = synthetic_cells(1, 192, seed=11)
        write_png(f"{tmp}/cells.png", (np.clip(x[0, 0] / 1.2, 0, 1) * 255).astype(np.uint8))
        fastseg("segment", f"{tmp}/mc/best.safetensors", f"{tmp}/cells.png", "--uncertainty",
                "16", "--tile", "128", "--out", f"{tmp}/seg")
        save(row([Image.open(f"{tmp}/cells.png"), Image.open(f"{tmp}/seg/cells_overlay.png"),
                  Image.open(f"{tmp}/seg/cells_entropy.png")], 192), "segment.png")

        import matplotlib.cbook
        photo = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        write_png(f"{tmp}/style.png", strokes())
        fastseg("style", photo, f"{tmp}/style.png", "--out", f"{tmp}/styled.png")
        save(row([Image.open(photo), Image.open(f"{tmp}/style.png"),
                  Image.open(f"{tmp}/styled.png")], 200), "style.png")

        x, _ = synthetic_cells(1, 128, seed=5)
        write_png(f"{tmp}/small.png", (np.clip(x[0, 0] / 1.2, 0, 1) * 255).astype(np.uint8))
        for op in ("gradient", "blobs"):
            fastseg("filters", f"{tmp}/small.png", "--op", op, "--min-sigma", "3",
                    "--max-sigma", "8", "--out", f"{tmp}/{op}.png")
            save(Image.open(f"{tmp}/{op}.png"), f"filters_{op}.png")

        fastseg("bench", "--repeat", "5", "--filter", BENCH_CASES, "--json",
                f"{tmp}/bench.json", env={"OMP_NUM_THREADS": "1"})
        save(Image.open(f"{tmp}/bench.png"), "bench.png")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
