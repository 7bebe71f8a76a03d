"""The fresh excess: per-token excess loss over each window's first occurrences of its transitions, from the
env's ``token_loss`` and the reference's per-token losses, as a soft-Q feature and reward."""

import math

import numpy as np
import pytest
import torch

from agents import make_agent
from agents.reference_model import ReferenceModel
from agents.soft_q import SoftQAgent
from agents.soft_q_credit import Learnability
from agents.soft_q_inputs import first_occurrences, fresh_excess, zscore
from tests.conftest import make_tiny

FRESH = dict(credit="learnability(signal=reducible+fresh)", inputs="features", reference=True, reference_steps=5,
             gamma=0.5, beta=0.7)


def test_first_occurrences_marks_each_transition_once_in_order():
    ids = np.array([[1, 2, 1, 2, 1, 2],  # (1,2) (2,1) (1,2) (2,1) (1,2): two new transitions, then repeats
                    [5, 6, 7, 8, 9, 4],  # all new
                    [3, 3, 3, 3, 3, 3]])  # (3,3) five times
    expected = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(first_occurrences(ids), expected)
    # a transition is its ordered pair: (1,2) then (2,1) are two, and the same pair in another window is new there
    np.testing.assert_array_equal(first_occurrences(np.array([[1, 2, 1], [2, 1, 2]])), [[1, 1], [1, 1]])
    with pytest.raises(ValueError, match="L >= 2"):
        first_occurrences(np.array([[1], [2]]))


def test_fresh_excess_floors_each_token_at_zero_and_counts_repeats_once():
    ids = np.array([[1, 2, 1, 2, 9], [4, 5, 6, 7, 8]])
    learner = np.array([[3.0, 2.0, 3.0, 2.0, 1.0], [1.0, 4.0, 2.0, 5.0, 1.0]])[:, :4]
    reference = np.array([[1.0, 1.0, 1.0, 1.0, 0.0], [2.0, 1.0, 2.0, 1.0, 0.0]])[:, :4]
    # window 0: transitions (1,2) (2,1) (1,2) (2,9): excess 2, 1, [repeat], 1 -> (2 + 1 + 1) / 4
    # window 1: all new; excess -1 (floored to 0), 3, 0, 4 -> 7 / 4
    np.testing.assert_allclose(fresh_excess(learner, reference, ids), [1.0, 1.75])
    np.testing.assert_allclose(fresh_excess(learner, reference, ids, token="signed"), [1.0, 1.5])  # -1 counts
    # centred: excess minus its mean over all 8 tokens (12 / 8 = 1.5), then the same first occurrences
    np.testing.assert_allclose(fresh_excess(learner, reference, ids, token="centred"),
                               [(4 - 3 * 1.5) / 4, (6 - 4 * 1.5) / 4])
    with pytest.raises(ValueError, match="token must be one of"):
        fresh_excess(learner, reference, ids, token="clipped")
    np.testing.assert_allclose(fresh_excess(learner, reference, ids, first=False), [1.5, 1.75])  # the repeat counts
    with pytest.raises(ValueError, match="do not match"):
        fresh_excess(learner[:, :3], reference[:, :3], ids)


@pytest.mark.parametrize("reward", [False, True])
def test_token_loss_is_the_per_token_nll_that_loss_averages(reward):
    env = make_tiny(candidate_stats=("loss", "token_loss"), compute_reward=reward)
    _, info = env.reset(seed=0)
    n, length = info["token_ids"].shape
    assert info["token_loss"].shape == (n, length - 1) and info["token_loss"].dtype == np.float32
    np.testing.assert_allclose(info["token_loss"].mean(1), info["loss"], rtol=1e-6)
    _, _, _, _, info2 = env.step(np.ones(n, dtype=np.float32))
    np.testing.assert_allclose(info2["token_loss"].mean(1), info2["loss"], rtol=1e-6)
    assert "token_loss" not in make_tiny().reset(seed=0)[1]  # only when asked
    with pytest.raises(ValueError, match="token_loss"):
        make_tiny(candidate_stats=("loss", "tokens"))  # the error lists what can be asked for


def test_reference_token_losses_share_the_cached_forward():
    env = make_tiny()
    data = env.unwrapped.data
    ref = ReferenceModel(steps=2, batch_size=4)
    ref.fit(data.heldout.ids, data.tokenizer, 0, np.random.default_rng(0))
    _, info = env.reset(seed=0)
    ids = info["token_ids"]
    tokens = ref.token_losses(ids)
    assert tokens.shape == (len(ids), ids.shape[1] - 1)
    means = ref.losses(ids)
    np.testing.assert_allclose(tokens.mean(1), means, rtol=1e-6)
    ref.model = _Forbidden()
    np.testing.assert_array_equal(ref.token_losses(ids[::-1]), tokens[::-1])  # cached, in the order asked


class _Forbidden(torch.nn.Module):
    def forward(self, *args, **kwargs):
        raise AssertionError("a cached window was forwarded again")


def test_soft_q_reads_the_fresh_excess_as_a_feature_and_in_its_reward():
    agent = SoftQAgent(**FRESH)
    assert agent.env_kwargs["candidate_stats"] == ("loss", "entropy", "token_loss")
    env = make_tiny(train_batch=2, **agent.env_kwargs)
    agent.setup(env, 0)
    assert agent.q[0].in_features == 10  # loss, entropy, reference, learnability, fresh: z-scored and levelled
    obs, info = env.reset(seed=0)
    x, cols = agent.inputs.build(obs, info)
    ids = info["token_ids"]
    expected = fresh_excess(info["token_loss"], agent.inputs.reference.token_losses(ids), ids)
    np.testing.assert_allclose(cols["fresh"], expected)
    np.testing.assert_allclose(x[:, 4].numpy(), zscore(expected), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x[:, 9].numpy(), expected / math.log(len(env.unwrapped.data.tokenizer)), rtol=1e-5)
    reward = agent.credit.candidate_rewards(cols, info).numpy()
    np.testing.assert_allclose(reward, zscore(zscore(cols["learnability"]) + zscore(expected)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Learnability("fresh").candidate_rewards(cols, info).numpy(), zscore(expected),
                               rtol=1e-5, atol=1e-6)
    blind = SoftQAgent(**FRESH)
    blind.setup(make_tiny(train_batch=2), 0)  # an env made without the per-token losses
    with pytest.raises(KeyError, match="token_loss"):
        blind.inputs.build(obs, {k: v for k, v in info.items() if k != "token_loss"})


def test_fresh_reward_ranks_a_repeated_phrase_below_the_same_excess_spread_over_new_text():
    cols = {"learnability": np.array([1.0, 1.0, 0.0, 0.0])}  # the window means cannot tell 0 from 1
    ids = np.array([[7, 8] * 4, list(range(10, 18)), [7, 8] * 4, list(range(20, 28))])
    learner = np.full((4, 7), 3.0)
    reference = np.full((4, 7), 2.0)  # excess 1 at every token of every window
    cols["fresh"] = fresh_excess(learner, reference, ids)
    np.testing.assert_allclose(cols["fresh"], [2 / 7, 1.0, 2 / 7, 1.0])
    ranked = np.argsort(-Learnability("reducible+fresh").candidate_rewards(cols, {}).numpy())
    assert ranked[0] == 1 and ranked[-1] == 2  # new text with the excess first, the repeated phrase without it last


def test_the_ablation_options_reach_the_statistic():
    credit = "learnability(signal=reducible+fresh,fresh_token=signed,fresh_first=False)"
    agent = SoftQAgent(**{**FRESH, "credit": credit})
    agent.setup(make_tiny(train_batch=2, **agent.env_kwargs), 0)
    assert agent.inputs.fresh_options == {"token": "signed", "first": False}
    with pytest.raises(ValueError, match="fresh_token must be one of"):
        SoftQAgent(**{**FRESH, "credit": "learnability(fresh_token=clipped)"})


def test_registered_soft_q_lm_uses_the_reducible_and_fresh_reward():
    agent = make_agent("soft_q_lm")
    assert agent.config.credit.signal == "reducible+fresh"
    assert "token_loss" in agent.env_kwargs["candidate_stats"]
    reducible = make_agent("soft_q_lm@credit=learnability(signal=reducible)")
    assert "token_loss" not in reducible.env_kwargs["candidate_stats"]
