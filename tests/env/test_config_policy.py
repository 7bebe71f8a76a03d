"""EnvConfig refuses a setting that would have no effect, naming the fields that make it moot."""

import numpy as np
import pytest
import torch

from curriculum_env.config import EnvConfig
from tests.conftest import TINY, make_tiny


@pytest.mark.parametrize("moot", [dict(train_batch=2), dict(action_mode="select"), dict(observation="none")])
def test_a_required_fused_forward_is_refused_where_the_step_cannot_fuse(moot):
    (name, value), = moot.items()
    with pytest.raises(ValueError, match=rf"fused_forward=True .* {name}={value!r}"):
        EnvConfig(**{**TINY, **moot, "fused_forward": True})
    assert EnvConfig(**{**TINY, **moot}).fused_forward is False  # the default never fuses: accepted


@pytest.mark.parametrize("value", [None, 1, "yes"])
def test_fused_forward_is_a_flag(value):
    with pytest.raises(ValueError, match="fused_forward"):
        EnvConfig(**{**TINY, "fused_forward": value})


def test_no_graph_outlives_a_step_unless_the_fused_forward_is_asked_for():
    """Default: every pending observation is graph-free. ``fused_forward=True`` trains the same weights
    (the update's losses come from the kept graph instead of a second forward) one forward of N cheaper."""
    runs = {}
    for fused in (False, True):
        env = make_tiny(fused_forward=fused)
        u = env.unwrapped
        env.reset(seed=4)
        held = [u.observation_holds_graph]
        for k in range(3):
            env.step(np.linspace(0.1, 1.0, 8, dtype=np.float32) ** k)
            held.append(u.observation_holds_graph)
        assert held == [fused] * 4
        runs[fused] = (torch.cat([p.detach().flatten() for p in u.learner.model.parameters()]),
                       u.learner.flops.total, u.learner.flop_model.forward(8 * TINY["context_length"]))
        env.close()
    torch.testing.assert_close(runs[True][0], runs[False][0], rtol=1e-5, atol=1e-6)
    (_, separate, _), (_, fused, n_forward) = runs[False], runs[True]
    assert separate - fused == pytest.approx(3 * n_forward)  # one all-N forward (with the head) saved per update


@pytest.mark.parametrize("probe", [dict(influence_kind="measured"), dict(influence_heldout=32)])
def test_probe_settings_without_probes_are_refused(probe):
    with pytest.raises(ValueError, match=r"contradicts influence_every=0 \(no probe runs\)"):
        EnvConfig(**{**TINY, **probe})
    assert EnvConfig(**{**TINY, **probe, "influence_every": 3}).influence_every == 3


def test_shape_fields_with_a_pretrained_model_are_refused_and_a_preset_leaves_its_own_out():
    with pytest.raises(ValueError, match=r"n_layer=1 contradicts model='gpt2' \(it brings its own shape\)"):
        EnvConfig(model="gpt2", n_layer=1)
    cfg = EnvConfig.from_preset("gpt2-124m", model="gpt2")  # the preset's 12 layers are the checkpoint's business
    assert (cfg.model, cfg.n_layer, cfg.context_length) == ("gpt2", EnvConfig().n_layer, 1024)


@pytest.mark.parametrize("bad,message", [
    (dict(context_length=1), "context_length must be an integer >= 2, got 1"),
    (dict(warmup_steps=-1), "warmup_steps must be a non-negative integer, got -1"),
    (dict(n_head=True), "n_head must be a positive integer, got True"),
    (dict(lr_horizon=0), "lr_horizon must be a positive integer or None, got 0"),
    (dict(dtype="fp16"), "dtype must be one of ('float32', 'bfloat16'), got 'fp16'"),
    (dict(render_mode="human"), "render_mode must be one of (None, 'ansi'), got 'human'"),
    (dict(compile=1), "compile must be True or False, got 1"),
    (dict(grad_clip=float("nan")), "grad_clip must be a positive finite number, got nan"),
])
def test_every_field_is_checked_against_its_own_range_by_name(bad, message):
    with pytest.raises(ValueError) as caught:
        EnvConfig(**bad)
    assert str(caught.value) == message
