"""Faults that must not corrupt the env: an update that overflows the weights, state files written to
places that cannot hold them, non-finite hyperparameters."""

import os

import numpy as np
import pytest
import torch

from tests.conftest import make_tiny


def _theta(env):
    return torch.cat([p.detach().flatten().clone() for p in env.unwrapped.learner.model.parameters()])


@pytest.mark.parametrize("warm", [False, True])
def test_an_update_that_overflows_the_weights_is_undone(warm):
    """Finite gradients, a finite but huge learning rate: AdamW writes inf into theta. The step must be
    undone -- theta and the AdamW state as they were -- and the episode end saying why."""
    env = make_tiny(lr=1e-3)
    env.reset(seed=0)
    w = np.ones(8, dtype=np.float32)
    if warm:  # AdamW state exists before the failing step (it has none before the first one)
        env.step(w)
    u = env.unwrapped
    theta = _theta(env)
    state = {k: v.clone() for st in u.learner.optimizer.state.values() for k, v in st.items()}
    u.learner.set_lr(1e308)  # the next update multiplies a unit-sized Adam step by 1e308, twice over
    obs, reward, terminated, _, info = env.step(w)
    reason = info["termination_reason"]
    assert terminated and "non-finite weights" in reason and "restored" in reason
    assert torch.equal(theta, _theta(env))
    after = {k: v for st in u.learner.optimizer.state.values() for k, v in st.items()}
    assert after.keys() == state.keys() and all(torch.equal(after[k], state[k]) for k in state)
    assert np.all(np.isfinite(obs)) and np.isfinite(u.evaluate())
    assert info["examples_trained"] == (8 if warm else 0)  # the undone step trained nothing


@pytest.mark.filterwarnings("ignore:.*(observation space|NaN value)")
def test_without_the_guard_the_same_step_poisons_theta():
    """The test above can fail: the same step without the guard leaves non-finite weights."""
    env = make_tiny(update_guard=False)
    env.reset(seed=0)
    env.unwrapped.learner.set_lr(1e308)
    env.step(np.ones(8, dtype=np.float32))
    assert not torch.isfinite(_theta(env)).all()


@pytest.mark.parametrize("kwargs", [{"lr": float("inf")}, {"lr": float("nan")}, {"weight_decay": float("inf")},
                                    {"grad_clip": float("inf")}])
def test_non_finite_hyperparameters_are_refused_at_make(kwargs):
    with pytest.raises(ValueError, match="finite"):
        make_tiny(**kwargs)


def test_save_state_names_the_path_when_it_cannot_write(tmp_path):
    env = make_tiny()
    env.reset(seed=0)
    u = env.unwrapped
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(FileNotFoundError, match="a_file is not a directory"):
        u.save_state(tmp_path / "a_file" / "state.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        u.save_state(tmp_path / "missing" / "state.pt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="folder: it is a directory"):
        u.save_state(tmp_path / "folder")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        with pytest.raises(OSError, match=str(locked / "state.pt")):
            u.save_state(locked / "state.pt")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a_file", "folder"] + (["locked"] if os.geteuid() else [])
    u.save_state(tmp_path / "ok.pt")  # and the env still saves where it can
    assert (tmp_path / "ok.pt").stat().st_size > 0
