"""fastseg.data: the synthetic cells, image/mask IO for every Pillow mode a user may have, folder
datasets and their errors, augmentation, batches, atomic writes."""

import os

import numpy as np
import pytest
from PIL import Image

from fastseg.data import (IGNORE, Batches, InputError, crop_or_pad, flip_rotate, folder_dataset,
                          read_image, read_mask, split, standardize, synthetic_cells, write_png)
from fastseg.data.io import MaskFormat, atomic_write, mask_image


# ---- synthetic cells ---------------------------------------------------------------------------

def test_synthetic_cells_are_deterministic_and_varied():
    x, m = synthetic_cells(12, 48, seed=5)
    x2, m2 = synthetic_cells(12, 48, seed=5)
    x3, _ = synthetic_cells(12, 48, seed=6)
    assert x.shape == (12, 1, 48, 48) and x.dtype == np.float32
    assert m.shape == (12, 48, 48) and m.dtype == np.int64
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(m, m2)
    assert not np.array_equal(x, x3)
    assert set(np.unique(m)) == {0, 1}
    assert 0.05 < m.mean() < 0.5
    for image, mask in zip(x, m):  # cells are brighter than their background, by varied amounts
        if mask.any() and not mask.all():
            assert image[0][mask == 1].mean() > image[0][mask == 0].mean()
    contrast = [xi[0][mi == 1].mean() - xi[0][mi == 0].mean() for xi, mi in zip(x, m) if mi.any()]
    assert np.std(contrast) > 0.03


def test_synthetic_cells_rejects_tiny_requests():
    with pytest.raises(ValueError, match="count, size"):
        synthetic_cells(0, 64)


# ---- image and mask files ----------------------------------------------------------------------

def test_read_image_keeps_values_of_every_mode(tmp_path, rng):
    gray8 = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (7, 9), dtype=np.uint16)
    rgb = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((7, 9, 1), 9, np.uint8)], axis=2)
    floats = rng.standard_normal((7, 9)).astype(np.float32)
    Image.fromarray(gray8).save(tmp_path / "g8.png")
    write_png(tmp_path / "g16.png", gray16)
    Image.fromarray(rgb).save(tmp_path / "rgb.tif")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(floats, "F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "g8.png"), gray8[None])
    np.testing.assert_array_equal(read_image(tmp_path / "g16.png"), gray16[None])
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif"), np.moveaxis(rgb, 2, 0))
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), np.moveaxis(rgb, 2, 0))
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif"), floats[None])
    luma = read_image(tmp_path / "rgb.tif", channels=1)
    np.testing.assert_allclose(luma[0], rgb @ np.array([0.299, 0.587, 0.114]), rtol=1e-5)
    assert read_image(tmp_path / "g8.png", channels=3).shape == (3, 7, 9)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg")
    assert read_image(tmp_path / "photo.jpg").shape == (3, 7, 9)


def test_unreadable_images_name_the_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(InputError, match=r"broken.png: not a readable image"):
        read_image(tmp_path / "broken.png")
    with pytest.raises(InputError, match=r"missing.png: no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="is a folder"):
        read_image(tmp_path)


@pytest.mark.parametrize("kind", ["gray8", "gray16", "palette", "color"])
def test_masks_round_trip_with_their_format(tmp_path, kind, rng):
    if kind == "color":
        colors = np.array([[0, 0, 0], [255, 0, 0], [0, 128, 255]], np.uint8)
        pixels = colors[rng.integers(0, 3, (6, 5))]
        Image.fromarray(pixels).save(tmp_path / "m.png")
        expected = (pixels[..., 0].astype(np.int64) << 16) | (pixels[..., 1].astype(np.int64)
                                                              << 8) | pixels[..., 2]
    elif kind == "palette":
        expected = rng.integers(0, 4, (6, 5))
        image = Image.fromarray(expected.astype(np.uint8), "P")
        image.putpalette([0, 0, 0, 200, 10, 10, 10, 200, 10, 10, 10, 200] + [0] * 756)
        image.save(tmp_path / "m.png")
    else:
        top = 256 if kind == "gray8" else 60000
        expected = rng.choice([0, 7, top - 1], (6, 5))
        write_png(tmp_path / "m.png", expected.astype(np.uint8 if kind == "gray8" else np.uint16))
    values, fmt = read_mask(tmp_path / "m.png")
    np.testing.assert_array_equal(values, expected)
    assert fmt.kind == {"gray8": "gray", "gray16": "gray"}.get(kind, kind)
    array, palette = mask_image(values, MaskFormat.from_json(fmt.to_json()))
    write_png(tmp_path / "again.png", array, palette)
    again, fmt2 = read_mask(tmp_path / "again.png")
    np.testing.assert_array_equal(again, expected)
    assert fmt2.kind == fmt.kind and fmt2.palette == fmt.palette


def test_masks_with_fractional_values_are_rejected(tmp_path):
    Image.fromarray(np.array([[0, 0.5]], np.float32), "F").save(tmp_path / "m.tif")
    with pytest.raises(InputError, match="m.tif: mask holds values that are not non-negative"):
        read_mask(tmp_path / "m.tif")


def test_standardize():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x[1] = 5
    s = standardize(x)
    np.testing.assert_allclose(s[0].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(s[0].std(), 1, rtol=1e-5)
    np.testing.assert_array_equal(s[1], 0)


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target, "w") as f:
            f.write("new, half written")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]
    with atomic_write(target, "w") as f:
        f.write("new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would have made it


# ---- folder datasets ---------------------------------------------------------------------------

def make_folder(root, sizes=((20, 24), (16, 16), (30, 18)), values=(0, 128, 255), rgb=False,
                rng=None):
    """A dataset folder: images/<name>.png (gray or RGB) and masks/<name>.png of `values`."""
    rng = rng or np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (h, w) in enumerate(sizes):
        mask = np.asarray(values, np.uint8)[rng.integers(0, len(values), (h, w))]
        image = (mask.astype(np.float64) * 0.6 + rng.uniform(0, 80, (h, w))).astype(np.uint8)
        if rgb:
            image = np.stack([image, 255 - image, image // 2], axis=-1)
        Image.fromarray(image).save(root / "images" / f"s{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"s{i}.png")
    return root


def test_folder_dataset_maps_sorted_values_to_classes(tmp_path):
    data = folder_dataset(make_folder(tmp_path / "d", rgb=True))
    assert data.names == ["s0", "s1", "s2"]
    assert data.class_values == [0, 128, 255]
    assert data.in_channels == 3
    assert [m.shape for m in data.masks] == [(20, 24), (16, 16), (30, 18)]
    raw, _ = read_mask(tmp_path / "d" / "masks" / "s0.png")
    np.testing.assert_array_equal(np.array([0, 128, 255])[data.masks[0]], raw)
    gray = folder_dataset(tmp_path / "d", in_channels=1)
    assert gray.images[0].shape == (1, 20, 24)


@pytest.mark.parametrize("breakage, message", [
    ("no_masks_folder", r"masks: no such folder \(a dataset folder holds images/ and masks/\)"),
    ("unmatched_image", r"images/s1.png: no mask with the same name in"),
    ("unmatched_mask", r"masks/extra.png: no image with the same name in"),
    ("size", r"masks/s0.png: size 24x19 does not match its image .*s0.png \(24x20\)"),
    ("one_class", r"masks: every mask holds only the value 0; segmentation needs at least two"),
    ("duplicate", r"images/s0.tif: same name as .*s0.png"),
    ("corrupt", r"images/s2.png: not a readable image"),
    ("kinds", r"masks/s1.png: color mask, but .*s0.png is a gray mask"),
    ("jpeg", r"masks/s1.jpg: JPEG compression changes mask values; save masks as PNG or TIFF"),
])
def test_folder_dataset_errors_name_the_file(tmp_path, breakage, message):
    root = make_folder(tmp_path / "d", values=(0,) if breakage == "one_class" else (0, 255))
    if breakage == "no_masks_folder":
        for f in (root / "masks").iterdir():
            f.unlink()
        (root / "masks").rmdir()
    elif breakage == "unmatched_image":
        (root / "masks" / "s1.png").unlink()
    elif breakage == "unmatched_mask":
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "masks" / "extra.png")
    elif breakage == "size":
        Image.fromarray(np.zeros((19, 24), np.uint8)).save(root / "masks" / "s0.png")
    elif breakage == "duplicate":
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "images" / "s0.tif")
    elif breakage == "corrupt":
        (root / "images" / "s2.png").write_bytes(b"garbage")
    elif breakage == "jpeg":
        (root / "masks" / "s1.png").unlink()
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "masks" / "s1.jpg")
    elif breakage == "kinds":
        Image.fromarray(np.full((16, 16, 3), [255, 0, 0], np.uint8)).save(
            root / "masks" / "s1.png")
    with pytest.raises(InputError, match=message):
        folder_dataset(root)


def test_folder_dataset_rejects_values_outside_given_classes(tmp_path):
    root = make_folder(tmp_path / "d", values=(0, 7))
    with pytest.raises(InputError, match=r"masks/s0.png: value 7 is not one of the classes "
                                         r"\[0, 255\]"):
        folder_dataset(root, class_values=[0, 255])


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(InputError, match="nope: no such folder"):
        folder_dataset(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="file: not a folder"):
        folder_dataset(tmp_path / "file")


def test_split_is_seeded_and_keeps_both_sides(tmp_path):
    data = folder_dataset(make_folder(tmp_path / "d", sizes=[(8, 8)] * 10))
    train, val = split(data, 0.2, seed=3)
    train2, val2 = split(data, 0.2, seed=3)
    assert len(train) == 8 and len(val) == 2
    assert val.names == val2.names and sorted(train.names + val.names) == sorted(data.names)
    _, val_small = split(data, 0.01, seed=0)
    assert len(val_small) == 1
    with pytest.raises(InputError, match="need at least 2 image/mask pairs"):
        split(data.subset([0]), 0.2, 0)


# ---- augmentation and batches ------------------------------------------------------------------

def test_crop_or_pad(rng):
    image = rng.standard_normal((2, 10, 30)).astype(np.float32)
    mask = rng.integers(0, 3, (10, 30))
    x, y = crop_or_pad(image, mask, 16, rng)
    assert x.shape == (2, 16, 16) and y.shape == (16, 16)
    rows = np.nonzero((y != IGNORE).any(1))[0]
    assert len(rows) == 10  # padded rows are IGNORE, the 10 image rows kept whole
    inside = y[rows]
    start = [s for s in range(15) if np.array_equal(mask[:, s:s + 16], inside)]
    assert len(start) >= 1
    np.testing.assert_array_equal(x[:, rows], image[:, :, start[0]:start[0] + 16])
    assert (x[:, (y == IGNORE).all(1)] == 0).all()


def test_flip_rotate_moves_image_and_mask_together(rng):
    image = rng.standard_normal((1, 9, 9))
    mask = (image[0] > 0).astype(np.int64)
    seen = set()
    for _ in range(40):
        x, y = flip_rotate(image, mask, rng)
        np.testing.assert_array_equal(y, (x[0] > 0).astype(np.int64))
        seen.add(x.tobytes())
    assert len(seen) == 8


def test_batches_cover_each_sample_once_per_epoch():
    images = [np.full((1, 4, 4), i, np.float32) for i in range(10)]
    masks = [np.full((4, 4), i) for i in range(10)]
    batches = Batches(images, masks, 4, 4, np.random.default_rng(0))
    assert len(batches) == 3
    shapes, seen = [], []
    for x, y in batches.epoch():
        shapes.append(x.shape)
        seen += [int(v) for v in x[:, 0, 0, 0]]
        np.testing.assert_array_equal(x[:, 0].astype(int), y)
    assert shapes == [(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)]
    assert sorted(seen) == list(range(10))
    longer = Batches(images, masks, 4, 4, np.random.default_rng(0), epoch_size=25)
    seen = np.concatenate([x[:, 0, 0, 0] for x, _ in longer.epoch()]).astype(int)
    assert len(longer) == 7 and len(seen) == 25
    assert sorted(seen[:10]) == sorted(seen[10:20]) == list(range(10))  # whole passes first
