"""Temperature controllers: the closed-loop formula, the failure definition, building one from a spec."""

import pytest

from agents.temperature import ClosedLoopTemperature, FixedTemperature, make_temperature


def test_closed_loop_formula_and_failure_definition_on_hand_made_rewards():
    t = ClosedLoopTemperature(beta_min=0.5, k=0.7, window=3)
    assert t.failure_rate == 1.0 and t.beta == pytest.approx(1.2)  # no evidence yet: explore
    # rewards 1, 2, 0, 3, 1 judged against the mean of the previous (up to 3) rewards:
    # 1: not judged; 2 vs 1 -> ok; 0 vs 1.5 -> fail; 3 vs 1 -> ok; 1 vs 5/3 -> fail
    expected_rates = [1.0, 0 / 1, 1 / 2, 1 / 3, 2 / 3]  # last step: window of judged steps = [fail, ok, fail]
    for reward, rate in zip([1.0, 2.0, 0.0, 3.0, 1.0], expected_rates, strict=True):
        t.update(reward)
        assert t.failure_rate == pytest.approx(rate)
        assert t.beta == pytest.approx(0.5 + 0.7 * rate)


def test_equal_reward_is_not_a_failure_and_window_forgets():
    assert ClosedLoopTemperature.is_failure(1.0, [1.0, 1.0]) is False
    assert ClosedLoopTemperature.is_failure(0.99, [1.0, 1.0]) is True
    assert ClosedLoopTemperature.is_failure(0.0, []) is None
    t = ClosedLoopTemperature(window=2)
    for r in [0.0, -1.0, -2.0, 5.0, 6.0, 7.0]:  # two failures, then three successes
        t.update(r)
    assert t.failure_rate == 0.0 and t.beta == pytest.approx(0.5)


def test_state_round_trip_and_factory():
    t = make_temperature("closed_loop(window=4)")
    for r in [3.0, 1.0, 2.0]:
        t.update(r)
    u = make_temperature("closed_loop(window=4)")
    u.load_state_dict(t.state_dict())
    t.update(0.5)
    u.update(0.5)
    assert t.beta == u.beta and t.failure_rate == u.failure_rate
    assert isinstance(make_temperature(0.3), FixedTemperature) and make_temperature(0.3).beta == 0.3
    assert make_temperature("fixed(beta=0.3)").beta == 0.3
    loop = make_temperature("closed_loop(beta_min=0.025,k=0.05)")
    assert (loop.beta_min, loop.k, loop.window) == (0.025, 0.05, 20) and loop.beta == pytest.approx(0.075)
    with pytest.raises(ValueError, match="unknown temperature 'hot'; known: fixed, closed_loop"):
        make_temperature("hot")
    with pytest.raises(ValueError, match="unexpected keyword argument 'beta'"):
        make_temperature("closed_loop(beta=0.3)")  # a closed loop sets beta itself
    with pytest.raises(ValueError, match="beta"):
        FixedTemperature(0.0)
    with pytest.raises(ValueError, match="beta"):
        make_temperature(-1)
    with pytest.raises(ValueError, match="temperature must be one of"):
        make_temperature(True)
