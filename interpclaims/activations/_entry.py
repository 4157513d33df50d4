"""The on-disk format of one store entry: writing it atomically, reading and verifying it.

One entry holds the activations of one site under one :class:`StoreKey`, named by the key's
digest.

On-disk format (``FORMAT_VERSION`` 2)::

    root/
      .locks/<digest>.lock           per-key inter-process lock (filelock), never an entry
      <digest[:2]>/<digest>.npy      the array: a plain .npy file, C order, no pickles
      <digest[:2]>/<digest>.json     the sidecar, written last: the commit marker of the entry
      <digest[:2]>/.<digest>.<host>.<pid>.<random>.<npy|json>.tmp     a write in progress

The sidecar records the format version, the digest and key, the shape, the dtype (``.npy`` descr),
the data offset and byte size, the file size, a checksum of the whole ``.npy`` file (its header and
the array bytes), the creation time, and ``sidecar_checksum``: a CRC-32 of every other field as
canonical JSON (sorted keys, no spaces, ASCII), so the sidecar is covered too. Only plain numeric
dtypes in native byte order are stored (bool, integers, floats, complex; other byte orders are
converted on the way in; never objects, structures, sub-arrays, strings or datetimes), and a reader
rejects a sidecar naming any other dtype even when its checksum matches. A reader opens the sidecar
first and ignores every name but the two final ones, so temp files are never picked up. A writer
writes the data to a temp file, renames it into place, then writes the sidecar to a temp file and
renames it into place: a writer killed at any point before the last rename leaves no committed
entry (at most a temp file, or a data file without a sidecar, which is reported and removed like
any other damage).

Temp files name their writer's host and pid. A store in ``"rw"`` mode removes the temp files of
writers on this host that no longer run at its first write and in :meth:`ActivationStore.clear`,
which also removes every temp file older than ``stale_after`` (writers on other hosts of a shared
file system, or stuck ones); those of live writers are kept.

Checksum: CRC-32 (``zlib.crc32``) of the file bytes, streamed from the file in 1 MiB chunks through
one reusable buffer, so verifying a 1 GB entry needs 1 MiB of RAM and leaves no pages mapped.
CRC-32 is the fastest checksum in the standard library (about 2.4 GB/s measured, against 1.5 GB/s
for SHA-256 with SHA-NI, about 0.4 GB/s without, 0.8 GB/s for BLAKE2b); it catches every burst
error up to 32 bits and misses random damage with probability 2**-32, plenty for a cache that
guards against torn writes and bit rot rather than an adversary (the key digest itself is SHA-256).
A read checks, in order: the sidecar's own checksum and fields; the file size against the sidecar,
before anything is hashed, so truncation is caught without reading the data; the data checksum; and
the ``.npy`` header (covered by the data checksum; read when the file is hashed and remembered with
it) against the sidecar's shape, dtype, C order and data offset, on every read. The memmap is built
from the checked dtype, shape and offset. A write hashes the temp file it has just written (hot in
the page cache; faster here than hashing the array in memory), so the checksum covers the bytes
that reached the file. With ``verify="once"`` (the default) a process hashes a data file once and
trusts it while its (device, inode, size, mtime, ctime) stay the same; ``verify="always"`` hashes
on every read.

Damaged entries (a wrong size, a flipped byte, an unparsable or altered sidecar, a sidecar that
disagrees with the ``.npy`` header or names a dtype that is not plain numeric, a sidecar without
data, data without a sidecar) are re-checked under the key's lock (a concurrent writer may be
between its two renames), then reported with :class:`StoreWarning` naming the file and the
problem, deleted in ``"rw"`` mode, and treated as a miss, so they are rebuilt and never used. A
store reports and counts a damaged entry once; later lookups of the same unchanged files (in
``"read"`` mode they stay on disk) are plain misses.

Reads are memory-mapped (:class:`numpy.memmap`, read-only), so large entries do not load into RAM.
The store never writes a file in place: an entry is replaced by renaming a new file over it, so a
mapping handed out earlier keeps showing the old, verified bytes. (Bytes that something else
changes in place after a verification show through such mappings until the next verification.)
The store is meant for POSIX file systems (entries are replaced with ``os.replace`` while readers
may hold them mapped). The file layout and temp-file sweep live in
:mod:`interpclaims.activations._files`, the sidecar and its checks in
:mod:`interpclaims.activations._sidecar`. This module imports numpy and the standard library,
never torch.
"""

from __future__ import annotations

import io
import os
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from interpclaims.activations._files import entry_paths, temp_paths, unlink
from interpclaims.activations._key import StoreKey
from interpclaims.activations._sidecar import (
    Header,
    _Damaged,
    _Meta,
    check_header,
    fmt_crc,
    make_sidecar,
    parse_sidecar,
    read_header,
)

_CHUNK = 1 << 20  # bytes hashed per step: fits in L2, measured fastest for readinto + crc32


class _Verified:
    """The files this process has verified, each trusted while its identity stays the same.

    The identity of a file is its (device, inode, size, mtime, ctime); a file is remembered under
    its path and the checksum it was verified against, with its ``.npy`` header (so a trusted
    file's header is compared with the sidecar on every read without reading it again).
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, tuple[tuple[int, ...], Header]] = {}

    @staticmethod
    def _ident(st: os.stat_result) -> tuple[int, ...]:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def header(self, path: Path, checksum: str, st: os.stat_result) -> Header | None:
        """The header of ``path`` when it was verified against ``checksum`` and has not changed
        since; ``None`` when it must be verified."""
        seen = self._seen.get(f"{path}|{checksum}")
        return seen[1] if seen is not None and seen[0] == self._ident(st) else None

    def trust(self, path: Path, checksum: str, st: os.stat_result, header: Header) -> None:
        """Remember that ``path``, as ``st`` describes it, matches ``checksum``."""
        self._seen[f"{path}|{checksum}"] = (self._ident(st), header)

    def clear(self) -> None:
        """Forget every file."""
        self._seen.clear()


class _Reported:
    """The damaged entries a store has reported, each a plain miss while its files (data and
    sidecar, by identity as in :class:`_Verified`, or absence) stay as they were."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, tuple[object, ...]] = {}

    @staticmethod
    def ident(root: Path, digest: str) -> tuple[object, ...]:
        """The identity of an entry's two files as they are now (``None`` for a missing one)."""
        out: list[object] = []
        for path in entry_paths(root, digest):
            try:
                out.append(_Verified._ident(path.stat()))
            except OSError:
                out.append(None)
        return tuple(out)

    def unchanged(self, root: Path, digest: str) -> bool:
        """Whether ``digest`` was reported and its files have not changed since."""
        known = self._seen.get(digest)
        if known is None:
            return False
        if known == self.ident(root, digest):
            return True
        del self._seen[digest]  # rewritten (or deleted) since: check it afresh
        return False

    def remember(self, digest: str, ident: tuple[object, ...]) -> None:
        """Remember that ``digest``, with files of identity ``ident``, was reported damaged."""
        self._seen[digest] = ident

    def forget(self, digest: str) -> None:
        """Forget ``digest`` (this store has just rewritten it)."""
        self._seen.pop(digest, None)

    def clear(self) -> None:
        """Forget every entry."""
        self._seen.clear()


def _write_npy(f: io.BufferedIOBase, arr: np.ndarray) -> None:
    """Write ``arr`` as ``.npy`` to ``f`` (a module-level seam, so tests can interrupt a write)."""
    np.lib.format.write_array(f, arr, allow_pickle=False)


def _crc_of_file(f: io.BufferedIOBase, nbytes: int) -> str:
    """CRC-32 of the first ``nbytes`` bytes of ``f``, streamed through one 1 MiB buffer."""
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    f.seek(0)
    crc = 0
    left = nbytes
    while left > 0:
        n = f.readinto(view[: min(_CHUNK, left)])
        if not n:
            raise EOFError(f"{left} bytes short")
        crc = zlib.crc32(view[:n], crc)
        left -= n
    return fmt_crc(crc)


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only view of ``arr`` (the caller's array keeps its own flags)."""
    view = arr.view()
    view.flags.writeable = False
    return view


# ------------------------------------------------------------------------------------- write
def _write_entry(root: Path, key: StoreKey, digest: str, arr: np.ndarray
                 ) -> tuple[Path, str, Header]:
    """Write an entry atomically: data first, then the sidecar (the commit).

    The caller holds the key's lock. ``arr`` is a C-order array of a plain numeric dtype in
    native byte order (see :func:`storable_dtype`).

    Returns:
        The data path, and the checksum and ``.npy`` header of the bytes written there.

    Raises:
        OSError: when the entry cannot be written (nothing half-written stays committed).
    """
    data_path, side_path = entry_paths(root, digest)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_data, tmp_side = temp_paths(data_path, digest)
    try:
        with tmp_data.open("xb") as f:  # a BufferedWriter: numpy writes it with tofile()
            _write_npy(f, arr)
            file_size = f.tell()
        with tmp_data.open("rb") as f:  # hash what reached the file (hot in the page cache)
            checksum = _crc_of_file(f, file_size)
            header = read_header(f, tmp_data)
        tmp_side.write_text(make_sidecar(key, digest, arr, data_offset=file_size - arr.nbytes,
                                         file_size=file_size, checksum=checksum,
                                         created=time.time()))
        unlink(side_path)  # uncommit the old entry before its data changes
        os.replace(tmp_data, data_path)
        os.replace(tmp_side, side_path)  # the commit
    finally:
        unlink(tmp_data)
        unlink(tmp_side)
    return data_path, checksum, header


# -------------------------------------------------------------------------------------- read
def _read_meta(data_path: Path, side_path: Path, digest: str) -> _Meta | None:
    """The checked sidecar of an entry, ``None`` when absent; :class:`_Damaged` when broken."""
    try:
        raw = side_path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        if data_path.exists():
            raise _Damaged(data_path, "data without sidecar") from None
        return None
    except OSError as exc:
        raise _Damaged(side_path, f"unreadable sidecar ({exc})") from None
    return parse_sidecar(side_path, raw, digest)


def _load_entry(
    root: Path, digest: str, verified: _Verified, *, always: bool
) -> np.ndarray | None:
    """The verified, read-only memmap of an entry, ``None`` when absent.

    The checksum is checked on every call when ``always``, otherwise only when ``verified`` does
    not trust the file yet; the sidecar and the ``.npy`` header are checked on every call.

    Raises:
        _Damaged: when the entry is broken (the message says which file and why).
    """
    data_path, side_path = entry_paths(root, digest)
    meta = _read_meta(data_path, side_path, digest)
    if meta is None:
        return None
    try:
        f = data_path.open("rb")
    except FileNotFoundError:
        raise _Damaged(side_path, "sidecar without data") from None
    except OSError as exc:
        raise _Damaged(data_path, f"unreadable data ({exc})") from None
    with f:
        st = os.fstat(f.fileno())
        if st.st_size != meta.file_size:
            raise _Damaged(data_path, f"size {st.st_size} bytes, sidecar says {meta.file_size}")
        header = None if always else verified.header(data_path, meta.checksum, st)
        if header is None:
            try:
                actual = _crc_of_file(f, meta.file_size)
            except (EOFError, OSError) as exc:
                raise _Damaged(data_path, f"unreadable data ({exc})") from None
            if actual != meta.checksum:
                raise _Damaged(data_path, f"checksum {actual} != {meta.checksum} in the sidecar")
            header = read_header(f, data_path)  # covered by the checksum just checked
            verified.trust(data_path, meta.checksum, st, header)
        check_header(header, meta, side_path, data_path)
        mapped = np.memmap(
            f, dtype=meta.dtype, mode="r", offset=meta.data_offset, shape=meta.shape or (1,)
        )
        return mapped if meta.shape else mapped.reshape(())  # np.memmap turns () into (1,)


def _stream(array: np.ndarray, chunk_bytes: int = 32 << 20) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start_row, rows)`` copies of a stored (memory-mapped) array, chunk by chunk,
    releasing the mapped pages after each chunk (``madvise(MADV_DONTNEED)``).

    Reading a large entry through a plain memory map keeps every touched page resident: RSS
    grows to the entry's size. Streaming keeps it near ``chunk_bytes``. Arrays that are not
    memory-mapped are sliced without copying.
    """
    import mmap as _mmap

    base: Any = array
    while isinstance(base, np.ndarray) and not hasattr(base, "_mmap"):
        base = base.base  # a view's owner; an array made from a tensor is owned by the tensor
    mm = getattr(base, "_mmap", None)
    row_bytes = max(1, array[:1].nbytes) if array.ndim else array.nbytes
    rows = max(1, chunk_bytes // row_bytes)
    n = array.shape[0] if array.ndim else 1
    for start in range(0, n, rows):
        chunk = np.array(array[start:start + rows]) if mm is not None else array[start:start + rows]
        yield start, chunk
        if mm is not None and hasattr(_mmap, "MADV_DONTNEED"):
            mm.madvise(_mmap.MADV_DONTNEED)
