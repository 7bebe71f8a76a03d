"""Self-verifying on-disk cache entries (the BPE tokenizer, task windows, embeddings).

Each entry is **one file**: the payload followed by a fixed-size footer holding the sha256 of the
payload. It is written to a temporary file in the same folder and moved into place with
``os.replace``, so a reader sees either no file or a complete one, and there is no second file (a
manifest) that could go stale: two processes building the same entry at once each replace one
complete, self-consistent file by another. A reader reads the file once, checks the footer, and
parses the verified bytes it read (never the path again).

An entry that is unreadable, has no footer and does not parse, fails its checksum (truncated,
flipped bytes, overwritten) or does not load is *damaged*: :func:`cached` rebuilds it and warns
(:class:`CacheRebuiltWarning`) naming the file. An entry written before checksums existed (no footer,
but it parses) is rebuilt quietly, once.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pathlib
import warnings
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from curriculum_env.files import write_atomic

T = TypeVar("T")

_FOOTER = b"\n#curriculum-env-cache sha256="
_FOOTER_SIZE = len(_FOOTER) + 64 + 1  # the marker, the hex digest, a newline

log = logging.getLogger(__name__)


class CacheRebuiltWarning(UserWarning):
    """A damaged on-disk cache entry was found and rebuilt."""


class DamagedEntry(Exception):
    """Raised by :func:`payload_of` for bytes that are not an intact entry; ``legacy``: no footer at all."""

    def __init__(self, reason: str, legacy: bool = False):
        super().__init__(reason)
        self.legacy = legacy


def seal(payload: bytes) -> bytes:
    """``payload`` with its checksum footer: the bytes of a cache file."""
    return payload + _FOOTER + hashlib.sha256(payload).hexdigest().encode("ascii") + b"\n"


def payload_of(raw: bytes) -> bytes:
    """The verified payload of a cache file's bytes ``raw``; :class:`DamagedEntry` if it has no footer or
    the checksum does not match."""
    footer = raw[-_FOOTER_SIZE:]
    if len(raw) < _FOOTER_SIZE or not footer.startswith(_FOOTER) or not footer.endswith(b"\n"):
        raise DamagedEntry("no checksum footer (truncated, or written by an older version)", legacy=True)
    payload, digest = raw[:-_FOOTER_SIZE], footer[len(_FOOTER) : -1]
    if hashlib.sha256(payload).hexdigest().encode("ascii") != digest:
        raise DamagedEntry(f"sha256 mismatch: {len(raw)} bytes do not match the checksum written with them "
                           "(truncated or altered)")
    return payload


def write_entry(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` as a verified cache entry at ``path`` (atomically)."""
    write_atomic(path, seal(payload))


def cached(path: str | os.PathLike, build: Callable[[], bytes], load: Callable[[bytes], T]) -> T:
    """``load`` of the verified payload of the cache entry at ``path``, built first when it is missing or
    damaged.

    ``build()`` returns the payload bytes (it runs only on a miss); ``load(payload)`` parses them and raises
    on anything it cannot use. Whatever happens, the caller gets ``load`` of bytes that are on disk now, so a
    fresh build and a later cache hit return the same thing.
    """
    path = pathlib.Path(path)
    reason = None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = None
    except OSError as exc:  # a directory in its place, no permission, an I/O error
        raw, reason = None, f"cannot be read: {exc}"
    if raw is not None:
        try:
            payload = payload_of(raw)
        except DamagedEntry as exc:
            if not exc.legacy:
                reason = str(exc)
            else:
                try:
                    load(raw)
                except Exception as parse_exc:  # noqa: BLE001 - any failure to parse means damage
                    reason = f"{exc}, and it does not parse: {type(parse_exc).__name__}: {parse_exc}"
                else:  # written before checksums existed: rebuild it once, with one
                    log.info("cache file %s has no checksum (written by an older version); rebuilding it", path)
        else:
            try:
                return load(payload)
            except Exception as exc:  # noqa: BLE001
                reason = f"its checksum matches but it does not load: {type(exc).__name__}: {exc}"
    payload = build()
    write_entry(path, payload)
    value = load(payload)
    if reason is not None:
        warnings.warn(f"curriculum_env cache file {path} was damaged ({reason}); rebuilt it",
                      CacheRebuiltWarning, stacklevel=2)
    return value


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """``arrays`` as the bytes of an uncompressed ``.npz`` (no pickles)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def load_npz(payload: bytes) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` bytes ``payload`` (each member read in full, so its CRC is checked)."""
    with np.load(io.BytesIO(payload), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
