"""`fastseg train`: trains a segmentation model on the embedded synthetic cells or on a user's
folder, validating every epoch and writing into the output folder

    checkpoint.safetensors  the last epoch: model, optimizer and training state (--resume it)
    best.safetensors        the model of the best validation mean IoU (for `fastseg segment`)
    metrics.json            options, per-epoch history, final metrics, timing
    curves.png              loss and mean IoU per epoch
    predictions.png         validation images: image / ground truth / prediction

Every file is replaced atomically; Ctrl-C abandons the running step and leaves the last
checkpoint intact and resumable.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields

import numpy as np

import fastseg

from . import nn, optim, plots
from .autograd import Tensor, no_grad
from .checkpoint import save_checkpoint
from .data.augment import IGNORE, Batches
from .data.folder import SYNTHETIC_TRAIN, SYNTHETIC_VAL, folder_dataset, split, synthetic_dataset
from .data.io import InputError, write_json
from .segment import SPEC_KEY, ModelSpec, build_model, probabilities, read_checkpoint

STATE_KEY = "train_state"
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
SCHEDULES = ("cosine", "constant")


@dataclass
class Options:
    """The options of `fastseg train`; None means "the default" (or, with --resume, the value
    the checkpoint was trained with)."""

    data: str | None = None
    out: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    model: str | None = None
    base_channels: int | None = None
    depth: int | None = None
    dropout: float | None = None
    size: int | None = None
    val_fraction: float | None = None
    epoch_size: int | None = None
    samples: int | None = None
    early_stopping: int | None = None
    resume: str | None = None
    seed: int | None = None


# The defaults (the embedded dataset's where they differ: its images are 64x64).
DEFAULTS = Options(epochs=6, batch_size=8, lr=2e-3, optimizer="adam", weight_decay=0.0,
                   schedule="cosine", model="unet", base_channels=16, depth=3, dropout=0.0,
                   size=64, val_fraction=0.2, samples=SYNTHETIC_TRAIN, early_stopping=0, seed=0)
FOLDER_DEFAULTS = {"epochs": 20, "size": 128}
# Training crops per epoch when --epoch-size is not given: one per image, at least this many.
MIN_EPOCH_SIZE = 320
# Options that define the model; a resumed run cannot change them.
ARCHITECTURE = ("model", "base_channels", "depth", "dropout", "optimizer")


class Interrupted(Exception):
    """Ctrl-C during training: the message says what was kept."""


def make_optimizer(name: str, params, lr: float, weight_decay: float):
    if name == "sgd":
        return optim.SGD(params, lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr, weight_decay=weight_decay)
    if name == "adagrad":
        return optim.Adagrad(params, lr, weight_decay=weight_decay)
    return {"adam": optim.Adam, "adamw": optim.AdamW}[name](params, lr, weight_decay=weight_decay)


def learning_rate(base: float, schedule: str, step: int, total: int) -> float:
    """Cosine decay from `base` to 0 over `total` steps, or constant."""
    if schedule == "constant":
        return base
    return base * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


# ---- metrics ---------------------------------------------------------------------------------

def confusion(pred: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts [truth, prediction] over pixels whose truth is a class (not IGNORE)."""
    valid = (truth >= 0) & (truth < k)
    return np.bincount(truth[valid] * k + pred[valid], minlength=k * k).reshape(k, k)


def scores(cm: np.ndarray) -> dict:
    """Per-class IoU (None for a class absent from truth and prediction), their mean over the
    present classes, and the pixel accuracy."""
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - inter
    iou = [float(i / u) if u else None for i, u in zip(inter, union)]
    present = [v for v in iou if v is not None]
    return {"miou": float(np.mean(present)) if present else 0.0, "iou": iou,
            "pixel_accuracy": float(inter.sum() / max(cm.sum(), 1))}


def evaluate(model, spec: ModelSpec, dataset, keep: int = 4) -> tuple[dict, list]:
    """Loss, mean IoU, per-class IoU and pixel accuracy of the model on the whole images of
    `dataset` (large ones in tiles); returns them and the predicted labels of the first `keep`
    images."""
    k = spec.num_classes
    cm = np.zeros((k, k), np.int64)
    loss, pixels, kept = 0.0, 0, []
    groups: dict = {}
    for i, image in enumerate(dataset.images):
        groups.setdefault(image.shape, []).append(i)
    model.eval()
    for shape, indices in groups.items():
        large = shape[1] * shape[2] > 1024 * 1024
        chunk = 1 if large else max(1, (256 * 256) // (shape[1] * shape[2]))
        for start in range(0, len(indices), chunk):
            part = indices[start:start + chunk]
            if large:
                tile = max(512, spec.min_tile) // spec.multiple * spec.multiple
                probs = [probabilities(model, spec, dataset.images[part[0]], tile=tile)]
            else:
                with no_grad():
                    x = Tensor(np.stack([dataset.images[i] for i in part]))
                    probs = nn.functional.softmax(model(x), 1).data
            for i, p in zip(part, probs):
                truth = dataset.masks[i]
                pred = p.argmax(0)
                cm += confusion(pred, truth, k)
                picked = np.take_along_axis(p, truth[None], 0)[0]
                loss -= float(np.log(np.maximum(picked, 1e-12)).sum())
                pixels += truth.size
                if i < keep:
                    kept.append((i, pred))
    model.train()
    metrics = {"loss": loss / max(pixels, 1), **scores(cm)}
    return metrics, [pred for _, pred in sorted(kept, key=lambda t: t[0])]


# ---- options and state -------------------------------------------------------------------------

def _resolve(opts: Options, saved: Options | None) -> Options:
    """Explicit options, then the checkpoint's (when resuming), then the defaults."""
    resolved = {}
    data = opts.data if opts.data is not None else (saved.data if saved else None)
    for f in fields(Options):
        value = getattr(opts, f.name)
        if value is None and saved is not None:
            value = getattr(saved, f.name)
        if value is None:
            value = FOLDER_DEFAULTS.get(f.name) if data is not None and f.name in \
                FOLDER_DEFAULTS else getattr(DEFAULTS, f.name)
        resolved[f.name] = value
    resolved["data"] = data
    return Options(**resolved)


def _load_resume(path, opts: Options) -> tuple[dict, dict, dict]:
    tensors, extra = read_checkpoint(path)
    if SPEC_KEY not in extra or STATE_KEY not in extra:
        raise InputError(f"{path}: holds no training state to resume (expected the "
                         f"checkpoint.safetensors that `fastseg train` writes)")
    saved = Options(**{k: v for k, v in extra[STATE_KEY]["options"].items()
                       if k in Options.__dataclass_fields__})
    for name in ARCHITECTURE:
        given, had = getattr(opts, name), getattr(saved, name)
        if given is not None and given != had:
            flag = "--" + name.replace("_", "-")
            raise InputError(f"{path}: checkpoint of a model trained with {flag} {had}, "
                             f"not {flag} {given}")
    return tensors, extra, saved


def _datasets(o: Options, spec_hint: ModelSpec | None):
    """(train, validation) datasets of the options."""
    if o.data is None:
        return (synthetic_dataset(o.samples, o.size, seed=0),
                synthetic_dataset(max(8, o.samples // 5) if o.samples < SYNTHETIC_TRAIN
                                  else SYNTHETIC_VAL, o.size, seed=1))
    full = folder_dataset(o.data, spec_hint.in_channels if spec_hint else None,
                          spec_hint.class_values if spec_hint else None)
    return split(full, o.val_fraction, o.seed)


def _new_run_folder() -> str:
    """runs/<timestamp>, with -2, -3... when a run of the same second exists."""
    base = os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    out, n = base, 1
    while os.path.exists(out):
        n += 1
        out = f"{base}-{n}"
    return out


def _prepare_out(out: str, resuming_here: bool) -> None:
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise InputError(f"{out}: exists and is not a folder")
        if os.listdir(out) and not resuming_here:
            raise InputError(f"{out}: exists and is not empty (choose another --out, or resume "
                             f"with --resume {os.path.join(out, 'checkpoint.safetensors')})")
    os.makedirs(out, exist_ok=True)


def _rng_state(generator) -> dict:
    return generator.bit_generator.state


def _set_rng_state(generator, state: dict) -> None:
    generator.bit_generator.state = state


# ---- the loop ----------------------------------------------------------------------------------

class _CtrlC:
    """While active, Ctrl-C raises KeyboardInterrupt as usual and is also remembered: Python
    drops a KeyboardInterrupt raised inside a finalizer (it prints "Exception ignored in ..."; a
    progress bar's __del__ is one), and check() at each step raises it again. Only where Python's
    own handler is installed (not with SIGINT ignored, nor off the main thread)."""

    def __init__(self):
        self.pressed = self.installed = False

    def _handle(self, signum, frame):
        self.pressed = True
        raise KeyboardInterrupt

    def __enter__(self):
        self.pressed = False
        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self.installed = True  # (set first: a Ctrl-C may follow at once)
                signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self.installed = False
        return self

    def __exit__(self, *exc):
        if self.installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.installed = False

    def check(self):
        if self.pressed:
            raise KeyboardInterrupt


_CTRL_C = _CtrlC()


def _train_epoch(model, optimizer, batches, o: Options, epoch: int, total_steps: int,
                 k: int) -> tuple[float, np.ndarray]:
    """One epoch of steps under a progress bar (running loss and IoU); returns the mean loss
    and the confusion matrix of the batches' predictions."""
    from tqdm import tqdm

    cm = np.zeros((k, k), np.int64)
    losses = []
    step = (epoch - 1) * len(batches)
    with tqdm(total=len(batches), desc=f"epoch {epoch}/{o.epochs}", unit="step", leave=False,
              dynamic_ncols=True, file=sys.stderr) as bar:
        for x, y in batches.epoch():
            _CTRL_C.check()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(o.lr, o.schedule, step, total_steps)
            optimizer.zero_grad()
            logits = model(Tensor(x))
            loss = nn.functional.cross_entropy(logits, y, ignore_index=IGNORE)
            loss.backward()
            optimizer.step()
            step += 1
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                raise InputError(f"--lr {o.lr:g}: the loss diverged to {losses[-1]} at epoch "
                                 f"{epoch}; try a smaller learning rate")
            cm += confusion(logits.data.argmax(1), y, k)
            bar.set_postfix(loss=f"{np.mean(losses):.4f}", iou=f"{scores(cm)['miou']:.3f}",
                            refresh=False)
            bar.update()
    return float(np.mean(losses)), cm


def train(opts: Options, log=print) -> dict:
    """Runs `fastseg train`; returns metrics.json's content. Raises InputError for bad input
    and Interrupted on Ctrl-C (after the last checkpoint was kept)."""
    from tqdm import tqdm

    started = time.perf_counter()
    tensors = extra = saved = None
    if opts.resume:
        tensors, extra, saved = _load_resume(opts.resume, opts)
    o = _resolve(opts, saved)
    state = extra[STATE_KEY] if extra else {}
    spec_hint = ModelSpec.from_json(extra[SPEC_KEY]) if extra else None
    out = o.out or (os.path.dirname(os.path.abspath(opts.resume)) if opts.resume else
                    _new_run_folder())
    done = state.get("epoch", 0)
    if done >= o.epochs:
        raise InputError(f"{opts.resume}: already trained for {done} epochs; pass --epochs "
                         f"with more than {done} to continue")

    load_start = time.perf_counter()
    train_set, val_set = _datasets(o, spec_hint)
    load_seconds = time.perf_counter() - load_start
    spec = spec_hint or ModelSpec(o.model, train_set.in_channels, len(train_set.class_values),
                                  o.base_channels, o.depth, o.dropout, train_set.class_values,
                                  train_set.class_names, train_set.mask_format.to_json())
    fastseg.manual_seed(o.seed)
    model = build_model(spec)
    optimizer = make_optimizer(o.optimizer, model.parameters(), o.lr, o.weight_decay)
    data_rng = np.random.default_rng(o.seed)
    if extra:
        try:
            model.load_state_dict({k: v for k, v in tensors.items()
                                   if not k.startswith("optimizer.")})
            fastseg.load_checkpoint(opts.resume, optimizer=optimizer)
            _set_rng_state(data_rng, state["data_rng"])
            _set_rng_state(fastseg.autograd.default_generator(), state["model_rng"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{opts.resume}: its training state does not fit the model it "
                             f"describes ({str(e)[:200]})") from None
    resuming_here = bool(opts.resume) and os.path.abspath(out) == os.path.dirname(
        os.path.abspath(opts.resume))
    _prepare_out(out, resuming_here)
    paths = {name: os.path.join(out, name) for name in
             ("checkpoint.safetensors", "best.safetensors", "metrics.json", "curves.png",
              "predictions.png")}

    saved_options = {**asdict(o), "data": os.path.abspath(o.data) if o.data else None}
    batches = Batches(train_set.images, train_set.masks, o.batch_size, o.size, data_rng,
                      epoch_size=o.epoch_size or max(len(train_set), MIN_EPOCH_SIZE))
    total_steps = o.epochs * len(batches)
    history = list(state.get("history", []))
    stopper = optim.EarlyStopping(o.early_stopping, mode="max") if o.early_stopping else None
    if stopper and history:
        stopper.best = state["best_miou"]
        stopper.epoch = len(history) - 1
        stopper.num_bad_epochs = state["bad_epochs"]
    best = state.get("best_miou", -1.0)
    best_preds = None
    k = spec.num_classes
    threads = fastseg.get_num_threads()
    desc = o.data or f"synthetic cells ({len(train_set)} train / {len(val_set)} validation)"
    log(f"fastseg train: {spec.model} (base {spec.base_channels}, depth {spec.depth}"
        f"{f', dropout {spec.dropout}' if spec.dropout else ''}) on {desc}, {k} classes "
        f"{spec.class_values}, {o.size}x{o.size} crops, batch {o.batch_size}, {o.optimizer} "
        f"lr {o.lr:g} ({o.schedule}), epochs {done + 1}..{o.epochs}, {threads} "
        f"thread{'s' if threads > 1 else ''} -> {out}")
    train_seconds = 0.0
    stop_reason = None
    epoch = saved_epoch = done
    steps_run = 0
    try:
        with _CTRL_C:
            for epoch in range(done + 1, o.epochs + 1):
                _CTRL_C.check()
                epoch_start = time.perf_counter()
                train_loss, cm = _train_epoch(model, optimizer, batches, o, epoch, total_steps, k)
                steps_run += len(batches)
                train_seconds += time.perf_counter() - epoch_start
                val, preds = evaluate(model, spec, val_set)
                record = {"epoch": epoch, "train_loss": train_loss,
                          "train_miou": scores(cm)["miou"], "val_loss": val["loss"],
                          "val_miou": val["miou"], "val_iou": val["iou"],
                          "val_pixel_accuracy": val["pixel_accuracy"],
                          "lr": optimizer.param_groups[0]["lr"],
                          "seconds": time.perf_counter() - epoch_start}
                history.append(record)
                improved = val["miou"] > best
                if improved:
                    best, best_preds = val["miou"], preds
                    save_checkpoint(paths["best.safetensors"], model,
                                    **{SPEC_KEY: spec.to_json(), "epoch": epoch, "metrics": val})
                stop = stopper.step(val["miou"]) if stopper else False
                save_checkpoint(paths["checkpoint.safetensors"], model, optimizer, **{
                    SPEC_KEY: spec.to_json(),
                    STATE_KEY: {"epoch": epoch, "options": saved_options, "history": history,
                                "best_miou": best,
                                "bad_epochs": stopper.num_bad_epochs if stopper else 0,
                                "data_rng": _rng_state(data_rng),
                                "model_rng": _rng_state(fastseg.autograd.default_generator())}})
                saved_epoch = epoch
                plots.training_curves(history, paths["curves.png"])
                tqdm.write(f"epoch {epoch}/{o.epochs}: train loss {record['train_loss']:.4f} "
                           f"mIoU {record['train_miou']:.3f} | validation loss {val['loss']:.4f} "
                           f"mIoU {val['miou']:.3f}{' *' if improved else ''} "
                           f"({record['seconds']:.1f} s)", file=sys.stdout)
                if stop:
                    stop_reason = (f"early stopping: validation mean IoU did not improve for "
                                   f"{o.early_stopping} epochs")
                    break
            _CTRL_C.check()  # one dropped during the last epoch's evaluation or saving
    except KeyboardInterrupt:
        kept = (f"last checkpoint {paths['checkpoint.safetensors']} (epoch {saved_epoch}) is "
                f"intact; continue with: fastseg train --resume "
                f"{paths['checkpoint.safetensors']}") if saved_epoch else \
            "no epoch finished, so no checkpoint was written"
        raise Interrupted(f"interrupted during epoch {epoch}; {kept}") from None

    best_record = max(history, key=lambda h: h["val_miou"])
    if best_preds is None:  # a resumed run that did not improve: show the best model
        fastseg.load_checkpoint(paths["best.safetensors"], model)
        _, best_preds = evaluate(model, spec, val_set)
    if best_preds:
        rows = [(val_set.images[i], val_set.masks[i], best_preds[i])
                for i in range(len(best_preds))]
        titles = [f"{val_set.names[i]}: mean IoU "
                  f"{scores(confusion(best_preds[i], val_set.masks[i], k))['miou']:.3f}"
                  for i in range(len(best_preds))]
        plots.prediction_grid(rows, k, paths["predictions.png"], titles)
    names = spec.class_names or [str(v) for v in spec.class_values]
    metrics = {
        "final": {"epoch": best_record["epoch"], "val_miou": best_record["val_miou"],
                  "val_iou": dict(zip(names, best_record["val_iou"])),
                  "val_pixel_accuracy": best_record["val_pixel_accuracy"],
                  "val_loss": best_record["val_loss"]},
        "last_epoch": history[-1], "history": history, "options": asdict(o),
        "model": spec.to_json(), "stopped": stop_reason or "finished the epochs",
        "dataset": {"train": len(train_set), "validation": len(val_set)},
        "timing": {"total_s": time.perf_counter() - started, "data_s": load_seconds,
                   "train_s": train_seconds, "threads": fastseg.get_num_threads()},
        "outputs": {k_: v for k_, v in paths.items() if os.path.exists(v)},
    }
    write_json(paths["metrics.json"], metrics)
    if stop_reason:
        log(stop_reason)
    per_class = ", ".join(f"{n} {v:.3f}" for n, v in metrics["final"]["val_iou"].items()
                          if v is not None)
    log(f"validation (best epoch {best_record['epoch']}): mean IoU "
        f"{best_record['val_miou']:.3f} ({per_class}), pixel accuracy "
        f"{best_record['val_pixel_accuracy']:.3f}, loss {best_record['val_loss']:.4f}")
    log(f"{steps_run} training steps in {train_seconds:.0f} s "
        f"({1000 * train_seconds / max(steps_run, 1):.0f} ms each), "
        f"{metrics['timing']['total_s']:.0f} s in all; model for `fastseg segment`: "
        f"{paths['best.safetensors']}")
    return metrics
