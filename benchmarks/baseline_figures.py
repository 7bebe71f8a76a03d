"""Figures of the baseline agents (issue 4), written as CSV/PNG into ``--out``.

    python -m benchmarks.baseline_figures                      # both figures (~10 min on one core)
    python -m benchmarks.baseline_figures --only step_time
    python -m benchmarks.baseline_figures --only noisy --seeds 0 1 2 --steps 250

1. **Step time** of the loss- and uncertainty-based agents over random (goal <= 1.05): three envs of
   the same default config stepped in alternating blocks in one run (:mod:`benchmarks.throughput`),
   medians of per-step wall time (``act`` + ``env.step``) compared.
2. **Noisy task**: every baseline (and the oracle) trains for ``--steps`` steps per seed; the test
   NLL (``env.unwrapped.evaluate("test")``) is probed every ``--eval-every`` steps. For each agent:
   final test NLL (IQM and 95% bootstrap CI over seeds), examples streamed until the NLL first
   reaches random's final NLL of the same seed, and the share of the random -> oracle gap closed.
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import time

import gymnasium as gym
import numpy as np
import torch

import curriculum_env  # noqa: F401
from agents import make_agent, rollout
from benchmarks.stats import examples_to_reach, gap_closed, iqm_ci
from benchmarks.throughput import Stepper, interleaved, ratio_line

NOISY_AGENTS = ["random", "loss", "loss_soft", "uncertainty", "uncertainty_soft", "competence", "rho_loss",
                "rho_loss@top_k=4", "oracle"]
# The test fixture's tiny model (1 layer, d = 32, L = 32) with N = 16 and a 256-window test split.
NOISY_ENV = dict(task="noisy", num_candidates=16, context_length=32, heldout_size=64, test_size=256,
                 reward_batch=8, n_layer=1, n_head=2, n_embd=32, micro_batch_size=16)


def write_csv(path: pathlib.Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def figure_step_time(out: pathlib.Path, rounds: int, block: int) -> dict[str, float]:
    """Median step time of random, loss and uncertainty agents, interleaved, default env config."""
    steppers = {name: Stepper({}, name) for name in ("random", "loss", "uncertainty")}
    med = interleaved(steppers, rounds=rounds, block=block)
    rows = [{"agent": k, "median_step_s": v, "ratio_vs_random": v / med["random"], "steps": len(steppers[k].times)}
            for k, v in med.items()]
    write_csv(out / "step_time.csv", rows)
    for k in ("loss", "uncertainty"):
        print(ratio_line(f"{k} agent step / random agent step", med[k], med["random"], 1.05))
    return {f"ratio/{k}": med[k] / med["random"] for k in ("loss", "uncertainty")}


def make_variant(spec: str):
    """An agent from ``name`` or ``name@key=value,key=value`` (values parsed as JSON, else strings)."""
    name, _, opts = spec.partition("@")
    kwargs = {}
    for pair in filter(None, opts.split(",")):
        key, _, value = pair.partition("=")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return make_agent(name, **kwargs)


def run_curve(name: str, seed: int, steps: int, eval_every: int, env_kw: dict) -> list[dict]:
    """Test NLL every ``eval_every`` steps of one agent (``name`` or ``name@key=value``) on one seed."""
    agent = make_variant(name)
    env = gym.make("CurriculumSelect-v0", **{**env_kw, "action_mode": agent.action_mode})
    points: list[dict] = []
    t0 = time.perf_counter()

    def on_step(step: int, reward: float, info: dict, metrics: dict) -> None:
        if step % eval_every == 0 or step == steps:
            points.append({"agent": name, "seed": seed, "step": step, "examples_streamed": info["examples_streamed"],
                           "examples_trained": info["examples_trained"], "test_nll": env.unwrapped.evaluate("test"),
                           "wall_s": time.perf_counter() - t0})

    rollout(env, agent, steps, seed, on_step)
    env.close()
    return points


def figure_noisy(out: pathlib.Path, agents: list[str], seeds: list[int], steps: int, eval_every: int) -> list[dict]:
    curves: list[dict] = []
    for seed in seeds:
        for name in agents:
            t0 = time.perf_counter()
            curves += run_curve(name, seed, steps, eval_every, NOISY_ENV)
            print(f"  {name:<18} seed {seed}: final test NLL {curves[-1]['test_nll']:.4f} "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    write_csv(out / "noisy_curves.csv", curves)

    def curve(name, seed):
        return [p for p in curves if p["agent"] == name and p["seed"] == seed]

    final = {(p["agent"], p["seed"]): p["test_nll"] for p in curves if p["step"] == steps}
    summary = []
    for name in agents:
        finals = [final[name, s] for s in seeds]
        reach = [examples_to_reach([p["examples_streamed"] for p in curve(name, s)],
                 [p["test_nll"] for p in curve(name, s)], final["random", s]) for s in seeds]
        reach_random = [examples_to_reach([p["examples_streamed"] for p in curve("random", s)],
                        [p["test_nll"] for p in curve("random", s)], final["random", s]) for s in seeds]
        point, lo, hi = iqm_ci(finals)
        gaps = [gap_closed(final[name, s], final["random", s], final["oracle", s]) for s in seeds] \
            if "oracle" in agents else [float("nan")]
        summary.append({
            "agent": name, "final_nll_iqm": point, "ci_low": lo, "ci_high": hi,
            "final_nll_per_seed": " ".join(f"{x:.4f}" for x in finals),
            "delta_vs_random_mean": float(np.mean([final[name, s] - final["random", s] for s in seeds])),
            "examples_to_random_final": " ".join(f"{x:.0f}" for x in reach),
            "seeds_reaching": int(np.sum(np.isfinite(reach))),
            "speedup_vs_random_median": float(np.nanmedian(np.array(reach_random) / np.array(reach)))
            if np.isfinite(reach).any() else float("nan"),
            "gap_closed_mean": float(np.nanmean(gaps)) if np.isfinite(gaps).any() else float("nan"),
        })
    write_csv(out / "noisy_summary.csv", summary)
    _plot(out, curves, agents, seeds)
    return summary


def _plot(out: pathlib.Path, curves: list[dict], agents: list[str], seeds: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in agents:
        rows = [[p for p in curves if p["agent"] == name and p["seed"] == s] for s in seeds]
        x = [p["examples_streamed"] for p in rows[0]]
        y = np.mean([[p["test_nll"] for p in r] for r in rows], axis=0)
        ax.plot(x, y, label=name, lw=2.5 if name in ("random", "oracle") else 1.2)
    ax.set_xlabel("examples streamed")
    ax.set_ylabel(f"test NLL (mean of {len(seeds)} seeds)")
    ax.set_title("noisy task: baselines")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "noisy_curves.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="results/baselines", help="folder for CSV/PNG output")
    p.add_argument("--only", choices=["step_time", "noisy"], help="run one figure only")
    p.add_argument("--rounds", type=int, default=6, help="step-time: alternating rounds")
    p.add_argument("--block", type=int, default=10, help="step-time: steps per agent per round")
    p.add_argument("--agents", nargs="+", default=NOISY_AGENTS, help="noisy: agents (random first is required)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="noisy: seeds")
    p.add_argument("--steps", type=int, default=250, help="noisy: env steps per run")
    p.add_argument("--eval-every", type=int, default=25, help="noisy: steps between test-NLL probes")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    t0 = time.perf_counter()
    if args.only in (None, "step_time"):
        print("step time (default env config, interleaved):")
        results["step_time"] = figure_step_time(out, args.rounds, args.block)
    if args.only in (None, "noisy"):
        if "random" not in args.agents:
            raise SystemExit("--agents must include random (the reference curve)")
        print(f"noisy task: {args.steps} steps x seeds {args.seeds}, env {NOISY_ENV}")
        results["noisy"] = figure_noisy(out, args.agents, args.seeds, args.steps, args.eval_every)
        cols = ["agent", "final_nll_iqm", "ci_low", "ci_high", "delta_vs_random_mean", "examples_to_random_final",
                "speedup_vs_random_median", "gap_closed_mean"]
        print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
        for row in results["noisy"]:
            print("| " + " | ".join(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
    results["wall_s"] = time.perf_counter() - t0
    (out / "baseline_figures.json").write_text(json.dumps(results, indent=2, default=float))
    print(f"wrote {out} in {results['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
