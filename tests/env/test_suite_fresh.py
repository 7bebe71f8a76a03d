"""The fresh held-out set: four tasks of other kinds (C headers, lint logs, a JSONL file, a near-domain distractor),
fixed apart from the generalisation suite's halves. Every task builds at the default config with a D and a test
split of its own, disjoint from its stream, which streams the target at the stated share; the JSONL task reads
its file; the new corpora are deterministic and fail clearly where their files are missing."""

import json
import os
import pathlib
import re
import time

import numpy as np
import pytest

from curriculum_env.config import EnvConfig
from curriculum_env.data import build, corpora, stdlib_corpora
from curriculum_env.data.stream import CandidateStream
from curriculum_env.data.suite import (
    API_INDEX_JSONL,
    HALVES,
    SUITE_FRESH,
    SUITE_HELDOUT,
    SUITE_TUNING,
    SUITES,
    half_of,
    suite_task,
    suite_tasks,
)
from curriculum_env.data.tasks import CODE, PROSE, builtin_tasks, resolve_task
from tests.conftest import make_tiny

JSONL_TASK = "gen/jsonl-api-index-in-reference-comments"
SHARES = {  # the table of curriculum_env.data.suite, written out again
    "gen/c-headers-in-python": {"c_headers": 0.15, "code": 0.85},
    "gen/lint-logs-in-code-docstrings": {"logs": 0.2, "code": 0.45, "docstrings": 0.35},
    JSONL_TASK: {"api_index": 0.25, "topics": 0.35, "comments": 0.4},
    "gen/xml-in-html-xmlrpc": {"xml": 0.12, "html": 0.44, "xmlrpc": 0.44},
}
MARKS = {  # what a window of the target looks like (the oracle's labels aside)
    "gen/c-headers-in-python": re.compile(r"#\s*(define|include|ifn?def|endif|if|else)\b|;\s*$|\bPy\w*\s*\(|/\*|\*/|"
                                          r"\b(typedef|struct|static|extern|unsigned|void)\b|\w+_t\b|->", re.M),
    "gen/lint-logs-in-code-docstrings": re.compile(r"\b(DEBUG|INFO|WARNING|ERROR)\b"),
    JSONL_TASK: re.compile(r"^\s*(def|class|async def|module) \w+", re.M),
}
SESSION_CACHE = os.environ["CURRICULUM_ENV_CACHE"]  # the suite's test cache (conftest), before any monkeypatch


def rows(ids):
    return {r.tobytes() for r in ids}


@pytest.fixture(scope="module")
def built():
    """Every fresh task built once at the default config (64-token windows, |D| <= 256, test <= 256)."""
    start = time.perf_counter()
    data = {name: build.build_task_data(EnvConfig(task=name)) for name in SUITE_FRESH}
    print(f"\nbuilt the {len(SUITE_FRESH)} fresh tasks in {time.perf_counter() - start:.1f} s")
    return data


def test_the_fresh_set_is_its_own_half_apart_from_the_others():
    assert len(SUITE_FRESH) >= 4 and len(set(SUITE_FRESH)) == len(SUITE_FRESH)
    assert not set(SUITE_FRESH) & (set(SUITE_TUNING) | set(SUITE_HELDOUT) | set(builtin_tasks()))
    assert SUITES["fresh"] == SUITE_FRESH and HALVES["fresh held-out"] == SUITE_FRESH
    assert SUITES["generalisation"] == SUITE_TUNING + SUITE_HELDOUT and len(SUITES["generalisation"]) == 8
    assert {half_of(t) for t in SUITE_FRESH} == {"fresh held-out"}
    assert list(suite_tasks("fresh")) == list(SUITE_FRESH) and set(SHARES) == set(SUITE_FRESH)
    with pytest.raises(ValueError, match="unknown suite task 'gen/nothing'"):
        suite_task("gen/nothing")


def test_the_fresh_targets_are_four_kinds_none_a_target_of_the_halves():
    old = {t.target for t in suite_tasks().values()}
    fresh = suite_tasks("fresh")
    assert not old & {t.target for t in fresh.values()}
    kinds = [t.target.builtin or t.target.files[0].rsplit(".", 1)[-1] for t in fresh.values()]
    assert kinds == ["c_headers", "logs", "jsonl", "code:xml"]
    assert {s.builtin for s, _ in fresh["gen/xml-in-html-xmlrpc"].stream} == {"code:xml", "code:html", "code:xmlrpc"}


@pytest.mark.parametrize("name", SUITE_FRESH)
def test_every_task_resolves_by_name_with_the_stated_shares_and_the_shared_tokenizer(name):
    task = resolve_task(name)
    assert task == suite_task(name) and task.name == name
    assert {src.label: w for src, w in task.stream} == SHARES[name]
    assert sum(SHARES[name].values()) == pytest.approx(1.0)
    assert task.tokenizer_sources == (PROSE, CODE) and not task.needle
    assert (task.heldout_fraction, task.test_fraction) == (0.1, 0.1)  # the shipped tasks' split: one shared BPE


@pytest.mark.parametrize("name", SUITE_FRESH)
def test_every_task_builds_enough_d_and_test_disjoint_from_its_stream(built, name):
    data = built[name]
    d, test = rows(data.heldout.ids), rows(data.test.ids)
    stream = set().union(*(rows(p.ids) for p in data.stream_pools.values()))
    assert len(data.heldout) >= 16 and len(data.test) >= 64 and len(d) == len(data.heldout)
    assert not d & test and not d & stream and not test & stream
    assert set(data.stream_pools) == set(SHARES[name]) and all(len(p) >= 64 for p in data.stream_pools.values())
    assert data.heldout.ids.shape[1] == 64


@pytest.mark.parametrize("name", SUITE_FRESH)
def test_the_stream_holds_the_target_at_its_share(built, name):
    data = built[name]
    assert data.stream_shares == pytest.approx(SHARES[name])
    stream = CandidateStream(data, 16, np.random.default_rng(0))
    labels = np.concatenate([stream.next_batch().source for _ in range(500)])  # 8,000 candidates
    for label, share in SHARES[name].items():
        assert np.mean(labels == label) == pytest.approx(share, abs=0.025)  # > 4 standard errors


@pytest.mark.parametrize("name", sorted(MARKS))
def test_target_windows_hold_the_target_and_distractor_windows_do_not(built, name):
    data, target = built[name], built[name].task.target.label

    def marked(ids):
        texts = data.tokenizer.batch_decode(ids[:400].tolist())
        return np.mean([bool(MARKS[name].search(t)) for t in texts])

    assert marked(data.heldout.ids) >= 0.8 and marked(data.test.ids) >= 0.8
    for label, pool in data.stream_pools.items():
        assert (marked(pool.ids) >= 0.8) if label == target else (marked(pool.ids) <= 0.1)


def test_the_jsonl_task_reads_its_target_from_the_jsonl_file():
    task = resolve_task(JSONL_TASK)
    (path,) = task.target.files
    assert path.endswith(API_INDEX_JSONL) and path.startswith(SESSION_CACHE)
    records = [json.loads(line) for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines()]
    index = stdlib_corpora.api_index()
    assert [r["text"] for r in records] == [d.text for d in index] and len(records) >= 100
    docs = build.load_documents(task.target, EnvConfig().code_chars)
    assert docs == corpora.from_files([path]) and docs[0].name == f"{API_INDEX_JSONL}:1"


def test_editing_the_jsonl_file_changes_the_data_and_deleting_it_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CURRICULUM_ENV_CACHE", str(tmp_path))  # the task's file goes here, the windows stay cached
    task = suite_task(JSONL_TASK)
    (path,) = task.target.files
    assert path.startswith(str(tmp_path)) and os.path.isfile(path)
    cfg = dict(context_length=32, heldout_size=64, test_size=64, cache_dir=SESSION_CACHE)
    before = build.build_task_data(EnvConfig(task=task, **cfg))
    records = [json.loads(line) for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines()]
    edited = [corpora.Document(r["name"], r["text"].upper()) for r in records[::2]]
    corpora.write_jsonl(path, edited)
    task = suite_task(JSONL_TASK)  # the file is there: it is read as edited, not written again
    after = build.build_task_data(EnvConfig(task=task, **cfg))
    assert not rows(after.heldout.ids) & rows(before.heldout.ids)
    upper = [t == t.upper() for data in (before, after)
             for t in data.tokenizer.batch_decode(data.heldout.ids.tolist(), skip_special_tokens=True)]
    assert not all(upper[: len(before.heldout)]) and all(upper[len(before.heldout):])
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=f"data file not found: {re.escape(path)}"):
        build.build_task_data(EnvConfig(task=task, **cfg))
    assert suite_task(JSONL_TASK).target.files == (path,) and os.path.isfile(path)  # a new lookup writes it again


def test_a_fresh_task_runs_through_gym_make():
    env = make_tiny(task=JSONL_TASK)
    _, info = env.reset(seed=0)
    assert set(info["source"]) <= set(SHARES[JSONL_TASK])
    _, reward, *_ = env.step(env.action_space.sample())
    assert np.isfinite(reward)
    env.close()


def test_compare_runs_the_fresh_set_as_its_own_suite():
    from benchmarks.compare import parse_args

    assert parse_args(["--suite", "fresh", "--agents", "random"]).tasks == list(SUITE_FRESH)
    assert parse_args(["--suite", "generalisation", "--agents", "random"]).tasks == list(SUITE_TUNING + SUITE_HELDOUT)


# ------------------------------------------------------------------------------------------------
# The new corpora


@pytest.mark.parametrize("name", ["c_headers", "logs"])
def test_the_new_corpora_are_deterministic_in_any_time_zone(name, monkeypatch):
    first = stdlib_corpora.read(name, 300_000)
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        second = stdlib_corpora.read(name, 300_000)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert first == second and len(first) >= 5
    assert all(d.name.startswith(f"{name}::") and d.text for d in first)
    assert len({d.name for d in first}) == len(first)


def test_c_headers_are_every_header_but_pyconfig_and_a_missing_folder_says_what_to_install(monkeypatch, tmp_path):
    docs = stdlib_corpora.read("c_headers", 10**9)
    names = {d.name for d in docs}
    assert "c_headers::Python.h" in names and any(n.startswith("c_headers::cpython/") for n in names)
    assert not any(n.endswith(("pyconfig.h", "opcode.h", "pycore_ast.h")) for n in names)  # generated ones
    (tmp_path / "cpython").mkdir()
    for rel in ("a.h", "cpython/b.h", "pyconfig.h", "notes.txt", "opcode.h"):
        (tmp_path / rel).write_text("#define X 1\n")
    (tmp_path / "opcode.h").write_text("// Auto-generated by Tools/scripts/generate_opcode_h.py\n#define X 1\n")
    monkeypatch.setattr(stdlib_corpora, "include_root", lambda: tmp_path)
    assert stdlib_corpora.c_header_files() == ["a.h", "cpython/b.h"]
    monkeypatch.setattr(stdlib_corpora, "include_root", lambda: tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"include directory .*absent.* does not exist.*-dev on Debian"):
        stdlib_corpora.read("c_headers", 10**9)
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(stdlib_corpora, "include_root", lambda: tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"holds no \*\.h file"):
        stdlib_corpora.c_header_files()


SOURCE = '''"""A module."""
import os
from . import sibling


def f(a, b=1):
    # TODO: remove
    return a if b else os.sep


class C(Base):
    """A class."""

    def m(self, x: int) -> int:
        """A method."""
        return x
''' + "LONG = '" + "y" * 90 + "'\n"


def test_a_lint_log_logs_each_event_of_the_file_in_order(tmp_path):
    (tmp_path / "mod.py").write_text(SOURCE)
    log = stdlib_corpora.lint_log(tmp_path / "mod.py", "pkg/mod.py")
    expected = [
        ("INFO", "checking pkg/mod.py (17 lines, 324 bytes)"),
        ("DEBUG", "imports os, ."),
        ("DEBUG", "function f(a, b=1): 3 lines, complexity 2"),
        ("WARNING", "f (line 6): public function without a docstring"),
        ("WARNING", "pkg/mod.py:7: TODO comment: TODO: remove"),
        ("DEBUG", "class C(Base): 6 lines, complexity 1"),
        ("DEBUG", "function C.m(self, x: int) -> int: 3 lines, complexity 1"),
        ("INFO", "1 lines longer than 79 characters (longest: line 17, 99 characters)"),
    ]
    lines = log.splitlines()
    assert len(lines) == len(expected) + 1 and len(SOURCE.encode()) == 324
    for line, (level, message) in zip(lines, expected, strict=False):
        assert line.endswith(message) and level in line, (line, message)
    assert re.search(r"done pkg/mod\.py: 1 classes, 2 functions, 2 warnings in \d+ ms$", lines[-1])
    assert log == stdlib_corpora.lint_log(tmp_path / "mod.py", "pkg/mod.py")
    (tmp_path / "bad.py").write_text("def broken(:\n")
    assert "ERROR" in stdlib_corpora.lint_log(tmp_path / "bad.py", "pkg/bad.py").splitlines()[-1]


def test_an_api_card_lists_the_public_names_with_signatures_and_summaries(tmp_path):
    (tmp_path / "mod.py").write_text(SOURCE + "\ndef _private():\n    pass\n\n\nasync def g():\n    '''Wait.'''\n")
    assert stdlib_corpora.api_card(tmp_path / "mod.py", "pkg.mod") == "\n".join([
        "module pkg.mod", "A module.", "def f(a, b=1)", "class C(Base)", "    A class.",
        "    def m(self, x: int) -> int", "        A method.", "async def g()", "    Wait."])
    (tmp_path / "empty.py").write_text("_x = 1\n")
    assert stdlib_corpora.api_card(tmp_path / "empty.py", "pkg.empty") is None
