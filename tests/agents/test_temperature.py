"""Temperature controllers: the closed-loop formula, the failure definition, the phase boundaries."""

import pytest

from agents.temperature import (
    ClosedLoopTemperature,
    FixedTemperature,
    PhasedTemperature,
    TemperatureConfig,
    make_temperature,
)


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


def test_phased_schedule_boundaries_then_closed_loop():
    t = PhasedTemperature(planned_steps=100)
    betas = {}
    for step in range(100):
        betas[step] = t.beta
        t.update(float(step % 2))  # alternating 0, 1: every 0 after the first fails
    assert betas[0] == betas[9] == 1.2
    assert betas[10] == betas[49] == 0.9
    assert betas[50] == betas[89] == 0.7
    assert betas[90] == pytest.approx(0.5 + 0.7 * t.loop.failure_rate)
    assert betas[90] != 0.7 and t.phase == 3


def test_state_round_trip_and_factory():
    t = make_temperature("closed_loop", temperature_window=4)
    for r in [3.0, 1.0, 2.0]:
        t.update(r)
    u = make_temperature("closed_loop", temperature_window=4)
    u.load_state_dict(t.state_dict())
    t.update(0.5)
    u.update(0.5)
    assert t.beta == u.beta and t.failure_rate == u.failure_rate
    assert make_temperature("fixed", beta=0.3).beta == 0.3
    assert isinstance(make_temperature("phased", planned_steps=10), PhasedTemperature)
    with pytest.raises(ValueError, match="unknown temperature"):
        make_temperature("hot")
    with pytest.raises(ValueError, match="beta"):
        FixedTemperature(0.0)


def test_config_keeps_real_defaults_and_refuses_a_parameter_its_mode_does_not_read():
    assert TemperatureConfig().beta == 1.0 and TemperatureConfig().beta_min == 0.5  # real defaults
    phased = TemperatureConfig(temperature="phased", phase_betas=[2.0, 1.0], phase_bounds=[0.5, 1.0])
    assert phased.phase_betas == (2.0, 1.0) and phased.beta_k == 0.7
    t = phased.build()
    assert isinstance(t, PhasedTemperature) and t.beta == 2.0 and t.loop.k == 0.7
    assert isinstance(TemperatureConfig(temperature="closed_loop", temperature_window=3).build(), ClosedLoopTemperature)
    with pytest.raises(ValueError, match="beta=0.3 contradicts temperature='closed_loop'"):
        make_temperature("closed_loop", beta=0.3)
    with pytest.raises(ValueError, match="phase_betas=.* contradicts temperature='fixed'"):
        TemperatureConfig(phase_betas=(1.0,))
    with pytest.raises(ValueError, match="beta"):  # the controller's own check runs at construction
        TemperatureConfig(beta=0.0)
