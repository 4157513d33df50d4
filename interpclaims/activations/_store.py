"""A content-addressed, on-disk activation store shared by tests, runs and xdist workers.

The harness asks the store before it runs a model: every ingredient that changes an activation
(weights, backend, dtype, tokenizer, the exact token ids, the site, the position policy) goes into
a :class:`StoreKey`, whose :meth:`StoreKey.digest` names the entry on disk. One entry holds the
activations of one site, so a forward pass that yields several sites writes several entries.

On-disk format (``FORMAT_VERSION`` 1)::

    root/
      .locks/<digest>.lock           per-key inter-process lock (filelock), never an entry
      <digest[:2]>/<digest>.npy      the array: a plain .npy file, C order, no pickles
      <digest[:2]>/<digest>.json     the sidecar, written last: the commit marker of the entry
      <digest[:2]>/.<digest>.<pid>.<random>.<npy|json>.tmp     a write in progress

The sidecar records the key, shape, dtype (``.npy`` descr), the data offset and byte size, the
file size and a checksum of the whole ``.npy`` file (its header and the array bytes). A reader
opens the sidecar first and ignores every name but the two final ones, so temp files are never
picked up. A writer writes the data to a temp file, renames it into place, then writes the sidecar
to a temp file and renames it into place: a writer killed at any point before the last rename
leaves no committed entry (at most a temp file, or a data file without a sidecar, which is
reported and removed like any other damage).

Checksum: CRC-32 (``zlib.crc32``) of the file bytes, streamed from the file in 1 MiB chunks
through one reusable buffer, so verifying a 1 GB entry needs 1 MiB of RAM and leaves no pages
mapped. CRC-32 is the fastest checksum in the standard library (about 2.4 GB/s measured, against
1.5 GB/s for SHA-256 with SHA-NI, about 0.4 GB/s without, 0.8 GB/s for BLAKE2b); it catches every
burst error up to 32 bits and misses random damage with probability 2**-32, plenty for a cache
that guards against torn writes and bit rot rather than an adversary (the key digest itself is
SHA-256). The file size is checked against the sidecar before anything is hashed, so truncation
is caught without reading the data; the header is covered by the checksum, and the memmap is
built from the sidecar's dtype, shape and offset. A write hashes the temp file it has just
written (hot in the page cache; faster here than hashing the array in memory), so the checksum
covers the bytes that reached the file. With ``verify="once"`` (the default) a process verifies
a file once and trusts it while its (device, inode, size, mtime, ctime) stay the same;
``verify="always"`` hashes on every read.

Damaged entries (a wrong size, a flipped byte, an unparsable sidecar, a sidecar without data, data
without a sidecar) are re-checked under the key's lock (a concurrent writer may be between its two
renames), then reported with :class:`StoreWarning` naming the file, deleted in ``"rw"`` mode, and
treated as a miss, so they are rebuilt and never used.

Reads are memory-mapped (:class:`numpy.memmap`, read-only), so large entries do not load into RAM.
The store never writes a file in place: an entry is replaced by renaming a new file over it, so a
mapping handed out earlier keeps showing the old, verified bytes. (Bytes that something else
changes in place after a verification show through such mappings until the next verification.)
The store is meant for POSIX file systems (entries are replaced with ``os.replace`` while readers
may hold them mapped). This module imports numpy, the standard library and filelock, never torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from filelock import BaseFileLock
from interpclaims._errors import StoreWarning

__all__ = [
    "FORMAT_VERSION",
    "ActivationStore",
    "StoreKey",
    "StoreStats",
    "StoreWarning",
    "tokens_digest",
]

#: Version of the key digest and of the on-disk layout; bump it to invalidate every entry.
FORMAT_VERSION = 1

StoreMode = Literal["rw", "read", "off"]
VerifyPolicy = Literal["always", "once"]

_MODES: tuple[str, ...] = ("rw", "read", "off")
_VERIFY: tuple[str, ...] = ("always", "once")
_CHUNK = 1 << 20  # bytes hashed per step: fits in L2, measured fastest for readinto + crc32
_CHECKSUM_ALGO = "crc32"
_LOCK_DIR = ".locks"
_TMP_SUFFIX = ".tmp"
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_SHARD_RE = re.compile(r"[0-9a-f]{2}")


@dataclass(frozen=True, slots=True)
class StoreKey:
    """Every ingredient that changes a stored activation; its digest names the entry.

    Attributes:
        weights: hash of the model weights (e.g. ``weights_hash(model_dir)``).
        backend: the backend that ran the model, ``"tl"`` or ``"nnsight"``.
        dtype: the compute dtype, e.g. ``"float32"``.
        tokenizer: hash of the tokenizer.
        tokens: SHA-256 of the exact token-id matrix and lengths (see :func:`tokens_digest`); it
            covers the data and the BOS / padding policy that produced the ids.
        site: the site, as ``str(site)``, e.g. ``"L1.resid_post"``.
        policy: the token-position / padding policy tag.
    """

    weights: str
    backend: str
    dtype: str
    tokenizer: str
    tokens: str
    site: str
    policy: str = "right-pad+bos"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str) or not value:
                raise TypeError(
                    f"StoreKey.{f.name} must be a non-empty str, got {value!r}; "
                    f"pass str(...) of the {f.name} (e.g. str(site) for a Site)"
                )

    def to_json(self) -> dict[str, str]:
        """The fields as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreKey:
        """The key stored in a sidecar, from :meth:`to_json`'s dict.

        Raises:
            TypeError: when a field is missing, unknown or not a non-empty string.
        """
        return cls(**data)

    def canonical(self) -> str:
        """The canonical JSON the digest hashes: sorted keys, no spaces, ASCII, format version."""
        return json.dumps(
            {"format": FORMAT_VERSION, "key": self.to_json()},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )

    def digest(self) -> str:
        """SHA-256 hex of :meth:`canonical`: stable across processes, runs and machines."""
        return hashlib.sha256(self.canonical().encode("ascii")).hexdigest()


def tokens_digest(ids: np.ndarray, lengths: np.ndarray | Sequence[int] | None = None) -> str:
    """SHA-256 of a token-id matrix and its row lengths, for :attr:`StoreKey.tokens`.

    The ids and lengths are hashed as little-endian int64 in C order together with their shapes,
    so the digest does not depend on the integer dtype or memory layout they arrive in.

    Args:
        ids: the token ids, any integer array (typically ``(batch, seq)``, padding included).
        lengths: the number of real tokens of each row, or ``None``.

    Returns:
        The 64-character hex digest.

    Raises:
        TypeError: when ``ids`` or ``lengths`` is not an integer array.
    """
    h = hashlib.sha256(b"interpclaims.tokens.v1")
    parts: list[tuple[str, np.ndarray | None]] = [("ids", np.asarray(ids))]
    parts.append(("lengths", None if lengths is None else np.asarray(lengths)))
    for name, arr in parts:
        if arr is None:
            h.update(f"|{name}:none".encode())
            continue
        if arr.dtype.kind not in "iub":
            raise TypeError(f"tokens_digest: {name} must hold integers, got dtype {arr.dtype}")
        canon = np.asarray(arr, dtype="<i8", order="C")
        h.update(f"|{name}:{list(canon.shape)}".encode())
        h.update(canon.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


@dataclass(slots=True)
class StoreStats:
    """Counters of one :class:`ActivationStore` (this process only).

    Attributes:
        hits: lookups answered from disk.
        misses: lookups not answered from disk (``get`` returning ``None``, and every compute).
        writes: entries written.
        corrupt: damaged entries detected (and deleted in ``"rw"`` mode, so they are rebuilt).
    """

    hits: int = 0
    misses: int = 0
    writes: int = 0
    corrupt: int = 0

    def to_json(self) -> dict[str, int]:
        """The counters as a JSON-ready dict."""
        return asdict(self)


class _Damaged(Exception):
    """An entry failed a check; the message says which and why."""

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
    return _fmt_crc(crc)


def _fmt_crc(crc: int) -> str:
    return f"{_CHECKSUM_ALGO}:{crc:08x}"


def _parse_sidecar(path: Path, raw: bytes, digest: str) -> _Meta:
    """Parse and check a sidecar; raise :class:`_Damaged` when anything is off."""
    try:
        side = json.loads(raw)
        if not isinstance(side, dict):
            raise TypeError("not a JSON object")
        if side.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {side.get('format')!r} != {FORMAT_VERSION}")
        key = StoreKey.from_json(side["key"])
        if key.digest() != digest or side.get("digest") != digest:
            raise ValueError("its key does not hash to the entry's name")
        shape = tuple(int(n) for n in side["shape"])
        descr = side["dtype"]
        dtype = np.lib.format.descr_to_dtype(descr)  # type: ignore[arg-type]
        meta = _Meta(
            shape=shape,
            descr=descr,
            data_offset=int(side["data_offset"]),
            nbytes=int(side["nbytes"]),
            file_size=int(side["file_size"]),
            checksum=str(side["checksum"]),
        )
        if meta.nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ValueError("nbytes does not match shape and dtype")
        if meta.file_size != meta.data_offset + meta.nbytes:
            raise ValueError("file_size does not match data_offset + nbytes")
        if not meta.checksum.startswith(f"{_CHECKSUM_ALGO}:"):
            raise ValueError(f"unknown checksum {meta.checksum!r}")
    except (ValueError, TypeError, KeyError) as exc:  # JSONDecodeError is a ValueError
        raise _Damaged(path, f"unparsable sidecar ({exc})") from None
    return meta


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only view of ``arr`` (the caller's array keeps its own flags)."""
    view = arr.view()
    view.flags.writeable = False
    return view


class ActivationStore:
    """A content-addressed, on-disk store of activation arrays, safe across processes.

    Args:
        root: the store folder (created on the first write in ``"rw"`` mode).
        mode: ``"rw"`` reads and writes; ``"read"`` reads but never writes, creates or deletes
            anything (damaged entries are reported and skipped); ``"off"`` never touches the
            disk, so every ``get_or_compute`` computes.
        verify: ``"once"`` verifies the checksum of a file the first time this process reads it
            and again only when its inode, size or times change; ``"always"`` on every read.
        lock_timeout: seconds to wait for another process holding a key's lock; ``None`` waits
            as long as it takes (a lock held by a dead process is released by the OS at once).
            When it runs out, :class:`filelock.Timeout` (a ``TimeoutError``) is raised.
        stale_after: age in seconds past which :meth:`clear` deletes temp files of writes that
            never finished (younger ones may belong to a live writer).

    Methods that write (``put``, ``clear``) are no-ops outside ``"rw"`` mode, so the harness can
    call them unconditionally and set the mode once.
    """

    def __init__(
        self,
        root: str | Path,
        mode: StoreMode | str = "rw",
        *,
        verify: VerifyPolicy | str = "once",
        lock_timeout: float | None = None,
        stale_after: float = 3600.0,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"ActivationStore mode must be one of {_MODES}, got {mode!r}")
        if verify not in _VERIFY:
            raise ValueError(f"ActivationStore verify must be one of {_VERIFY}, got {verify!r}")
        self.root = Path(root)
        self.mode: str = mode
        self.verify: str = verify
        self.lock_timeout = lock_timeout
        self.stale_after = stale_after
        self.stats = StoreStats()
        self._locks: dict[str, BaseFileLock] = {}
        self._locks_guard = threading.Lock()
        self._verified: dict[str, tuple[int, ...]] = {}

    def __repr__(self) -> str:
        return f"ActivationStore({str(self.root)!r}, mode={self.mode!r})"

    # ----------------------------------------------------------------- paths
    def paths(self, key: StoreKey) -> tuple[Path, Path]:
        """The data (``.npy``) and sidecar (``.json``) paths of ``key``'s entry."""
        return self._paths(key.digest())

    def _paths(self, digest: str) -> tuple[Path, Path]:
        shard = self.root / digest[:2]
        return shard / f"{digest}.npy", shard / f"{digest}.json"

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` has a committed entry (a sidecar); nothing is verified."""
        if not isinstance(key, StoreKey) or self.mode == "off":
            return False
        return self.paths(key)[1].is_file()

    def digests(self) -> list[str]:
        """The digests of every committed entry (one with a sidecar), sorted; nothing verified."""
        if self.mode == "off" or not self.root.is_dir():
            return []
        found = []
        for shard in self._shards():
            found += [p.stem for p in shard.glob("*.json") if _DIGEST_RE.fullmatch(p.stem)]
        return sorted(found)

    def _shards(self) -> Iterator[Path]:
        for p in self.root.iterdir():
            if _SHARD_RE.fullmatch(p.name) and p.is_dir():
                yield p

    # ----------------------------------------------------------------- streaming
    @staticmethod
    def stream(array: np.ndarray, chunk_bytes: int = 32 << 20) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start_row, rows)`` copies of a stored (memory-mapped) array, chunk by chunk,
        releasing the mapped pages after each chunk (``madvise(MADV_DONTNEED)``).

        Reading a large entry through a plain memory map keeps every touched page resident: RSS
        grows to the entry's size. Streaming keeps it near ``chunk_bytes``. Arrays that are not
        memory-mapped are sliced without copying.
        """
        import mmap as _mmap

        base: Any = array
        while base is not None and not hasattr(base, "_mmap"):
            base = base.base
        mm = getattr(base, "_mmap", None)
        row_bytes = max(1, array[:1].nbytes) if array.ndim else array.nbytes
        rows = max(1, chunk_bytes // row_bytes)
        n = array.shape[0] if array.ndim else 1
        for start in range(0, n, rows):
            chunk = np.array(array[start:start + rows]) if mm is not None else array[start:start + rows]
            yield start, chunk
            if mm is not None and hasattr(_mmap, "MADV_DONTNEED"):
                mm.madvise(_mmap.MADV_DONTNEED)

    # ----------------------------------------------------------------- locks
    def _lock(self, digest: str) -> BaseFileLock:
        """This store's (reentrant) lock object of ``digest``, created on first use."""
        with self._locks_guard:
            lock = self._locks.get(digest)
            if lock is None:
                from filelock import FileLock

                lock_dir = self.root / _LOCK_DIR
                if self.mode == "rw":
                    lock_dir.mkdir(parents=True, exist_ok=True)
                timeout = -1 if self.lock_timeout is None else self.lock_timeout
                lock = FileLock(lock_dir / f"{digest}.lock", timeout=timeout)
                self._locks[digest] = lock
            return lock

    @contextlib.contextmanager
    def _locked(self, digests: Sequence[str]) -> Iterator[None]:
        """Hold the locks of ``digests``, taken in sorted order so two callers cannot deadlock."""
        with contextlib.ExitStack() as stack:
            for digest in sorted(set(digests)):
                stack.enter_context(self._lock(digest))
            yield

    def _try_lock(self, digest: str) -> BaseFileLock | Literal[False] | None:
        """Take ``digest``'s lock without waiting.

        Returns:
            The acquired lock (release it), ``None`` when no lock can be had here (a read-only
            store without that lock file, or a file system that refuses it), or ``False`` when
            another process holds it.
        """
        from filelock import Timeout

        if self.mode != "rw" and not (self.root / _LOCK_DIR / f"{digest}.lock").is_file():
            return None  # "read" creates nothing, not even a lock file
        try:
            lock = self._lock(digest)
            lock.acquire(timeout=0)
        except Timeout:
            return False
        except OSError:
            return None
        return lock

    # ------------------------------------------------------------------ read
    def get(self, key: StoreKey) -> np.ndarray | None:
        """The stored array of ``key``, or ``None``.

        Returns:
            A read-only :class:`numpy.memmap` of the entry; ``None`` on a miss, in ``"off"`` mode,
            or when the entry is damaged (reported with :class:`StoreWarning`, and deleted in
            ``"rw"`` mode so that it is rebuilt).
        """
        if self.mode == "off":
            return None
        arr = self._lookup(key.digest())
        if arr is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return arr

    def _lookup(self, digest: str) -> np.ndarray | None:
        """Load and verify an entry; damaged entries are re-checked under the lock, then dropped."""
        try:
            return self._load(digest)
        except _Damaged:
            pass
        lock = self._try_lock(digest)
        if lock is False:
            return None  # a writer holds the key: it is rewriting this very entry
        try:
            try:
                return self._load(digest)
            except _Damaged as damage:
                self._drop(digest, damage)
                return None
        finally:
            if lock is not None:
                lock.release()

    def _load(self, digest: str) -> np.ndarray | None:
        """The verified memmap of an entry, ``None`` when absent; :class:`_Damaged` when broken."""
        data_path, side_path = self._paths(digest)
        try:
            raw = side_path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            if data_path.exists():
                raise _Damaged(data_path, "data without sidecar") from None
            return None
        except OSError as exc:
            raise _Damaged(side_path, f"unreadable sidecar ({exc})") from None
        meta = _parse_sidecar(side_path, raw, digest)
        try:
            f = data_path.open("rb")
        except FileNotFoundError:
            raise _Damaged(side_path, "sidecar without data") from None
        except OSError as exc:
            raise _Damaged(data_path, f"unreadable data ({exc})") from None
        with f:
            st = os.fstat(f.fileno())
            if st.st_size != meta.file_size:
                raise _Damaged(
                    data_path, f"size {st.st_size} bytes, sidecar says {meta.file_size}"
                )
            ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            cache_key = f"{data_path}|{meta.checksum}"
            if self.verify == "always" or self._verified.get(cache_key) != ident:
                try:
                    actual = _crc_of_file(f, meta.file_size)
                except (EOFError, OSError) as exc:
                    raise _Damaged(data_path, f"unreadable data ({exc})") from None
                if actual != meta.checksum:
                    raise _Damaged(
                        data_path, f"checksum {actual} != {meta.checksum} in the sidecar"
                    )
                self._verified[cache_key] = ident
            # the header was covered by the checksum; map from the sidecar's dtype and shape
            dtype = np.lib.format.descr_to_dtype(meta.descr)  # type: ignore[arg-type]
            mapped = np.memmap(
                f, dtype=dtype, mode="r", offset=meta.data_offset, shape=meta.shape or (1,)
            )
            return mapped if meta.shape else mapped.reshape(())  # np.memmap turns () into (1,)

    def _drop(self, digest: str, damage: _Damaged) -> None:
        """Report a damaged entry and, in ``"rw"`` mode, delete it (sidecar first: uncommit)."""
        self.stats.corrupt += 1
        if self.mode == "rw":
            data_path, side_path = self._paths(digest)
            try:
                _unlink(side_path)
                _unlink(data_path)
                action = "deleted; it will be rebuilt"
            except OSError as exc:
                action = f"ignored; it could not be deleted ({exc})"
        else:
            action = f"ignored (the store is in {self.mode!r} mode, so it stays on disk)"
        warnings.warn(
            f"interpclaims activation store: damaged entry {damage.path} ({damage.problem}); "
            f"{action}",
            StoreWarning,
            stacklevel=4,
        )

    # ----------------------------------------------------------------- write
    def put(self, key: StoreKey, array: np.ndarray) -> np.ndarray:
        """Store ``array`` under ``key``, atomically, replacing any entry there.

        Args:
            key: the entry's key.
            array: the activations (any non-object dtype; stored in C order).

        Returns:
            The stored entry as a read-only :class:`numpy.memmap`; outside ``"rw"`` mode, where
            nothing is written, a read-only view of ``array``.

        Raises:
            TypeError: for an object (or other pickled) dtype.
            OSError: when the entry cannot be written (disk full, no permission).
        """
        arr = np.asarray(array, order="C")
        if arr.dtype.hasobject:
            raise TypeError(f"ActivationStore cannot store dtype {arr.dtype} (holds objects)")
        if self.mode != "rw":
            return _read_only(arr)
        digest = key.digest()
        with self._locked([digest]):
            self._write(key, digest, arr)
            stored = self._load(digest)
        if stored is None:  # pragma: no cover - only if someone deletes it under our lock
            raise FileNotFoundError(f"entry {self._paths(digest)[0]} vanished after its write")
        return stored

    def _write(self, key: StoreKey, digest: str, arr: np.ndarray) -> None:
        """Write an entry; the caller holds its lock. Data first, then the sidecar (the commit)."""
        data_path, side_path = self._paths(digest)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        stem = f".{digest}.{os.getpid()}.{secrets.token_hex(4)}"
        tmp_data = data_path.with_name(f"{stem}.npy{_TMP_SUFFIX}")
        tmp_side = data_path.with_name(f"{stem}.json{_TMP_SUFFIX}")
        try:
            with tmp_data.open("xb") as f:  # a BufferedWriter: numpy writes it with tofile()
                _write_npy(f, arr)
                file_size = f.tell()
            data_offset = file_size - arr.nbytes
            with tmp_data.open("rb") as f:  # hash what reached the file (hot in the page cache)
                checksum = _crc_of_file(f, file_size)
            sidecar = {
                "format": FORMAT_VERSION,
                "digest": digest,
                "key": key.to_json(),
                "shape": list(arr.shape),
                "dtype": np.lib.format.dtype_to_descr(arr.dtype),
                "data_offset": data_offset,
                "nbytes": arr.nbytes,
                "file_size": file_size,
                "checksum": checksum,
                "created": time.time(),
            }
            tmp_side.write_text(json.dumps(sidecar, indent=1, sort_keys=True))
            _unlink(side_path)  # uncommit the old entry before its data changes
            os.replace(tmp_data, data_path)
            os.replace(tmp_side, side_path)  # the commit
        finally:
            _unlink(tmp_data)
            _unlink(tmp_side)
        st = data_path.stat()
        # this process wrote these bytes: trust them until the file changes
        self._verified[f"{data_path}|{checksum}"] = (
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
        )
        self.stats.writes += 1

    # --------------------------------------------------------------- compute
    def get_or_compute(self, key: StoreKey, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The stored array of ``key``, computing and storing it on a miss.

        In ``"rw"`` mode the miss is handled under the key's inter-process lock and the store is
        checked again once the lock is held, so processes asking for the same entry at once
        compute it exactly once; the others wait and read it. ``"read"`` computes on a miss but
        never writes; ``"off"`` always computes.

        Args:
            key: the entry's key.
            compute: returns the array (anything ``numpy.asarray`` accepts) on a miss.

        Returns:
            A read-only array: the memmap of the entry, or a read-only view of what ``compute``
            returned when nothing was stored (``"read"``/``"off"`` mode, or a failed write, which
            is reported with :class:`StoreWarning`).
        """
        return self.get_or_compute_many([key], lambda missing: {missing[0]: compute()})[key]

    def get_or_compute_many(
        self,
        keys: Sequence[StoreKey],
        compute: Callable[[list[StoreKey]], dict[StoreKey, np.ndarray]],
    ) -> dict[StoreKey, np.ndarray]:
        """The stored arrays of ``keys``, computing only the missing ones, in one call.

        The common case is one forward pass yielding several sites: ``compute`` gets the list of
        missing keys (in the order given, without duplicates) and returns an array for each.
        In ``"rw"`` mode the missing keys are locked in sorted digest order (no deadlock between
        processes asking for overlapping sets), checked again, and only those still missing are
        computed and written.

        Args:
            keys: the entries wanted (duplicates are fine).
            compute: maps the missing keys to their arrays; extra keys it returns are ignored.

        Returns:
            ``{key: read-only array}`` for every key, in the order of ``keys``.

        Raises:
            KeyError: when ``compute`` leaves out a key it was asked for.
        """
        unique = list(dict.fromkeys(keys))
        digests = {key: key.digest() for key in unique}
        found: dict[StoreKey, np.ndarray] = {}
        if self.mode != "off":
            for key in unique:
                arr = self._lookup(digests[key])
                if arr is not None:
                    found[key] = arr
        missing = [key for key in unique if key not in found]
        if missing:
            with contextlib.ExitStack() as stack:
                store = self.mode == "rw" and self._lock_all(stack, [digests[k] for k in missing])
                if store:  # check again under the locks: another process may have written them
                    for key in missing:
                        arr = self._lookup(digests[key])
                        if arr is not None:
                            found[key] = arr
                    missing = [key for key in missing if key not in found]
                if missing:
                    computed = self._compute(compute, missing)
                    for key in missing:
                        found[key] = (
                            self._store_computed(key, digests[key], computed[key])
                            if store
                            else _read_only(computed[key])
                        )
        self.stats.hits += len(unique) - len(missing)
        self.stats.misses += len(missing)
        return {key: found[key] for key in keys}

    def _lock_all(self, stack: contextlib.ExitStack, digests: list[str]) -> bool:
        """Enter the locks of ``digests`` on ``stack``; ``False`` (with a warning) if impossible.

        Raises:
            filelock.Timeout: when another process holds a lock past ``lock_timeout``.
        """
        from filelock import Timeout

        try:
            stack.enter_context(self._locked(digests))
        except Timeout:
            raise
        except OSError as exc:  # a read-only or missing root: run, but cache nothing
            warnings.warn(
                f"interpclaims activation store: cannot lock entries under {self.root} ({exc}); "
                "computing without caching",
                StoreWarning,
                stacklevel=4,
            )
            return False
        return True

    @staticmethod
    def _compute(
        compute: Callable[[list[StoreKey]], dict[StoreKey, np.ndarray]], keys: list[StoreKey]
    ) -> dict[StoreKey, np.ndarray]:
        out = compute(list(keys))
        lost = [key for key in keys if key not in out]
        if lost:
            raise KeyError(
                f"compute returned no array for {len(lost)} of the {len(keys)} keys it was "
                f"asked for, e.g. site {lost[0].site!r}; it must return one per requested key"
            )
        return {key: np.asarray(out[key]) for key in keys}

    def _store_computed(self, key: StoreKey, digest: str, arr: np.ndarray) -> np.ndarray:
        """Write a computed array (lock held) and return its memmap; on failure, warn and go on."""
        arr = np.asarray(arr, order="C")
        if arr.dtype.hasobject:
            raise TypeError(f"ActivationStore cannot store dtype {arr.dtype} (holds objects)")
        try:
            self._write(key, digest, arr)
            stored = self._load(digest)
        except (OSError, _Damaged) as exc:
            warnings.warn(
                f"interpclaims activation store: could not store site {key.site!r} under "
                f"{self.root} ({exc}); using the computed array without caching it",
                StoreWarning,
                stacklevel=4,
            )
            return _read_only(arr)
        return stored if stored is not None else _read_only(arr)

    # ----------------------------------------------------------------- clear
    def clear(self) -> int:
        """Delete every entry (and temp files older than ``stale_after``).

        Each entry is deleted under its lock, so a write in progress finishes first. Lock files
        stay (they are empty; deleting a lock file another process holds would break the lock).

        Returns:
            The number of entries deleted (damaged ones included); 0 outside ``"rw"`` mode,
            where nothing is deleted.
        """
        if self.mode != "rw" or not self.root.is_dir():
            return 0
        digests: set[str] = set()
        now = time.time()
        for shard in list(self._shards()):
            for p in shard.iterdir():
                if p.name.endswith(_TMP_SUFFIX):
                    with contextlib.suppress(FileNotFoundError):
                        if now - p.stat().st_mtime > self.stale_after:
                            _unlink(p)
                elif p.suffix in (".npy", ".json") and _DIGEST_RE.fullmatch(p.stem):
                    digests.add(p.stem)
        for digest in sorted(digests):
            with self._locked([digest]):
                data_path, side_path = self._paths(digest)
                _unlink(side_path)
                _unlink(data_path)
        for shard in list(self._shards()):
            with contextlib.suppress(OSError):
                shard.rmdir()  # only when empty (fresh temp files of live writers keep it)
        self._verified.clear()
        return len(digests)
