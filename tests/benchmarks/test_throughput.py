"""Smoke test of ``benchmarks.throughput``'s floor section on a tiny config (a few seconds)."""

import math
import subprocess
import sys

import torch

from benchmarks.throughput import FloorStepper, Stepper, measure_floor, parse_args
from tests.conftest import TINY

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
    assert all(math.isfinite(res[f"{v}_other_ms"]) for v in VARIANTS)
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
    assert parse_args([]).only == ["fused", "agents", "floor", "rss"]
    assert "agents" not in parse_args(["--skip-agents"]).only
    help_text = subprocess.run([sys.executable, "-m", "benchmarks.throughput", "--help"], capture_output=True,
                               text=True, check=True).stdout
    for flag in ("--only", "--budget", "--rounds", "--block", "--threads", "--num-candidates", "--rss-steps"):
        assert flag in help_text
