"""More offline corpora cut from the running interpreter's standard library, for tasks beyond ``prose``/``code``.

Every name below is a ``builtin`` a :class:`~curriculum_env.data.tasks.Source` accepts. Each is read from
``sysconfig.get_paths()["stdlib"]`` and ``pydoc_data.topics`` only, so any CPython install builds it
offline, and each is deterministic: files are read in one fixed order and nothing depends on the clock,
the environment or the file system's listing order.

=====================  ===================================================================================
``topics``             the language-reference topics of ``pydoc_data.topics``, one document per topic
``docstrings``         the docstrings of each library module (as in ``prose``), one document per module
``comments``           the ``#`` comments of each library file (read with :mod:`tokenize`), one document per
                       file; files with under ``MIN_COMMENT_CHARS`` characters of comments are skipped, and
                       so is ``encodings`` (its comments are generated codec tables, not prose)
``test_code``          the ``.py`` sources of the ``test`` package (which ``code`` leaves out): Python of a
                       neighbouring kind, mostly assertions and fixtures
``code:<package>``     the library code of one top-level package, e.g. ``code:email``, ``code:asyncio``
``code_except:<pkg>``  all other library code, e.g. ``code_except:email``: the distractor for ``code:email``
=====================  ===================================================================================

*Library code* is what the ``code`` corpus reads: the ``.py`` files of the standard library outside
``test``/``tests``, ``idlelib``, ``lib2to3`` and ``site-packages``. The two package forms also leave out
``pydoc_data``, whose ``topics.py`` is the ``topics`` corpus written as a Python literal (so ``code_except:``
never streams a ``topics`` target's held-out text).

Capped corpora (all but ``topics``) stop at the first document that brings them to ``max_chars``
characters (``EnvConfig.code_chars``), taking files in a fixed order that mixes packages (sorted by a hash
of the path), so a small cap still spans many modules.

Document names start with the corpus name and ``::`` (``comments::json/decoder.py``), so they differ from
the ``topic:``/``docstrings:``/``code:`` names of ``prose`` and ``code`` and from each other's: the split
into stream, D and test hashes the name, and each corpus gets its own. How well a target fills D and the
test split depends on its number of documents: a package of a few dozen files gives a few files each to D
and to the test split (``code:email``, ``code:asyncio``, ``code:multiprocessing`` and ``code:xml`` do);
a single module is one document and is refused.

Linux distributions that split the standard library into several packages (Debian's ``libpython3.x-testsuite``)
may ship ``test`` nearly empty: ``test_code`` is then small.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pathlib
import re
import sysconfig
import tokenize

from curriculum_env.data.corpora import SKIPPED_STDLIB_DIRS, Document, capped_documents, module_docstrings, read_source

CORPORA = ("topics", "docstrings", "comments", "test_code")
"""The corpora without a parameter."""
PACKAGE_FORMS = ("code", "code_except")
"""``<form>:<package>``: one package's library code, or all library code but that package's."""
NOT_LIBRARY = frozenset(SKIPPED_STDLIB_DIRS) | {"pydoc_data"}
"""Top-level names that no package form takes (tests, IDLE, 2to3, site-packages, the topics literal)."""
MIN_COMMENT_CHARS = 500
"""A file's comments must reach this many characters (a few windows) to make a ``comments`` document."""
_CODING = re.compile(r"coding[:=]")  # a source-encoding declaration (PEP 263), not prose


def stdlib_root() -> pathlib.Path:
    return pathlib.Path(sysconfig.get_paths()["stdlib"])


@functools.lru_cache(maxsize=1)
def _py_files() -> tuple[str, ...]:
    """Every ``.py`` file under the standard library (not ``site-packages``, not ``__pycache__``), as paths
    relative to it with ``/``, sorted. Walks with pruning, so an installed ``site-packages`` costs nothing."""
    root = stdlib_root()
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "__pycache__"))
        rel = pathlib.Path(folder).relative_to(root)
        out += [(rel / f).as_posix() for f in files if f.endswith(".py")]
    return tuple(sorted(out))


def library_files() -> list[str]:
    """The library code's files (what ``code`` reads), relative to the standard library."""
    return [f for f in _py_files() if not SKIPPED_STDLIB_DIRS & set(f.split("/")[:-1])]


def _interleaved(files: list[str]) -> list[str]:
    """``files`` in the corpora's fixed order: by a hash of the path, which mixes packages, modules and file
    names evenly (sorting by the reversed path, as ``code`` does, puts the codec tables whose names end in
    digits first)."""
    return sorted(files, key=lambda f: hashlib.sha256(f"order:{f}".encode()).digest())


def _package_names() -> list[str]:
    """Top-level packages of library code (a folder of ``.py`` files), sorted."""
    tops = {f.split("/", 1)[0] for f in library_files() if "/" in f}
    return sorted(t for t in tops - NOT_LIBRARY if t.isidentifier())


def known_names() -> str:
    """The builtin names for an error message."""
    forms = ", ".join(f"{form}:<package>" for form in PACKAGE_FORMS)
    return f"prose, code, {', '.join(CORPORA)}, {forms}"


def check_name(name: str) -> None:
    """``ValueError`` saying what is wrong with ``name`` unless it is a builtin corpus (``prose``, ``code`` or one
    of this module's)."""
    if name in CORPORA or name in ("prose", "code"):
        return
    form, colon, package = name.partition(":")
    if not colon and form in PACKAGE_FORMS:  # "code_except" alone ("code" alone is the shipped corpus)
        raise ValueError(f"builtin corpus {name!r} names no package; write {form}:<package>, e.g. {form}:email")
    if not colon or form not in PACKAGE_FORMS:
        near = [f for f in PACKAGE_FORMS if colon and form.replace("-", "_").lower() == f]
        hint = f" (did you mean {near[0]}:{package}?)" if near else ""
        raise ValueError(f"unknown builtin corpus {name!r}{hint}; known: {known_names()}")
    example = f"e.g. {form}:email"
    if not package:
        raise ValueError(f"builtin corpus {name!r} names no package; write {form}:<package>, {example}")
    if not package.isidentifier():
        raise ValueError(f"builtin corpus {name!r}: {package!r} is not a top-level package name (one identifier, "
                         f"no dots, slashes or spaces), {example}")
    if package in NOT_LIBRARY:
        raise ValueError(f"builtin corpus {name!r}: {package!r} is not library code (the package forms leave out "
                         f"{', '.join(sorted(NOT_LIBRARY))}; the test package is the corpus 'test_code')")
    packages = _package_names()
    if package in packages:
        return
    if f"{package}.py" in library_files():
        raise ValueError(f"builtin corpus {name!r}: {package!r} is a single module, one document, too few to give "
                         f"D and the test split their own files; give a package, {example}")
    raise ValueError(f"builtin corpus {name!r}: no package {package!r} in this interpreter's standard library "
                     f"({stdlib_root()}); its packages: {', '.join(packages)}")


def read(name: str, max_chars: int) -> list[Document]:
    """The documents of corpus ``name`` (checked with :func:`check_name`), capped at ``max_chars`` characters."""
    check_name(name)
    if name in ("prose", "code"):
        raise ValueError(f"{name!r} is read by curriculum_env.data.corpora.offline_{name}, not here")
    if name == "topics":
        from pydoc_data.topics import topics

        return [Document(f"topics::{key}", text) for key, text in sorted(topics.items())]
    if name == "docstrings":
        return _capped(name, library_files(), max_chars, module_docstrings)
    if name == "comments":
        files = [f for f in library_files() if f.split("/", 1)[0] != "encodings"]
        return _capped(name, files, max_chars, comment_text)
    if name == "test_code":
        files = [f for f in _py_files() if f.split("/", 1)[0] == "test"]
        return _capped(name, files, max_chars, read_source)
    form, _, package = name.partition(":")
    top = {f: f.split("/", 1)[0] for f in library_files()}
    if form == "code":
        files = [f for f, first in top.items() if first == package]
    else:
        files = [f for f, first in top.items() if first != package and first not in NOT_LIBRARY]
    return _capped(name, files, max_chars, read_source)


def _capped(name: str, files: list[str], max_chars: int, text_of) -> list[Document]:
    """One document per file with text (``text_of(path)`` not empty), in the interleaved order, until the
    documents hold ``max_chars`` characters."""
    root = stdlib_root()
    return capped_documents(((f"{name}::{rel}", text_of(root / rel) or None) for rel in _interleaved(files)),
                            max_chars)


def comment_text(path: pathlib.Path) -> str | None:
    """The ``#`` comments of a Python file without their ``#`` marks, one line each, a blank line where the
    comments are not on consecutive lines; the ``#!`` line and coding cookies are left out. ``None`` when
    they total under :data:`MIN_COMMENT_CHARS` characters or the file does not tokenize."""
    source = read_source(path)
    if source is None:
        return None
    lines, last = [], None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type != tokenize.COMMENT:
                continue
            row = tok.start[0]
            text = tok.string.lstrip("#").strip()
            if not text or (row <= 2 and (tok.string.startswith("#!") or _CODING.search(text))):
                continue
            if last is not None and row != last + 1:
                lines.append("")
            lines.append(text)
            last = row
    except (tokenize.TokenError, SyntaxError):  # IndentationError is a SyntaxError
        return None
    text = "\n".join(lines)
    return text if len(text) >= MIN_COMMENT_CHARS else None
