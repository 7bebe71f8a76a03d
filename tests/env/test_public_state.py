"""The env's read-only state for agents, wrappers and tools: what it reports matches what the steps did,
and releasing the pending observation leaves an env that refuses to step until reset."""

import numpy as np
import pytest

from tests.conftest import make_tiny


def test_state_properties_follow_the_steps():
    env = make_tiny(train_batch=3)
    u = env.unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        u.candidates  # noqa: B018
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(u.candidates.ids, info["token_ids"])
    assert u.steps_taken == 0 and u.examples_trained == 0 and u.last_step == {}
    w = np.linspace(0.1, 1.0, 8, dtype=np.float32)
    for step in (1, 2):
        _, _, _, _, info = env.step(w)
        assert u.steps_taken == step == info["step"]
        assert u.examples_trained == 3 * step == info["examples_trained"]
        np.testing.assert_array_equal(u.last_step["trained"], info["trained"])
    u.last_step["trained"] = None  # a copy: the env's record is untouched
    assert u.last_step["trained"] is not None
    env.close()


def test_observation_returns_what_the_last_step_returned_without_a_forward():
    env = make_tiny()
    env.reset(seed=1)
    obs, _, _, _, info = env.step(np.ones(8, dtype=np.float32))
    u = env.unwrapped
    forwards = u.learner.flops.total
    again, again_info = u.observation()
    assert u.learner.flops.total == forwards  # not re-scored
    np.testing.assert_array_equal(again, obs)
    np.testing.assert_array_equal(again_info["token_ids"], info["token_ids"])
    assert again_info["step"] == info["step"]
    env.close()


def test_release_drops_the_graph_and_the_env_refuses_to_step_until_reset():
    env = make_tiny(fused_forward=True)  # the observation forward keeps its graph for the update
    env.reset(seed=2)
    u = env.unwrapped
    assert u.observation_holds_graph
    u.release()
    assert not u.observation_holds_graph
    for call in (lambda: env.step(np.ones(8, dtype=np.float32)), u.observation):
        with pytest.raises(RuntimeError, match="reset"):
            call()
    env.reset(seed=2)
    assert u.observation_holds_graph
    _, reward, *_ = env.step(np.ones(8, dtype=np.float32))
    assert np.isfinite(reward)
    assert not make_tiny(train_batch=2).unwrapped.observation_holds_graph  # never reset: nothing pending
    env.close()
