"""Early stopping (seed 000, 5.3.3): stop when the validation loss has not improved by more than
min_delta for `patience` consecutive epochs (an implicit regulariser)."""

from __future__ import annotations

import math

import numpy as np


class EarlyStopping:
    """``if stopper.step(val_loss, model): break``. Keeps a copy of the best model state
    (``best_state``) when a model is given, for ``model.load_state_dict(stopper.best_state)``."""

    def __init__(self, patience: int = 5, min_delta: float = 0.0, mode: str = "min"):
        if patience < 1:
            raise ValueError(f"patience: expected an int >= 1, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta: expected a value >= 0, got {min_delta}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_state = None
        self.epoch = -1
        self.num_bad_epochs = 0
        self.should_stop = False

    def step(self, metric, model=None) -> bool:
        """Records one epoch's validation metric; returns True when training should stop."""
        metric = float(metric)
        self.epoch += 1
        improved = (metric < self.best - self.min_delta if self.mode == "min"
                    else metric > self.best + self.min_delta)
        if improved:
            self.best, self.best_epoch, self.num_bad_epochs = metric, self.epoch, 0
            if model is not None:
                self.best_state = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
        else:
            self.num_bad_epochs += 1
        self.should_stop = self.num_bad_epochs >= self.patience
        return self.should_stop
