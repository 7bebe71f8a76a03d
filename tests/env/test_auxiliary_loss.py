"""Auxiliary losses train theta, so they are training on the record: the tokens they train count in
``tokens_trained`` (and ``aux_tokens_trained``) and cost 6·P FLOPs each, charged once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curriculum_env.models import token_nll
from tests.conftest import make_tiny

N, L = 8, 32


def started(**kw):
    env = make_tiny(**kw)
    _, info = env.reset(seed=1)
    return env, env.unwrapped.learner, info


def test_an_auxiliary_loss_without_its_tokens_is_refused():
    env, learner, info = started()
    h = learner.hidden(input_ids=info["token_ids"][:2], grad=True)
    with pytest.raises(TypeError, match="tokens=T"):
        learner.add_auxiliary_loss(h.pow(2).mean())
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="tokens must be a non-negative integer"):
            learner.add_auxiliary_loss(h.pow(2).mean(), tokens=bad)
    assert learner.take_auxiliary_losses() == []  # nothing was queued


def test_aux_tokens_count_as_trained_and_cost_6p_each_with_hidden_charged_once():
    env, learner, info = started()
    ids = info["token_ids"][:2]
    h = learner.hidden(input_ids=ids, grad=True)  # [2, d]: body forward + backward charged here
    learner.add_auxiliary_loss(0.1 * h.pow(2).mean(), tokens=ids.size)  # ... and the rest of 6·P here
    assert learner.flops.totals["agent"] == pytest.approx(6 * learner.flop_model.params * ids.size, rel=1e-12)
    _, _, _, _, info = env.step(np.ones(N, np.float32))
    assert info["aux_tokens_trained"] == 2 * L
    assert info["tokens_trained"] == info["examples_trained"] * L + 2 * L == (N + 2) * L
    assert info["flops/agent"] == pytest.approx(6 * learner.flop_model.params * 2 * L, rel=1e-12)
    _, _, _, _, info = env.step(np.ones(N, np.float32))  # no aux loss this step: nothing more
    assert info["aux_tokens_trained"] == 2 * L and info["tokens_trained"] == (2 * N + 2) * L


def test_an_aux_loss_from_the_agents_own_forward_pays_6p_per_token():
    env, learner, info = started()
    ids = torch.as_tensor(info["token_ids"][:3])
    with learner.autocast():
        loss = token_nll(learner.model(input_ids=ids).logits, ids).mean()  # a forward the learner never saw
    learner.add_auxiliary_loss(loss, tokens=ids.numel())
    _, _, _, _, info = env.step(np.ones(N, np.float32))
    assert info["flops/agent"] == learner.flop_model.train(3 * L) and info["aux_tokens_trained"] == 3 * L


def test_hidden_with_grad_alone_still_charges_its_body_forward_and_backward():
    env, learner, info = started()
    learner.hidden(input_ids=info["token_ids"][:1], grad=True)
    assert learner.flops.totals["agent"] == 3 * learner.flop_model.forward(L, head=False)


def test_aux_tokens_survive_take_and_restore_and_a_save_and_load(tmp_path):
    env, learner, info = started()
    ids = info["token_ids"][:1]
    learner.add_auxiliary_loss(learner.hidden(input_ids=ids, grad=True).pow(2).mean(), tokens=ids.size)
    charged = learner.flops.totals["agent"]
    learner.restore_auxiliary_losses(learner.take_auxiliary_losses())  # what a measured probe does around itself
    assert learner.flops.totals["agent"] == charged  # charged once, when first queued
    _, _, _, _, info = env.step(np.ones(N, np.float32))
    assert info["aux_tokens_trained"] == L
    env.unwrapped.save_state(tmp_path / "env.pt")
    other = make_tiny()
    other.reset(seed=9)
    _, info2 = other.unwrapped.load_state(tmp_path / "env.pt")
    assert info2["aux_tokens_trained"] == L and info2["tokens_trained"] == info["tokens_trained"]
