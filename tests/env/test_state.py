"""Save/load of the full env state, and bad input that must leave the env exactly as it was."""

import copy

import numpy as np
import pytest
import torch

from tests.conftest import make_tiny


def snapshot(env):
    u = env.unwrapped
    return (
        torch.cat([p.detach().flatten().clone() for p in u.learner.model.parameters()]),
        copy.deepcopy(u.learner.optimizer.state_dict()),
        copy.deepcopy(u.np_random.bit_generator.state),
        copy.deepcopy(u.stream.state_dict()),
        u.candidates.ids.copy(),
        u.steps_taken,
    )


def assert_same(a, b):
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    assert str(a[1]) == str(b[1])
    assert a[2] == b[2]
    assert a[3]["pos"] == b[3]["pos"] and a[3]["rng"] == b[3]["rng"]
    np.testing.assert_array_equal(a[4], b[4])
    assert a[5] == b[5]


@pytest.mark.parametrize("mode", ["mixture", "select"])
def test_resumed_episode_continues_exactly(tmp_path, mode):
    rng = np.random.default_rng(1)
    actions = [rng.random(8).astype(np.float32) if mode == "mixture" else int(rng.integers(8)) for _ in range(12)]
    env = make_tiny(action_mode=mode)
    env.reset(seed=9)
    for a in actions[:6]:
        env.step(a)
    env.unwrapped.save_state(tmp_path / "state.pt")
    uninterrupted = [env.step(a)[:2] for a in actions[6:]]

    resumed_env = make_tiny(action_mode=mode)
    resumed_env.reset()  # gym.make's wrappers want a reset before the first step
    obs, info = resumed_env.unwrapped.load_state(tmp_path / "state.pt")
    assert info["step"] == 6
    resumed = [resumed_env.step(a)[:2] for a in actions[6:]]
    for (o1, r1), (o2, r2) in zip(uninterrupted, resumed, strict=True):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2


def test_state_file_loads_with_weights_only(tmp_path):
    env = make_tiny()
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.unwrapped.save_state(tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    assert state["step"] == 1 and "model" in state["learner"]


def test_bad_state_files_raise_and_leave_env_unchanged(tmp_path):
    env = make_tiny()
    env.reset(seed=0)
    env.step(env.action_space.sample())
    before = snapshot(env)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read env state"):
        env.unwrapped.load_state(tmp_path / "junk.pt")
    other = make_tiny(num_candidates=4)
    other.reset(seed=0)
    other.unwrapped.save_state(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="different config"):
        env.unwrapped.load_state(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        env.unwrapped.load_state(tmp_path / "missing.pt")
    assert_same(before, snapshot(env))


BAD_MIXTURE = [
    (np.full(7, 0.1, dtype=np.float32), "shape \\(8,\\)"),
    (np.array([np.nan] + [0.1] * 7, dtype=np.float32), "NaN"),
    (np.array([-0.1] + [0.1] * 7, dtype=np.float32), "non-negative"),
    (np.zeros(8, dtype=np.float32), "all zero"),
    (["a"] * 8, "numeric"),
]


@pytest.mark.parametrize("action, message", BAD_MIXTURE)
def test_bad_mixture_weights_raise_and_change_nothing(action, message):
    env = make_tiny()
    env.reset(seed=0)
    before = snapshot(env)
    with pytest.raises(ValueError, match=message):
        env.step(action)
    assert_same(before, snapshot(env))


@pytest.mark.parametrize("action, message", [(8, "out of range"), (-1, "out of range"), (2.0, "one integer"),
                                             (np.array([1, 2]), "one integer")])
def test_bad_select_actions_raise_and_change_nothing(action, message):
    env = make_tiny(action_mode="select")
    env.reset(seed=0)
    before = snapshot(env)
    with pytest.raises(ValueError, match=message):
        env.step(action)
    assert_same(before, snapshot(env))
    env.step(np.int64(3))  # numpy integers are fine


def test_step_before_reset_is_a_clear_error():
    env = make_tiny()
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step(env.action_space.sample())
