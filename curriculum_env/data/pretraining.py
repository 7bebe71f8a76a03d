"""The base model's pretraining corpus: the offline general text, minus everything a shipped task measures.

The built-in base model (:mod:`curriculum_env.base_model`) learns the language from ``prose`` (the language
reference and the library's docstrings) and library code (``code_except:encodings``: the standard library
without its generated codec tables and without ``pydoc_data``, whose ``topics.py`` holds the reference as a
literal). A run that starts from it must still be scored on text it never read, so the corpus leaves out
every document of a *measured file*: a file (a module's path, a topic's key) that contributes a document to
the held-out set D or the test split of any shipped task -- the built-in tasks, both halves of the
generalisation suite and the fresh held-out set. The rule is by file, not by document, because the suite
cuts several corpora from one file (a module's code, its comments, its docstrings, its lint log, its API
index entry): a test-split comment must not reach the base model through its module's code. Documents whose
text equals a measured document's (same sha256) are left out too, whatever their file.

The shipped tasks' splits depend on ``code_chars`` (the cap of each capped corpus), so the measured set is
computed for the ``code_chars`` the env uses. A user's own task is not in it: a target made of the built-in
corpora under other split fractions may hold text the base model read (:func:`leaks` says which).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from curriculum_env.data.corpora import Document
from curriculum_env.data.tasks import PROSE, Source, Task, builtin_tasks, resolve_task, split_of

LIBRARY_CODE = Source("library_code", builtin="code_except:encodings")
GENERAL_SOURCES = (PROSE, LIBRARY_CODE)
"""The general corpora the base model reads."""
LIBRARY_CODE_CHARS = 4_000_000
"""Characters of library code read for the pretraining corpus (before the measured files are left out)."""


def shipped_tasks() -> tuple[Task, ...]:
    """Every task the package ships: the built-in ones, the generalisation suite and the fresh held-out set."""
    from curriculum_env.data.suite import SUITES

    names = [*builtin_tasks(), *SUITES["generalisation"], *SUITES["fresh"]]
    return tuple(resolve_task(name) for name in names)


def file_key(doc: Document) -> str:
    """The file a document was cut from: the part of its name after the corpus (``docstrings:json/decoder.py``,
    ``comments::json/decoder.py`` and ``code_except:encodings::json/decoder.py`` are all ``json/decoder.py``;
    ``topic:if`` and ``topics::if`` are ``if``)."""
    name = doc.name
    if "::" in name:
        return name.split("::", 1)[1]
    return name.split(":", 1)[1] if ":" in name else name


def text_hash(text: str) -> str:
    """sha256 of a document's text (the content check)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Measured:
    """What the shipped tasks measure: the files and the text hashes of every D and test-split document."""

    files: frozenset[str]
    texts: frozenset[str]

    def holds(self, doc: Document) -> bool:
        """Whether ``doc`` is measured text: of a measured file, or equal to a measured document."""
        return file_key(doc) in self.files or text_hash(doc.text) in self.texts


def measured_documents(tasks: Iterable[Task], code_chars: int) -> list[Document]:
    """The documents of D and the test split of ``tasks`` (the target documents their split puts there)."""
    from curriculum_env.data.build import load_documents

    out = []
    for task in tasks:
        for doc in load_documents(task.target, code_chars):
            if split_of(doc.name, task.heldout_fraction, task.test_fraction) != "stream":
                out.append(_api_index_named(doc))
    return out


@functools.lru_cache(maxsize=4)
def shipped_measured_documents(code_chars: int) -> tuple[Document, ...]:
    """The D and test-split documents of every shipped task at ``code_chars`` (read once per process)."""
    return tuple(measured_documents(shipped_tasks(), code_chars))


@functools.lru_cache(maxsize=4)
def measured(code_chars: int) -> Measured:
    """The files and texts of every shipped task's D and test split at ``code_chars``."""
    docs = shipped_measured_documents(code_chars)
    return Measured(frozenset(file_key(d) for d in docs), frozenset(text_hash(d.text) for d in docs))


def _api_index_named(doc: Document) -> Document:
    """A record of the API-index JSONL file under its module's name (``api_index::json/decoder.py``): the file
    names its documents by line number, but each record quotes one module's signatures and docstrings."""
    by_text = _api_index_files()
    return Document(by_text[doc.text], doc.text) if doc.text in by_text else doc


@functools.lru_cache(maxsize=1)
def _api_index_files() -> dict[str, str]:
    from curriculum_env.data.stdlib_corpora import api_index

    return {d.text: d.name for d in api_index()}


def pretraining_documents(code_chars: int) -> tuple[list[Document], dict[str, int]]:
    """The base model's corpus (``prose`` and library code, measured text left out) and its counts:
    documents and characters kept and left out."""
    from curriculum_env.data.build import load_documents

    skip = measured(code_chars)
    kept, counts = [], {"documents": 0, "characters": 0, "documents_left_out": 0, "characters_left_out": 0}
    for src in GENERAL_SOURCES:
        for doc in load_documents(src, LIBRARY_CODE_CHARS if src is LIBRARY_CODE else code_chars):
            out = skip.holds(doc)
            counts["documents_left_out" if out else "documents"] += 1
            counts["characters_left_out" if out else "characters"] += len(doc.text)
            if not out:
                kept.append(doc)
    return kept, counts


def leaks(task: Task | str, code_chars: int) -> list[str]:
    """The names of ``task``'s D and test-split documents the pretraining corpus holds (by file or by text):
    ``[]`` for every shipped task."""
    corpus, _ = pretraining_documents(code_chars)
    files, texts = {file_key(d) for d in corpus}, {text_hash(d.text) for d in corpus}
    return [d.name for d in measured_documents([resolve_task(task)], code_chars)
            if file_key(d) in files or text_hash(d.text) in texts]
