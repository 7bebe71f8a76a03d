"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file the package and its harness write in place -- cache entries, saved env states, run results,
CSV tables -- goes through :func:`write_atomic`.
"""

from __future__ import annotations

import os
import pathlib
import secrets


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a unique temporary file in the same folder and ``os.replace``.

    The temporary name (``.<name>.<pid>-<random>.tmp``) is unique per writer, so two processes writing
    the same path at once each replace one complete file by another; a failed write removes its
    temporary file and re-raises.
    """
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
