"""The generalisation suite: eight user-like tasks, a tuning half and a held-out half.

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
``python -m benchmarks.compare --suite generalisation`` reports the two halves in separate tables.

Every task shares the shipped tasks' BPE (``tokenizer_sources=(PROSE, CODE)``) and their split fractions, so
the tokenizer is trained, and cached, once for all of them. Documents never overlap between a task's
target and its distractors, except where one corpus holds another's text: ``prose`` holds the docstrings of
library modules, so the code target of ``gen/code-in-english`` has a little of its held-out text in the
English stream, as ``mixed`` has it the other way round. Any stream window equal to a window of D or the
test split is dropped, as in every task. ``code:email``, ``code:asyncio`` and ``code:multiprocessing`` are a
few dozen files each, so D and the test split hold a few files of the package each (the split is by file).
"""

from __future__ import annotations

from curriculum_env.data.tasks import CODE, PROSE, Source, Task

SUITE_TUNING = ("gen/code-in-english", "gen/reference-in-mixed", "gen/email-in-code", "gen/docstrings-in-junk")
"""Tasks a method may be tuned on (with the shipped ones)."""
SUITE_HELDOUT = ("gen/asyncio-in-code-tests", "gen/comments-in-prose", "gen/multiprocessing-in-reference-junk",
                 "gen/comments-in-tests")
"""Tasks that say whether a method generalises: never tune on them."""
SUITES = {"generalisation": SUITE_TUNING + SUITE_HELDOUT, "tuning": SUITE_TUNING, "heldout": SUITE_HELDOUT}
"""The task lists ``benchmarks.compare --suite`` runs, by name."""
HALVES = {"tuning": SUITE_TUNING, "held-out": SUITE_HELDOUT}
"""Each half's tasks, under the name reports give the half."""


def half_of(task: str) -> str | None:
    """``"tuning"`` or ``"held-out"`` for a suite task's name, ``None`` for any other task."""
    return next((half for half, names in HALVES.items() if task in names), None)


def _junk(kind: str) -> Source:
    return Source(kind, junk=kind)


def suite_tasks(which: str = "generalisation") -> dict[str, Task]:
    """The tasks of suite ``which`` (``generalisation``: both halves; ``tuning``; ``heldout``) by name, in
    the order of :data:`SUITES`."""
    if which not in SUITES:
        raise ValueError(f"unknown suite {which!r}; suites: {', '.join(SUITES)}")
    topics, docstrings = Source("topics", builtin="topics"), Source("docstrings", builtin="docstrings")
    comments, tests = Source("comments", builtin="comments"), Source("test_code", builtin="test_code")
    email, asyncio = Source("email", builtin="code:email"), Source("asyncio", builtin="code:asyncio")
    mp = Source("multiprocessing", builtin="code:multiprocessing")
    not_email = Source("other_code", builtin="code_except:email")
    not_asyncio = Source("other_code", builtin="code_except:asyncio")
    shuffled, repeat, random = _junk("shuffled"), _junk("repeat"), _junk("random")
    code = Source("code", builtin="code_except:encodings")  # library code without the generated codec tables
    streams = {  # name: (target, ((source, share), ...)); the shares of each stream sum to 1
        "gen/code-in-english": (code, ((code, 0.2), (PROSE, 0.8))),
        "gen/reference-in-mixed": (topics, ((topics, 0.2), (docstrings, 0.3), (code, 0.3), (shuffled, 0.2))),
        "gen/email-in-code": (email, ((email, 0.15), (not_email, 0.85))),
        "gen/docstrings-in-junk": (docstrings, ((docstrings, 0.3), (shuffled, 0.4), (repeat, 0.3))),
        "gen/asyncio-in-code-tests": (asyncio, ((asyncio, 0.1), (not_asyncio, 0.5), (tests, 0.4))),
        "gen/comments-in-prose": (comments, ((comments, 0.25), (topics, 0.35), (docstrings, 0.4))),
        "gen/multiprocessing-in-reference-junk": (mp, ((mp, 0.18), (topics, 0.52), (random, 0.15), (repeat, 0.15))),
        "gen/comments-in-tests": (comments, ((comments, 0.28), (tests, 0.72))),
    }
    return {name: Task(name, streams[name][0], streams[name][1], tokenizer_sources=(PROSE, CODE))
            for name in SUITES[which]}
