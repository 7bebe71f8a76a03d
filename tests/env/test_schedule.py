"""The learning-rate schedule: the formula, what the optimizer really steps with, and resuming it."""

import math

import numpy as np
import pytest
import torch

from curriculum_env.schedule import lr_at
from tests.conftest import make_tiny


def test_cosine_and_linear_follow_their_formulas_and_end_at_the_floor():
    lr, w, h, f = 2e-3, 4, 20, 0.1
    for k in range(w):  # linear warm-up to the peak at k = w - 1
        assert lr_at(k, lr, "cosine", w, f, h) == pytest.approx(lr * (k + 1) / w)
    for k in range(w, h):
        p = (k - w) / (h - 1 - w)
        assert lr_at(k, lr, "cosine", w, f, h) == pytest.approx(lr * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * p))))
        assert lr_at(k, lr, "linear", w, f, h) == pytest.approx(lr * (f + (1 - f) * (1 - p)))
    assert lr_at(h - 1, lr, "cosine", w, f, h) == pytest.approx(f * lr)  # the decay completes within the horizon
    assert lr_at(h + 50, lr, "linear", w, f, h) == pytest.approx(f * lr)  # and stays at the floor after it
    assert [lr_at(k, lr, "constant", 0, f, None) for k in range(5)] == [lr] * 5
    with pytest.raises(ValueError, match="needs a horizon"):
        lr_at(3, lr, "cosine", 0, f, None)


def test_the_optimizer_steps_with_the_scheduled_rate_and_info_reports_it():
    env = make_tiny(lr=1e-2, lr_schedule="cosine", warmup_steps=2, lr_final=0.0, lr_horizon=6)
    env.reset(seed=0)
    opt = env.unwrapped.learner.optimizer
    seen, rates = [], []
    for _ in range(8):
        seen.append(opt.param_groups[0]["lr"])  # what the next optimizer.step() will use
        _, _, _, _, info = env.step(np.ones(8, dtype=np.float32))
        rates.append(info["lr"])
    expected = [lr_at(k, 1e-2, "cosine", 2, 0.0, 6) for k in range(8)]
    assert rates == pytest.approx(expected) and seen == pytest.approx(expected)
    assert rates[5] == 0.0 and rates[1] == pytest.approx(1e-2)


def test_an_update_at_lr_zero_leaves_theta_unchanged_and_a_warm_one_does_not():
    """The rate really reaches AdamW: with lr_final = 0 the last update of the horizon is a no-op."""
    env = make_tiny(lr=1e-2, lr_schedule="linear", lr_final=0.0, lr_horizon=3)
    env.reset(seed=0)
    params = lambda: torch.cat([p.detach().flatten().clone() for p in env.unwrapped.learner.model.parameters()])
    w = np.ones(8, dtype=np.float32)
    before = params()
    env.step(w)
    assert not torch.equal(before, params())
    env.step(w)
    before = params()
    env.step(w)  # update k = 2 = horizon - 1: lr = 0
    assert torch.equal(before, params())


def test_a_resumed_episode_keeps_its_place_in_the_schedule(tmp_path):
    kwargs = dict(lr_schedule="cosine", warmup_steps=3, lr_final=0.2, lr_horizon=10)
    env = make_tiny(**kwargs)
    env.reset(seed=4)
    w = np.ones(8, dtype=np.float32)
    for _ in range(5):
        env.step(w)
    env.unwrapped.save_state(tmp_path / "s.pt")
    straight = [env.step(w)[4]["lr"] for _ in range(4)]
    other = make_tiny(**kwargs)
    other.reset(seed=0)
    other.unwrapped.load_state(tmp_path / "s.pt")
    resumed = [other.step(w)[4]["lr"] for _ in range(4)]
    assert resumed == straight == pytest.approx([lr_at(k, 1e-3, "cosine", 3, 0.2, 10) for k in range(5, 9)])


def test_the_default_horizon_is_the_registered_episode_length():
    env = make_tiny(lr_schedule="linear", lr_final=0.0)
    env.reset(seed=0)
    u = env.unwrapped
    assert u.scheduled_lr(999) == 0.0 and u.scheduled_lr(499) == pytest.approx(1e-3 * (1 - 499 / 999))
