"""Wall times are opt-in: infos describe the MDP, so two runs from one seed return equal infos."""

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

from tests.conftest import make_tiny


def run(**config):
    env = make_tiny(**config)
    infos = [env.reset(seed=4)[1]]
    for k in range(2):
        infos.append(env.step(np.linspace(0.2, 1.0, 8, dtype=np.float32) ** k)[4])
    env.close()
    return infos


def test_default_infos_carry_no_timing_and_two_runs_are_equal():
    first, second = run(), run()
    assert not [k for info in first for k in info if k.startswith("time/")]
    assert all(data_equivalence(a, b) for a, b in zip(first, second, strict=True))


def test_timings_are_plain_seconds_and_the_rest_of_the_info_is_unchanged():
    timed, plain = run(timings=True), run()
    for t, p in zip(timed, plain, strict=True):
        times = {k: v for k, v in t.items() if k.startswith("time/")}
        assert {"time/forward", "time/update", "time/reward"} <= set(times)
        assert all(type(v) is float and v >= 0 for v in times.values())
        assert data_equivalence({k: v for k, v in t.items() if k not in times}, p)
    assert timed[-1]["time/update"] > 0 and timed[-1]["time/forward"] > 0


def test_gymnasium_determinism_check_passes_and_is_not_fooled_by_timings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its infinite-Box warnings are test_contract's business
        check_env(make_tiny().unwrapped, skip_render_check=True)
        with pytest.raises(AssertionError, match="info"):  # timed infos differ between two runs: caught
            check_env(make_tiny(timings=True).unwrapped, skip_render_check=True)
