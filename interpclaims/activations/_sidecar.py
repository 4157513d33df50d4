"""The sidecar of a store entry: what it records, its own checksum, and every check a reader makes
of it before trusting the data file (see :mod:`interpclaims.activations._entry` for the format).

This module imports numpy and the standard library, never torch.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interpclaims.activations._key import FORMAT_VERSION, StoreKey

CHECKSUM_ALGO = "crc32"
#: The kinds of numpy dtype a store holds: bool, signed and unsigned integers, floats, complex.
PLAIN_KINDS = "biufc"
_CHECKSUM_RE = re.compile(rf"{CHECKSUM_ALGO}:[0-9a-f]{{8}}")
_SIDE_CHECKSUM = "sidecar_checksum"
_FIELDS = frozenset({"format", "digest", "key", "shape", "dtype", "data_offset", "nbytes",
                     "file_size", "checksum", "created", _SIDE_CHECKSUM})


class _Damaged(Exception):
    """An entry failed a check; the message says which file and why."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True)
class _Meta:
    """The checked contents of a sidecar."""

    shape: tuple[int, ...]
    descr: str
    data_offset: int
    nbytes: int
    file_size: int
    checksum: str

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(self.descr)


def fmt_crc(crc: int) -> str:
    """A CRC-32 value as it is written in a sidecar: ``"crc32:1a2b3c4d"``."""
    return f"{CHECKSUM_ALGO}:{crc:08x}"


def storable_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype an array of ``dtype`` is stored with: ``dtype`` in native byte order.

    Raises:
        TypeError: for anything but a plain numeric dtype (objects, structures, sub-arrays,
            strings, datetimes).
    """
    if dtype.kind not in PLAIN_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(
            f"ActivationStore cannot store dtype {dtype}: it stores plain numeric arrays only "
            "(bool, integer, float, complex), never objects, structures, strings or datetimes; "
            "convert the array (e.g. np.asarray(x, dtype=np.float32)) before storing it"
        )
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def storable(array: np.ndarray) -> np.ndarray:
    """``array`` as a store holds it: C order, native byte order (the same values).

    Raises:
        TypeError: for a dtype that is not plain numeric (see :func:`storable_dtype`).
    """
    arr = np.asarray(array)
    return np.asarray(arr, dtype=storable_dtype(arr.dtype), order="C")


def _plain_descr(descr: object) -> np.dtype[Any]:
    """The dtype of a sidecar's ``.npy`` descr, which must name a plain numeric native dtype in
    its canonical spelling; ``ValueError`` otherwise."""
    if not isinstance(descr, str):
        raise ValueError(f"dtype {descr!r} is not a plain numeric dtype")
    try:
        dtype = np.lib.format.descr_to_dtype(descr)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"dtype {descr!r} is not a numpy dtype ({exc})") from None
    try:
        if storable_dtype(dtype) != dtype or np.lib.format.dtype_to_descr(dtype) != descr:
            raise TypeError
    except TypeError:
        raise ValueError(f"dtype {descr!r} is not a plain numeric dtype in native byte order "
                         f"(allowed kinds: {PLAIN_KINDS!r})") from None
    return dtype


def _canonical(side: dict[str, Any]) -> bytes:
    """The bytes the sidecar checksum covers: every field but the checksum itself, as canonical
    JSON (sorted keys, no spaces, ASCII)."""
    body = {k: v for k, v in side.items() if k != _SIDE_CHECKSUM}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def make_sidecar(key: StoreKey, digest: str, arr: np.ndarray, *, data_offset: int,
                 file_size: int, checksum: str, created: float) -> str:
    """The sidecar text of an entry holding ``arr``, its own checksum included."""
    side: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "digest": digest,
        "key": key.to_json(),
        "shape": list(arr.shape),
        "dtype": np.lib.format.dtype_to_descr(arr.dtype),
        "data_offset": data_offset,
        "nbytes": arr.nbytes,
        "file_size": file_size,
        "checksum": checksum,
        "created": created,
    }
    side[_SIDE_CHECKSUM] = fmt_crc(zlib.crc32(_canonical(side)))
    return json.dumps(side, indent=1, sort_keys=True)


def _count(value: object, name: str) -> int:
    """``value`` when it is a non-negative int (not a bool or float); ``ValueError`` otherwise."""
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} {value!r} is not a non-negative integer")
    return int(value)


def parse_sidecar(path: Path, raw: bytes, digest: str) -> _Meta:
    """Parse and check a sidecar; raise :class:`_Damaged` (naming ``path``) when anything is off.

    The sidecar's own checksum is checked first, then every field: a sidecar that passes
    describes an entry of ``digest`` holding a plain numeric array.
    """
    try:
        side = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _Damaged(path, f"unparsable sidecar ({exc})") from None
    if not isinstance(side, dict) or set(side) != _FIELDS:
        fields = sorted(side) if isinstance(side, dict) else type(side).__name__
        raise _Damaged(path, f"sidecar does not have the fields of format {FORMAT_VERSION} "
                             f"(found {fields})")
    stated = side[_SIDE_CHECKSUM]
    actual = fmt_crc(zlib.crc32(_canonical(side)))
    if stated != actual:
        raise _Damaged(path, f"sidecar checksum {actual} != {stated!r} stored in it "
                             "(the sidecar was changed after it was written)")
    try:
        if side["format"] != FORMAT_VERSION or type(side["format"]) is not int:
            raise ValueError(f"format {side['format']!r} != {FORMAT_VERSION}")
        if not isinstance(side["key"], dict):
            raise TypeError("key is not a JSON object")
        if StoreKey.from_json(side["key"]).digest() != digest or side["digest"] != digest:
            raise ValueError("its key does not hash to the entry's name")
        if not isinstance(side["shape"], list):
            raise TypeError(f"shape {side['shape']!r} is not a list")
        shape = tuple(_count(n, "shape entry") for n in side["shape"])
        dtype = _plain_descr(side["dtype"])
        meta = _Meta(shape=shape, descr=side["dtype"],
                     data_offset=_count(side["data_offset"], "data_offset"),
                     nbytes=_count(side["nbytes"], "nbytes"),
                     file_size=_count(side["file_size"], "file_size"),
                     checksum=side["checksum"])
        if meta.nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ValueError("nbytes does not match shape and dtype")
        if meta.file_size != meta.data_offset + meta.nbytes:
            raise ValueError("file_size does not match data_offset + nbytes")
        if not isinstance(meta.checksum, str) or not _CHECKSUM_RE.fullmatch(meta.checksum):
            raise ValueError(f"unknown checksum {meta.checksum!r}")
    except (ValueError, TypeError) as exc:
        raise _Damaged(path, f"invalid sidecar ({exc})") from None
    return meta


#: What a ``.npy`` header says: ``(("shape", ...), ("dtype", descr), ("order", "C" | "F"),
#: ("data_offset", n))``, in the order a mismatch is reported.
Header = tuple[tuple[str, object], ...]


def read_header(f: io.BufferedIOBase, data_path: Path) -> Header:
    """The ``.npy`` header of ``f`` (read from its start); :class:`_Damaged` when unreadable."""
    fmt = np.lib.format
    try:
        f.seek(0)
        version = fmt.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f".npy format version {version}")
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(f)
        offset = f.tell()
    except (ValueError, TypeError, EOFError, OSError) as exc:
        raise _Damaged(data_path, f"unreadable .npy header ({exc})") from None
    return (("shape", tuple(shape)), ("dtype", fmt.dtype_to_descr(dtype)),
            ("order", "F" if fortran else "C"), ("data_offset", offset))


def check_header(header: Header, meta: _Meta, side_path: Path, data_path: Path) -> None:
    """Check that the ``.npy`` header of the data file (covered by the data checksum) says what
    the sidecar ``meta`` says: shape, dtype, C order and data offset. :class:`_Damaged` names the
    sidecar when they disagree (the data file passed its checksum, so the sidecar is wrong)."""
    stated = {"shape": meta.shape, "dtype": meta.descr, "order": "C",
              "data_offset": meta.data_offset}
    wrong = [f"{k} {stated[k]!r} (header: {v!r})" for k, v in header if stated[k] != v]
    if wrong:
        raise _Damaged(side_path, f"sidecar does not match the .npy header of {data_path.name}: "
                                  + ", ".join(wrong))
