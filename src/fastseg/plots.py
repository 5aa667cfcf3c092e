"""Pictures of the command line's results: overlays of class masks on images, colour maps,
training curves, prediction grids, filter panels and the benchmark chart (matplotlib, Agg)."""

from __future__ import annotations

import numpy as np

from .data.io import atomic_write

# Class colours (class 0, the background, is left untinted).
CLASS_COLORS = np.array([(0, 0, 0), (255, 70, 70), (60, 200, 90), (70, 140, 255), (255, 200, 40),
                         (200, 90, 255), (40, 220, 220), (255, 130, 30), (240, 80, 200)], np.uint8)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path, dpi=80) -> None:
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)


def display(image: np.ndarray) -> np.ndarray:
    """An image (C, H, W) in any units as uint8 RGB (H, W, 3), stretched between its 0.5th and
    99.5th percentiles."""
    x = image.astype(np.float64)
    lo, hi = np.percentile(x, [0.5, 99.5])
    x = np.clip((x - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    x = np.repeat(x, 3, axis=0) if x.shape[0] == 1 else x[:3]
    return np.ascontiguousarray((np.moveaxis(x, 0, 2) * 255 + 0.5).astype(np.uint8))


def class_color(k) -> np.ndarray:
    k = np.asarray(k)
    return CLASS_COLORS[np.where(k == 0, 0, (k - 1) % (len(CLASS_COLORS) - 1) + 1)]


def overlay(image: np.ndarray, labels: np.ndarray, num_classes: int,
            alpha: float = 0.4) -> np.ndarray:
    """uint8 RGB (H, W, 3): the image with each non-background class tinted in its colour and
    its outline drawn opaque. Pixels labelled outside 0..num_classes-1 (padding) stay as is."""
    rgb = display(image).astype(np.float64)
    valid = (labels > 0) & (labels < num_classes)
    color = class_color(np.where(valid, labels, 0)).astype(np.float64)
    rgb[valid] = (1 - alpha) * rgb[valid] + alpha * color[valid]
    edge = np.zeros(labels.shape, bool)
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:-1] |= labels[1:] != labels[:-1]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    edge &= valid
    rgb[edge] = color[edge]
    return (rgb + 0.5).astype(np.uint8)


def colormap(values: np.ndarray, lo: float, hi: float, name: str = "magma") -> np.ndarray:
    """uint8 RGB (H, W, 3) of a 2-D array through a matplotlib colour map over [lo, hi]."""
    _pyplot()
    from matplotlib import colormaps
    x = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return (colormaps[name](x)[..., :3] * 255 + 0.5).astype(np.uint8)


def training_curves(history: list[dict], path) -> None:
    """Loss (train, validation) and mean IoU (train batches, validation) per epoch."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_iou) = plt.subplots(1, 2, figsize=(8, 3))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_iou.plot(epochs, [h["train_miou"] for h in history], "o-", label="train (batches)")
    ax_iou.plot(epochs, [h["val_miou"] for h in history], "s-", label="validation")
    ax_iou.set(xlabel="epoch", ylabel="mean IoU", title="mean IoU", ylim=(0, 1))
    for ax in (ax_loss, ax_iou):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def prediction_grid(rows: list[tuple], num_classes: int, path, titles=None) -> None:
    """One row per (image (C, H, W), truth (H, W), prediction (H, W)): the image, the truth
    overlaid and the prediction overlaid, with the row's caption from `titles`."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), 3, figsize=(6, 2.1 * len(rows)), squeeze=False)
    for r, (image, truth, pred) in enumerate(rows):
        panels = (display(image), overlay(image, truth, num_classes),
                  overlay(image, pred, num_classes))
        for c, (ax, panel) in enumerate(zip(axes[r], panels)):
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(("image", "ground truth", "prediction")[c], fontsize=9)
        if titles:
            axes[r][2].set_xlabel(titles[r], fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def panels(items: list[tuple], path, circles=None, columns: int = 3) -> None:
    """A figure of (title, 2-D array or RGB image, colour map or None, symmetric) panels, each
    with a colour bar when it is scalar; `circles` (n, 3) rows (y, x, r) are drawn on the
    first panel."""
    plt = _pyplot()
    columns = min(columns, len(items))
    rows = -(-len(items) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.ravel()[len(items):]:
        ax.axis("off")
    for ax, (title, array, cmap, symmetric) in zip(axes.ravel(), items):
        if array.ndim == 2 and cmap is not None:
            limit = float(np.abs(array).max()) or 1.0
            bounds = dict(vmin=-limit, vmax=limit) if symmetric else {}
            shown = ax.imshow(array, cmap=cmap, interpolation="nearest", **bounds)
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        else:
            ax.imshow(array, cmap="gray" if array.ndim == 2 else None, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if circles is not None:
        ax = axes.ravel()[0]
        for y, x, r in circles:
            ax.add_patch(plt.Circle((x, y), r, color="red", fill=False, linewidth=1))
    fig.tight_layout()
    _save(fig, path, dpi=90)


def bench_chart(results: dict, path) -> None:
    """One horizontal bar per case and peer: how many times faster fastseg is than the peer,
    measured in the same run (log scale; right of the line at 1 fastseg is faster)."""
    plt = _pyplot()
    bars = [(c["name"], key[len("speedup_vs_"):], value)
            for c in results["cases"]
            for key, value in sorted(c["impls"].get("fastseg", {}).items())
            if key.startswith("speedup_vs_")]
    peers = sorted({peer for _, peer, _ in bars})
    fig, ax = plt.subplots(figsize=(8, 0.3 * max(len(bars), 2) + 1.2))
    if not bars:
        ax.text(0.5, 0.5, "no peer was timed (install torch or scipy, or pass --compare)",
                ha="center", va="center", transform=ax.transAxes)
        ax.axis("off")
    else:
        colors = {p: f"C{i}" for i, p in enumerate(peers)}
        y = np.arange(len(bars))
        ax.barh(y, [v for _, _, v in bars], 0.7, color=[colors[p] for _, p, _ in bars])
        for yi, (_, _, v) in zip(y, bars):
            ax.text(v, yi, f" {v:.2f}x", va="center", fontsize=7)
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_xscale("log")
        ax.set_yticks(y, [f"{name}  vs {peer}" for name, peer, _ in bars], fontsize=7)
        ax.set_ylim(len(bars) - 0.5, -0.5)
        ax.set_xlim(min(0.5, min(v for *_, v in bars) / 1.5), max(v for *_, v in bars) * 2.5)
        ax.set_xlabel("speed ratio: peer time / fastseg time (> 1: fastseg is faster)")
        machine = results.get("machine", {})
        ax.set_title(f"fastseg {machine.get('fastseg', '')} on {machine.get('cpu', '?')}, "
                     f"threads: {machine.get('threads', '?')}", fontsize=9)
        ax.grid(axis="x", alpha=0.3, which="both")
    fig.tight_layout()
    _save(fig, path, dpi=90)
