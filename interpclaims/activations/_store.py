"""A content-addressed, on-disk activation store shared by tests, runs and xdist workers.

The harness asks the store before it runs a model: every ingredient that changes an activation
(weights, backend, dtype, tokenizer, the exact token ids, the site, the position policy) goes into
a :class:`StoreKey`, whose :meth:`StoreKey.digest` names the entry on disk. One entry holds the
activations of one site, so a forward pass that yields several sites writes several entries.

The on-disk format, the checksum and the handling of damaged entries are described in
:mod:`interpclaims.activations._entry`; the per-key locks live in
:mod:`interpclaims.activations._locks`. This module imports numpy, the standard library and
filelock, never torch.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from interpclaims._errors import StoreWarning
from interpclaims.activations._entry import (
    _load_entry,
    _read_only,
    _Reported,
    _stream,
    _Verified,
    _write_entry,
)
from interpclaims.activations._files import (
    LOCK_DIR,
    committed_digests,
    entry_paths,
    shards,
    sweep,
    unlink,
)
from interpclaims.activations._key import StoreKey, StoreStats
from interpclaims.activations._locks import _KeyLocks
from interpclaims.activations._sidecar import _Damaged, storable

__all__ = ["ActivationStore"]

StoreMode = Literal["rw", "read", "off"]
VerifyPolicy = Literal["always", "once"]

_MODES: tuple[str, ...] = ("rw", "read", "off")
_VERIFY: tuple[str, ...] = ("always", "once")


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
        stale_after: age in seconds past which :meth:`clear` deletes any temp file of a write
            that never finished (those of dead writers on this host go at once, see
            :func:`~interpclaims.activations._files.sweep`).

    Methods that write (``put``, ``clear``) are no-ops outside ``"rw"`` mode, so the harness can
    call them unconditionally and set the mode once.

    The layout of the entries on disk, their checksum and what happens to damaged ones are
    described in :mod:`interpclaims.activations._entry`.
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
        self._locks = _KeyLocks(self.root / LOCK_DIR)
        self._verified = _Verified()
        self._reported = _Reported()
        self._swept = False  # dead writers' temp files are swept at this store's first write

    def __repr__(self) -> str:
        return f"ActivationStore({str(self.root)!r}, mode={self.mode!r})"

    # ----------------------------------------------------------------- paths
    def paths(self, key: StoreKey) -> tuple[Path, Path]:
        """The data (``.npy``) and sidecar (``.json``) paths of ``key``'s entry."""
        return self._paths(key.digest())

    def _paths(self, digest: str) -> tuple[Path, Path]:
        return entry_paths(self.root, digest)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` has a committed entry (a sidecar); nothing is verified."""
        if not isinstance(key, StoreKey) or self.mode == "off":
            return False
        return self.paths(key)[1].is_file()

    def digests(self) -> list[str]:
        """The digests of every committed entry (one with a sidecar), sorted; nothing verified."""
        if self.mode == "off" or not self.root.is_dir():
            return []
        return committed_digests(self.root)

    # ----------------------------------------------------------------- streaming
    #: ``stream(array, chunk_bytes)``: ``(start_row, rows)`` chunks of a memmap, its pages
    #: released after each chunk (see ``_entry._stream``).
    stream = staticmethod(_stream)

    # ----------------------------------------------------------------- locks
    @contextlib.contextmanager
    def _locked(self, digests: Sequence[str]) -> Iterator[None]:
        """Hold the locks of ``digests``, taken in sorted order so two callers cannot deadlock."""
        with self._locks.held(digests, create=self.mode == "rw", timeout=self.lock_timeout):
            yield

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
        """Load and verify an entry; damaged entries are re-checked under the lock, then dropped.

        An entry reported damaged before is a plain miss while its files stay as they were.
        """
        if self._reported.unchanged(self.root, digest):
            return None
        try:
            return self._load(digest)
        except _Damaged:
            pass
        # without waiting; None: no lock here ("read" creates no lock file), False: another holds it
        lock = self._locks.try_lock(digest, create=self.mode == "rw", timeout=self.lock_timeout)
        if lock is False:
            return None  # a writer holds the key: it is rewriting this very entry
        try:
            ident = _Reported.ident(self.root, digest)
            try:
                return self._load(digest)
            except _Damaged as damage:
                self._drop(digest, damage, ident)
                return None
        finally:
            if lock is not None:
                lock.release()

    def _load(self, digest: str) -> np.ndarray | None:
        """The verified memmap of an entry, ``None`` when absent; :class:`_Damaged` when broken."""
        return _load_entry(self.root, digest, self._verified, always=self.verify == "always")

    def _drop(self, digest: str, damage: _Damaged, ident: tuple[object, ...]) -> None:
        """Report a damaged entry (whose files had identity ``ident``) and count it, once; in
        ``"rw"`` mode delete it (sidecar first: uncommit)."""
        self.stats.corrupt += 1
        self._reported.remember(digest, ident)
        if self.mode == "rw":
            data_path, side_path = self._paths(digest)
            try:
                unlink(side_path)
                unlink(data_path)
                action = "deleted; it will be rebuilt"
            except OSError as exc:
                action = f"ignored; it could not be deleted ({exc})"
        else:
            action = (f"ignored (the store is in {self.mode!r} mode, so it stays on disk; "
                      "reported once, later lookups are misses)")
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
            array: the activations, of a plain numeric dtype (bool, integer, float, complex);
                stored in C order and native byte order.

        Returns:
            The stored entry as a read-only :class:`numpy.memmap`; outside ``"rw"`` mode, where
            nothing is written, a read-only view of ``array``.

        Raises:
            TypeError: for any other dtype (objects, structures, strings, datetimes).
            OSError: when the entry cannot be written (disk full, no permission).
        """
        arr = storable(array)
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
        """Write an entry; the caller holds its lock. Data first, then the sidecar (the commit).

        The first write of this store also sweeps the temp files of dead writers.
        """
        if not self._swept and self.root.is_dir():
            self._swept = True
            sweep(self.root, now=time.time(), stale_after=self.stale_after)
        data_path, checksum, header = _write_entry(self.root, key, digest, arr)
        self._reported.forget(digest)
        # this process wrote these bytes: trust them until the file changes
        self._verified.trust(data_path, checksum, data_path.stat(), header)
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
            TypeError: when it returns an array that is not plain numeric (in every mode).
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
        return {key: storable(out[key]) for key in keys}  # the same arrays in every mode

    def _store_computed(self, key: StoreKey, digest: str, arr: np.ndarray) -> np.ndarray:
        """Write a computed array (lock held) and return its memmap; on failure, warn and go on."""
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
        digests = sweep(self.root, now=time.time(), stale_after=self.stale_after)
        for digest in sorted(digests):
            with self._locked([digest]):
                data_path, side_path = self._paths(digest)
                unlink(side_path)
                unlink(data_path)
        for shard in shards(self.root):
            with contextlib.suppress(OSError):
                shard.rmdir()  # only when empty (fresh temp files of live writers keep it)
        self._verified.clear()
        self._reported.clear()
        return len(digests)
