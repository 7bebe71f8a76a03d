"""The generalisation suite and the standard-library corpora it is made of: every task builds at the benchmark's
settings with a D and a test split of its own, the halves are fixed and disjoint, the corpora deterministic."""

import time

import numpy as np
import pytest

from benchmarks.presets import BENCH_ENV
from curriculum_env.config import EnvConfig
from curriculum_env.data import build, stdlib_corpora
from curriculum_env.data.suite import SUITE_FRESH, SUITE_HELDOUT, SUITE_TUNING, SUITES, half_of, suite_tasks
from curriculum_env.data.tasks import CODE, PROSE, Source, resolve_task
from tests.conftest import TINY, make_tiny

ALL = SUITE_TUNING + SUITE_HELDOUT
BENCH_DATA = {k: BENCH_ENV[k] for k in ("context_length", "heldout_size", "test_size")}


def rows(ids):
    return {r.tobytes() for r in ids}


@pytest.fixture(scope="module")
def built():
    """Every suite task built once at the benchmark's data settings, in the suite's test cache (conftest)."""
    start = time.perf_counter()
    data = {name: build.build_task_data(EnvConfig(task=name, vocab_size=4096, **BENCH_DATA)) for name in ALL}
    print(f"\nbuilt the {len(ALL)} suite tasks in {time.perf_counter() - start:.1f} s")
    return data


def test_the_halves_are_fixed_disjoint_and_hold_at_least_eight_tasks():
    assert len(SUITE_TUNING) >= 4 and len(SUITE_HELDOUT) >= 4 and len(ALL) >= 8
    assert not set(SUITE_TUNING) & set(SUITE_HELDOUT) and len(set(ALL)) == len(ALL)
    assert SUITES == {"generalisation": ALL, "tuning": SUITE_TUNING, "heldout": SUITE_HELDOUT, "fresh": SUITE_FRESH}
    assert list(suite_tasks()) == list(ALL) and list(suite_tasks("heldout")) == list(SUITE_HELDOUT)
    assert {half_of(t) for t in SUITE_TUNING} == {"tuning"} and {half_of(t) for t in SUITE_HELDOUT} == {"held-out"}
    assert half_of("noisy") is None
    with pytest.raises(ValueError, match="unknown suite 'all'"):
        suite_tasks("all")


def test_the_held_out_half_has_targets_of_its_own():
    tasks = suite_tasks()
    tuning = {tasks[t].target.builtin for t in SUITE_TUNING}
    assert not tuning & {tasks[t].target.builtin for t in SUITE_HELDOUT}


@pytest.mark.parametrize("name", ALL)
def test_every_task_resolves_by_name_with_its_share_and_the_shared_tokenizer(name):
    task = resolve_task(name)
    assert task == suite_tasks()[name] and task.name == name
    weights = {src.label: w for src, w in task.stream}
    assert sum(weights.values()) == pytest.approx(1.0)
    assert 0.1 <= weights[task.target.label] / sum(weights.values()) <= 0.3
    assert task.tokenizer_sources == (PROSE, CODE) and not task.needle
    assert (task.heldout_fraction, task.test_fraction) == (0.1, 0.1)  # the shipped tasks' split: one shared BPE


def test_the_shares_differ_and_cover_several_distractor_kinds():
    tasks = suite_tasks().values()
    shares = [dict((s.label, w) for s, w in t.stream)[t.target.label] for t in tasks]
    assert len(set(shares)) >= 6
    kinds = {s.junk or s.builtin for t in tasks for s, _ in t.stream if s != t.target}
    assert {"shuffled", "repeat", "random", "prose", "topics", "test_code", "code_except:email"} <= kinds


@pytest.mark.parametrize("name", ALL)
def test_every_task_builds_d_and_test_disjoint_from_the_stream(built, name):
    data = built[name]
    d, test = rows(data.heldout.ids), rows(data.test.ids)
    stream = set().union(*(rows(p.ids) for p in data.stream_pools.values()))
    assert len(d) >= BENCH_ENV["reward_batch"] and test and stream
    assert not d & test and not d & stream and not test & stream
    assert set(data.stream_pools) == {src.label for src, _ in data.task.stream}
    assert all(len(p) for p in data.stream_pools.values())
    assert data.heldout.ids.shape[1] == BENCH_ENV["context_length"] and data.vocab_size == 4096


def test_the_suite_shares_the_shipped_tasks_tokenizer(built):
    shipped = build.build_task_data(EnvConfig(**{**TINY, "task": "noisy"}))
    vocab = shipped.tokenizer.get_vocab()
    assert all(data.tokenizer.get_vocab() == vocab for data in built.values())


def test_a_suite_task_runs_through_gym_make():
    env = make_tiny(task="gen/multiprocessing-in-reference-junk")
    _, info = env.reset(seed=0)
    assert set(info["source"]) <= {"multiprocessing", "topics", "random", "repeat"}
    _, reward, *_ = env.step(env.action_space.sample())
    assert np.isfinite(reward)
    env.close()


CORPORA = ("topics", "docstrings", "comments", "test_code", "code:email", "code_except:email")


@pytest.mark.parametrize("name", CORPORA)
def test_the_corpora_are_deterministic_and_named_apart(name):
    first, second = stdlib_corpora.read(name, 300_000), stdlib_corpora.read(name, 300_000)
    assert first == second and len(first) >= 5
    assert all(d.name.startswith(f"{name}::") and d.text for d in first)
    assert len({d.name for d in first}) == len(first)


def test_document_names_never_collide_across_corpora():
    names = [d.name for corpus in ("prose", "code") for d in build.builtin_documents(corpus, 2_000_000)]
    for corpus in CORPORA + ("code:asyncio", "code_except:asyncio"):
        names += [d.name for d in stdlib_corpora.read(corpus, 300_000)]
    assert len(names) == len(set(names))


def test_the_package_forms_split_library_code_in_two():
    inside = {d.name.split("::")[1] for d in stdlib_corpora.read("code:email", 10**9)}
    outside = {d.name.split("::")[1] for d in stdlib_corpora.read("code_except:email", 10**9)}
    assert inside and all(f.startswith("email/") for f in inside) and not inside & outside
    assert not any(f.startswith(("pydoc_data/", "test/", "idlelib/")) for f in outside)
    tests = stdlib_corpora.read("test_code", 300_000)
    assert all(d.name.startswith("test_code::test/") for d in tests)


def test_comments_are_the_comment_text_of_each_file(tmp_path, monkeypatch):
    source = ("#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n# First line of a note\n#   second line\n"
              "x = '# not a comment'  # trailing remark\n\n\n## Another block\n")
    (tmp_path / "m.py").write_text(source)
    monkeypatch.setattr(stdlib_corpora, "MIN_COMMENT_CHARS", 10)
    assert stdlib_corpora.comment_text(tmp_path / "m.py") == (
        "First line of a note\nsecond line\ntrailing remark\n\nAnother block")
    monkeypatch.setattr(stdlib_corpora, "MIN_COMMENT_CHARS", 500)
    assert stdlib_corpora.comment_text(tmp_path / "m.py") is None  # too little comment text: skipped
    (tmp_path / "bad.py").write_text('# a comment\ns = """never closed\n')
    assert stdlib_corpora.comment_text(tmp_path / "bad.py") is None  # does not tokenize: skipped
    docs = stdlib_corpora.read("comments", 300_000)
    assert all(len(d.text) >= 500 for d in docs) and not any("encodings/" in d.name for d in docs)


@pytest.mark.parametrize(("builtin", "phrase"), [
    ("code:", "names no package; write code:<package>"),
    ("code_except", "names no package; write code_except:<package>"),
    ("code:nosuchpkg", "no package 'nosuchpkg' in this interpreter's standard library"),
    ("code:os", "'os' is a single module"),
    ("code:email.mime", "is not a top-level package name"),
    ("code_except:test", "'test' is not library code"),
    ("code-except:email", "did you mean code_except:email"),
    ("poetry", "unknown builtin corpus 'poetry'"),
])
def test_a_bad_builtin_spelling_is_a_clear_error(builtin, phrase):
    with pytest.raises(ValueError, match="source 'lib'") as err:
        Source("lib", builtin=builtin)
    assert phrase in str(err.value)
