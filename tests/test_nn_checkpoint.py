"""Checkpoints: the safetensors format (checked byte by byte against the specification), model
and optimizer state round trips that resume training exactly, atomic writes."""

import json
import os
import struct

import numpy as np
import pytest

import fastseg
from fastseg import nn, optim
from fastseg.checkpoint import read_safetensors, write_safetensors


def small_model():
    fastseg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 3, 1))


def train_steps(model, opt, x, t, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
    return loss.item()


def test_safetensors_layout_follows_the_specification(tmp_path):
    path = tmp_path / "a.safetensors"
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(7, np.int64),
              "d": np.array([1.5, -2.0])}
    write_safetensors(path, arrays, {"note": "hi"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"note": "hi"}
    assert header["w"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["n"] == {"dtype": "I64", "shape": [], "data_offsets": [24, 32]}
    assert header["d"]["dtype"] == "F64" and header["d"]["data_offsets"] == [32, 48]
    body = raw[8 + n:]
    assert len(body) == 48
    assert np.array_equal(np.frombuffer(body[:24], "<f4"), np.arange(6))
    tensors, meta = read_safetensors(path)
    for k, v in arrays.items():
        assert tensors[k].dtype == v.dtype and np.array_equal(tensors[k], v)
    assert meta == {"note": "hi"}
    big_endian = np.arange(3, dtype=">f8")
    write_safetensors(path, {"b": big_endian})
    assert np.array_equal(read_safetensors(path)[0]["b"], [0, 1, 2])
    with pytest.raises(TypeError, match="no safetensors code"):
        write_safetensors(path, {"c": np.zeros(2, np.complex64)})
    (tmp_path / "short").write_bytes(b"abc")
    with pytest.raises(ValueError, match="too short"):
        read_safetensors(tmp_path / "short")


def test_checkpoint_resumes_training_exactly(tmp_path, rng):
    x = fastseg.tensor(rng.standard_normal((2, 2, 6, 5)).astype(np.float32))
    t = rng.integers(0, 3, (2, 6, 5))
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    train_steps(model, opt, x, t, 3)
    path = tmp_path / "ckpt.safetensors"
    fastseg.save_checkpoint(path, model, opt, epoch=3, note="ok")
    expected = train_steps(model, opt, x, t, 2)

    resumed = small_model()
    opt2 = optim.Adam(resumed.parameters(), lr=0.5, amsgrad=True)  # lr comes from the file
    info = fastseg.load_checkpoint(path, resumed, opt2)
    assert info["epoch"] == 3 and info["note"] == "ok"
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    assert int(resumed[1].num_batches_tracked.data) == 3
    assert train_steps(resumed, opt2, x, t, 2) == expected
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert np.array_equal(a.data, b.data)
    only_model = fastseg.load_checkpoint(path)
    assert set(only_model["model"]) == set(model.state_dict())
    fastseg.save_checkpoint(path, model)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        fastseg.load_checkpoint(path, small_model(), optim.SGD(small_model().parameters()))


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    model = small_model()
    fastseg.save_checkpoint(path, model)
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", crash)
    model[0].weight.data[...] = 0
    with pytest.raises(OSError, match="disk full"):
        fastseg.save_checkpoint(path, model)
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no temp left


def test_pytorch_reads_the_model_weights(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "m.safetensors"
    model = small_model()
    fastseg.save_checkpoint(path, model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    state = {k: v for k, v in safetensors_torch.load_file(str(path)).items()
             if not k.startswith("optimizer.")}
    th = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                             torch.nn.ReLU(), torch.nn.Conv2d(4, 3, 1))
    th.load_state_dict(state)
