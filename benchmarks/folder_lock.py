"""One ``compare`` at a time per output folder: a lock file the kernel releases when its owner dies.

``OUT/.compare.lock`` is held with ``flock`` for as long as the comparison runs; a second invocation
into the same folder is refused, naming the owner's pid, instead of computing the same runs twice or
mixing its runs with the first one's. The kernel drops a ``flock`` when its process ends however it
ends (``kill -9`` included), so a lock is never stale: a leftover file without a live owner is simply
taken over.
"""

from __future__ import annotations

import os
import pathlib

try:
    import fcntl
except ImportError:  # not POSIX: no locking (the fingerprint checks still keep runs apart)
    fcntl = None

LOCK_NAME = ".compare.lock"


class FolderInUse(RuntimeError):
    """Another live process holds the output folder's lock."""


class FolderLock:
    """``with FolderLock(out): ...`` holds ``out``'s lock, or raises :class:`FolderInUse`."""

    def __init__(self, folder: str | os.PathLike):
        self.path = pathlib.Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise FolderInUse(f"{self.path.parent} is in use by another `python -m benchmarks.compare` (pid "
                                  f"{owner}); wait for it to finish or give another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None
