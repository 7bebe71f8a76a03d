"""Agent specs: one string names an agent and its options, everywhere (command line, run files, workers).

    random                              # a registered name (``agents.AGENTS``)
    soft_q@beta=0.3,gamma=0             # with options: keyword arguments of its constructor
    my_pkg.my_mod:MyAgent               # any importable class, no registration
    my_pkg.my_mod:MyAgent@lr=1e-3,stats=("loss","entropy")

Values are Python literals (``0.3``, ``True``, ``None``, ``(1, 2)``, ``'x'``); anything else is taken
as a bare string (``beta=closed_loop``; a strategy with its options: ``credit=learnability(signal=reducible)``).
A list of specs is comma-separated: a piece with ``=`` and no ``@`` continues the options of the agent before it, so
``soft_q@beta=0.3,gamma=0,random`` is two agents. Commas inside brackets or quotes do not split.
"""

from __future__ import annotations

import ast
import re
from typing import Any

OPTION_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """``text`` split on ``sep`` outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quote or depth:
        raise ValueError(f"unbalanced brackets or quotes in {text!r}")
    parts.append(text[start:])
    return parts


def parse_value(text: str) -> Any:
    """A Python literal, or the text itself when it is not one (``closed_loop``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_options(text: str) -> dict[str, Any]:
    """``"beta=0.3,gamma=0"`` -> ``{"beta": 0.3, "gamma": 0}``; a ValueError names a malformed pair."""
    options: dict[str, Any] = {}
    for pair in split_top_level(text) if text else []:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not OPTION_KEY.match(key):
            raise ValueError(f"agent option {pair!r} is not key=value (in {text!r})")
        if key in options:
            raise ValueError(f"agent option {key!r} given twice (in {text!r})")
        options[key] = parse_value(value.strip())
    return options


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"soft_q@beta=0.3"`` -> ``("soft_q", {"beta": 0.3})``."""
    name, _, options = spec.strip().partition("@")
    if not name:
        raise ValueError(f"agent spec {spec!r} names no agent")
    return name, parse_options(options)


def split_specs(text: str) -> list[str]:
    """A comma-separated list of specs: ``"soft_q@beta=0.3,gamma=0,random"`` -> two specs."""
    specs: list[str] = []
    for piece in (p.strip() for p in split_top_level(text)):
        if not piece:
            continue
        if "=" in piece and "@" not in piece:
            if not specs:
                raise ValueError(f"option {piece!r} comes before any agent name (write name@{piece})")
            specs[-1] += "," + piece
        else:
            specs.append(piece)
    return specs


def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    """``"closed_loop(beta_min=0.025,k=0.05)"`` -> ``("closed_loop", {"beta_min": 0.025, "k": 0.05})``; a bare
    ``"closed_loop"`` has no options."""
    text = text.strip()
    name, bracket, rest = text.partition("(")
    if bracket and not rest.endswith(")"):
        raise ValueError(f"{text!r} is not name(key=value,...)")
    return name.strip(), parse_options(rest[:-1].strip()) if bracket else {}


def build_named(value: Any, classes: dict[str, type], what: str) -> Any:
    """An object of one of ``classes`` from ``value``: already one of them, or a string naming one with its
    options in brackets (:func:`parse_call`). A ValueError names ``what`` was asked for and what is known."""
    if isinstance(value, tuple(classes.values())):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{what} must be one of {', '.join(classes)} (a name, name(key=value,...) or an object), "
                         f"got {value!r}")
    name, options = parse_call(value)
    if name not in classes:
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(classes)}")
    try:
        return classes[name](**options)
    except TypeError as exc:  # an option the class does not take
        raise ValueError(f"{what} {value!r}: {exc}") from exc
