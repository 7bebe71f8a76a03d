"""The rule the env's :class:`~curriculum_env.config.EnvConfig` and every agent config follow.

Each field holds its real default. A field set away from its default where the rest of the config does
not read it is a contradiction, refused with a ValueError that names the field and the setting that
makes it moot: nothing is silently ignored. A field's name is its option name on the agent's flat
constructor (``SoftQAgent(beta=0.3)``, ``soft_q@beta=0.3``) or its ``gym.make`` keyword, so no name is
translated anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING, fields
from typing import Any


def default_of(cfg: Any, name: str) -> Any:
    """The declared default of dataclass field ``name`` of ``cfg``."""
    f = next(f for f in fields(cfg) if f.name == name)
    return f.default_factory() if f.default is MISSING else f.default


def refuse_moot(cfg: Any, rules: Iterable[tuple[str, bool, str]]) -> None:
    """Refuse each ``(field, read, why)`` of ``rules`` whose field is unread (``read`` false) but set away from
    its default; ``why`` names the setting that leaves it unread (``"credit='reward'"``)."""
    for name, read, why in rules:
        value = getattr(cfg, name)
        if not read and value != default_of(cfg, name):
            raise ValueError(f"{name}={value!r} contradicts {why}, which does not read it; drop one")


def is_number(value: Any) -> bool:
    """A real number that is not a bool (``True`` is an ``int``, never meant as a number): Python's or NumPy's."""
    import numpy as np

    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def positive_int(**values: Any) -> None:
    """Raise ValueError naming the first of ``values`` that is not a positive integer."""
    for name, value in values.items():
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def non_negative(**values: int) -> None:
    """Raise ValueError naming the first of ``values`` that is negative."""
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
