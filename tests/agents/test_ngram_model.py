"""The hashed bigram stream model: its smoothed probabilities checked by hand, its state, its errors."""

import math

import numpy as np
import pytest

from agents.ngram_model import HashedBigram


def test_empty_model_scores_every_window_log_v():
    model = HashedBigram(50)
    np.testing.assert_allclose(model.losses(np.array([[1, 2, 3], [4, 4, 4]])), math.log(50))


def test_losses_match_the_dirichlet_smoothed_bigram_by_hand():
    v, mu = 6, 2.0
    model = HashedBigram(v, mu=mu)
    seen = np.array([[0, 1, 0, 1], [2, 1, 0, 3]])
    model.update(seen)
    uni = np.bincount(seen.ravel(), minlength=v)  # [2+1, ...]
    pairs = [(a, b) for row in seen for a, b in zip(row[:-1], row[1:], strict=True)]

    def p(a, b):
        p_b = (uni[b] + 1) / (uni.sum() + v)
        c_ab = sum(1 for x in pairs if x == (a, b))
        c_a = sum(1 for x in pairs if x[0] == a)
        return (c_ab + mu * p_b) / (c_a + mu)

    window = np.array([[0, 1, 5, 0]])
    by_hand = -np.mean([math.log(p(0, 1)), math.log(p(1, 5)), math.log(p(5, 0))])
    assert model.losses(window)[0] == pytest.approx(by_hand, rel=1e-12)
    assert model.losses(np.array([[0, 1, 0, 1]]))[0] < model.losses(np.array([[5, 4, 5, 4]]))[0]  # seen < unseen


def test_state_round_trips_and_bad_input_is_refused():
    model = HashedBigram(10, hash_bits=8)
    model.update(np.array([[1, 2, 3, 4]]))
    twin = HashedBigram(10, hash_bits=8)
    twin.load_state_dict(model.state_dict())
    ids = np.array([[1, 2, 9, 9]])
    assert twin.losses(ids) == pytest.approx(model.losses(ids))
    model.update(ids)  # the copy is independent of the original's arrays
    assert twin.losses(ids)[0] != pytest.approx(model.losses(ids)[0])
    with pytest.raises(ValueError, match="token ids"):
        model.update(np.array([[1, 10]]))
    with pytest.raises(ValueError, match="L >= 2"):
        model.losses(np.array([[1]]))
    with pytest.raises(ValueError, match="shape"):
        HashedBigram(10, hash_bits=9).load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match="mu"):
        HashedBigram(10, mu=0)
