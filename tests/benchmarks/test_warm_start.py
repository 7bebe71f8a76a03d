"""``python -m benchmarks.warm_start``: the base model's scores against a random init, and each task's room."""

import json

import pytest

from benchmarks import warm_start
from curriculum_env import base_model


def _run(folder, task, agent, seed, start, final):
    run = {"spec": {"task": task, "agent": agent, "seed": seed}, "fingerprint": f"{task}{agent}{seed}",
           "curve": [{"step": 0, "test_nll": start}, {"step": 300, "test_nll": final}], "final_test_nll": final,
           "examples_trained": 1200, "gradient_steps": 300}
    (folder / f"{task}__{agent}__{seed}.json").write_text(json.dumps(run))


def test_room_is_what_the_oracle_and_the_best_agent_gained_on_the_base(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for seed, shift in enumerate((0.0, 0.02)):
        _run(runs, "noisy", "random", seed, 4.9, 5.1 + shift)
        _run(runs, "noisy", "oracle", seed, 4.9, 4.88 + shift)
        _run(runs, "noisy", "soft_q", seed, 4.9, 4.86 + shift)
        _run(runs, "noisy", "rho_loss_labelled", seed, 4.9, 4.5)  # a reference row: never the best agent
    room = warm_start.room(tmp_path)["noisy"]
    assert room["base"] == 4.9 and room["random"] == pytest.approx(5.11) and room["oracle"] == pytest.approx(4.89)
    assert room["best_agent"] == "soft_q" and room["best_agent_nll"] == pytest.approx(4.87)


def test_the_base_model_starts_lower_than_a_random_init(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(base_model, "RECIPE", base_model.BaseRecipe(steps=30, batch_size=16, warmup_steps=3))
    assert warm_start.main(["--tasks", "noisy", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "warm_start.json").read_text())
    scores = report["scores"]["noisy"]
    assert scores["base"]["test_nll"] < scores["random"]["test_nll"] - 1.0  # 30 steps already learn the unigrams
    assert report["base_model"]["tokens_trained"] == 30 * 16 * 64 and report["room"] == {}
    assert "| noisy | base |" in capsys.readouterr().out
