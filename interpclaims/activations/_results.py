"""The bytes-level store of decided analysis results: one entry per result digest.

An entry is two files in the shard ``<digest[:2]>``: ``<digest>.npz`` (every array of the result,
read back with ``allow_pickle=False``) and ``<digest>.json`` (the JSON tree of the result, the
size and CRC-32 of the ``.npz``, and a CRC-32 of the sidecar's own content), written in that order
and each renamed into place from a temp file, so the sidecar is the commit marker — the same
discipline as the activation store (:mod:`interpclaims.activations._entry`), with its temp-file
names, dead-writer sweep and per-digest file locks. No pickle: a damaged or forged entry can hold
only numbers and JSON.

A read checks the sidecar's checksum and fields, the ``.npz`` size and CRC; any damage is warned
once (:class:`~interpclaims.StoreWarning`), the entry deleted (in ``"rw"`` mode) and treated as a
miss, so it is rebuilt. This module imports numpy, the standard library and filelock, never torch.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from interpclaims._errors import StoreWarning
from interpclaims.activations._files import DIGEST_RE, LOCK_DIR, shards, sweep, temp_paths, unlink
from interpclaims.activations._key import StoreStats
from interpclaims.activations._locks import _KeyLocks
from interpclaims.activations._sidecar import _Damaged, fmt_crc

__all__ = ["RESULTS_FORMAT", "ResultStore"]

RESULTS_FORMAT = "interpclaims.results/1"
_MODES = ("rw", "read", "off")
_FIELDS = frozenset({"format", "digest", "meta", "npz_size", "checksum", "sidecar_checksum"})


def _canonical(side: dict[str, Any]) -> bytes:
    body = {k: v for k, v in side.items() if k != "sidecar_checksum"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _replace(tmp: Path, data: bytes, final: Path) -> None:
    """Write ``data`` to ``tmp``, flush it to disk and rename it to ``final`` (atomic)."""
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        unlink(tmp)


class ResultStore:
    """Decided results on disk, by digest (a sha256 hex string naming everything that determines
    the result; see :mod:`interpclaims.analyses._result_key`).

    Args:
        root: the folder (created on the first write in ``"rw"`` mode).
        mode: ``"rw"`` reads and writes; ``"read"`` reads but never writes or deletes; ``"off"``
            never touches the disk.
        stale_after: age in seconds past which temp files of unfinished writes are swept.
    """

    def __init__(self, root: str | Path, mode: str = "rw", *, stale_after: float = 3600.0) -> None:
        if mode not in _MODES:
            raise ValueError(f"ResultStore mode must be one of {_MODES}, got {mode!r}")
        self.root = Path(root)
        self.mode = mode
        self.stale_after = stale_after
        self.stats = StoreStats()  # the activation store's counters: the same four
        self._locks = _KeyLocks(self.root / LOCK_DIR)
        self._reported: set[str] = set()
        self._swept = False

    def __repr__(self) -> str:
        return f"ResultStore({str(self.root)!r}, mode={self.mode!r})"

    def paths(self, digest: str) -> tuple[Path, Path]:
        """The arrays (``.npz``) and sidecar (``.json``) paths of the entry ``digest``."""
        if not DIGEST_RE.fullmatch(digest):
            raise ValueError(f"ResultStore: {digest!r} is not a sha256 hex digest")
        shard = self.root / digest[:2]
        return shard / f"{digest}.npz", shard / f"{digest}.json"

    def _held(self, digest: str) -> contextlib.AbstractContextManager[None]:
        return self._locks.held([digest], create=self.mode == "rw", timeout=None)

    # ------------------------------------------------------------------ read
    def get(self, digest: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """``(meta, arrays)`` of the entry ``digest``, verified; ``None`` when absent or damaged
        (a damaged entry is reported once and, in ``"rw"`` mode, deleted so it is rebuilt)."""
        if self.mode == "off":
            return None
        npz_path, side_path = self.paths(digest)
        if not side_path.is_file():
            self.stats.misses += 1
            return None
        try:
            found = self._read(digest, npz_path, side_path)
        except _Damaged as damage:
            self._drop(digest, damage)
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return found

    def _read(self, digest: str, npz_path: Path, side_path: Path
              ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        try:
            side = json.loads(side_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise _Damaged(side_path, f"unreadable sidecar ({exc})") from None
        if not isinstance(side, dict) or set(side) != _FIELDS:
            raise _Damaged(side_path, f"sidecar does not have the fields of {RESULTS_FORMAT}")
        if side["sidecar_checksum"] != fmt_crc(zlib.crc32(_canonical(side))):
            raise _Damaged(side_path, "sidecar checksum mismatch (changed after it was written)")
        if side["format"] != RESULTS_FORMAT or side["digest"] != digest:
            raise _Damaged(side_path, f"format {side['format']!r} / digest do not match")
        try:
            raw = npz_path.read_bytes()
        except OSError as exc:
            raise _Damaged(npz_path, f"unreadable arrays file ({exc})") from None
        if len(raw) != side["npz_size"]:
            raise _Damaged(npz_path, f"size {len(raw)} != {side['npz_size']} in the sidecar "
                                     "(truncated or rewritten)")
        if fmt_crc(zlib.crc32(raw)) != side["checksum"]:
            raise _Damaged(npz_path, "data checksum mismatch (the file was changed)")
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zlib.error) as exc:
            raise _Damaged(npz_path, f"unreadable arrays ({exc})") from None
        return side["meta"], arrays

    def _drop(self, digest: str, damage: _Damaged) -> None:
        self.stats.corrupt += 1
        if self.mode == "rw":
            with self._held(digest):
                for p in self.paths(digest)[::-1]:  # sidecar first: uncommit
                    unlink(p)
            action = "deleted; it will be recomputed"
        else:
            action = f"ignored (the result cache is in {self.mode!r} mode); recomputed"
        if digest not in self._reported:
            self._reported.add(digest)
            warnings.warn(f"interpclaims result cache: damaged entry {damage.path} "
                          f"({damage.problem}); {action}", StoreWarning, stacklevel=4)

    # ----------------------------------------------------------------- write
    def put(self, digest: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Store ``meta`` (JSON-safe) and ``arrays`` (plain numeric) under ``digest``, atomically,
        under the digest's inter-process lock; nothing outside ``"rw"`` mode."""
        if self.mode != "rw":
            return
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        raw = buf.getvalue()
        side: dict[str, Any] = {"format": RESULTS_FORMAT, "digest": digest, "meta": meta,
                                "npz_size": len(raw), "checksum": fmt_crc(zlib.crc32(raw))}
        side["sidecar_checksum"] = fmt_crc(zlib.crc32(_canonical(side)))
        text = json.dumps(side, sort_keys=True).encode()
        npz_path, side_path = self.paths(digest)
        npz_path.parent.mkdir(parents=True, exist_ok=True)
        with self._held(digest):
            if not self._swept:
                self._swept = True
                sweep(self.root, now=time.time(), stale_after=self.stale_after)
            tmp_npz, tmp_side = temp_paths(npz_path, digest)
            _replace(tmp_npz, raw, npz_path)
            _replace(tmp_side, text, side_path)
        self._reported.discard(digest)
        self.stats.writes += 1

    def clear(self) -> int:
        """Delete every entry (each under its lock); returns how many (0 outside ``"rw"``)."""
        if self.mode != "rw" or not self.root.is_dir():
            return 0
        found = sweep(self.root, now=time.time(), stale_after=self.stale_after)
        for shard in shards(self.root):
            found |= {p.stem for p in shard.glob("*.npz") if DIGEST_RE.fullmatch(p.stem)}
        for digest in sorted(found):
            with self._held(digest):
                for p in self.paths(digest)[::-1]:
                    unlink(p)
        for shard in shards(self.root):
            with contextlib.suppress(OSError):
                shard.rmdir()
        self._reported.clear()
        return len(found)
