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
``c_headers``          C: the ``.h`` headers of this interpreter's include directory
                       (``sysconfig.get_paths()["include"]``, with ``cpython/`` and ``internal/``), one
                       document per header; the generated ones are left out (opcode and AST tables, and
                       ``pyconfig.h``, which ``configure`` writes per platform)
``logs``               lint logs of the library code (not ``encodings``), one document per file: what a
                       checker would log while reading it (imports, each class and function with its
                       signature and size, missing docstrings, ``TODO``/``XXX`` comments, long lines),
                       written by :class:`logging.Formatter` in one of :data:`LOG_FORMATS` on a clock that
                       starts at a fixed date, so every line is the same on every run and machine
=====================  ===================================================================================

:func:`api_index` is not a builtin: it is the text of a JSONL file (one record per library module: its
public classes and functions with their signatures and the first line of their docstrings), which the suite
writes once and reads back the way a user's JSONL file is read (:func:`curriculum_env.data.corpora.from_files`).

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
may ship ``test`` nearly empty: ``test_code`` is then small. They also ship the C headers on their own
(``python3.x-dev``): without them ``c_headers`` raises ``FileNotFoundError`` naming the folder and the package.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import logging
import os
import pathlib
import re
import sys
import sysconfig
import time
import tokenize

from curriculum_env.data.corpora import SKIPPED_STDLIB_DIRS, Document, capped_documents, module_docstrings, read_source

CORPORA = ("topics", "docstrings", "comments", "test_code", "c_headers", "logs")
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
    if name == "c_headers":
        return _capped(name, c_header_files(), max_chars, read_source, include_root())
    if name == "logs":
        root = stdlib_root()
        files = [f for f in library_files() if f.split("/", 1)[0] != "encodings"]
        return _capped(name, files, max_chars, lambda path: lint_log(path, path.relative_to(root).as_posix()))
    form, _, package = name.partition(":")
    top = {f: f.split("/", 1)[0] for f in library_files()}
    if form == "code":
        files = [f for f, first in top.items() if first == package]
    else:
        files = [f for f, first in top.items() if first != package and first not in NOT_LIBRARY]
    return _capped(name, files, max_chars, read_source)


def _capped(name: str, files: list[str], max_chars: int, text_of, root: pathlib.Path | None = None) -> list[Document]:
    """One document per file with text (``text_of(path)`` not empty), in the interleaved order, until the
    documents hold ``max_chars`` characters; ``files`` are relative to ``root`` (default: the standard library)."""
    root = stdlib_root() if root is None else root
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


# ------------------------------------------------------------------------------------------------
# C headers


def include_root() -> pathlib.Path:
    """This interpreter's folder of C headers (``sysconfig.get_paths()["include"]``; a venv's is its base's)."""
    return pathlib.Path(sysconfig.get_paths()["include"])


GENERATED_C = re.compile(r"(?i)\b(auto-generated|automatically generated|this file is generated|generated from \S+)"
                         r" by\b")
"""The mark of a header written by a script (opcode tables, the AST's structs, ``pyconfig.h`` by ``configure``)."""


def c_header_files() -> list[str]:
    """The hand-written ``.h`` files under :func:`include_root`, relative to it with ``/``, sorted: not
    ``pyconfig.h`` (written per platform) nor any header that says a script generated it (:data:`GENERATED_C`),
    as the library code leaves out the generated codec tables. ``FileNotFoundError`` naming the folder and what
    to install when there are none."""
    root = include_root()
    paths = sorted(p for p in root.rglob("*.h") if p.is_file() and p.name != "pyconfig.h") if root.is_dir() else []
    files = [p.relative_to(root).as_posix() for p in paths if not GENERATED_C.search(read_source(p) or "")]
    if files:
        return files
    where = "does not exist" if not root.is_dir() else "holds no *.h file"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    raise FileNotFoundError(
        f"builtin corpus 'c_headers': this interpreter's include directory {str(root)!r} "
        f"(sysconfig.get_paths()['include']) {where}; the corpus is its C headers. Install the Python development "
        f"headers ({version}-dev on Debian/Ubuntu, python3-devel on Fedora) or use an interpreter that ships them "
        "(python.org, pyenv, conda, the python Docker images)")


# ------------------------------------------------------------------------------------------------
# Signatures (the lint logs and the API index both name functions by them)

_MAX_SIGNATURE = 120


def _signature(node: ast.AST) -> str:
    """``(args) -> returns`` of a function, ``(bases)`` of a class (empty without bases), cut to
    :data:`_MAX_SIGNATURE` characters."""
    if isinstance(node, ast.ClassDef):
        parts = [ast.unparse(b) for b in node.bases] + [ast.unparse(k) for k in node.keywords]
        text = f"({', '.join(parts)})" if parts else ""
    else:
        text = f"({ast.unparse(node.args)})" + (f" -> {ast.unparse(node.returns)}" if node.returns else "")
    return text if len(text) <= _MAX_SIGNATURE else text[: _MAX_SIGNATURE - 4] + " ..."


def _summary(doc: str | None) -> str | None:
    """The first line of a docstring, cut to 160 characters; ``None`` for none."""
    line = doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""
    return (line if len(line) <= 160 else line[:156] + " ...") or None


def _defs(body: list[ast.stmt], prefix: str = ""):
    """``(qualified name, node)`` of the classes and functions of ``body`` and of its classes' bodies (not
    functions nested in functions), in source order."""
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            if isinstance(node, ast.ClassDef):
                yield from _defs(node.body, f"{prefix}{node.name}.")


def _module_name(rel: str) -> str:
    name = rel[: -len(".py")].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):  # a handful of library files are templates
        return None


# ------------------------------------------------------------------------------------------------
# Lint logs

LOG_FORMATS = (
    ("%(asctime)s %(levelname)-8s %(name)s: %(message)s", None),
    ("[%(asctime)s] {%(module)s:%(lineno)d} %(levelname)s - %(message)s", None),
    (logging.BASIC_FORMAT, None),
    ("%(asctime)s - %(process)d - %(threadName)s - %(name)s - %(levelname)s - %(message)s", "%Y-%m-%dT%H:%M:%SZ"),
)
"""The :class:`logging.Formatter` formats a file's log is written in (one per file, by a hash of its path): the
common timestamped one, Airflow's, ``logging.basicConfig``'s and a process/thread one with ISO times."""
LOG_EPOCH_MS = 1_672_531_200_000
"""The logs' clock starts here (2023-01-01 00:00 UTC), plus up to a year by a hash of the file's path."""
COMPLEXITY_LIMIT = 10
_BRANCHES = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.With, ast.AsyncWith, ast.BoolOp, ast.IfExp,
             ast.comprehension, ast.ExceptHandler)
_TAGS = re.compile(r"\b(TODO|XXX|FIXME|HACK)\b")


def _draw(key: str, n: int) -> int:
    """A number in ``[0, n)`` from a hash of ``key``: the logs' only randomness, the same on every machine."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") % n


_THREADS = ("MainThread", "ThreadPoolExecutor-0_0", "ThreadPoolExecutor-0_1")
"""The thread names a log's records carry (one per file, by a hash of its path)."""
_Event = tuple[int, int, str]
"""A log event: ``(line, level, message)``; a file's events are logged in line order."""


class _LintLog:
    """The lines of one file's lint log as they are written: the record fields of the file (its logger name,
    module, process and thread, all drawn from its path) and the clock, which starts at a date drawn from the
    path and ticks a drawn 1 to 40 ms per line, so the text is the same on every run and machine."""

    def __init__(self, rel: str) -> None:
        """An empty log of library file ``rel``: its format, record fields and start time, drawn from ``rel``."""
        fmt, datefmt = LOG_FORMATS[_draw(f"format:{rel}", len(LOG_FORMATS))]
        self.formatter = logging.Formatter(fmt, datefmt)
        self.formatter.converter = time.gmtime  # UTC: the same text in every time zone
        module = _module_name(rel)
        self.rel = rel
        self.fields = dict(name=f"lint.{module}", pathname=rel, filename=rel.rsplit("/", 1)[-1],
                           module=module.rsplit(".")[-1], funcName="check", process=1000 + _draw(f"pid:{rel}", 60_000),
                           processName="MainProcess", threadName=_THREADS[_draw(f"thread:{rel}", len(_THREADS))],
                           args=None, exc_info=None, exc_text=None, stack_info=None)
        self.clock = self.start = LOG_EPOCH_MS + _draw(f"start:{rel}", 365 * 86_400_000)
        self.lines: list[str] = []

    def __call__(self, level: int, lineno: int, message: str) -> None:
        """Write one line: ``message`` at ``level`` from line ``lineno``, one clock tick after the last."""
        self.clock += 1 + _draw(f"tick:{self.rel}:{len(self.lines)}", 40)
        record = logging.makeLogRecord({**self.fields, "levelno": level, "levelname": logging.getLevelName(level),
                                        "msg": message, "lineno": lineno, "created": self.clock / 1000,
                                        "msecs": self.clock % 1000, "relativeCreated": 0.0})
        self.lines.append(self.formatter.format(record))

    def text(self) -> str:
        """The log so far, one line per record."""
        return "\n".join(self.lines)


def lint_log(path: pathlib.Path, rel: str) -> str | None:
    """The log a checker writes reading library file ``path`` (``rel``: its path in the library), one line per
    event in file order: the file's size, its imports, each class and function (signature, lines,
    complexity), public ones without a docstring, overly complex ones, ``TODO``/``XXX``/``FIXME``/``HACK``
    comments, long lines and a summary; an ``ERROR`` line for a file that does not parse. ``None`` for a file
    that cannot be read."""
    source = read_source(path)
    if source is None:
        return None
    log, text = _LintLog(rel), source.splitlines()
    log(logging.INFO, 1, f"checking {rel} ({len(text)} lines, {len(source.encode())} bytes)")
    tree = _parse(source)
    if tree is None:
        log(logging.ERROR, 1, f"cannot parse {rel}: {_parse_error(source, rel)}; skipped")
        return log.text()
    definitions, counts = _definition_events(tree)
    events = _import_events(tree) + definitions + _tag_events(source, rel)
    events.sort(key=lambda e: e[0])  # stable: a definition's own lines stay in order
    counts["warning"] = 0
    for lineno, level, message in events:
        counts["warning"] += level == logging.WARNING
        log(level, lineno, message)
    long = _long_lines(text)
    if long is not None:
        log(logging.INFO, *long)
    log(logging.INFO, len(text), f"done {rel}: {counts['class']} classes, {counts['function']} functions, "
                                 f"{counts['warning']} warnings in {log.clock - log.start} ms")
    return log.text()


def _parse_error(source: str, rel: str) -> str:
    """Why ``source`` (of library file ``rel``), which :func:`_parse` refused, does not parse: the compiler's
    error and its message, for the log's ``ERROR`` line."""
    try:
        compile(source, rel, "exec", dont_inherit=True)
        return "does not parse"
    except (SyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}"


def _import_events(tree: ast.Module) -> list[_Event]:
    """``DEBUG`` events naming the modules a file imports (anywhere in it), six imports to a line, each at the
    line of its chunk's first import; a module imported twice in a chunk is named once."""
    imports = sorted((n.lineno, name) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                     for name in ([a.name for a in n.names] if isinstance(n, ast.Import)
                                  else ["." * n.level + (n.module or "")]))
    events = []
    for i in range(0, len(imports), 6):
        chunk = imports[i : i + 6]
        events.append((chunk[0][0], logging.DEBUG, "imports " + ", ".join(dict.fromkeys(m for _, m in chunk))))
    return events


def _definition_events(tree: ast.Module) -> tuple[list[_Event], dict[str, int]]:
    """The events of each class and function of a file (:func:`_defs`, source order): a ``DEBUG`` line with its
    signature, length and complexity, then a ``WARNING`` if it is public without a docstring and one if it is a
    function over :data:`COMPLEXITY_LIMIT`; and the number of classes and of functions (``"class"``,
    ``"function"``) for the summary."""
    events, counts = [], {"class": 0, "function": 0}
    for qual, node in _defs(tree.body):
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        counts[kind] += 1
        length = node.end_lineno - node.lineno + 1
        complexity = 1 + sum(isinstance(n, _BRANCHES) for n in ast.walk(node))
        events.append((node.lineno, logging.DEBUG, f"{kind} {qual}{_signature(node)}: {length} lines, "
                                                   f"complexity {complexity}"))
        if not node.name.startswith("_") and ast.get_docstring(node) is None:
            events.append((node.lineno, logging.WARNING, f"{qual} (line {node.lineno}): public {kind} without a "
                                                         "docstring"))
        if kind == "function" and complexity > COMPLEXITY_LIMIT:
            events.append((node.lineno, logging.WARNING, f"{qual} is too complex ({complexity} > {COMPLEXITY_LIMIT})"))
    return events, counts


def _tag_events(source: str, rel: str) -> list[_Event]:
    """A ``WARNING`` per comment with a ``TODO``/``XXX``/``FIXME``/``HACK`` tag, quoting it (cut to 120
    characters). A file that stops tokenizing keeps the events of the comments before the error."""
    events = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source if _TAGS.search(source) else "").readline):
            tag = _TAGS.search(tok.string) if tok.type == tokenize.COMMENT else None
            if tag:
                note = tok.string.lstrip("#").strip()
                note = note if len(note) <= 120 else note[:116] + " ..."
                events.append((tok.start[0], logging.WARNING, f"{rel}:{tok.start[0]}: {tag.group(1)} comment: {note}"))
    except (tokenize.TokenError, SyntaxError):
        pass
    return events


def _long_lines(text: list[str]) -> tuple[int, str] | None:
    """``(line, message)`` of the ``INFO`` line on the lines over 79 characters (how many, and the longest: the
    first of the longest), ``None`` when there are none."""
    long = [(len(line), row) for row, line in enumerate(text, start=1) if len(line) > 79]
    if not long:
        return None
    width, row = max(long, key=lambda x: (x[0], -x[1]))
    return row, f"{len(long)} lines longer than 79 characters (longest: line {row}, {width} characters)"


# ------------------------------------------------------------------------------------------------
# The API index (the suite's JSONL task writes it to a file)


def api_index(max_chars: int = 10**9) -> list[Document]:
    """One document per library module (not ``encodings``), by path: ``module <name>``, the first line of its
    docstring, then each public class and function (and ``__init__``) with its signature and the first line
    of its docstring, methods indented under their class. Modules with no public name are left out."""
    root = stdlib_root()
    files = [f for f in library_files() if f.split("/", 1)[0] != "encodings"]
    return capped_documents(((f"api_index::{rel}", api_card(root / rel, _module_name(rel))) for rel in files),
                            max_chars)


def api_card(path: pathlib.Path, module: str) -> str | None:
    """The API index entry of one module (see :func:`api_index`); ``None`` when it has no public name or
    does not parse."""
    source = read_source(path)
    tree = _parse(source) if source is not None else None
    if tree is None:
        return None
    lines = [f"module {module}"] + [s for s in (_summary(ast.get_docstring(tree)),) if s]
    head = len(lines)
    for qual, node in _defs(tree.body):
        parts = qual.split(".")
        if any(p.startswith("_") for p in parts[:-1]) or (parts[-1].startswith("_") and parts[-1] != "__init__"):
            continue
        indent = "    " * (len(parts) - 1)
        kind = {ast.ClassDef: "class", ast.FunctionDef: "def", ast.AsyncFunctionDef: "async def"}[type(node)]
        lines.append(f"{indent}{kind} {node.name}{_signature(node)}")
        summary = _summary(ast.get_docstring(node))
        if summary:
            lines.append(f"{indent}    {summary}")
    return "\n".join(lines) if len(lines) > head else None
