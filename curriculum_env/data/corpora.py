"""Text sources: the offline default corpora and user data (strings, files, HF datasets).

Every reader returns a list of :class:`Document`. Splitting into train / held-out / test happens at
document level (see :mod:`curriculum_env.data.tasks`), windowing in :mod:`curriculum_env.data.windows`;
both are the same whatever the reader, so the offline default exercises the code users run on their
own data.
"""

from __future__ import annotations

import ast
import json
import pathlib
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SKIPPED_STDLIB_DIRS = {"site-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__"}


@dataclass(frozen=True)
class Document:
    """One unit of text; splits never cut a document in two."""

    name: str
    text: str


def _stdlib_files() -> list[pathlib.Path]:
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = [
        p
        for p in root.rglob("*.py")
        if not (SKIPPED_STDLIB_DIRS & set(p.relative_to(root).parts))
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _stdlib_name(path: pathlib.Path) -> str:
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    return path.relative_to(root).as_posix()


def offline_prose() -> list[Document]:
    """Real English prose from the running interpreter.

    One document per ``pydoc_data.topics`` entry (the language reference topics) and one per
    standard-library module holding its docstrings, extracted with :mod:`ast` so no module is
    imported (several have import-time side effects).
    """
    from pydoc_data.topics import topics

    docs = [Document(f"topic:{key}", text) for key, text in sorted(topics.items())]
    for path in _stdlib_files():
        text = module_docstrings(path)
        if text:
            docs.append(Document(f"docstrings:{_stdlib_name(path)}", text))
    if not docs:
        raise RuntimeError("no prose found in this interpreter (pydoc_data.topics is empty)")
    return docs


def module_docstrings(path: pathlib.Path) -> str | None:
    """The docstrings (of at least 40 characters) of a module, its classes and functions, in :func:`ast.walk`
    order and separated by blank lines; ``None`` for a file that does not parse or has none."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return None  # a handful of stdlib files are templates or use another encoding
    parts = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc) >= 40:
                parts.append(doc)
    return "\n\n".join(parts) if parts else None


def offline_code(max_chars: int) -> list[Document]:
    """Real Python source from the standard library, up to ``max_chars`` characters.

    Files are taken in a fixed order that interleaves packages (sorted by the reversed path) so a
    small budget still covers many modules rather than the first few alphabetically.
    """
    files = sorted(_stdlib_files(), key=lambda p: _stdlib_name(p)[::-1])
    return capped_documents(((f"code:{_stdlib_name(path)}", read_source(path)) for path in files), max_chars)


def read_source(path: pathlib.Path) -> str | None:
    """The UTF-8 text of ``path``, or ``None`` when it cannot be read as such."""
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def capped_documents(named_texts: Iterable[tuple[str, str | None]], max_chars: int) -> list[Document]:
    """Documents from ``(name, text)`` pairs in their order, skipping missing (``None``) texts, until they
    hold ``max_chars`` characters (the document that crosses the cap is kept)."""
    docs, total = [], 0
    for name, text in named_texts:
        if text is None:
            continue
        docs.append(Document(name, text))
        total += len(text)
        if total >= max_chars:
            break
    return docs


def from_strings(texts: Iterable[str], prefix: str = "string") -> list[Document]:
    """One document per string."""
    docs = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text #{i} is {type(text).__name__}, expected str")
        docs.append(Document(f"{prefix}:{i}", text))
    return docs


def from_files(paths: Sequence[str | pathlib.Path], text_field: str = "text") -> list[Document]:
    """Documents from local files: a ``.jsonl`` file gives one document per line (``text_field``),
    any other file is read as UTF-8 text and is one document."""
    docs: list[Document] = []
    for raw in paths:
        path = pathlib.Path(raw).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"data file not found: {path}")
        try:
            content = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            raise ValueError(f"cannot read data file {path} as UTF-8 text: {exc}") from exc
        if path.suffix == ".jsonl":
            for lineno, line in enumerate(content.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
                if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                    raise ValueError(f"{path}:{lineno}: no string field {text_field!r}")
                docs.append(Document(f"{path.name}:{lineno}", record[text_field]))
        else:
            docs.append(Document(path.name, content))
    return docs


def write_jsonl(path: str | pathlib.Path, docs: Iterable[Document], text_field: str = "text") -> None:
    """Write ``docs`` as a JSONL file that :func:`from_files` reads back (one ``{"name": ..., text_field: ...}``
    record per line, in their order), atomically: a reader sees no file or the whole of it."""
    from curriculum_env.files import write_atomic

    lines = [json.dumps({"name": d.name, text_field: d.text}, ensure_ascii=False) for d in docs]
    write_atomic(path, "".join(line + "\n" for line in lines).encode("utf-8"))


def from_dataset(
    name: str,
    config: str | None = None,
    split: str = "train",
    text_field: str = "text",
    max_documents: int = 10_000,
    streaming: bool = True,
) -> list[Document]:
    """The first ``max_documents`` records of a Hugging Face dataset (streamed by default).

    ``name`` may be a hub id (needs network) or anything ``datasets.load_dataset`` accepts locally,
    e.g. ``"json"`` with ``config=None`` and ``data_files`` given through a local path as ``name``.
    """
    import datasets

    try:
        if pathlib.Path(name).suffix in (".json", ".jsonl"):
            ds = datasets.load_dataset("json", data_files=name, split=split, streaming=streaming)
        else:
            ds = datasets.load_dataset(name, config, split=split, streaming=streaming)
    except Exception as exc:  # datasets raises many types; name the source in one clear error
        raise ValueError(f"cannot load dataset {name!r} (config={config!r}, split={split!r}): {exc}") from exc
    docs = []
    for i, record in enumerate(ds):
        if i >= max_documents:
            break
        text = record.get(text_field)
        if not isinstance(text, str):
            raise ValueError(f"dataset {name!r} record {i} has no string field {text_field!r}")
        docs.append(Document(f"{name}:{i}", text))
    return docs
