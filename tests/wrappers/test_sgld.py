"""Logit-space SGLD (paper §3.2-3.3): it climbs Q, anneals, clips, and never touches theta's grads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curriculum_env.wrappers.sgld import LogitSGLD, SGLDConfig, mean_pairwise_jaccard, one_hot_logits
from tests.conftest import make_tiny


@pytest.fixture(scope="module")
def learner():
    env = make_tiny()
    env.reset(seed=0)
    for _ in range(2):
        env.step(env.action_space.sample())
    return env.unwrapped.learner


def linear_head(d: int, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(d, 1)
    with torch.no_grad():
        head.weight.copy_(torch.randn(1, d, generator=g) / math.sqrt(d))
        head.bias.zero_()
    return head


@pytest.mark.parametrize("seed", [0, 1])
def test_sgld_climbs_q_and_entropy_falls(learner, seed):
    head = linear_head(learner.hidden_size, seed)
    res = LogitSGLD(learner, SGLDConfig()).run(head, torch.Generator().manual_seed(seed), num_chains=8)
    assert res.q_final.mean() > res.q_init.mean()  # Q gain
    assert res.q_final.mean() > res.q_random.mean()
    assert res.q_tokens.mean() > res.q_random.mean()  # the extracted hard tokens keep the gain
    assert res.entropy_trace[-1] < 0.5 * res.entropy_trace[0]  # tau anneals: softmax sharpens
    assert res.entropy < math.log(len(learner.tokenizer)) and res.max_prob > 0.5
    assert res.tokens.shape == (8, SGLDConfig().query_length)
    assert torch.equal(res.tokens, res.logits.argmax(-1))  # eq. 15


def test_tau_schedule_is_linear():
    cfg = SGLDConfig(steps=5, tau_start=2.0, tau_end=0.4)
    taus = [cfg.tau(t) for t in range(5)]
    np.testing.assert_allclose(taus, np.linspace(2.0, 0.4, 5))  # eq. 14
    assert SGLDConfig(steps=1, tau_end=0.3).tau(0) == 0.3


def test_init_is_near_one_hot():
    lam = one_hot_logits(3, 4, 50, 10.0, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert lam.shape == (3, 4, 50)
    assert torch.equal((lam == 10.0).sum(-1), torch.ones(3, 4, dtype=torch.long))
    assert torch.equal((lam == 0.0).sum(-1), torch.full((3, 4), 49))


def test_noise_only_update_has_std_sqrt_eps_sigma(learner):
    cfg = SGLDConfig(steps=1, step_size=0.5, noise=0.3, query_length=4)
    zero_q = lambda h: h.sum(-1) * 0.0  # noqa: E731  (zero gradient: the update is pure noise)
    res = LogitSGLD(learner, cfg).run(zero_q, torch.Generator().manual_seed(0), num_chains=4)
    lam0 = one_hot_logits(4, 4, len(learner.tokenizer), cfg.init_logit, torch.Generator().manual_seed(0),
                          torch.device("cpu"))
    delta = res.logits - lam0
    assert abs(float(delta.std()) / (math.sqrt(0.5) * 0.3) - 1) < 0.02  # sqrt(eps) * sigma * eta
    assert abs(float(delta.mean())) < 0.01


def test_clipped_update_has_norm_eps_over_two_g(learner):
    cfg = SGLDConfig(steps=1, step_size=2.0, noise=0.0, grad_clip=0.1, tau_sld=0.01, tau_end=2.0, query_length=4)
    head = linear_head(learner.hidden_size, 0)
    res = LogitSGLD(learner, cfg).run(head, torch.Generator().manual_seed(0), num_chains=3)
    lam0 = one_hot_logits(3, 4, len(learner.tokenizer), cfg.init_logit, torch.Generator().manual_seed(0),
                          torch.device("cpu"))
    norms = (res.logits - lam0).flatten(1).norm(dim=1)  # per chain, over the flattened [L, V]
    np.testing.assert_allclose(norms.numpy(), 0.5 * 2.0 * 0.1, rtol=1e-3)  # eps/2 * G
    assert res.clip_fraction == 1.0 and res.grad_norm > 0.1


def test_noise_free_step_follows_the_gradient_of_q(learner):
    """One unclipped, noise-free step is lambda_1 = lambda_0 + eps/2 grad(Q / tau_sld) (eq. 13), with the
    gradient taken here by autograd through our own soft-embedding -> LM -> Q, and it raises Q."""
    cfg = SGLDConfig(steps=1, step_size=0.5, noise=0.0, grad_clip=1e9, tau_sld=0.5, tau_start=1.0, tau_end=1.0,
                     query_length=4, init_logit=2.0)
    head = linear_head(learner.hidden_size, 0)
    gen = torch.Generator().manual_seed(3)
    start = gen.get_state()
    res = LogitSGLD(learner, cfg).run(head, gen, num_chains=3)
    vocab = len(learner.tokenizer)
    tokens = torch.randint(vocab, (3, 4), generator=torch.Generator().set_state(start))  # the chains' start
    lam0 = (torch.nn.functional.one_hot(tokens, vocab).float() * cfg.init_logit).requires_grad_(True)
    w_e = learner.input_embeddings.detach()[:vocab]  # [V, d]

    def q_of(lam):  # Q(h(softmax(lambda / tau) W_e)), eqs. 11-12, per chain [K]
        return head(learner.hidden(inputs_embeds=torch.softmax(lam / 1.0, -1) @ w_e, grad=True)).squeeze(-1)

    (grad,) = torch.autograd.grad(q_of(lam0).sum() / cfg.tau_sld, lam0)
    step = res.logits - lam0.detach()
    torch.testing.assert_close(step, 0.5 * cfg.step_size * grad, rtol=1e-4, atol=1e-6)  # float32 ulp at lambda = 2
    assert torch.all(step.flatten(1).norm(dim=1) > 1e-3)  # each chain really moved (norms ~1e-2): not a zero gradient
    with torch.no_grad():
        assert torch.all(q_of(res.logits) > q_of(lam0.detach()))  # uphill on the energy, chain by chain


def test_no_gradient_reaches_theta_or_q(learner):
    head = linear_head(learner.hidden_size, 0)
    LogitSGLD(learner, SGLDConfig(steps=3, query_length=4)).run(head, torch.Generator().manual_seed(0), 4)
    assert all(p.grad is None for p in learner.parameters())
    assert all(p.grad is None for p in head.parameters())


def test_deterministic_and_checkpointing_matches(learner):
    head = linear_head(learner.hidden_size, 0)
    cfg = SGLDConfig(steps=4, query_length=6)
    a = LogitSGLD(learner, cfg).run(head, torch.Generator().manual_seed(5), 4)
    b = LogitSGLD(learner, cfg).run(head, torch.Generator().manual_seed(5), 4)
    assert torch.equal(a.logits, b.logits)
    c = LogitSGLD(learner, SGLDConfig(steps=4, query_length=6, gradient_checkpointing=True)).run(
        head, torch.Generator().manual_seed(5), 4)
    torch.testing.assert_close(a.logits, c.logits, rtol=1e-4, atol=1e-4)
    flag = "is_activation_checkpointing" if hasattr(type(learner.model), "is_activation_checkpointing") \
        else "is_gradient_checkpointing"
    assert not getattr(learner.model, flag)  # switched off again after SGLD
    assert learner.model.training  # the env's train mode is restored


def test_bad_q_shape_is_a_clear_error(learner):
    with pytest.raises(ValueError, match="Q-values"):
        LogitSGLD(learner, SGLDConfig(steps=1, query_length=4)).run(lambda h: h, torch.Generator(), 2)


def test_jaccard():
    assert mean_pairwise_jaccard(np.array([[1, 2, 3], [3, 4, 5]])) == pytest.approx(1 / 5)
    assert mean_pairwise_jaccard(np.array([[1, 1], [1, 1]])) == 1.0
