"""Checkpoints in the safetensors format, written atomically.

The format is written here directly (no dependency): an 8-byte little-endian header length, a
JSON header {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}
padded with spaces to 8 bytes, then the raw little-endian buffers back to back. PyTorch users
read it with ``safetensors.torch.load_file`` (or this module's ``read_safetensors``).

Layout of a fastseg checkpoint: the model's state_dict under its own (PyTorch) keys, so
``model.load_state_dict({k: v for k, v in load_file(p).items() if not k.startswith("optimizer.")})``
works in PyTorch; optimizer state arrays under ``optimizer.state.<param index>.<name>``; the
optimizer's param_groups, scalar state (step) and the `extra` values as JSON in the metadata.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from ._files import atomic_write

_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
           "I8": "i1", "U8": "u1", "BOOL": "?", "U16": "<u2", "U32": "<u4", "U64": "<u8"}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
OPTIMIZER_PREFIX = "optimizer."


def write_safetensors(path, tensors: dict, metadata: dict | None = None) -> None:
    """Writes {name: array} (and str -> str metadata) to `path` atomically (_files.atomic_write:
    a temporary file in the same directory, fsynced, then renamed), so a crash leaves either the
    old file or the new one, never a torn one."""
    header, offset, arrays = {}, 0, []
    for name, value in tensors.items():
        a = np.asarray(value)
        code = _CODES.get(a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype)
        if code is None:
            raise TypeError(f"tensors[{name!r}]: dtype {a.dtype} has no safetensors code")
        a = np.asarray(a, dtype=_DTYPES[code], order="C")
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for a in arrays:
            f.write(memoryview(a.reshape(-1)).cast("B"))


def read_safetensors(path) -> tuple[dict, dict]:
    """({name: array}, metadata) of a safetensors file, checked against its own header."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} exceeds the file size {len(data)}")
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, info in header.items():
        dtype = np.dtype(_DTYPES[info["dtype"]])
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if not 0 <= begin <= end <= len(body) or end - begin != count * dtype.itemsize:
            raise ValueError(f"{path}: tensor {name!r} has inconsistent offsets {begin}..{end}")
        array = np.frombuffer(body[begin:end], dtype, count).reshape(info["shape"])
        tensors[name] = array.astype(dtype.newbyteorder("="), copy=True)
    return tensors, metadata


def save_checkpoint(path, model, optimizer=None, **extra) -> None:
    """Saves model.state_dict() (and optimizer.state_dict(), and JSON-serialisable `extra`
    values such as epoch=3) to `path` in the safetensors format, atomically."""
    tensors = dict(model.state_dict())
    clash = [k for k in tensors if k.startswith(OPTIMIZER_PREFIX)]
    if clash and optimizer is not None:
        raise ValueError(f"model: state_dict keys {clash} clash with the optimizer's prefix")
    metadata = {"format": "fastseg-checkpoint-1", "extra": json.dumps(extra)}
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars = {}
        for index, entry in state["state"].items():
            for name, value in entry.items():
                if isinstance(value, np.ndarray):
                    tensors[f"{OPTIMIZER_PREFIX}state.{index}.{name}"] = value
                else:
                    scalars.setdefault(str(index), {})[name] = value
        metadata["optimizer"] = json.dumps({"type": type(optimizer).__name__,
                                            "param_groups": state["param_groups"],
                                            "scalars": scalars})
    write_safetensors(path, tensors, metadata)


def load_checkpoint(path, model=None, optimizer=None, strict: bool = True) -> dict:
    """Reads a checkpoint written by save_checkpoint; loads it into `model` / `optimizer` when
    given. Returns {"model": state_dict, "optimizer": state_dict or None, **extra}."""
    tensors, metadata = read_safetensors(path)
    model_state = {k: v for k, v in tensors.items() if not k.startswith(OPTIMIZER_PREFIX)}
    optim_state = None
    if "optimizer" in metadata:
        info = json.loads(metadata["optimizer"])
        state: dict = {int(i): dict(s) for i, s in info["scalars"].items()}
        for key, value in tensors.items():
            if key.startswith(OPTIMIZER_PREFIX + "state."):
                index, name = key[len(OPTIMIZER_PREFIX + "state."):].split(".", 1)
                state.setdefault(int(index), {})[name] = value
        groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()}
                  for g in info["param_groups"]]
        optim_state = {"state": state, "param_groups": groups}
    if model is not None:
        model.load_state_dict(model_state, strict=strict)
    if optimizer is not None:
        if optim_state is None:
            raise ValueError(f"{path}: holds no optimizer state")
        optimizer.load_state_dict(optim_state)
    return {"model": model_state, "optimizer": optim_state,
            **json.loads(metadata.get("extra", "{}"))}
