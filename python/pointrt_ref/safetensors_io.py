"""Read and write the safetensors file format (own implementation: json + struct + torch).

Layout: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON header
``{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}``, then the byte buffer.
Offsets are relative to the buffer start, end exclusive; tensors are little-endian, row-major, contiguous.

The reader is strict, like pointrt's C++ loader: the header size is capped, every tensor's byte length must equal
prod(shape) * itemsize, the tensors must tile the buffer contiguously without gaps or overlaps and end exactly at the
end of the file. Any violation raises ``SafetensorsError`` naming the file and the reason.
"""
from __future__ import annotations

import json
import struct
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import torch

MAX_HEADER_BYTES = 100 * 1024 * 1024

# safetensors dtype name -> (torch dtype, item size)
_DTYPES = {
    "F64": (torch.float64, 8), "F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8), "I32": (torch.int32, 4), "I16": (torch.int16, 2), "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1), "BOOL": (torch.bool, 1),
}
_NAMES = {v[0]: k for k, v in _DTYPES.items()}


class SafetensorsError(ValueError):
    """A malformed or unsupported safetensors file."""


def _to_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: move the raw 16-bit words
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def save_file(tensors: Mapping[str, torch.Tensor], path: str, metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write ``tensors`` (name -> tensor) to ``path``; names in sorted order; header padded to 8 bytes."""
    header: Dict[str, object] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError(f"{path}: __metadata__ must map strings to strings ({k!r})")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _NAMES:
            raise SafetensorsError(f"{path}: tensor {name}: unsupported dtype {t.dtype}")
        data = _to_bytes(t)
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for data in blobs:
            f.write(data)


def load_bytes(raw: bytes, path: str = "<bytes>") -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Parse a safetensors image -> (tensors, metadata); strict validation (see module docstring)."""
    if len(raw) < 8:
        raise SafetensorsError(f"{path}: file too short for the 8-byte header length ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER_BYTES:
        raise SafetensorsError(f"{path}: header length {n} exceeds the cap of {MAX_HEADER_BYTES} bytes")
    if 8 + n > len(raw):
        raise SafetensorsError(f"{path}: header length {n} runs past the end of the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise SafetensorsError(f"{path}: __metadata__ must map strings to strings")
    buf = memoryview(raw)[8 + n:]
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{path}: tensor {name}: entry needs exactly dtype, shape, data_offsets")
        if info["dtype"] not in _DTYPES:
            raise SafetensorsError(f"{path}: tensor {name}: unsupported dtype {info['dtype']!r}")
        shape, offs = info["shape"], info["data_offsets"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"{path}: tensor {name}: bad shape {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) for o in offs)
                or not 0 <= offs[0] <= offs[1]):
            raise SafetensorsError(f"{path}: tensor {name}: bad data_offsets {offs!r}")
        count = 1
        for d in shape:
            count *= d  # Python ints: no overflow
        nbytes = count * _DTYPES[info["dtype"]][1]
        if offs[1] - offs[0] != nbytes:
            raise SafetensorsError(f"{path}: tensor {name}: {offs[1] - offs[0]} bytes for shape {shape} "
                                   f"{info['dtype']} (needs {nbytes})")
        spans.append((offs[0], offs[1], name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            raise SafetensorsError(f"{path}: tensor {name}: data starts at {begin}, expected {pos} "
                                   "(gap or overlap between tensors)")
        pos = end
    if pos != len(buf):
        raise SafetensorsError(f"{path}: tensors end at byte {pos} of the buffer but the buffer has {len(buf)} "
                               "bytes (truncated or trailing data)")
    tensors: Dict[str, torch.Tensor] = {}
    for begin, end, name in spans:
        info = header[name]
        dt, _ = _DTYPES[info["dtype"]]
        chunk = bytes(buf[begin:end])
        if dt == torch.bfloat16:
            arr = np.frombuffer(chunk, dtype="<i2").copy()
            t = torch.from_numpy(arr).view(torch.bfloat16)
        else:
            np_dt = torch.empty(0, dtype=dt).numpy().dtype.newbyteorder("<")
            t = torch.from_numpy(np.frombuffer(chunk, dtype=np_dt).astype(np_dt.newbyteorder("=")))
        tensors[name] = t.reshape(info["shape"])
    return tensors, dict(metadata)


def load_file(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Read ``path`` -> (tensors, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    return load_bytes(raw, path)
