"""Splits, user data sources, the stream's epochs, and the offline default with no network."""

import json
import socket

import numpy as np
import pytest

from curriculum_env.config import EnvConfig
from curriculum_env.data.build import build_task_data
from curriculum_env.data.stream import CandidateStream
from curriculum_env.data.tasks import Source, Task, task_from_files, task_from_texts
from tests.conftest import TINY, make_tiny


def rows(ids):
    return {r.tobytes() for r in ids}


@pytest.mark.parametrize("task", ["prose", "noisy", "mixed"])
def test_heldout_test_and_stream_share_no_window(task):
    data = build_task_data(EnvConfig(**{**TINY, "task": task}))
    d, test = rows(data.heldout.ids), rows(data.test.ids)
    stream = set().union(*(rows(p.ids) for p in data.stream_pools.values()))
    assert d and test and stream
    assert not d & test and not d & stream and not test & stream


def test_needle_heldout_is_the_needle_and_test_is_disjoint():
    data = build_task_data(EnvConfig(**{**TINY, "task": "needle"}))
    assert rows(data.heldout.ids) == rows(data.stream_pools["needle"].ids)
    assert not rows(data.test.ids) & rows(data.heldout.ids)
    filler = data.stream_pools["filler"].ids
    assert np.all(filler == filler[:, :1]), "filler windows are constant-token"


def test_needle_batches_hold_exactly_one_needle():
    env = make_tiny(task="needle")
    _, info = env.reset(seed=0)
    for _ in range(5):
        assert list(info["source"]).count("needle") == 1
        _, _, _, _, info = env.step(env.action_space.sample())


def test_mixture_weights_shape_the_stream():
    data = build_task_data(EnvConfig(**{**TINY, "task": "mixed"}))
    stream = CandidateStream(data, 8, np.random.default_rng(0))
    labels = np.concatenate([stream.next_batch().source for _ in range(200)])
    assert abs(np.mean(labels == "prose") - 0.25) < 0.03
    assert abs(np.mean(labels == "code") - 0.75) < 0.03


def test_each_window_streams_once_per_epoch_then_a_new_epoch_starts():
    texts = [" ".join(f"word{i}_{j}" for j in range(80)) for i in range(30)]
    task = task_from_texts("tiny", texts, heldout_fraction=0.2, test_fraction=0.2)
    data = build_task_data(EnvConfig(**{**TINY, "task": task, "context_length": 16}))
    pool = data.stream_pools["target"]
    stream = CandidateStream(data, 4, np.random.default_rng(0))
    seen = [r.tobytes() for _ in range(len(pool) // 4) for r in stream.next_batch().ids]
    assert len(seen) == len(set(seen)) and stream.epochs["target"] == 0
    stream.next_batch()
    stream.next_batch()
    assert stream.epochs["target"] == 1


def test_user_files_jsonl_and_local_dataset_share_the_windowing(tmp_path):
    texts = [f"Paragraph {i}. " + "The quick brown fox jumps over the lazy dog. " * 12 for i in range(40)]
    (tmp_path / "a.txt").write_text("\n\n".join(texts[:20]))
    with open(tmp_path / "b.jsonl", "w") as f:
        for t in texts[20:]:
            f.write(json.dumps({"text": t}) + "\n")
    task = task_from_files("files", [str(tmp_path / "b.jsonl")], {"extra": [str(tmp_path / "a.txt")]},
                           heldout_fraction=0.2, test_fraction=0.2)
    data = build_task_data(EnvConfig(**{**TINY, "task": task, "cache_dir": str(tmp_path / "cache")}))
    assert set(data.stream_pools) == {"target", "extra"}
    ds_task = Task("ds", Source("target", dataset=str(tmp_path / "b.jsonl")),
                   ((Source("target", dataset=str(tmp_path / "b.jsonl")), 1.0),),
                   heldout_fraction=0.2, test_fraction=0.2)
    ds_data = build_task_data(EnvConfig(**{**TINY, "task": ds_task, "cache_dir": str(tmp_path / "cache")}))
    assert len(ds_data.heldout) > 0 and len(ds_data.stream_pools["target"]) > 0


def test_unreadable_or_missing_data_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        build_task_data(EnvConfig(**{**TINY, "task": task_from_files("m", [str(tmp_path / "missing.txt")]),
                                     "cache_dir": str(tmp_path)}))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{not json}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: invalid JSON"):
        build_task_data(EnvConfig(**{**TINY, "task": task_from_files("b", [str(bad)]), "cache_dir": str(tmp_path)}))


def test_too_little_text_is_a_clear_error(tmp_path):
    task = task_from_texts("short", ["only a few words"] * 3)
    with pytest.raises(ValueError, match="has no window of 32 tokens"):
        build_task_data(EnvConfig(**{**TINY, "task": task, "cache_dir": str(tmp_path)}))


def test_offline_default_builds_and_steps_without_network(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (blocked by test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from curriculum_env.data import build

    monkeypatch.setattr(build, "_MEMO", {})
    env = make_tiny(cache_dir=str(tmp_path / "fresh-cache"))
    env.reset(seed=0)
    _, reward, *_ = env.step(env.action_space.sample())
    assert np.isfinite(reward)
    assert any(p.name.startswith("task-") for p in (tmp_path / "fresh-cache").iterdir())


def test_the_suite_builds_its_data_in_a_temporary_cache_not_the_users():
    import os
    import pathlib

    from curriculum_env.data.tokenizer import cache_root
    from tests.conftest import make_tiny

    root = pathlib.Path(cache_root(None)).expanduser().resolve()
    assert root != (pathlib.Path.home() / ".cache" / "curriculum_env").resolve()
    assert str(root).startswith(str(pathlib.Path(os.environ["CURRICULUM_ENV_CACHE"]).resolve()))
    make_tiny().reset(seed=0)
    assert any(root.iterdir())  # the tokenizer and task data were written there


def make_task():
    """A module:function task for the test below."""
    return task_from_texts("from_function", ["alpha beta"] * 5, {"other": ["gamma"] * 5})


def test_task_files_and_functions_resolve_to_tasks(tmp_path):
    from curriculum_env.data.tasks import resolve_task

    (tmp_path / "a.txt").write_text("some text")
    (tmp_path / "b.txt").write_text("more text")
    spec = {"target": "mine", "test_fraction": 0.2,
            "sources": {"mine": {"files": ["*.txt"], "weight": 0.25}, "junk": {"junk": "shuffled", "weight": 0.75},
                        "lib": {"builtin": "code", "max_documents": 10}}}
    (tmp_path / "t.json").write_text(json.dumps(spec))
    task = resolve_task(str(tmp_path / "t.json"))
    assert task.name == "t" and task.target.label == "mine" and task.test_fraction == 0.2
    assert task.target.files == (str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))  # glob from the file's folder
    assert [(s.label, w) for s, w in task.stream] == [("mine", 0.25), ("junk", 0.75), ("lib", 1.0)]
    assert task.stream[2][0].max_documents == 10
    assert resolve_task(f"{__name__}:make_task").name == "from_function"
    bad = {"is not one of its sources": {**spec, "target": "nope"},
           "no file matches": {**spec, "sources": {"mine": {"files": ["*.md"]}}},
           "unknown keys": {**spec, "weights": 1}}
    for message, content in bad.items():
        (tmp_path / "bad.json").write_text(json.dumps(content))
        with pytest.raises(ValueError, match=message):
            resolve_task(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="returned str"):
        resolve_task("os:getcwd")
    with pytest.raises(ValueError, match="unknown task 'nosuch'"):
        resolve_task("nosuch")


def test_a_pool_sample_is_one_draw_without_replacement_in_pool_order():
    from curriculum_env.data.windows import WindowPool

    ids = np.arange(40, dtype=np.int64).reshape(10, 4)
    pool = WindowPool(ids, np.array(["a"] * 10, dtype=object), np.zeros(10), np.zeros(10))
    picked = np.random.default_rng(3).choice(10, size=4, replace=False)
    np.testing.assert_array_equal(pool.sample(np.random.default_rng(3), 4), ids[np.sort(picked)])
    assert len(pool.sample(np.random.default_rng(0), 99)) == 10  # capped at the pool
    rng, twin = np.random.default_rng(1), np.random.default_rng(1)
    pool.sample(rng, 4)
    twin.choice(10, size=4, replace=False)
    assert rng.bit_generator.state == twin.bit_generator.state  # exactly one choice() drawn


def test_stream_shares_are_the_mixture_weights_normalised():
    shares = make_tiny(task="noisy").unwrapped.data.stream_shares
    assert shares == pytest.approx({"prose": 0.25, "random": 0.25, "shuffled": 0.25, "repeat": 0.25})
