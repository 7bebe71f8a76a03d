"""The env's candidate-source hook: the source chooses what is scored and trained, every window it is
streamed counts, nothing is scored twice, and a failing source stops the episode instead of corrupting it."""

from __future__ import annotations

import numpy as np
import pytest

from curriculum_env.candidate_source import SplitGuard, concat, content_keys
from curriculum_env.data.stream import Batch
from tests.conftest import make_tiny

N = 8


class Reversed:
    """Keeps every window it is given; proposes the last N it holds, newest first; asks for one extra batch."""

    def __init__(self, extra: int = N):
        self.extra, self.calls, self.held = extra, [], None

    def propose(self, fresh, draw, reset):
        more = draw(self.extra)
        self.calls.append((reset, len(fresh.ids), len(more.ids)))
        self.held = concat([fresh, more]) if reset or self.held is None else concat([self.held, fresh, more])
        last = slice(len(self.held.ids) - N, None)
        return Batch(*(getattr(self.held, f)[last][::-1] for f in ("ids", "source", "rarity", "length")))

    def info(self):
        return {"src/held": len(self.held.ids)}


def test_the_source_chooses_what_is_scored_and_trained_and_all_it_draws_is_streamed():
    env = make_tiny(task="noisy")
    base = env.unwrapped
    src = Reversed()
    base.set_candidate_source(src)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(info["token_ids"], src.held.ids[-N:][::-1])
    assert info["examples_streamed"] == 2 * N and info["src/held"] == 2 * N  # fresh + one drawn batch
    for step in (1, 2):
        proposed = info["token_ids"]
        obs, _, _, _, info = env.step(np.ones(N, np.float32))
        # the update trained on the proposed windows; the next candidates are the source's again
        np.testing.assert_array_equal(info["token_ids"], src.held.ids[-N:][::-1])
        assert info["examples_streamed"] == 2 * N * (step + 1) and info["examples_trained"] == N * step
        assert not np.array_equal(info["token_ids"], proposed)
    assert src.calls == [(True, N, N), (False, N, N), (False, N, N)]
    # the observation is the scoring of the proposed windows under the current LM
    h = base.learner.hidden(input_ids=info["token_ids"]).float().numpy()
    np.testing.assert_allclose(obs, h, rtol=1e-4, atol=1e-5)


def test_a_source_costs_no_second_scoring_forward():
    def forward_flops(source):
        env = make_tiny(task="noisy")
        env.unwrapped.set_candidate_source(source)
        env.reset(seed=0)
        for _ in range(3):
            _, _, _, _, info = env.step(np.ones(N, np.float32))
        return info["flops/forward"], info["flops/update"]

    assert forward_flops(Reversed(extra=0)) == forward_flops(None)


def test_without_a_source_the_env_is_bit_identical_to_its_stream():
    runs = []
    for source in (None, "set then cleared"):
        env = make_tiny(task="noisy")
        if source:
            env.unwrapped.set_candidate_source(Reversed())
            env.unwrapped.set_candidate_source(None)
        _, info = env.reset(seed=3)
        _, reward, _, _, info = env.step(np.ones(N, np.float32))
        runs.append((info["token_ids"], reward))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


class Broken:
    def __init__(self, how):
        self.how, self.n = how, 0

    def propose(self, fresh, draw, reset):
        self.n += 1
        if self.n == 1:
            return fresh
        if self.how == "shape":
            return Batch(fresh.ids[:3], fresh.source[:3], fresh.rarity[:3], fresh.length[:3])
        if self.how == "vocab":
            return Batch(fresh.ids + 10**6, fresh.source, fresh.rarity, fresh.length)
        raise RuntimeError("index offline")


@pytest.mark.parametrize("how, message", [("shape", "shape"), ("vocab", r"lie in \[0"), ("raise", "index offline")])
def test_a_failing_source_names_the_problem_and_the_env_wants_a_reset(how, message):
    env = make_tiny(task="noisy")
    env.unwrapped.set_candidate_source(Broken(how))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(np.ones(N, np.float32))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.ones(N, np.float32))
    env.unwrapped.set_candidate_source(None)
    _, info = env.reset(seed=0)
    _, reward, _, _, _ = env.step(np.ones(N, np.float32))
    assert np.isfinite(reward)


def test_set_candidate_source_refuses_an_object_without_propose():
    env = make_tiny()
    with pytest.raises(TypeError, match="propose"):
        env.unwrapped.set_candidate_source(object())


class Smuggler:
    """Passes the fresh batch through, but with one candidate replaced by a window of ``split``."""

    def __init__(self, split, at=3):
        self.split, self.at, self.data = split, at, None

    def propose(self, fresh, draw, reset):
        ids = fresh.ids.copy()
        ids[self.at] = getattr(self.data, self.split).ids[0]
        return Batch(ids, fresh.source, fresh.rarity, fresh.length)


@pytest.mark.parametrize("split, named", [("heldout", "held-out set D"), ("test", "test split")])
def test_a_source_that_proposes_a_d_or_test_window_is_refused_before_scoring(split, named):
    env = make_tiny(task="noisy")
    base = env.unwrapped
    src = Smuggler(split)
    src.data = base.data
    base.set_candidate_source(src)
    with pytest.raises(ValueError, match=rf"candidate 3 is a window of the {named} \(split '{split}'\)"):
        env.reset(seed=0)
    assert base.learner.flops.totals.get("forward", 0.0) == 0.0  # nothing was scored
    # (the env itself from here: Gymnasium's passive checker keeps the failed reset's state)
    with pytest.raises(RuntimeError, match="reset"):
        base.step(np.ones(N, np.float32))
    base.set_candidate_source(Reversed(extra=0))  # a source that keeps to the stream: the env carries on
    base.reset(seed=0)
    _, reward, _, _, _ = base.step(np.ones(N, np.float32))
    assert np.isfinite(reward)


def test_a_d_window_is_refused_mid_episode_and_the_env_wants_a_reset():
    env = make_tiny(task="noisy")
    base = env.unwrapped

    class Later(Smuggler):
        def propose(self, fresh, draw, reset):
            return fresh if reset else super().propose(fresh, draw, reset)

    src = Later("heldout", at=0)
    src.data = base.data
    base.set_candidate_source(src)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="candidate 0 is a window of the held-out set D"):
        env.step(np.ones(N, np.float32))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.ones(N, np.float32))


class PoolReader:
    """Proposes target windows read straight from the task's pools: never streamed, so never counted."""

    def __init__(self, data, later=False):
        self.data, self.later = data, later

    def propose(self, fresh, draw, reset):
        if self.later and reset:
            return fresh
        pool = self.data.stream_pools[self.data.task.target_labels[0]]
        ids = pool.ids[-N:]  # the pool's last windows: far ahead of anything a short episode streams
        return Batch(ids.copy(), np.full(N, self.data.task.target_labels[0], dtype=object),
                     np.zeros(N, np.float32), np.full(N, ids.shape[1], np.float32))


@pytest.mark.parametrize("later", [False, True])
def test_a_source_that_reads_the_pools_instead_of_the_stream_is_refused(later):
    env = make_tiny(task="noisy")
    base = env.unwrapped
    base.set_candidate_source(PoolReader(base.data, later))
    if later:
        env.reset(seed=0)
    with pytest.raises(ValueError, match="candidate 0 was not streamed this episode"):
        env.reset(seed=0) if not later else env.step(np.ones(N, np.float32))
    with pytest.raises(RuntimeError, match="reset"):
        base.step(np.ones(N, np.float32))


def test_windows_streamed_earlier_in_the_episode_stay_allowed_and_survive_a_save(tmp_path):
    env = make_tiny(task="noisy")
    base = env.unwrapped
    _, info = env.reset(seed=0)
    first = info["token_ids"].copy()
    env.step(np.ones(N, np.float32))
    base.save_state(tmp_path / "state.pt")
    b = base.candidates
    base.set_candidates(first, b.source, b.rarity, b.length)  # streamed at reset: allowed
    base.load_state(tmp_path / "state.pt")
    base.set_candidates(first, b.source, b.rarity, b.length)  # the restored episode streamed it too
    env.reset(seed=1)
    with pytest.raises(ValueError, match="not streamed this episode"):  # a new episode starts afresh
        base.set_candidates(first, b.source, b.rarity, b.length)


@pytest.mark.parametrize("split", ["heldout", "test"])
def test_set_candidates_refuses_d_and_test_windows_and_leaves_the_env_as_it_was(split):
    env = make_tiny(task="noisy")
    base = env.unwrapped
    obs, info = env.reset(seed=0)
    b = base.candidates
    ids = b.ids.copy()
    ids[5] = getattr(base.data, split).ids[7]
    with pytest.raises(ValueError, match=f"candidate 5 is a window of .*'{split}'"):
        base.set_candidates(ids, b.source, b.rarity, b.length)
    np.testing.assert_array_equal(base.candidates.ids, info["token_ids"])
    np.testing.assert_array_equal(base.observation()[0], obs)
    env.step(np.ones(N, np.float32))  # still steps


def test_the_guard_holds_every_d_and_test_window_but_not_the_stream():
    data = make_tiny(task="noisy").unwrapped.data
    guard = SplitGuard(data)
    assert len(guard) == len(data.heldout) + len(data.test)  # the stream is disjoint from both
    for pool in data.stream_pools.values():
        guard.check(pool.ids)  # no stream window is refused
    # the needle task: D is the needle, a stream window by design -- the stream's own windows pass
    needle = make_tiny(task="needle").unwrapped.data
    guard = SplitGuard(needle)
    guard.check(needle.heldout.ids)
    with pytest.raises(ValueError, match="test split"):
        guard.check(needle.test.ids[:1])


def test_content_keys_are_equal_for_equal_windows_only():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50_000, (200, 64))
    ids[7] = ids[3]
    keys = content_keys(ids)
    assert keys[7] == keys[3] and len(set(keys.tolist())) == 199 and (keys >= 0).all()
    np.testing.assert_array_equal(content_keys(ids[::-1]), keys[::-1])
