"""The `fastseg` command end to end on tiny inputs: train (embedded data, a folder, resume,
Ctrl-C), segment (tiles, uncertainty), style, filters, bench --plot, --help, and every bad input
ending in one line naming the file, exit status 2, nothing written damaged."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import fastseg
from fastseg import cli
from fastseg.checkpoint import read_safetensors
from fastseg.data import read_mask
from fastseg.segment import ModelSpec, build_model, check_tile, probabilities, tiled
from fastseg.train import confusion, learning_rate, scores
from test_data import make_folder

needs_kernels = pytest.mark.skipif(
    not all(hasattr(fastseg, k) for k in ("max_pool2d", "conv_transpose2d", "gram")),
    reason="the pooling / transposed-convolution / Gram kernels are not merged yet")
needs_filters = pytest.mark.skipif(not hasattr(fastseg, "filters"),
                                   reason="fastseg.filters (signal branch) is not merged yet")

TINY = ["--samples", "16", "--epoch-size", "16", "--size", "32", "--base-channels", "4",
        "--depth", "2", "--threads", "1"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread avoids waking an OpenMP team per small kernel on shared cores
    (results do not depend on the thread count); commands given --threads set their own."""
    previous = fastseg.get_num_threads()
    fastseg.set_num_threads(1)
    yield
    fastseg.set_num_threads(previous)


def run(args, capsys):
    """(exit status, stdout, stderr) of `fastseg ARGS` run in this process."""
    try:
        status = cli.main([str(a) for a in args])
    except SystemExit as e:  # argparse
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *fragments):
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def tensors(path):
    return read_safetensors(path)[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny U-Net with dropout, trained for 2 epochs on the embedded data."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert cli.main(["train", *TINY, "--epochs", "2", "--dropout", "0.2", "--out", str(out)]) == 0
    return out


def grayscale_png(path, size=(45, 37), seed=0):
    x, _ = fastseg.data.synthetic_cells(1, max(size), seed)
    image = (np.clip(x[0, 0, :size[1], :size[0]], 0, 1.2) / 1.2 * 255).astype(np.uint8)
    Image.fromarray(image).save(path)
    return path


# ---- help --------------------------------------------------------------------------------------

def test_every_option_of_every_command_is_explained_with_its_default(capsys):
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(commands) == {"train", "segment", "style", "filters", "bench"}
    for name, sub in commands.items():
        for action in sub._actions:
            if action.dest == "help" or not action.option_strings:
                continue
            text = (action.help or "") % {"default": action.default}
            assert "(default: " in text, (name, action.dest)
        status, out, _ = run([name, "--help"], capsys)
        assert status == 0 and f"usage: fastseg {name}" in out
    status, out, _ = run(["--help"], capsys)
    assert status == 0 and all(c in out for c in commands)


def test_installed_command_runs():
    script = os.path.join(os.path.dirname(sys.executable), "fastseg")
    result = subprocess.run([script, "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--early-stopping PATIENCE" in result.stdout
    result = subprocess.run([sys.executable, "-m", "fastseg", "segment", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "usage: fastseg segment" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["train", "--epochs", "0"], "argument --epochs: expected a value in [1, inf], got 0"),
    (["train", "--lr", "abc"], "argument --lr: expected a number, got 'abc'"),
    (["train", "--optimizer", "lbfgs"], "argument --optimizer: invalid choice: 'lbfgs'"),
    (["train", "--val-fraction", "1"], "argument --val-fraction: expected a value in (0, 1)"),
    (["segment"], "the following arguments are required: CHECKPOINT, IMAGE"),
])
def test_bad_options_exit_2(args, fragment, capsys):
    status, _, err = run(args, capsys)
    assert status == 2 and fragment in err and "Traceback" not in err


# ---- train -------------------------------------------------------------------------------------

@needs_kernels
def test_train_on_the_embedded_data_writes_every_output(trained):
    names = sorted(os.listdir(trained))
    assert names == ["best.safetensors", "checkpoint.safetensors", "curves.png", "metrics.json",
                     "predictions.png"]
    metrics = json.loads((trained / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    final = metrics["final"]
    assert 0 < final["val_miou"] <= 1 and set(final["val_iou"]) == {"background", "cell"}
    assert metrics["model"]["class_values"] == [0, 255]
    assert metrics["history"][1]["train_loss"] < metrics["history"][0]["train_loss"]
    with Image.open(trained / "curves.png") as im:
        assert im.format == "PNG"
    state = tensors(trained / "checkpoint.safetensors")
    assert any(k.startswith("optimizer.state.") for k in state)


@needs_kernels
def test_resume_continues_exactly_where_training_stopped(tmp_path, capsys):
    # constant rate: with the cosine schedule the rate of epoch 1 depends on --epochs itself
    base = [*TINY, "--samples", "8", "--dropout", "0.1", "--schedule", "constant"]
    status, _, err = run(["train", *base, "--epochs", "2", "--out", tmp_path / "straight"], capsys)
    assert status == 0, err
    assert run(["train", *base, "--epochs", "1", "--out", tmp_path / "split"], capsys)[0] == 0
    status, out, err = run(["train", "--resume", tmp_path / "split" / "checkpoint.safetensors",
                            "--epochs", "2", "--threads", "1"], capsys)
    assert status == 0, err
    assert "epochs 2..2" in out
    a = tensors(tmp_path / "straight" / "checkpoint.safetensors")
    b = tensors(tmp_path / "split" / "checkpoint.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    history = json.loads((tmp_path / "split" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]


@needs_kernels
@pytest.mark.parametrize("model, optimizer", [("unet", "sgd"), ("fcn", "adamw"),
                                              ("segnet", "rmsprop"), ("unet", "adagrad")])
def test_train_on_a_folder_then_segment_with_original_values(tmp_path, capsys, model, optimizer):
    root = make_folder(tmp_path / "data", sizes=[(40, 36), (24, 30), (33, 33), (28, 20)],
                       values=(0, 128, 255), rgb=True)
    status, out, err = run(["train", "--data", root, "--model", model, "--optimizer", optimizer,
                            "--epochs", "2", "--size", "24", "--base-channels", "4", "--depth",
                            "2", "--batch-size", "2", "--epoch-size", "5",
                            "--val-fraction", "0.25",
                            "--early-stopping", "1", "--out", tmp_path / "run", "--threads",
                            "1"], capsys)
    assert status == 0, err
    assert "3 classes [0, 128, 255]" in out and "mean IoU" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["options"]["optimizer"] == optimizer and metrics["model"]["model"] == model
    assert metrics["dataset"] == {"train": 3, "validation": 1}
    assert len(metrics["history"]) == 2 and metrics["options"]["epoch_size"] == 5
    status, _, err = run(["segment", tmp_path / "run" / "best.safetensors", root / "images",
                          "--out", tmp_path / "seg"], capsys)
    assert status == 0, err
    assert len([f for f in os.listdir(tmp_path / "seg") if f.endswith("_mask.png")]) == 4
    values, fmt = read_mask(tmp_path / "seg" / "s0_mask.png")
    assert values.shape == (40, 36) and set(np.unique(values)) <= {0, 128, 255}
    with Image.open(tmp_path / "seg" / "s0_overlay.png") as im:
        assert im.size == (36, 40) and im.mode == "RGB"


@needs_kernels
def test_ctrl_c_keeps_the_last_checkpoint_resumable(tmp_path, capsys, monkeypatch):
    from fastseg import train as train_module

    out = tmp_path / "run"
    epochs = {"n": 0}
    original = train_module.Batches.epoch

    def interrupted_in_epoch_2(self):
        epochs["n"] += 1
        for i, batch in enumerate(original(self)):
            if epochs["n"] == 2 and i == 1:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(train_module.Batches, "epoch", interrupted_in_epoch_2)
    status, _, err = run(["train", *TINY, "--samples", "16", "--batch-size", "4", "--epochs",
                          "3", "--out", out], capsys)
    assert status == 130
    last = err.strip().splitlines()[-1]
    assert "interrupted during epoch 2" in last and "(epoch 1) is intact" in last
    before = tensors(out / "checkpoint.safetensors")
    monkeypatch.setattr(train_module.Batches, "epoch", original)
    status, _, err = run(["train", "--resume", out / "checkpoint.safetensors", "--threads", "1"],
                         capsys)
    assert status == 0, err
    after = tensors(out / "checkpoint.safetensors")
    assert not np.array_equal(before["head.weight"], after["head.weight"])
    assert [h["epoch"] for h in json.loads((out / "metrics.json").read_text())["history"]] == \
        [1, 2, 3]
    assert run(["train", *TINY, "--samples", "16", "--batch-size", "4", "--epochs", "3",
                "--out", tmp_path / "straight"], capsys)[0] == 0
    straight = tensors(tmp_path / "straight" / "checkpoint.safetensors")
    for key in straight:  # as if never interrupted
        np.testing.assert_array_equal(after[key], straight[key], err_msg=key)


@needs_kernels
def test_sigint_to_the_command_exits_130_with_the_checkpoint_intact(tmp_path):
    out = tmp_path / "run"
    script = os.path.join(os.path.dirname(sys.executable), "fastseg")
    # SIGINT restored to its default: a shell starts background jobs with it ignored, and
    # Python then installs no KeyboardInterrupt handler.
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    with subprocess.Popen([script, "train", *TINY, "--samples", "8", "--epochs", "500",
                           "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, preexec_fn=default_sigint) as process:
        try:  # (the with block closes the pipes, whatever happens)
            deadline = time.time() + 60
            while not (out / "checkpoint.safetensors").exists() and time.time() < deadline:
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "is intact" in err.strip().splitlines()[-1]
    saved = tensors(out / "checkpoint.safetensors")
    model = build_model(ModelSpec(base_channels=4, depth=2))
    model.load_state_dict({k: v for k, v in saved.items() if not k.startswith("optimizer.")})


def test_ctrl_c_dropped_by_a_finalizer_still_stops_training(monkeypatch):
    """Python drops a KeyboardInterrupt raised inside __del__ (a progress bar's, say) and prints
    "Exception ignored"; training must stop at its next step all the same."""
    from fastseg.train import _CtrlC

    dropped = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))
    # Python's own handler, as in a terminal (a background job starts with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    ctrl_c = _CtrlC()

    class Finalized:
        def __del__(self):
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # the handler, as on Ctrl-C

    try:
        with ctrl_c:
            Finalized()
            assert dropped == [KeyboardInterrupt]
            with pytest.raises(KeyboardInterrupt):
                ctrl_c.check()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


# ---- train: bad input --------------------------------------------------------------------------

@needs_kernels
def test_train_refuses_a_non_empty_output_folder(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    status, _, err = run(["train", *TINY, "--out", out], capsys)
    assert_one_line_error(status, err, f"{out}: exists and is not empty")
    assert os.listdir(out) == ["precious.txt"] and (out / "precious.txt").read_text() == "keep me"


@needs_kernels
def test_train_data_errors(tmp_path, capsys):
    status, _, err = run(["train", "--data", tmp_path / "nowhere"], capsys)
    assert_one_line_error(status, err, "nowhere: no such folder")
    root = make_folder(tmp_path / "d")
    (root / "masks" / "s1.png").write_bytes(b"not an image")
    status, _, err = run(["train", "--data", root, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(status, err, "masks/s1.png: not a readable image")
    assert not (tmp_path / "o").exists()


@needs_kernels
def test_resume_rejects_other_models_and_new_classes(trained, tmp_path, capsys):
    checkpoint = trained / "checkpoint.safetensors"
    status, _, err = run(["train", "--resume", checkpoint, "--model", "fcn"], capsys)
    assert_one_line_error(status, err, "checkpoint of a model trained with --model unet, "
                                       "not --model fcn")
    status, _, err = run(["train", "--resume", trained / "best.safetensors"], capsys)
    assert_one_line_error(status, err, "best.safetensors: holds no training state")
    status, _, err = run(["train", "--resume", checkpoint], capsys)
    assert_one_line_error(status, err, "already trained for 2 epochs")
    root = make_folder(tmp_path / "d", values=(0, 7))
    status, _, err = run(["train", "--resume", checkpoint, "--data", root, "--epochs", "3",
                          "--out", tmp_path / "o"], capsys)
    assert_one_line_error(status, err, "s0.png: value 7 is not one of the classes [0, 255]")


# ---- segment -----------------------------------------------------------------------------------

@needs_kernels
@pytest.mark.parametrize("model", ["unet", "fcn", "segnet"])
def test_tiles_reproduce_the_whole_image_prediction(rng, model):
    fastseg.manual_seed(0)
    spec = ModelSpec(model=model, in_channels=2, num_classes=3, base_channels=4, depth=2)
    net = build_model(spec).eval()
    image = rng.standard_normal((2, 150, 171)).astype(np.float32)
    whole = probabilities(net, spec, image)
    tile = check_tile(2 * spec.margin + 7, spec)
    assert tile == 2 * spec.margin + 4
    pieces = probabilities(net, spec, image, tile=tile)
    assert whole.shape == (3, 150, 171)
    np.testing.assert_allclose(pieces, whole, atol=2e-5)
    if model != "fcn":  # Monte-Carlo dropout: the same dropout masks in every tile
        dropout = ModelSpec(model=model, in_channels=2, num_classes=3, base_channels=4, depth=2,
                            dropout=0.3)
        net = build_model(dropout).eval()
        whole = probabilities(net, dropout, image, samples=3)
        assert whole.shape == (5, 150, 171) and whole[3].max() > 0.01
        np.testing.assert_allclose(probabilities(net, dropout, image, tile=tile, samples=3),
                                   whole, atol=2e-5)
    calls = []
    tiled(lambda x: calls.append(x.shape) or np.zeros((1, 1) + x.shape[2:]), image,
          spec.multiple, tile, spec.margin)
    rows, cols = -(-(152 - 2 * spec.margin) // 4), -(-(172 - 2 * spec.margin) // 4)
    assert len(calls) == rows * cols and set(calls) == {(1, 2, tile, tile)}


@needs_kernels
@pytest.mark.parametrize("model", ["unet", "fcn", "segnet"])
def test_the_tile_margin_covers_the_receptive_field(rng, model):
    """The input pixels that an output pixel depends on (non-zero gradient, several pixels and
    inputs) lie within the margin; at depth 2 the radius is as ModelSpec.margin states."""
    fastseg.manual_seed(1)
    spec = ModelSpec(model=model, base_channels=8, depth=2)
    net = build_model(spec).eval().double()
    radius = 0
    for offset in range(4):
        x = fastseg.tensor(rng.standard_normal((1, 1, 96, 96)), requires_grad=True)
        y = net(x)
        seed = np.zeros(y.shape)
        seed[0, :, 48 + offset, 48 + offset] = rng.standard_normal(2)
        y.backward(seed)
        support = np.argwhere(x.grad.data[0, 0] != 0)
        radius = max(radius, int(np.abs(support - (48 + offset)).max()))
    assert radius == {"unet": 23, "fcn": 17, "segnet": 13}[model]
    assert radius <= spec.margin < radius + spec.multiple


@needs_kernels
def test_segment_tiled_equals_untiled_and_uncertainty(trained, tmp_path, capsys):
    image = grayscale_png(tmp_path / "cells.png", size=(300, 290), seed=3)
    best = trained / "best.safetensors"
    assert run(["segment", best, image, "--out", tmp_path / "whole"], capsys)[0] == 0
    status, out, err = run(["segment", best, image, "--out", tmp_path / "tiles", "--tile", "96"],
                           capsys)
    assert status == 0, err
    a, _ = read_mask(tmp_path / "whole" / "cells_mask.png")
    b, _ = read_mask(tmp_path / "tiles" / "cells_mask.png")
    assert a.shape == (290, 300)
    np.testing.assert_array_equal(a, b)
    status, out, err = run(["segment", best, image, "--out", tmp_path / "mc", "--uncertainty",
                            "4", "--tile", "128"], capsys)
    assert status == 0, err
    report = json.loads((tmp_path / "mc" / "segment.json").read_text())["images"][0]
    assert 0 < report["mean_entropy"] <= np.log(2)
    with Image.open(tmp_path / "mc" / "cells_entropy.png") as im:
        assert im.size == (300, 290)


@needs_kernels
def test_segment_errors(trained, tmp_path, capsys):
    best = trained / "best.safetensors"
    good = grayscale_png(tmp_path / "good.png")
    out = tmp_path / "out"
    assert run(["segment", best, good, "--out", out], capsys)[0] == 0
    before = (out / "good_mask.png").read_bytes()
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00garbage")
    status, _, err = run(["segment", best, good, corrupt, "--out", out], capsys)
    assert_one_line_error(status, err, "corrupt.tif: not a readable image")
    assert (out / "good_mask.png").read_bytes() == before  # checked before anything is written
    status, _, err = run(["segment", best, tmp_path / "missing.png", "--out", out], capsys)
    assert_one_line_error(status, err, "missing.png: no such file")
    status, _, err = run(["segment", good, good, "--out", out], capsys)
    assert_one_line_error(status, err, "good.png: not a readable safetensors checkpoint")
    other = tmp_path / "other.safetensors"
    fastseg.save_checkpoint(other, fastseg.nn.Conv2d(1, 2, 3))
    status, _, err = run(["segment", other, good, "--out", out], capsys)
    assert_one_line_error(status, err, "other.safetensors: not a checkpoint of `fastseg train`")
    status, _, err = run(["segment", best, good, "--tile", "40", "--out", out], capsys)
    assert_one_line_error(status, err, "--tile 40: a unet of depth 2 needs tiles of at least 52")
    plain = tmp_path / "plain"
    assert cli.main(["train", *TINY, "--samples", "8", "--epochs", "1", "--out", str(plain)]) == 0
    capsys.readouterr()
    status, _, err = run(["segment", plain / "best.safetensors", good, "--uncertainty", "5",
                          "--out", out], capsys)
    assert_one_line_error(status, err, "the model has no dropout (trained with --dropout 0)")


# ---- style, filters, bench ---------------------------------------------------------------------

@needs_kernels
def test_style_with_random_features_and_with_vgg_weights(tmp_path, capsys, rng):
    content = grayscale_png(tmp_path / "content.png", size=(40, 30))
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "s.jpg")
    status, out, err = run(["style", content, tmp_path / "s.jpg", "--out", tmp_path / "a.png",
                            "--steps", "3", "--size", "32", "--threads", "1"], capsys)
    assert status == 0, err
    with Image.open(tmp_path / "a.png") as im:
        assert im.size == (32, 24) and im.mode == "RGB"
    from fastseg.checkpoint import write_safetensors
    channels = {0: (4, 3), 2: (4, 4), 5: (6, 4), 7: (6, 6), 10: (8, 6), 12: (8, 8), 14: (8, 8)}
    weights = {}
    for i, (k, c) in channels.items():
        weights[f"features.{i}.weight"] = rng.standard_normal((k, c, 3, 3)).astype(np.float32)
        weights[f"features.{i}.bias"] = np.zeros(k, np.float32)
    write_safetensors(tmp_path / "vgg.safetensors", weights)
    status, out, err = run(["style", content, tmp_path / "s.jpg", "--out", tmp_path / "b.png",
                            "--steps", "2", "--size", "32", "--weights",
                            tmp_path / "vgg.safetensors"], capsys)
    assert status == 0, err
    weights["features.5.weight"] = weights["features.5.weight"][:, :3]
    write_safetensors(tmp_path / "bad.safetensors", weights)
    status, _, err = run(["style", content, tmp_path / "s.jpg", "--out", tmp_path / "c.png",
                          "--weights", tmp_path / "bad.safetensors"], capsys)
    assert_one_line_error(status, err, "bad.safetensors: features.5.weight has shape (6, 3, 3, 3)")
    status, _, err = run(["style", content, tmp_path / "nope.png"], capsys)
    assert_one_line_error(status, err, "nope.png: no such file")
    assert not (tmp_path / "c.png").exists()


def test_style_layers_of_vgg19_layout():
    from fastseg.style import vgg_features
    # torchvision vgg19().features: convolutions at these indices, pools at 4, 9, 18, 27, 36.
    indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert np.diff(indices).tolist().count(3) == 4
    import tempfile
    from fastseg.checkpoint import write_safetensors
    with tempfile.TemporaryDirectory() as d:
        channels, weights = 3, {}
        for i in indices:
            weights[f"features.{i}.weight"] = np.zeros((2, channels, 3, 3), np.float32)
            channels = 2
        write_safetensors(os.path.join(d, "w.safetensors"), weights)
        net = vgg_features(os.path.join(d, "w.safetensors"))
    assert net.style == (0, 2, 4, 8, 12)  # conv1_1, conv2_1, conv3_1, conv4_1, conv5_1
    assert net.content == 9  # conv4_2
    assert [i for i, p in enumerate(net.pool_before) if p] == [2, 4, 8, 12]


@needs_filters
@pytest.mark.parametrize("op", ["gradient", "hessian", "laplacian", "log", "blobs"])
def test_filters_write_a_figure(tmp_path, capsys, op):
    yy, xx = np.mgrid[:64, :80]
    image = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * s * s))
                for y, x, s in [(20, 20, 3), (40, 60, 5), (50, 15, 4)])
    Image.fromarray((image / image.max() * 255).astype(np.uint8)).save(tmp_path / "blobs.png")
    status, out, err = run(["filters", tmp_path / "blobs.png", "--op", op, "--out",
                            tmp_path / "new" / "f.png"], capsys)
    assert status == 0, err
    with Image.open(tmp_path / "new" / "f.png") as im:
        assert im.format == "PNG" and im.width > 100
    if op == "blobs":
        assert "3 blobs" in out


def test_filters_bad_image(tmp_path, capsys):
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8 broken jpeg")
    status, _, err = run(["filters", tmp_path / "x.jpg", "--out", tmp_path / "f.png"], capsys)
    assert_one_line_error(status, err, "x.jpg: not a readable image")
    assert not (tmp_path / "f.png").exists()


def test_bench_writes_json_and_chart(tmp_path, capsys):
    out = tmp_path / "b.json"
    status, stdout, err = run(["bench", "--quick", "--filter", "fwd N1 C64->2 ", "--compare", "",
                               "--json", out], capsys)
    assert status == 0, err
    assert (tmp_path / "b.png").exists() and json.loads(out.read_text())["cases"]
    from fastseg import plots
    results = {"machine": {"cpu": "test"}, "cases": [
        {"name": "conv2d fwd a", "impls": {"fastseg": {"speedup_vs_torch": 2.0,
                                                       "speedup_vs_scipy": 30.0}}},
        {"name": "gram fwd b", "impls": {"fastseg": {"speedup_vs_torch": 0.7}}}]}
    plots.bench_chart(results, tmp_path / "chart.png")
    with Image.open(tmp_path / "chart.png") as im:
        assert im.format == "PNG"


# ---- metrics -----------------------------------------------------------------------------------

def test_iou_and_schedule():
    truth = np.array([[0, 0, 1, 1], [2, 2, -100, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 1]])
    cm = confusion(pred, truth, 4)
    assert cm.sum() == 7
    s = scores(cm)
    assert s["iou"][:3] == [1 / 3, 3 / 4, 1 / 2] and s["iou"][3] is None
    assert s["miou"] == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert s["pixel_accuracy"] == pytest.approx(5 / 7)
    assert learning_rate(0.1, "cosine", 0, 10) == 0.1
    assert learning_rate(0.1, "cosine", 10, 10) == pytest.approx(0)
    assert learning_rate(0.1, "constant", 7, 10) == 0.1
