"""The file layout of a store: entry paths, shard folders, temp-file names, and the sweep that
removes the temp files of writers that died (see :mod:`interpclaims.activations._entry` for the
format). This module imports the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from pathlib import Path

LOCK_DIR = ".locks"
TMP_SUFFIX = ".tmp"
DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_SHARD_RE = re.compile(r"[0-9a-f]{2}")
# .<digest>.<host>.<pid>.<random>.<npy|json>.tmp
_TMP_RE = re.compile(r"\.([0-9a-f]{64})\.([A-Za-z0-9-]*)\.([0-9]+)\.[0-9a-f]+\.(npy|json)\.tmp")


def entry_paths(root: Path, digest: str) -> tuple[Path, Path]:
    """The data (``.npy``) and sidecar (``.json``) paths of the entry named ``digest``."""
    shard = root / digest[:2]
    return shard / f"{digest}.npy", shard / f"{digest}.json"


def shards(root: Path) -> list[Path]:
    """The shard folders (``<digest[:2]>``) under ``root``."""
    return [p for p in root.iterdir() if _SHARD_RE.fullmatch(p.name) and p.is_dir()]


def committed_digests(root: Path) -> list[str]:
    """The digests of every committed entry (one with a sidecar) under ``root``, sorted."""
    found = []
    for shard in shards(root):
        found += [p.stem for p in shard.glob("*.json") if DIGEST_RE.fullmatch(p.stem)]
    return sorted(found)


def unlink(path: Path) -> None:
    """Delete ``path``; nothing when it is already gone."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _host() -> str:
    """This machine's name as it appears in temp-file names (letters, digits and ``-`` only)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64]


def temp_paths(data_path: Path, digest: str) -> tuple[Path, Path]:
    """Fresh temp paths for the data and the sidecar of an entry, named after this writer:
    ``.<digest>.<host>.<pid>.<random>.<npy|json>.tmp`` in the entry's shard."""
    stem = f".{digest}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}"
    return (data_path.with_name(f"{stem}.npy{TMP_SUFFIX}"),
            data_path.with_name(f"{stem}.json{TMP_SUFFIX}"))


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (``True`` when that cannot be told)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a pid beyond the platform's range)
    return True


def _writer_dead(name: str, host: str) -> bool:
    """Whether the temp file ``name`` belongs to a writer on this machine that no longer runs.

    A name from another machine (a store on a shared file system) or in another format says
    nothing about its writer: ``False``.
    """
    m = _TMP_RE.fullmatch(name)
    return m is not None and m.group(2) == host and not _pid_alive(int(m.group(3)))


def sweep(root: Path, *, now: float, stale_after: float) -> set[str]:
    """Delete the temp files of dead writers, and every temp file older than ``stale_after``
    seconds at ``now`` (a writer on another machine, or one stuck that long).

    A temp file names its writer's host and pid: a writer on this machine whose pid no longer
    runs was killed before it committed, so its temp files are garbage at once; those of a live
    writer are kept.

    Returns:
        The digest of every entry with a data file or a sidecar (damaged ones included).
    """
    digests: set[str] = set()
    host = _host()
    for shard in shards(root):
        for p in shard.iterdir():
            if p.name.endswith(TMP_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    if _writer_dead(p.name, host) or now - p.stat().st_mtime > stale_after:
                        unlink(p)
            elif p.suffix in (".npy", ".json") and DIGEST_RE.fullmatch(p.stem):
                digests.add(p.stem)
    return digests
