"""The generalisation suite: eight user-like tasks, a tuning half and a held-out half; and a fresh held-out set.

The shipped tasks (``prose``, ``noisy``, ``mixed``, ``needle``) all measure ``prose``; a method tuned on them
may have learnt those four streams rather than how to select data. The suite asks the same question of other
targets and other distractors, all built offline from the standard library
(:mod:`curriculum_env.data.stdlib_corpora`) and the junk the shipped tasks use, which is made of the target's
own stream windows (``random`` tokens, ``shuffled`` words, ``repeat``: repeated n-grams). Sources are corpora
of :mod:`curriculum_env.data.stdlib_corpora` and the shipped ``prose``: ``topics`` is the language reference,
``test code`` the ``test_code`` corpus, ``other library code`` ``code_except:<package>``, and ``library code`` (or
``code``) is ``code_except:encodings``. The shipped ``code`` corpus, read in reversed-path order, starts with the
generated codec tables of ``encodings`` (their names end in digits) and is mostly made of them at its default
size, so the suite takes library code without them, in the mixed order of the other corpora:

=====================================  ========  ====================  =============================================
task                                   half      target                stream shares, then distractor kind
=====================================  ========  ====================  =============================================
gen/code-in-english                    tuning    library code          code 20%, prose 80%
                                                                       far: code among English
gen/reference-in-mixed                 tuning    topics                topics 20%, docstrings 30%, code 30%,
                                                                       shuffled 20%
                                                                       mixture: other prose, code, junk of its words
gen/email-in-code                      tuning    code:email            email 15%, other library code 85%
                                                                       near: code among other code
gen/docstrings-in-junk                 tuning    docstrings            docstrings 30%, shuffled 40%, repeat 30%
                                                                       junk made of the target's windows
gen/asyncio-in-code-tests              held-out  code:asyncio          asyncio 10%, other library code 50%,
                                                                       test code 40%
                                                                       near: code among two other kinds of code
gen/comments-in-prose                  held-out  comments              comments 25%, topics 35%, docstrings 40%
                                                                       near: prose among other prose
gen/multiprocessing-in-reference-junk  held-out  code:multiprocessing  multiprocessing 18%, topics 52%,
                                                                       random 15%, repeat 15%
                                                                       mixture: far (English) and junk
gen/comments-in-tests                  held-out  comments              comments 28%, test code 72%
                                                                       far: English among code
=====================================  ========  ====================  =============================================

``gen/code-in-english`` and ``gen/reference-in-mixed`` are the two streams users reported: a code target at
a fifth of a stream of English, and an English technical-prose target at a fifth of other prose, code and
junk made of its words. The held-out half has none of the tuning half's targets, and its streams pair
targets and distractors the tuning half does not (code among test code; comments among prose or tests;
package code among the language reference and junk), at other shares.

**The rule.** Tune methods (hyper-parameters, presets, design choices) only on the tuning half and the shipped
tasks. A method counts as generalising only by its results on the held-out half, run once it is fixed;
``python -m benchmarks.compare --suite generalisation`` reports the two halves in separate tables. The fresh
held-out set below is a second such test, for methods fixed before it was written.

**The fresh held-out set** (``SUITE_FRESH``, ``--suite fresh``) is a second held-out set of four tasks, fixed
here before the learned curriculum with cheap inputs was tuned: never tune on them. Each is of another kind,
and none shares a target with the halves above (C, logs, an API index read from a JSONL file, XML code):

==========================================  ==============  ============================================
task                                        target          stream shares, then distractor kind
==========================================  ==============  ============================================
gen/c-headers-in-python                     c_headers       C headers 15%, library code 85%
                                                            another language among Python
gen/lint-logs-in-code-docstrings            logs            logs 20%, library code 45%, docstrings 35%
                                                            structured log lines among code and prose
gen/jsonl-api-index-in-reference-comments   api_index       API index 25%, topics 35%, comments 40%
                                            (a JSONL file)  its records among other prose
gen/xml-in-html-xmlrpc                      code:xml        xml 12%, html 44%, xmlrpc 44%
                                                            near: markup code among its sibling packages
==========================================  ==============  ============================================

``c_headers`` and ``logs`` are corpora of :mod:`curriculum_env.data.stdlib_corpora` (the C headers of the
interpreter's include directory; lint logs of the library code written with :mod:`logging` formats on a fixed
clock). ``gen/jsonl-api-index-in-reference-comments`` reads its target from a JSONL file the way a user's
``files = ["data.jsonl"]`` is read (:func:`curriculum_env.data.corpora.from_files`, one document per record):
the standard library's API index (each public class and function of a module with its signature and the
first line of its docstring), written into the cache by :func:`api_index_jsonl` the first time the task is
looked up. Its distractors hold none of its text (docstrings and code would: the index quotes both).
``gen/xml-in-html-xmlrpc`` is the near-domain task: ``xml`` (DOM, SAX, ElementTree, expat), among the two
other markup packages of the library, written in the same style, at an eighth of the stream. Its target is
22 files, so D and the test split hold a few files of ``xml`` each, as for ``code:email``. The fresh set is
its own half in :data:`HALVES` (``"fresh held-out"``); ``--suite generalisation`` stays the eight tasks above.

Every task shares the shipped tasks' BPE (``tokenizer_sources=(PROSE, CODE)``) and their split fractions, so
the tokenizer is trained, and cached, once for all of them. Documents never overlap between a task's
target and its distractors, except where one corpus holds another's text: ``prose`` holds the docstrings of
library modules, so the code target of ``gen/code-in-english`` has a little of its held-out text in the
English stream, as ``mixed`` has it the other way round; the lint logs quote the signatures and ``TODO``
comments of the code they check, so the library code of ``gen/lint-logs-in-code-docstrings`` holds pieces
of its target's lines (never whole log windows). Any stream window equal to a window of D or the
test split is dropped, as in every task. ``code:email``, ``code:asyncio`` and ``code:multiprocessing`` are a
few dozen files each, so D and the test split hold a few files of the package each (the split is by file).
"""

from __future__ import annotations

import hashlib
import pathlib
import sys

from curriculum_env.data.task_types import CODE, PROSE, Source, Task

SUITE_TUNING = ("gen/code-in-english", "gen/reference-in-mixed", "gen/email-in-code", "gen/docstrings-in-junk")
"""Tasks a method may be tuned on (with the shipped ones)."""
SUITE_HELDOUT = ("gen/asyncio-in-code-tests", "gen/comments-in-prose", "gen/multiprocessing-in-reference-junk",
                 "gen/comments-in-tests")
"""Tasks that say whether a method generalises: never tune on them."""
SUITE_FRESH = ("gen/c-headers-in-python", "gen/lint-logs-in-code-docstrings",
               "gen/jsonl-api-index-in-reference-comments", "gen/xml-in-html-xmlrpc")
"""Second held-out set, added before the learned curriculum with cheap inputs was tuned; never tune on them."""
SUITES = {"generalisation": SUITE_TUNING + SUITE_HELDOUT, "tuning": SUITE_TUNING, "heldout": SUITE_HELDOUT,
          "fresh": SUITE_FRESH}
"""The task lists ``benchmarks.compare --suite`` runs, by name (``generalisation`` stays the first eight tasks, so
results measured on it stay valid; the fresh set runs on its own)."""
HALVES = {"tuning": SUITE_TUNING, "held-out": SUITE_HELDOUT, "fresh held-out": SUITE_FRESH}
"""Each half's tasks, under the name reports give the half."""
API_INDEX_JSONL = "stdlib-api-index.jsonl"
"""The file name of ``gen/jsonl-api-index-in-reference-comments``'s JSONL file (see :func:`api_index_jsonl`)."""


def half_of(task: str) -> str | None:
    """``"tuning"``, ``"held-out"`` or ``"fresh held-out"`` for a suite task's name, ``None`` for any other task."""
    return next((half for half, names in HALVES.items() if task in names), None)


def _junk(kind: str) -> Source:
    return Source(kind, junk=kind)


def suite_tasks(which: str = "generalisation") -> dict[str, Task]:
    """The tasks of suite ``which`` (``generalisation``: the tuning and held-out halves; ``tuning``; ``heldout``;
    ``fresh``) by name, in the order of :data:`SUITES`."""
    if which not in SUITES:
        raise ValueError(f"unknown suite {which!r}; suites: {', '.join(SUITES)}")
    return {name: suite_task(name) for name in SUITES[which]}


def suite_task(name: str) -> Task:
    """The suite task ``name`` (of any suite). Only ``gen/jsonl-api-index-in-reference-comments`` touches the
    disk: it writes its JSONL file into the cache the first time (:func:`api_index_jsonl`)."""
    topics, docstrings = Source("topics", builtin="topics"), Source("docstrings", builtin="docstrings")
    comments, tests = Source("comments", builtin="comments"), Source("test_code", builtin="test_code")
    code = Source("code", builtin="code_except:encodings")  # library code without the generated codec tables
    if name == "gen/jsonl-api-index-in-reference-comments":  # read from a file, like a user's JSONL
        api = Source("api_index", files=(str(api_index_jsonl()),))
        return _task(name, api, ((api, 0.25), (topics, 0.35), (comments, 0.4)))
    known = SUITES["generalisation"] + SUITE_FRESH
    if name not in known:
        raise ValueError(f"unknown suite task {name!r}; suite tasks: {', '.join(known)}")
    email, asyncio = Source("email", builtin="code:email"), Source("asyncio", builtin="code:asyncio")
    mp = Source("multiprocessing", builtin="code:multiprocessing")
    not_email = Source("other_code", builtin="code_except:email")
    not_asyncio = Source("other_code", builtin="code_except:asyncio")
    shuffled, repeat, random = _junk("shuffled"), _junk("repeat"), _junk("random")
    c, logs = Source("c_headers", builtin="c_headers"), Source("logs", builtin="logs")
    xml, html, xmlrpc = (Source(p, builtin=f"code:{p}") for p in ("xml", "html", "xmlrpc"))
    streams = {  # name: (target, ((source, share), ...)); the shares of each stream sum to 1
        "gen/code-in-english": (code, ((code, 0.2), (PROSE, 0.8))),
        "gen/reference-in-mixed": (topics, ((topics, 0.2), (docstrings, 0.3), (code, 0.3), (shuffled, 0.2))),
        "gen/email-in-code": (email, ((email, 0.15), (not_email, 0.85))),
        "gen/docstrings-in-junk": (docstrings, ((docstrings, 0.3), (shuffled, 0.4), (repeat, 0.3))),
        "gen/asyncio-in-code-tests": (asyncio, ((asyncio, 0.1), (not_asyncio, 0.5), (tests, 0.4))),
        "gen/comments-in-prose": (comments, ((comments, 0.25), (topics, 0.35), (docstrings, 0.4))),
        "gen/multiprocessing-in-reference-junk": (mp, ((mp, 0.18), (topics, 0.52), (random, 0.15), (repeat, 0.15))),
        "gen/comments-in-tests": (comments, ((comments, 0.28), (tests, 0.72))),
        # the fresh held-out set
        "gen/c-headers-in-python": (c, ((c, 0.15), (code, 0.85))),
        "gen/lint-logs-in-code-docstrings": (logs, ((logs, 0.2), (code, 0.45), (docstrings, 0.35))),
        "gen/xml-in-html-xmlrpc": (xml, ((xml, 0.12), (html, 0.44), (xmlrpc, 0.44))),
    }
    return _task(name, *streams[name])


def _task(name: str, target: Source, stream: tuple[tuple[Source, float], ...]) -> Task:
    return Task(name, target, stream, tokenizer_sources=(PROSE, CODE))


def api_index_jsonl() -> pathlib.Path:
    """The JSONL file ``gen/jsonl-api-index-in-reference-comments`` reads: the standard library's API index
    (:func:`curriculum_env.data.stdlib_corpora.api_index`, one ``{"name", "text"}`` record per module), written
    once into ``<cache>/jsonl/<interpreter>/`` (the cache of :func:`curriculum_env.data.tokenizer.cache_root`, a
    folder per ``sys.version``) when it is not there, and returned as it is when it is: the task reads whatever
    the file holds, with :func:`curriculum_env.data.corpora.from_files` like any user's JSONL, and its cached
    windows follow the file's size and time (an edited file is re-read; a deleted one is written afresh by the
    next lookup of the task, and a task resolved before the deletion says the file is missing)."""
    from curriculum_env.data import corpora, stdlib_corpora
    from curriculum_env.data.tokenizer import cache_root

    folder = cache_root() / "jsonl" / hashlib.sha256(f"{sys.version}|api_index/1".encode()).hexdigest()[:12]
    path = folder / API_INDEX_JSONL
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        corpora.write_jsonl(path, stdlib_corpora.api_index())
    return path
