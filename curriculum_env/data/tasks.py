"""Tasks: which windows the stream mixes, and which domain the held-out set D and test split measure.

A :class:`Task` names a *target* source (the domain the reward and the test split measure) and a
weighted mixture of stream sources. Built-in tasks use the offline corpora:

========  ==========================================================================================
prose     stream = prose; D and test = prose. Clean: curriculum should not hurt.
noisy     stream = 25% prose + 75% junk (random tokens, shuffled words, repeated n-grams); D/test = prose.
mixed     stream = 25% prose + 75% standard-library code; D/test = prose.
needle    each batch = 1 needle window + N-1 constant-token fillers; D = the needle; test = prose.
stdlib    stream, D and test = standard-library code, 30% of its files held out as D and 5% as test:
          enough held-out text for the paper's M = 256 windows of 1,024 tokens (the gpt2-124m preset).
========  ==========================================================================================

The generalisation suite (:mod:`curriculum_env.data.suite`) adds eight ``gen/...`` tasks on other corpora of the
standard library (:mod:`curriculum_env.data.stdlib_corpora`), in a tuning half and a held-out half, and a fresh
held-out set of four more (C headers, logs, a JSONL file, a near-domain distractor).

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from curriculum_env.config_rules import is_number
from curriculum_env.data.task_types import CODE, JUNK_KINDS, PROSE, Source, Task  # noqa: F401 (re-exported)


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
        "stdlib": Task("stdlib", CODE, ((CODE, 1.0),), heldout_fraction=0.3, test_fraction=0.05, **shared),
    }


def resolve_task(task: str | Task) -> Task:
    """A :class:`Task` from a task, a built-in name, a task of the generalisation suite or the fresh held-out set
    (:mod:`curriculum_env.data.suite`, ``gen/...``), a task file (``.toml``/``.json``, see
    :func:`task_from_file`) or ``module.path:function`` (a function of no arguments returning a Task).

    The string is all a worker process needs to rebuild the task, so tasks given this way run in
    ``benchmarks.compare`` like the built-in ones. Anything else raises ``ValueError`` saying why.
    """
    if isinstance(task, Task):
        return task
    if not isinstance(task, str):
        raise ValueError(f"task must be a name, a task file, module:function or a Task, got {task!r}")
    from curriculum_env.data.suite import SUITES, suite_task

    tasks = builtin_tasks()
    if task in tasks:
        return tasks[task]
    if any(task in names for names in SUITES.values()):
        return suite_task(task)
    if task.endswith((".toml", ".json")):
        return task_from_file(task)
    if ":" in task:
        return _task_from_function(task)
    raise ValueError(f"unknown task {task!r}; known tasks: {sorted(tasks)}, the generalisation suite's "
                     f"{list(SUITES['generalisation'])}, the fresh held-out set's {list(SUITES['fresh'])} (or a "
                     ".toml/.json task file, module.path:function returning a Task, or a Task)")


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
        weight = 0.25                # builtin ("prose", "code", "code:email", ...) or junk ("random", ...)
        [sources.code]
        builtin = "code"
        weight = 0.75

    Optional top-level keys: ``needle``, ``heldout_fraction``, ``test_fraction``; any other source key
    is a :class:`Source` field (``text_field``, ``dataset_split``, ...). Unknown keys, a value of the wrong
    type (a weight that is not a positive number, ``files`` that is not a glob or a list of globs, ...), a
    target that is not a source, or a glob that matches no file or a directory raise ``ValueError``
    naming the file and the source.
    """
    p = pathlib.Path(path).expanduser()
    spec = _read_task_file(p)
    where = f"task file {str(p)!r}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: must hold a table of keys (target, sources, ...), not a {_kind(spec)}")
    unknown = set(spec) - TASK_FILE_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(TASK_FILE_FIELDS)}")
    stream = _file_stream(spec.get("sources"), p.parent, where)
    by_label = {src.label: src for src, _ in stream}
    target = _file_target(spec.get("target"), by_label, where)
    name = spec.get("name", p.stem)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: name = {_short(name)} must be a non-empty string")
    kwargs = _file_task_options(spec, where)
    try:
        return Task(name, by_label[target], tuple(stream), origin=str(p), **kwargs)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _read_task_file(p: pathlib.Path) -> Any:
    """The parsed content of task file ``p`` (TOML for ``.toml``, JSON otherwise), whatever it holds; a
    directory, a missing file or text that does not parse raises ``ValueError`` naming the file."""
    if p.is_dir():
        raise ValueError(f"task file {str(p)!r} is a directory, not a .toml/.json file")
    if not p.is_file():
        raise ValueError(f"task file {str(p)!r} does not exist")
    try:
        if p.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            return tomllib.loads(p.read_text())
        import json

        return json.loads(p.read_text())
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"task file {str(p)!r} is not valid {p.suffix[1:].upper()}: {exc}") from exc


def _file_stream(sources: Any, root: pathlib.Path, where: str) -> list[tuple[Source, Any]]:
    """The ``(source, weight)`` pairs of a task file's ``sources`` table, in its order, checked one source at a
    time (its weight first, then its fields: :func:`_file_source`); a missing or empty table is refused."""
    if not isinstance(sources, dict) or not sources:
        raise ValueError(f"{where}: needs a [sources.<label>] table per stream source")
    stream = []
    for label, fields in sources.items():
        if not isinstance(fields, dict):
            raise ValueError(f"{where}: sources.{label} must be a table of fields, not {_short(fields)}")
        fields = dict(fields)
        weight = fields.pop("weight", 1.0)
        if not (is_number(weight) and weight > 0 and np.isfinite(weight)):
            raise ValueError(f"{where}: sources.{label}: weight = {_short(weight)} must be a finite number > 0 "
                             "(its share of the stream mixture)")
        stream.append((_file_source(label, fields, root, where), weight))
    return stream


def _file_target(target: Any, by_label: dict[str, Source], where: str) -> str:
    """A task file's ``target``, checked to be the label of one of its sources (the keys of ``by_label``)."""
    if not isinstance(target, str):
        raise ValueError(f"{where}: target = {_short(target)} must be the label (a string) of one of its sources "
                         f"{sorted(by_label)}")
    if target not in by_label:
        raise ValueError(f"{where}: target = {target!r} is not one of its sources {sorted(by_label)}")
    return target


def _file_task_options(spec: dict[str, Any], where: str) -> dict[str, Any]:
    """The optional :class:`Task` keys a task file gives (``needle``, ``heldout_fraction``, ``test_fraction``),
    each checked for its type and range, as keyword arguments of :class:`Task`."""
    if not isinstance(spec.get("needle", False), bool):
        raise ValueError(f"{where}: needle = {_short(spec['needle'])} must be true or false")
    for key in ("heldout_fraction", "test_fraction"):
        if key in spec and not (is_number(spec[key]) and 0 <= spec[key] < 1):
            raise ValueError(f"{where}: {key} = {_short(spec[key])} must be a number in [0, 1)")
    return {k: spec[k] for k in ("needle", "heldout_fraction", "test_fraction") if k in spec}


def _kind(value: Any) -> str:
    return {dict: "table", list: "list", str: "string", bool: "boolean"}.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, with its type when that is not obvious from it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-1]} (a {_kind(value)})"


_STRING_FIELDS = ("builtin", "dataset", "dataset_split", "text_field", "junk")


def _file_source(label: str, fields: dict[str, Any], root: pathlib.Path, where: str) -> Source:
    """One ``[sources.<label>]`` table of a task file as a :class:`Source` (globs resolved from ``root``);
    every mistake is a ``ValueError`` naming ``where`` (the file) and the source."""
    if not isinstance(fields, dict):
        raise ValueError(f"{where}: sources.{label} must be a table of fields, not {_short(fields)}")
    fields = dict(fields)
    fields.pop("weight", None)
    at = f"{where}: sources.{label}"
    _check_source_fields(fields, at)
    if "texts" in fields:
        fields["texts"] = _file_texts(fields["texts"], at)
    if "files" in fields:
        fields["files"] = _file_paths(fields["files"], root, at)
    for key in ("dataset",):  # a local dataset path is relative to the task file too
        value = fields.get(key)
        if isinstance(value, str) and (root / value).exists():
            fields[key] = str(root / value)
    try:
        return Source(label, **fields)
    except ValueError as exc:  # its messages start "source '<label>': ..."
        raise ValueError(f"{where}: {exc}") from None


def _check_source_fields(fields: dict[str, Any], at: str) -> None:
    """Refuse a source table's unknown keys, then a string field (:data:`_STRING_FIELDS`) that is not a
    non-empty string, a ``dataset_config`` that is not a string and a ``max_documents`` that is not a whole
    number > 0, in that order; ``at`` names the file and the source."""
    unknown = set(fields) - SOURCE_FIELDS
    if unknown:
        raise ValueError(f"{at} has unknown keys {sorted(unknown)}; "
                         f"allowed: weight, {', '.join(sorted(SOURCE_FIELDS))}")
    for key in _STRING_FIELDS:
        if key in fields and (not isinstance(fields[key], str) or not fields[key]):
            raise ValueError(f"{at}: {key} = {_short(fields[key])} must be a non-empty string")
    config = fields.get("dataset_config")
    if not (config is None or isinstance(config, str)):
        raise ValueError(f"{at}: dataset_config = {_short(config)} must be a string")
    if "max_documents" in fields:
        value = fields["max_documents"]
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise ValueError(f"{at}: max_documents = {_short(value)} must be a whole number > 0")


def _file_texts(value: Any, at: str) -> tuple[str, ...]:
    """A source's ``texts`` (a string, or a non-empty list of strings: one document each) as a tuple."""
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{at}: texts = {_short(value)} must be a string or a non-empty list of strings "
                         "(one document each)")
    return tuple(texts)


def _file_paths(value: Any, root: pathlib.Path, at: str) -> tuple[str, ...]:
    """A source's ``files`` (a glob, or a non-empty list of globs, relative to ``root``: the task file's folder)
    as the paths they match: each glob's matches sorted, the globs in their order."""
    patterns = [value] if isinstance(value, str) else value
    if not isinstance(patterns, list) or not patterns or not all(isinstance(x, str) and x for x in patterns):
        raise ValueError(f"{at}: files = {_short(value)} must be a glob or a non-empty list of globs "
                         "(strings, relative to the task file)")
    files = []
    for pattern in patterns:
        files += _glob_files(pattern, root, at)
    return tuple(files)


def _glob_files(pattern: str, root: pathlib.Path, at: str) -> list[str]:
    """The files ``pattern`` matches (relative to ``root`` unless absolute; ``~`` expanded), sorted. A pattern
    that matches nothing, a directory (the error suggests a glob of its files) or anything else that is not a
    readable file is refused, naming it."""
    full = pattern if os.path.isabs(pattern) else str(root / pattern)
    matched = sorted(glob.glob(os.path.expanduser(full)))
    if not matched:
        raise ValueError(f"{at}: no file matches {pattern!r}")
    for m in matched:
        if os.path.isdir(m):
            example = ("a pattern that ends in '*.txt'" if any(c in pattern for c in "*?[")
                       else repr(pattern.rstrip("/") + "/*.txt"))
            raise ValueError(f"{at}: files pattern {pattern!r} matched the directory {m!r}; files are "
                             f"expected (.txt or .jsonl), e.g. {example}")
        if not os.path.isfile(m):
            raise ValueError(f"{at}: files pattern {pattern!r} matched {m!r}, which is not a readable file")
    return matched


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

    @property
    def stream_shares(self) -> dict[str, float]:
        """Each pool's share of the stream: the mixture ``weights``, normalised."""
        total = sum(self.weights.values())
        return {label: w / total for label, w in self.weights.items()}
