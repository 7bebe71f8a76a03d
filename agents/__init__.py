"""Curriculum agents: one file per agent, all following :mod:`agents.base`'s protocol.

``make_agent(name, **kwargs)`` builds any registered agent by name; entries are import strings so
importing :mod:`agents` stays cheap. Register your own with ``AGENTS["mine"] = "pkg.mod:Class"``.
"""

from __future__ import annotations

import importlib
from typing import Any

from agents.base import Agent, rollout, source_mass

AGENTS: dict[str, str] = {}


def make_agent(name: str, **kwargs: Any) -> Any:
    """An agent instance by registered name (``AGENTS``) or ``"module:Class"`` path."""
    target = AGENTS.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown agent {name!r}; known agents: {sorted(AGENTS)}")
    module, cls = target.split(":", 1)
    return getattr(importlib.import_module(module), cls)(**kwargs)


__all__ = ["AGENTS", "Agent", "make_agent", "rollout", "source_mass"]
