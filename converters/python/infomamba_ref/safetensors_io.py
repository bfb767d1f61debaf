"""Minimal reader and writer for the safetensors file format.

Layout: an 8-byte little-endian unsigned header length, a UTF-8 JSON header
padded with spaces to a multiple of 8 bytes, then the raw little-endian
tensor bytes. The header maps each tensor name to its dtype, shape and
[begin, end) byte offsets relative to the start of the data section, and may
hold a "__metadata__" object of string keys and string values.

Writes F64, F32, F16, BF16 (from torch.bfloat16 tensors only, because numpy
has no bfloat16 type) and the common integer types. Reads all of them;
BF16 tensors are returned widened to float32.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

try:
    import torch
except ImportError:  # the reader and writer also work on numpy arrays alone
    torch = None

# Header-length prefix is capped so a corrupted file cannot request a huge
# allocation; 100 MB is far above any real header.
MAX_HEADER_BYTES = 100 * 1024 * 1024

_NUMPY_TO_DTYPE = {
    np.dtype("<f8"): "F64",
    np.dtype("<f4"): "F32",
    np.dtype("<f2"): "F16",
    np.dtype("<i8"): "I64",
    np.dtype("<i4"): "I32",
    np.dtype("<i2"): "I16",
    np.dtype("i1"): "I8",
    np.dtype("u1"): "U8",
    np.dtype("bool"): "BOOL",
}
_DTYPE_TO_NUMPY = {name: dtype for dtype, name in _NUMPY_TO_DTYPE.items()}
_DTYPE_SIZE = {name: dtype.itemsize for name, dtype in _DTYPE_TO_NUMPY.items()}
_DTYPE_SIZE["BF16"] = 2


class SafetensorsError(ValueError):
    """Malformed safetensors file or a tensor that cannot be stored."""


def _tensor_bytes(name: str, value) -> Tuple[str, list, bytes]:
    """Return (dtype name, shape, little-endian bytes) of one tensor."""
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu().contiguous()
        if value.dtype == torch.bfloat16:
            raw = value.view(torch.int16).numpy().astype("<i2").tobytes()
            return "BF16", list(value.shape), raw
        value = value.numpy()
    array = np.asarray(value)
    little_dtype = array.dtype.newbyteorder("<") if array.dtype.itemsize > 1 else array.dtype
    dtype_name = _NUMPY_TO_DTYPE.get(little_dtype)
    if dtype_name is None:
        raise SafetensorsError(f"tensor {name}: dtype {array.dtype} is not supported, "
                               f"expected one of F64, F32, F16, I64, I32, I16, I8, U8, BOOL")
    little = np.ascontiguousarray(array, dtype=_DTYPE_TO_NUMPY[dtype_name])
    return dtype_name, list(array.shape), little.tobytes()


def save(tensors: Mapping[str, object], path: str, metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write a name -> tensor mapping (numpy arrays or torch tensors) to path."""
    header: Dict[str, object] = {}
    if metadata is not None:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise SafetensorsError(f"metadata entry {key!r}: {type(value).__name__} value, "
                                       f"expected str keys and str values")
        header["__metadata__"] = dict(metadata)

    chunks = []
    offset = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise SafetensorsError("tensor name __metadata__ is reserved for the metadata object")
        dtype_name, shape, raw = _tensor_bytes(name, tensors[name])
        header[name] = {"dtype": dtype_name, "shape": shape,
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for raw in chunks:
            f.write(raw)


def load_with_metadata(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Read path and return (name -> numpy array, metadata dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SafetensorsError(f"{path}: file has {len(blob)} bytes, expected at least 8 for the header length")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(blob):
        raise SafetensorsError(f"{path}: header length {header_len} does not fit in a file of {len(blob)} bytes")
    try:
        header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON ({err})") from err
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is a JSON {type(header).__name__}, expected an object")

    data = memoryview(blob)[8 + header_len:]
    metadata = header.pop("__metadata__", None) or {}
    tensors: Dict[str, np.ndarray] = {}
    for name, entry in header.items():
        try:
            dtype_name = entry["dtype"]
            shape = [int(d) for d in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as err:
            raise SafetensorsError(f"{path}: tensor {name}: invalid header entry {entry!r}") from err
        if dtype_name not in _DTYPE_SIZE:
            raise SafetensorsError(f"{path}: tensor {name}: dtype {dtype_name} is not supported")
        if any(d < 0 for d in shape):
            raise SafetensorsError(f"{path}: tensor {name}: negative dimension in shape {shape}")
        expected = math.prod(shape) * _DTYPE_SIZE[dtype_name]
        if not (0 <= begin <= end <= len(data)) or end - begin != expected:
            raise SafetensorsError(
                f"{path}: tensor {name}: data_offsets [{begin}, {end}] for {dtype_name} {shape}, "
                f"expected a range of {expected} bytes inside a data section of {len(data)} bytes")
        raw = data[begin:end]
        if dtype_name == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32).reshape(shape)
        else:
            array = np.frombuffer(raw, dtype=_DTYPE_TO_NUMPY[dtype_name]).reshape(shape).copy()
        tensors[name] = array
    return tensors, metadata


def load(path: str) -> Dict[str, np.ndarray]:
    """Read path and return name -> numpy array."""
    return load_with_metadata(path)[0]
