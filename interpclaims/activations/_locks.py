"""The per-key inter-process locks of a store: one :class:`filelock.FileLock` per entry digest.

Lock files live in ``root/.locks/<digest>.lock``; they are empty and never deleted (deleting a
lock file another process holds would break the lock). A lock held by a dead process is released
by the OS at once. filelock is imported when the first lock is made.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from filelock import BaseFileLock


class _KeyLocks:
    """The (reentrant) lock objects of one store, by digest, created on first use.

    Args:
        lock_dir: the folder of the lock files (``root/.locks``).

    Every method takes ``create`` (whether the lock folder may be created: only a store that
    writes creates anything) and ``timeout`` (seconds to wait for another process; ``None`` waits
    as long as it takes), read by the store at each call. Both are used when a digest's lock
    object is first made.
    """

    __slots__ = ("_guard", "_locks", "lock_dir")

    def __init__(self, lock_dir: Path) -> None:
        self.lock_dir = lock_dir
        self._locks: dict[str, BaseFileLock] = {}
        self._guard = threading.Lock()

    def lock(self, digest: str, *, create: bool, timeout: float | None) -> BaseFileLock:
        """The lock object of ``digest``, created on first use."""
        with self._guard:
            lock = self._locks.get(digest)
            if lock is None:
                from filelock import FileLock

                if create:
                    self.lock_dir.mkdir(parents=True, exist_ok=True)
                wait = -1 if timeout is None else timeout
                lock = FileLock(self.lock_dir / f"{digest}.lock", timeout=wait)
                self._locks[digest] = lock
            return lock

    @contextlib.contextmanager
    def held(
        self, digests: Sequence[str], *, create: bool, timeout: float | None
    ) -> Iterator[None]:
        """Hold the locks of ``digests``, taken in sorted order so two callers cannot deadlock.

        Raises:
            filelock.Timeout: when another process holds a lock past ``timeout``.
        """
        with contextlib.ExitStack() as stack:
            for digest in sorted(set(digests)):
                stack.enter_context(self.lock(digest, create=create, timeout=timeout))
            yield

    def try_lock(
        self, digest: str, *, create: bool, timeout: float | None
    ) -> BaseFileLock | Literal[False] | None:
        """Take ``digest``'s lock without waiting.

        Returns:
            The acquired lock (release it), ``None`` when no lock can be had here (a store that
            may not create the lock file and finds none, or a file system that refuses it), or
            ``False`` when another process holds it.
        """
        from filelock import Timeout

        if not create and not (self.lock_dir / f"{digest}.lock").is_file():
            return None  # a store that creates nothing does not create a lock file either
        try:
            lock = self.lock(digest, create=create, timeout=timeout)
            lock.acquire(timeout=0)
        except Timeout:
            return False
        except OSError:
            return None
        return lock
