"""Optimizers, learning-rate schedulers and early stopping (torch.optim)."""

from . import lr_scheduler
from .early_stopping import EarlyStopping
from .lr_scheduler import CosineAnnealingLR, LRScheduler, ReduceLROnPlateau, StepLR
from .optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, l1_penalty

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "l1_penalty",
           "lr_scheduler", "LRScheduler", "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau",
           "EarlyStopping"]
