"""The harness as a user runs it: a subprocess with a tiny budget, its files, and resume."""

import csv
import json
import subprocess
import sys

import pytest

TINY_ARGS = ["--tasks", "noisy", "--seeds", "2", "--steps", "6", "--eval-every", "3", "--env", "n_layer=1",
             "--env", "n_embd=32", "--env", "num_candidates=8", "--workers", "1"]


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
    splits = summary["equal_compute"]["noisy"].pop("splits")
    assert summary["equal_compute"]["noisy"] == {"examples_trained": 24, "gradient_steps": 6, "examples_streamed": 56,
                                                 "train_batch": 4}
    run = json.loads((out / "runs" / "noisy__random__0.json").read_text())
    assert splits == run["splits"] and 0 < splits["heldout"] <= 256 and 0 < splits["test"] <= 256
    assert f"|D| = {splits['heldout']}, {splits['test']} test windows" in (out / "results.md").read_text()


def test_runs_record_flops_the_schedule_and_the_downstream_metric(finished):
    out, proc = finished
    summary = {r["agent"]: r for r in json.loads((out / "summary.json").read_text())["rows"]}
    for agent in ("random", "oracle"):  # they read nothing: plain random training's cost, exactly
        run = json.loads((out / "runs" / f"noisy__{agent}__0.json").read_text())
        assert run["flops"] == 6 * run["plain_step_flops"] and run["curve"][0]["flops"] == 0
        assert summary[agent]["flops_per_step_vs_plain"] == 1.0
    assert summary["random"]["flops_adjusted_speedup"] == 1.0
    soft = json.loads((out / "runs" / "noisy__soft_q__0.json").read_text())
    # its reference model (trained on D, then a forward of every new candidate) is charged to the run
    assert soft["flops_by_phase"]["flops/agent"] > 0 and summary["soft_q"]["flops_per_step_vs_plain"] > 1
    flops = [c["flops"] for c in soft["curve"]]
    assert flops == sorted(flops) and flops[-1] == soft["flops"]
    measured = [c for c in soft["curve"] if "choice_accuracy" in c]
    assert [c["step"] for c in measured] == [0, 6]  # the first and the last step (choice_every 100 > 6 steps)
    assert all(0 <= c["choice_accuracy"] <= 1 for c in measured) and soft["choice_chance"] == 0.25
    assert [c["step"] for c in soft["curve"] if "completion_accuracy" in c] == [0, 6]
    assert soft["final_completion_accuracy"] == measured[-1]["completion_accuracy"]
    assert (out / "completion.png").stat().st_size > 0 and "completion accuracy" in proc.stdout
    rows = [json.loads(line) for line in open(out / "logs" / "noisy__random__0.jsonl")]
    lrs = [row["lr"] for row in rows]  # cosine: 1 warm-up step (10% of 6) to 2e-3, then down to 10% of it
    assert lrs[0] == pytest.approx(2e-3) and lrs[-1] == pytest.approx(2e-4) and lrs == sorted(lrs, reverse=True)
    assert all(row["reward"] is None for row in rows)  # random reads no reward: none computed
    assert "FLOPs ×plain" in proc.stdout and "MC accuracy (chance 0.25)" in proc.stdout


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


def readme_block(after: str, lang: str) -> str:
    """The first ``lang`` code block of the README after the text ``after``."""
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    return re.search(rf"```{lang}\n(.*?)```", readme[readme.index(after):], re.S).group(1)


# the README's custom agent, used as written, and one that lacks part of the protocol
CUSTOM_AGENT = readme_block("Save this as `my_agent.py`", "python") + '''

class NoObserve:
    action_mode = "mixture"

    def setup(self, env, seed):
        pass

    def act(self, obs, info):
        return np.ones(len(obs), dtype=np.float32)
'''
TASK_FILE = readme_block("a task as `my_task.toml`", "toml")


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    """A user's folder: their own agent module and a task file over their own text files."""
    d = tmp_path_factory.mktemp("user")
    (d / "my_agent.py").write_text(CUSTOM_AGENT)
    (d / "docs").mkdir()
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
    for i in range(120):  # documents hash into stream / held-out / test splits by name
        text = " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(400))
        (d / "docs" / f"doc{i}.txt").write_text(f"Document {i}. {text}.")
    (d / "my_task.toml").write_text(TASK_FILE)
    return d


def run_in(cwd, *args):
    return subprocess.run([sys.executable, "-m", "benchmarks.compare", *args], cwd=cwd, capture_output=True,
                          text=True)


USER_ARGS = ["--seeds", "1", "--steps", "4", "--eval-every", "2", "--env", "n_layer=1", "--env", "n_embd=32",
             "--env", "num_candidates=8", "--no-plots"]


def test_own_agent_with_options_and_task_file_through_the_pool_with_tensorboard(user_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    proc = run_in(user_dir, "--agents", "random,my_agent:Surprise@entropy_weight=0.5,soft_q@beta=0.3,gamma=0",
                  "--tasks", "my_task.toml,noisy", "--workers", "2", "--tensorboard", "--out", "out", *USER_ARGS)
    assert proc.returncode == 0, proc.stderr
    for row in ("| my_task.toml | my_agent:Surprise@entropy_weight=0.5 |", "| noisy | soft_q@beta=0.3,gamma=0 |"):
        assert row in proc.stdout
    run = json.loads((user_dir / "out" / "runs" / "my_task.toml__soft_q@beta=0.3,gamma=0__0.json").read_text())
    assert run["examples_trained"] == 16 and run["spec"]["agent"] == "soft_q@beta=0.3,gamma=0"
    beta = [d["temperature/beta"] for d in run["diagnostics"]]
    assert beta and all(b == pytest.approx(0.3) for b in beta)  # the option reached the worker's agent
    events = EventAccumulator(str(user_dir / "out" / "tensorboard" / "my_task.toml__random__0"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/flops", "eval/test_nll", "time/step", "time/update"} <= tags
    assert "train/reward" not in tags  # random reads no reward, so the env computes none
    assert [e.step for e in events.Scalars("eval/test_nll")] == [2, 4]
    # an agent of the user's, which declares nothing, gets the reward
    run_id = "my_task.toml__my_agent-Surprise@entropy_weight=0.5__0"
    events = EventAccumulator(str(user_dir / "out" / "tensorboard" / run_id))
    events.Reload()
    assert [e.step for e in events.Scalars("train/reward")] == [1, 2, 3, 4]
    logged = [json.loads(line)["reward"] for line in open(user_dir / "out" / "logs" / f"{run_id}.jsonl")]
    assert [e.value for e in events.Scalars("train/reward")] == pytest.approx(logged)


def test_own_agent_runs_on_ray_like_in_the_pool(user_dir):
    pytest.importorskip("ray", reason="the --ray backend needs the [ray] extra")
    args = ["--agents", "random,my_agent:Surprise@entropy_weight=0.5", "--tasks", "my_task.toml", *USER_ARGS]
    pool = run_in(user_dir, *args, "--workers", "1", "--out", "pool")
    ray_run = run_in(user_dir, *args, "--ray", "--out", "ray")
    assert pool.returncode == 0 and ray_run.returncode == 0, pool.stderr + ray_run.stderr
    name = "my_task.toml__my_agent-Surprise@entropy_weight=0.5__0.json"
    a, b = (json.loads((user_dir / d / "runs" / name).read_text()) for d in ("pool", "ray"))
    assert a["curve"] == b["curve"]


@pytest.mark.parametrize("agents, message", [
    ("random,my_agent:Surprise@entropy_wieght=2", "unexpected keyword argument 'entropy_wieght'"),
    ("my_agent:NoObserve", "missing observe"),
    ("my_agent:Nothing", "cannot import 'Nothing' from 'my_agent'"),
    ("gamma=0,random", "comes before any agent name"),
    ("soft_q@beta", "not key=value"),
])
def test_bad_agent_specs_fail_before_any_run(user_dir, agents, message):
    proc = run_in(user_dir, "--agents", agents, "--tasks", "noisy", "--out", "never", *USER_ARGS)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (user_dir / "never").exists()


def test_bad_task_file_fails_before_any_run(user_dir):
    (user_dir / "typo.toml").write_text(TASK_FILE.replace("files =", "filez ="))
    proc = run_in(user_dir, "--agents", "random", "--tasks", "typo.toml", "--out", "never", *USER_ARGS)
    assert proc.returncode == 2 and "sources.docs has unknown keys ['filez']" in proc.stderr
