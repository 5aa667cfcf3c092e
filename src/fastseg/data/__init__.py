"""Data for `fastseg train` and `fastseg segment`: the embedded synthetic microscopy dataset, a
user's folder of images and masks, augmentation, and image/mask file IO."""

from .augment import IGNORE, Batches, crop_or_pad, flip_rotate
from .folder import Dataset, folder_dataset, split, synthetic_dataset
from .io import InputError, MaskFormat, read_image, read_mask, standardize, write_png
from .synthetic import synthetic_cells

__all__ = ["synthetic_cells", "synthetic_dataset", "folder_dataset", "split", "Dataset",
           "Batches", "crop_or_pad", "flip_rotate", "IGNORE", "InputError", "MaskFormat",
           "read_image", "read_mask", "standardize", "write_png"]
