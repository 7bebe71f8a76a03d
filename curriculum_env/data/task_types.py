"""What a task is made of: a :class:`Source` of text and a :class:`Task` (a target and a stream mixture).

The types alone, with their checks, so that the modules that define tasks (:mod:`curriculum_env.data.tasks`,
:mod:`curriculum_env.data.suite`) import them without importing each other.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
from dataclasses import dataclass

import numpy as np

from curriculum_env.config_rules import is_number

JUNK_KINDS = ("random", "shuffled", "repeat", "constant")


@dataclass(frozen=True)
class Source:
    """One text source. Exactly one of ``builtin``, ``texts``, ``files``, ``dataset`` or ``junk``."""

    label: str
    builtin: str | None = None
    """``prose`` or ``code``, the offline corpora read from this interpreter, or one of
    :mod:`curriculum_env.data.stdlib_corpora` (``topics``, ``docstrings``, ``comments``, ``test_code``,
    ``c_headers``, ``logs``, ``code:<package>``, ``code_except:<package>``)."""
    texts: tuple[str, ...] | None = None
    """In-memory strings, one document each."""
    files: tuple[str, ...] | None = None
    """Local ``.txt``/``.jsonl`` files (JSONL: one document per line, ``text_field``)."""
    dataset: str | None = None
    """A ``datasets`` name (streamed) or a local JSON/JSONL path."""
    dataset_config: str | None = None
    dataset_split: str = "train"
    text_field: str = "text"
    max_documents: int = 10_000
    junk: str | None = None
    """Synthetic junk made from the target's stream windows: ``random``, ``shuffled``, ``repeat``, ``constant``."""

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.builtin, self.texts, self.files, self.dataset, self.junk)]
        if sum(given) != 1:
            raise ValueError(f"source {self.label!r}: give exactly one of builtin/texts/files/dataset/junk")
        if self.builtin is not None and self.builtin not in ("prose", "code"):
            from curriculum_env.data.stdlib_corpora import check_name

            try:
                check_name(self.builtin)
            except ValueError as exc:
                raise ValueError(f"source {self.label!r}: {exc}") from None
        if self.junk is not None and self.junk not in JUNK_KINDS:
            raise ValueError(f"source {self.label!r}: unknown junk kind {self.junk!r} {JUNK_KINDS}")
        for name in ("texts", "files"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    def cache_key(self) -> str:
        """Identity of the source's content for the on-disk cache."""
        key = repr(self)
        if self.files:
            stats = []
            for f in self.files:
                p = pathlib.Path(f).expanduser()
                stats.append((str(p), p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else (str(p),))
            key += repr(stats)
        if self.builtin:
            key += sys.version
        return key


@dataclass(frozen=True)
class Task:
    """A stream mixture and a target domain. ``stream`` maps sources to mixture weights."""

    name: str
    target: Source
    stream: tuple[tuple[Source, float], ...]
    needle: bool = False
    """Needle layout: each batch holds one window of ``target`` and N-1 windows of the other source."""
    heldout_fraction: float = 0.1
    test_fraction: float = 0.1
    tokenizer_sources: tuple[Source, ...] | None = None
    """Sources the default BPE is trained on (their stream documents); default: the task's own."""
    origin: str | None = dataclasses.field(default=None, compare=False)
    """The task file it was read from (named in errors); not part of its identity or cache key."""

    def __post_init__(self) -> None:
        if not self.stream:
            raise ValueError(f"task {self.name!r}: the stream mixture is empty")
        labels = [s.label for s, _ in self.stream]
        if len(set(labels)) != len(labels):
            raise ValueError(f"task {self.name!r}: duplicate source labels {labels}")
        for src, w in self.stream:
            if not (is_number(w) and w > 0 and np.isfinite(w)):
                raise ValueError(f"task {self.name!r}: source {src.label!r} has weight {w!r}; need a number > 0")
        for name in ("heldout_fraction", "test_fraction"):
            value = getattr(self, name)
            if not (is_number(value) and 0 <= value < 1):
                raise ValueError(f"task {self.name!r}: {name} = {value!r} must be a number in [0, 1)")
        if not 0 < self.heldout_fraction + self.test_fraction < 1:
            raise ValueError(f"task {self.name!r}: heldout_fraction + test_fraction must lie in (0, 1)")
        if self.target.junk is not None:
            raise ValueError(f"task {self.name!r}: the target source {self.target.label!r} is junk; D and the test "
                             "split are made of the target's documents, so it must be real text")
        if self.needle and len(self.stream) != 2:
            raise ValueError(f"task {self.name!r}: a needle task streams exactly the target and one filler")

    @property
    def where(self) -> str:
        """How errors name the task: its file when it came from one."""
        return f"task file {self.origin!r}" if self.origin else f"task {self.name!r}"

    @property
    def target_labels(self) -> tuple[str, ...]:
        """Stream labels from the held-out domain (what the oracle selects)."""
        return ("needle",) if self.needle else (self.target.label,)


PROSE = Source("prose", builtin="prose")
CODE = Source("code", builtin="code")
