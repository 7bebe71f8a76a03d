"""``benchmarks.throughput`` and ``benchmarks.timers`` on a tiny config: the Stepper, the StepClock of rollout timings,
the floor section."""

import math
import subprocess
import sys
import time

import numpy as np
import torch

from agents import make_agent
from agents.base import rollout
from benchmarks.throughput import (
    measure_floor,
    measure_plain,
    parse_args,
)
from benchmarks.timers import FloorStepper, PlainStepper, StepClock, Stepper
from tests.conftest import TINY, make_tiny

TINY_BUDGET = {**TINY, "train_batch": 2, "candidate_stats": ()}
VARIANTS = ("budget", "budget_loss", "budget_loss_entropy", "floor", "floor_body")


def test_measure_floor_reports_every_variant_and_phase():
    lines = []
    res = measure_floor(TINY_BUDGET, rounds=1, block=2, warmup=1, out=lines.append)
    expected = {f"{v}_ms" for v in VARIANTS}
    expected |= {f"{v}_{p}_ms" for v in VARIANTS for p in ("forward", "update", "reward", "other")}
    expected |= {"floor_ratio", "body_floor_ratio", "loss_ratio", "loss_entropy_ratio"}
    assert set(res) == expected
    for key in expected - {f"{v}_other_ms" for v in VARIANTS}:  # `other` is a difference and may be ~0
        assert math.isfinite(res[key]) and res[key] > 0, key
    for v in VARIANTS:  # other = step - phases: a part of the step, never more than it
        assert abs(res[f"{v}_other_ms"]) < res[f"{v}_ms"], v
    assert math.isclose(res["floor_ratio"], res["budget_ms"] / res["floor_ms"])
    text = "\n".join(lines)
    assert "vs floor" in text and "goal <= 1.15" in text and "B=2 of N=8" in text
    for v in VARIANTS:
        assert f"  {v} " in text


def test_floor_steps_its_own_copy_and_leaves_the_env_alone():
    env_step = Stepper(TINY_BUDGET, None)
    env_model = env_step.env.unwrapped.learner.model
    before = {k: v.detach().clone() for k, v in env_model.state_dict().items()}
    floor = FloorStepper(env_step.env, budget=2)
    assert floor.model is not env_model
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(floor.params, env_model.parameters(), strict=True))
    ids_n, ids_b, ids_m = floor.windows[0]
    assert ids_n.shape == (8, 32) and ids_b.shape == (2, 32) and ids_m.shape == (8, 32)
    floor.step()
    floor.step()
    after_floor = floor.model.state_dict()
    assert any(not torch.equal(before[k], after_floor[k]) for k in before), "the floor took no optimizer step"
    assert all(torch.equal(before[k], v) for k, v in env_model.state_dict().items()), "the floor touched the env"
    assert len(floor.optimizer.state) == len(floor.params)  # AdamW stepped every parameter
    assert len(floor.times) == 2 and all(len(v) == 2 for v in floor.phases.values())
    assert all(t > 0 for t in floor.times)
    env_step.env.close()


def test_only_selects_sections_and_help_names_the_arguments():
    assert parse_args(["--only", "floor"]).only == ["floor"]
    assert parse_args([]).only == ["fused", "agents", "floor", "plain", "rss"]
    assert parse_args(["--only", "plain", "--agents", "random,rho_loss"]).agents == ["random", "rho_loss"]
    help_text = subprocess.run([sys.executable, "-m", "benchmarks.throughput", "--help"], capture_output=True,
                               text=True, check=True).stdout
    for flag in ("--only", "--budget", "--rounds", "--block", "--threads", "--num-candidates", "--rss-steps"):
        assert flag in help_text


def test_stepper_takes_exactly_one_step_per_call():
    """Setup and reset in the constructor, then one uniform-weights step per step() call: the model is
    the one reset(seed) and uniform steps give, step for step."""
    stepper = Stepper(TINY, None, seed=3)
    ref = make_tiny()
    ref.reset(seed=3)

    def same_model() -> bool:
        a, b = stepper.env.unwrapped.learner.model.state_dict(), ref.unwrapped.learner.model.state_dict()
        return all(torch.equal(a[k], b[k]) for k in a)

    assert same_model() and stepper.times == []  # reset, no step yet
    for k in range(1, 4):
        stepper.step()
        ref.step(np.ones(TINY["num_candidates"], dtype=np.float32))
        assert same_model(), f"step {k}"
        assert len(stepper.times) == k and all(len(v) == k for v in stepper.phases.values())
    assert all(t > 0 for t in stepper.times)
    stepper.env.close()
    ref.close()


def test_step_clock_leaves_out_resets_and_on_step(monkeypatch):
    """An hour passes in every reset hook and in every on_step: no lap may contain one."""
    offset = [0.0]
    real = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: real() + offset[0])

    def an_hour_passes():
        offset[0] += 3600.0

    resets = []
    env = StepClock(make_tiny(max_episode_steps=2), on_reset=lambda: (resets.append(1), an_hour_passes()))
    laps = []

    def on_step(rec):
        if rec.step:  # not the reset
            laps.append(env.elapsed())
        an_hour_passes()
        env.restart()

    rollout(env, make_agent("random"), 5, 0, on_step)  # uniform weights
    assert len(resets) == 3 and len(laps) == 5  # the first reset and one after each truncation (steps 2, 4)
    assert all(0 < t < 3600 for t in laps), laps
    env.close()


def test_stepper_goes_on_past_the_end_of_an_episode():
    stepper = Stepper({**TINY, "max_episode_steps": 2}, None)
    for _ in range(5):
        stepper.step()
    assert len(stepper.times) == 5 and stepper.env.unwrapped.steps_taken == 1  # reset after steps 2 and 4
    stepper.env.close()


def test_step_phases_runs_a_preset_from_the_command_line(capsys):
    from studies import step_phases

    step_phases.main(["--preset", "none", "--device", "cpu", "--task", "prose", "--steps", "1", "--warmup", "0",
                      "--n-layer", "1", "--context-length", "32", "--num-candidates", "4", "--reward-batch", "4",
                      "--threads", "1"])
    text = capsys.readouterr().out
    assert "env step / reference step" in text

def test_plain_section_times_each_agent_against_plain_training():
    lines = []
    res = measure_plain(TINY_BUDGET, ("random", "loss"), rounds=1, block=2, warmup=1, out=lines.append)
    for name in ("random", "loss"):
        assert res[f"{name}_ratio"] == res[f"{name}_ms"] / res["plain_ms"] > 0
        assert res[f"{name}_full_ms"] > 0
    assert res["random_flops_ratio"] == 1.0  # random reads nothing: its step is plain training
    assert res["loss_flops_ratio"] > 1.0  # the loss of every candidate costs a forward through the LM head
    text = "\n".join(lines)
    assert "random (no reward) vs plain" in text and "goal <= 1.6" in text and "one pass vs two" in text


def test_plain_stepper_trains_b_windows_of_the_stream_and_nothing_else():
    env = make_tiny(train_batch=2)
    env.reset(seed=0)
    plain = PlainStepper(env, budget=2)
    assert all(w.shape == (2, 32) for w in plain.windows)
    flops = env.unwrapped.learner.flops.total
    plain.step()
    assert env.unwrapped.learner.flops.total - flops == env.unwrapped.learner.flop_model.train(2 * 32)
    assert len(plain.times) == 1 and plain.phases["update"][0] == plain.times[0]
