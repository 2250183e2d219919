"""Read a torch weights archive of plain data without importing torch.

``torch.save`` writes a zip holding ``<prefix>/data.pkl`` (a pickle whose tensors refer
to raw storages ``<prefix>/data/<key>`` by persistent id) and ``<prefix>/byteorder``.
:func:`load_plain` unpickles it with the globals ``torch.load(weights_only=True)`` would
allow for a dict of plain values and CPU float/int tensors, and gives each tensor as a
NumPy array (same values, same shape). Anything else raises ``pickle.UnpicklingError``.

Why: the land-cover model's weights are checked before a run's composites, and torch
itself costs 180 MB of resident memory per process; flows that only need its inference
later (``make_patches``) import torch there.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

_STORAGES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Storage:
    """A storage type named in the pickle (its NumPy dtype)."""

    def __init__(self, dtype: type[np.generic]) -> None:
        self.dtype = np.dtype(dtype)


def _rebuild_tensor_v2(
    storage: np.ndarray,
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    *_: Any,
) -> np.ndarray:
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise pickle.UnpicklingError(f"tensor of size {size} and stride {stride} is not plain")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if offset < 0 or (0 not in size and last >= storage.size):
        raise pickle.UnpicklingError(
            f"tensor of size {size} at offset {offset} reaches past its storage of {storage.size}"
        )
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride)
    )
    return np.array(view)  # a copy: contiguous and writable


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, order: str) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self._archive, self._prefix, self._order = archive, prefix, order

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGES:
            return _Storage(_STORAGES[name])
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _Storage):
            raise pickle.UnpicklingError(f"unsupported storage {kind!r}")
        raw = self._archive.read(f"{self._prefix}data/{key}")
        dtype = kind.dtype.newbyteorder("<" if self._order == "little" else ">")
        return np.frombuffer(raw, dtype=dtype, count=int(numel)).astype(
            kind.dtype.newbyteorder("=")
        )


def load_plain(path: Path) -> Any:
    """The object a torch archive of plain data holds, tensors as NumPy arrays.

    Raises ``zipfile.BadZipFile``/``OSError``/``KeyError`` for an unreadable archive and
    ``pickle.UnpicklingError`` for objects other than plain values and tensors.
    """
    with zipfile.ZipFile(path) as archive:
        pkl = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
        if pkl is None:
            raise zipfile.BadZipFile("no data.pkl in the archive")
        prefix = pkl[: -len("data.pkl")]
        names = set(archive.namelist())
        order = "little"
        if f"{prefix}byteorder" in names:
            order = archive.read(f"{prefix}byteorder").decode("ascii").strip()
        return _Unpickler(archive.read(pkl), archive, prefix, order).load()
