"""The harness as a user runs it: a subprocess with a tiny budget, its files, and resume."""

import csv
import json
import subprocess
import sys

import pytest

TINY_ARGS = ["--tasks", "noisy", "--seeds", "2", "--steps", "6", "--eval-every", "3", "--n-layer", "1",
             "--n-embd", "32", "--num-candidates", "8", "--workers", "1"]


def compare(out, agents):
    return subprocess.run([sys.executable, "-m", "benchmarks.compare", "--agents", agents, "--out", str(out),
                           *TINY_ARGS], capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    proc = compare(out, "random,oracle,soft_q")
    return out, proc


def test_harness_writes_table_csv_json_and_plots(finished):
    out, proc = finished
    assert "| noisy | soft_q |" in proc.stdout and "Across tasks" in proc.stdout
    for name in ("results.md", "summary.csv", "summary.json", "aggregate.csv", "curves.csv", "curves.png",
                 "efficiency.png", "soft_q_diagnostics.png", "soft_q_mass.png"):
        assert (out / name).stat().st_size > 0, name
    assert len(list((out / "logs").glob("*.jsonl"))) == 6


def test_csv_figures_agree_with_json(finished):
    out, _ = finished
    rows = {(r["task"], r["agent"]): r for r in csv.DictReader(open(out / "summary.csv"))}
    summary = json.loads((out / "summary.json").read_text())
    assert len(rows) == len(summary["rows"]) == 3
    for r in summary["rows"]:
        assert float(rows[(r["task"], r["agent"])]["final_nll_iqm"]) == pytest.approx(r["final_nll_iqm"])
        assert r["examples_streamed"] == 8 * 7  # equal budget: reset batch + 6 steps of N=8
        assert r["examples_trained"] == 4 * 6  # B = 4 of N = 8 per step, the default budget
        assert r["gradient_steps"] == 6
    assert summary["equal_compute"]["noisy"] == {"examples_trained": 24, "gradient_steps": 6, "train_batch": 4}


def test_rerun_skips_finished_runs_and_redoes_missing_ones(finished):
    out, _ = finished
    runs = sorted((out / "runs").glob("*.json"))
    before = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())["final_test_nll"]) for p in runs}
    victim = out / "runs" / "noisy__soft_q__1.json"
    victim.unlink()  # as if the harness was killed before this run finished
    (out / "runs" / ".noisy__random__0.json.tmp999").write_text("{half a fi")  # a torn write is ignored
    proc = compare(out, "random,oracle,soft_q")
    assert "6 runs (5 already finished" in proc.stdout
    after = sorted((out / "runs").glob("*.json"))
    assert [p.name for p in after] == [p.name for p in runs]  # no duplicates
    for p in after:
        mtime, nll = before[p.name]
        assert json.loads(p.read_text())["final_test_nll"] == nll  # same result, recomputed or not
        if p.name != victim.name:
            assert p.stat().st_mtime_ns == mtime  # finished runs were not rerun


def test_unknown_agent_is_a_clear_cli_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--agents", "nope", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown agent 'nope'" in proc.stderr


def test_ray_backend_gives_the_process_pool_results(finished, tmp_path):
    pytest.importorskip("ray", reason="the --ray backend needs the [ray] extra")
    out, _ = finished
    i = TINY_ARGS.index("--workers")
    args = TINY_ARGS[:i] + TINY_ARGS[i + 2:]
    subprocess.run([sys.executable, "-m", "benchmarks.compare", "--agents", "random,soft_q", "--out", str(tmp_path),
                    *args, "--ray", "--no-plots"], capture_output=True, text=True, check=True)
    for name in ("noisy__random__0.json", "noisy__soft_q__1.json"):
        pool, ray_run = (json.loads((d / "runs" / name).read_text()) for d in (out, tmp_path))
        assert ray_run["final_test_nll"] == pool["final_test_nll"]
        assert ray_run["curve"] == pool["curve"]


def test_top_q_holds_the_q_ranked_windows_of_the_batch_acted_on(finished):
    out, proc = finished
    run = json.loads((out / "runs" / "noisy__soft_q__0.json").read_text())
    assert set(run["top_q"]) == {"early", "middle", "late"}
    labels = {"prose", "random", "shuffled", "repeat"}
    for windows in run["top_q"].values():
        assert len(windows) == 3 and all(w["source"] in labels and w["text"] for w in windows)
        qs = [w["q"] for w in windows]
        assert qs == sorted(qs, reverse=True)
    # the early mark is step 1: its windows are the reset batch the agent acted on, whose text is known
    import gymnasium as gym

    import curriculum_env  # noqa: F401

    env = gym.make("CurriculumSelect-v0", task="noisy", n_layer=1, n_embd=32, num_candidates=8, context_length=32,
                   test_size=128, heldout_size=256, reward_batch=16, micro_batch_size=16, train_batch=4)
    _, info = env.reset(seed=0)
    tok = env.unwrapped.data.tokenizer
    first = {tok.decode(ids[:24].tolist()) for ids in info["token_ids"]}
    assert {w["text"] for w in run["top_q"]["early"]} <= first
    assert "What Q ranks first" in proc.stdout
