"""Tasks: which windows the stream mixes, and which domain the held-out set D and test split measure.

A :class:`Task` names a *target* source (the domain the reward and the test split measure) and a
weighted mixture of stream sources. Built-in tasks use the offline corpora:

========  ==========================================================================================
prose     stream = prose; D and test = prose. Clean: curriculum should not hurt.
noisy     stream = 25% prose + 75% junk (random tokens, shuffled words, repeated n-grams); D/test = prose.
mixed     stream = 25% prose + 75% standard-library code; D/test = prose.
needle    each batch = 1 needle window + N-1 constant-token fillers; D = the needle; test = prose.
========  ==========================================================================================

Splits are made per *document* of the target source by a hash of the document name (stable across
runs and machines): ``test_fraction`` to the test split, ``heldout_fraction`` to D, the rest to the
stream. Any stream window whose tokens equal a D or test window is dropped, so the three are disjoint
(the needle task deliberately puts its D window in the stream: that is the point of the task).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import pathlib
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

JUNK_KINDS = ("random", "shuffled", "repeat", "constant")


@dataclass(frozen=True)
class Source:
    """One text source. Exactly one of ``builtin``, ``texts``, ``files``, ``dataset`` or ``junk``."""

    label: str
    builtin: str | None = None
    """``prose`` or ``code``: the offline corpora read from this interpreter."""
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
            raise ValueError(f"source {self.label!r}: unknown builtin corpus {self.builtin!r} (prose, code)")
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

    def __post_init__(self) -> None:
        if not self.stream:
            raise ValueError(f"task {self.name!r}: the stream mixture is empty")
        labels = [s.label for s, _ in self.stream]
        if len(set(labels)) != len(labels):
            raise ValueError(f"task {self.name!r}: duplicate source labels {labels}")
        for src, w in self.stream:
            if not (w > 0 and np.isfinite(w)):
                raise ValueError(f"task {self.name!r}: source {src.label!r} has weight {w}; need > 0")
        if not 0 < self.heldout_fraction + self.test_fraction < 1:
            raise ValueError(f"task {self.name!r}: heldout_fraction + test_fraction must lie in (0, 1)")
        if self.needle and len(self.stream) != 2:
            raise ValueError(f"task {self.name!r}: a needle task streams exactly the target and one filler")

    @property
    def target_labels(self) -> tuple[str, ...]:
        """Stream labels from the held-out domain (what the oracle selects)."""
        return ("needle",) if self.needle else (self.target.label,)


PROSE = Source("prose", builtin="prose")
CODE = Source("code", builtin="code")


def builtin_tasks() -> dict[str, Task]:
    """The shipped tasks, by name."""
    junk = [Source(kind, junk=kind) for kind in ("random", "shuffled", "repeat")]
    shared = dict(tokenizer_sources=(PROSE, CODE))
    return {
        "prose": Task("prose", PROSE, ((PROSE, 1.0),), **shared),
        "noisy": Task("noisy", PROSE, ((PROSE, 0.25),) + tuple((j, 0.25) for j in junk), **shared),
        "mixed": Task("mixed", PROSE, ((PROSE, 0.25), (CODE, 0.75)), **shared),
        "needle": Task(
            "needle", PROSE, ((PROSE, 1.0), (Source("filler", junk="constant"), 1.0)), needle=True, **shared
        ),
    }


def resolve_task(task: str | Task) -> Task:
    """A :class:`Task` from a task, a built-in name, a task file (``.toml``/``.json``, see
    :func:`task_from_file`) or ``module.path:function`` (a function of no arguments returning a Task).

    The string is all a worker process needs to rebuild the task, so tasks given this way run in
    ``benchmarks.compare`` like the built-in ones. Anything else raises ``ValueError`` saying why.
    """
    if isinstance(task, Task):
        return task
    if not isinstance(task, str):
        raise ValueError(f"task must be a name, a task file, module:function or a Task, got {task!r}")
    tasks = builtin_tasks()
    if task in tasks:
        return tasks[task]
    if task.endswith((".toml", ".json")):
        return task_from_file(task)
    if ":" in task:
        return _task_from_function(task)
    raise ValueError(f"unknown task {task!r}; known tasks: {sorted(tasks)} (or a .toml/.json task file, "
                     "module.path:function returning a Task, or a Task)")


def _task_from_function(path: str) -> Task:
    import importlib

    module, _, func = path.partition(":")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"task {path!r}: cannot import {func!r} from {module!r} ({exc})") from exc
    if not callable(fn):
        raise ValueError(f"task {path!r}: {func!r} is not a function")
    try:
        task = fn()
    except TypeError as exc:
        raise ValueError(f"task {path!r}: {func}() must take no arguments ({exc})") from exc
    if not isinstance(task, Task):
        raise ValueError(f"task {path!r}: {func}() returned {type(task).__name__}, not a curriculum_env Task")
    return task


SOURCE_FIELDS = {f.name for f in dataclasses.fields(Source)} - {"label"}
TASK_FILE_FIELDS = {"name", "target", "sources", "needle", "heldout_fraction", "test_fraction"}


def task_from_file(path: str | os.PathLike) -> Task:
    """A task described by a TOML or JSON file::

        name = "docs_vs_code"        # optional; default: the file's stem
        target = "docs"              # the source D and the test split measure
        [sources.docs]               # one table per stream source: its weight and exactly one of
        files = ["docs/*.txt"]       # files (globs, relative to this file), texts, dataset,
        weight = 0.25                # builtin ("prose", "code") or junk ("random", "shuffled", ...)
        [sources.code]
        builtin = "code"
        weight = 0.75

    Optional top-level keys: ``needle``, ``heldout_fraction``, ``test_fraction``; any other source key
    is a :class:`Source` field (``text_field``, ``dataset_split``, ...). Unknown keys, a target that is
    not a source, or a glob that matches no file raise ``ValueError`` naming the file.
    """
    p = pathlib.Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"task file {str(p)!r} does not exist")
    try:
        if p.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            spec = tomllib.loads(p.read_text())
        else:
            import json

            spec = json.loads(p.read_text())
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"task file {str(p)!r} is not valid {p.suffix[1:].upper()}: {exc}") from exc
    where = f"task file {str(p)!r}"
    unknown = set(spec) - TASK_FILE_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(TASK_FILE_FIELDS)}")
    sources = spec.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise ValueError(f"{where}: needs a [sources.<label>] table per stream source")
    stream = [(_file_source(label, dict(fields), p.parent, where), fields.get("weight", 1.0))
              for label, fields in sources.items()]
    by_label = {src.label: src for src, _ in stream}
    target = spec.get("target")
    if target not in by_label:
        raise ValueError(f"{where}: target = {target!r} is not one of its sources {sorted(by_label)}")
    kwargs = {k: spec[k] for k in ("needle", "heldout_fraction", "test_fraction") if k in spec}
    return Task(str(spec.get("name", p.stem)), by_label[target], tuple(stream), **kwargs)


def _file_source(label: str, fields: dict[str, Any], root: pathlib.Path, where: str) -> Source:
    """One ``[sources.<label>]`` table of a task file as a :class:`Source` (globs resolved from ``root``)."""
    if not isinstance(fields, dict):
        raise ValueError(f"{where}: sources.{label} must be a table of fields")
    fields.pop("weight", None)
    unknown = set(fields) - SOURCE_FIELDS
    if unknown:
        raise ValueError(f"{where}: sources.{label} has unknown keys {sorted(unknown)}; "
                         f"allowed: weight, {', '.join(sorted(SOURCE_FIELDS))}")
    if "files" in fields:
        patterns = [fields["files"]] if isinstance(fields["files"], str) else fields["files"]
        files = []
        for pattern in patterns:
            full = pattern if os.path.isabs(pattern) else str(root / pattern)
            matched = sorted(glob.glob(os.path.expanduser(full)))
            if not matched:
                raise ValueError(f"{where}: sources.{label}: no file matches {pattern!r}")
            files += matched
        fields["files"] = tuple(files)
    for key in ("dataset",):  # a local dataset path is relative to the task file too
        value = fields.get(key)
        if isinstance(value, str) and (root / value).exists():
            fields[key] = str(root / value)
    return Source(label, **fields)


def task_from_texts(name: str, target: list[str], others: dict[str, list[str]] | None = None,
                    target_weight: float = 1.0, **kwargs: Any) -> Task:
    """Convenience: a task whose target domain and extra stream sources are lists of strings."""
    tgt = Source("target", texts=tuple(target))
    stream = [(tgt, target_weight)] + [(Source(k, texts=tuple(v)), 1.0) for k, v in (others or {}).items()]
    return Task(name, tgt, tuple(stream), **kwargs)


def task_from_files(name: str, target: list[str], others: dict[str, list[str]] | None = None,
                    target_weight: float = 1.0, **kwargs: Any) -> Task:
    """Convenience: a task whose target domain and extra stream sources are local files."""
    tgt = Source("target", files=tuple(target))
    stream = [(tgt, target_weight)] + [(Source(k, files=tuple(v)), 1.0) for k, v in (others or {}).items()]
    return Task(name, tgt, tuple(stream), **kwargs)


# ------------------------------------------------------------------------------------------------
# Splitting


def split_of(doc_name: str, heldout_fraction: float, test_fraction: float) -> str:
    """``"test"``, ``"heldout"`` or ``"stream"`` for a document, from a hash of its name."""
    u = int.from_bytes(hashlib.sha256(doc_name.encode()).digest()[:8], "little") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + heldout_fraction:
        return "heldout"
    return "stream"


def task_key(task: Task, **params: Any) -> str:
    """Cache key of a task's built data under ``params`` (context length, tokenizer, sizes)."""
    h = hashlib.sha256()
    h.update(task.target.cache_key().encode())
    for src, w in task.stream:
        h.update((src.cache_key() + repr(w)).encode())
    for src in task.tokenizer_sources or ():
        h.update(src.cache_key().encode())
    h.update(repr((task.needle, task.heldout_fraction, task.test_fraction, sorted(params.items()))).encode())
    h.update(b"v1")
    return h.hexdigest()[:16]


def atomic_save_npz(path: pathlib.Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` so readers never see a partial file."""
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


@dataclass
class TaskData:
    """Everything an env needs from a task, built once and shared read-only between envs."""

    task: Task
    tokenizer: Any
    stream_pools: dict[str, Any]
    weights: dict[str, float]
    heldout: Any
    test: Any

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)
