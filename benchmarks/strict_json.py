"""Strict JSON for run results and tables: what any parser reads (NaN as ``null``, NumPy as plain numbers),
written atomically, and read back (``null`` as NaN again)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np

from curriculum_env.files import write_atomic


def atomic_write_json(path: pathlib.Path, obj: Any) -> None:
    """Write strict JSON (:func:`strict_json`) so a crash leaves either the old file or the new one,
    never half of one."""
    write_atomic(path, strict_json(obj, indent=1).encode())


def strict_json(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that any parser reads: NaN and infinities become ``null`` (bare ``NaN`` is not
    JSON), NumPy scalars and arrays plain numbers and lists."""
    return json.dumps(_finite(obj), allow_nan=False, default=_jsonable, **kwargs)


def _finite(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, np.ndarray):
        return _finite(x.tolist())
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def number(x: Any) -> float:
    """A number read back from strict JSON: ``null`` (a NaN when written) is NaN again."""
    return float("nan") if x is None else float(x)
