"""WallTime: a timing in ``info`` that equals every other timing (so runs compare by their decisions),
hashes consistently with that equality, and still carries its seconds."""

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

from curriculum_env.walltime import WallTime
from tests.conftest import make_tiny


def test_all_walltimes_are_equal_and_hash_alike_but_not_equal_to_numbers():
    a, b = WallTime(0.25), WallTime(3.5)
    assert a == b and not a != b
    assert hash(a) == hash(b)
    assert a != 0.25 and 0.25 != a and not a == 0.25 and not 0.25 == a  # a timing is not its number
    assert WallTime(1.0) != 1 and WallTime(0.0) != 0.0
    assert float(a) == 0.25 and float(b) == 3.5
    assert isinstance(float(a), float) and type(float(a)) is float


def test_sets_and_dicts_agree_with_equality():
    times = [WallTime(t) for t in (0.1, 0.2, 0.3)]
    assert len(set(times)) == 1
    d = {times[0]: "first"}
    d[times[1]] = "second"  # an equal key: replaces the value
    assert len(d) == 1 and d[times[2]] == "second"
    assert 0.1 not in d and len({0.1, times[0]}) == 2  # the float 0.1 and a WallTime(0.1) are two keys


def test_arithmetic_and_ordering_use_the_seconds():
    a, b = WallTime(0.5), WallTime(1.25)
    total = a + b
    assert type(total) is float and total == pytest.approx(1.75)
    assert a < b and b > 1.0 and a <= 0.5
    assert np.isscalar(a) and f"{a:.2f}" == "0.50"


def test_infos_of_two_identical_runs_compare_equal_despite_their_timings():
    infos = []
    for _ in range(2):
        env = make_tiny()
        env.reset(seed=4)
        _, _, _, _, info = env.step(np.full(8, 1 / 8, dtype=np.float32))
        infos.append(info)
    timings = [key for key in infos[0] if key.startswith("time/")]
    assert timings and all(type(infos[0][k]) is WallTime for k in timings)
    assert data_equivalence(infos[0], infos[1])
    infos[1]["time/update"] = float(infos[1]["time/update"])  # a plain float is not a timing
    assert not data_equivalence(infos[0], infos[1])


def test_gymnasium_determinism_check_passes():
    # check_env steps twice from one seed and raises AssertionError ("Deterministic step info are not
    # equivalent") when the infos differ, as they would if timings compared by value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its infinite-Box warnings are test_contract's business
        check_env(make_tiny().unwrapped, skip_render_check=True)
