"""Does the learned Q rank the data that helps? Needle ranking, target-domain mass on ``noisy``, step overhead.

Usage::

    python -m studies.q_ranking needle   --out results/soft_q [--steps 300] [--agent soft_q_paper@beta=0.01]
    python -m studies.q_ranking noisy    --out results/soft_q [--steps 300]
    python -m studies.q_ranking overhead --out results/soft_q [--steps 60]
    python -m studies.q_ranking signal   --out results/soft_q [--steps 300]
    python -m studies.q_ranking all      --out results/soft_q

``--agent`` is an agent spec (:mod:`agents.specs`): a soft-Q preset of ``agents.AGENTS`` (default
``soft_q_paper``, the paper's settings) with any option of ``SoftQAgent`` (``agents.soft_q_config.OPTIONS``);
the env gets the agent's ``action_mode`` and ``env_kwargs`` (e.g. ``paired_reward`` for the gain signal,
``influence_every`` for influence credit), and ``--env`` overrides them in the same ``key=value,...`` syntax.
The gain agent (:data:`GAIN`: select mode, the paired gain, gamma = 0, (h, y) replay; ``docs/what_q_learns.md``)::

    python -m studies.q_ranking needle --seed 0 --tag _gain --agent gain

and ``--agent "gain@credit=reward(signal=gain,norm=0.01),lr=0.003,replay_updates=8"`` for the noisy figure.
Each figure writes ``<name>.csv`` (one row per step) and ``<name>.png`` into ``--out`` and prints
its summary numbers.
"""

from __future__ import annotations

import argparse
import pathlib
import textwrap
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

import curriculum_env  # noqa: F401  (registers CurriculumSelect-v0)
from agents import make_agent
from agents.base import rollout
from agents.specs import parse_options, parse_spec
from benchmarks.csv_table import write_csv
from benchmarks.timers import Stepper

GAIN = {"action_mode": "select", "credit": "reward(signal=gain)", "gamma": 0.0, "replay_size": 2000,
        "replay_updates": 4}
"""The study's ``gain`` agent: the soft-Q agent that learns each window's paired gain from training it alone
(select mode, gamma = 0, (h, y) replay); the configuration that ranks the needle first."""


def study_agent(spec: str):
    """The agent of ``spec``: ``gain[@options]`` (:data:`GAIN` with the options on top) or any agent spec."""
    name, options = parse_spec(spec)
    if name == "gain":
        agent = make_agent("agents.soft_q:SoftQAgent", **{**GAIN, **options})
        agent.name = spec
        return agent
    return make_agent(spec)


def batch_row(step: int, reward: float, sources: np.ndarray, info: dict, metrics: dict) -> dict:
    """The reward, each source's share of the batch the agent acted on (``batch_share/<source>``: a uniform
    policy's mass there) and the agent's metrics."""
    share = {f"batch_share/{label}": float(np.mean(sources == label)) for label in np.unique(sources)}
    return {"step": step, "reward": reward, **share, **metrics}


def run_agent(task: str, steps: int, seed: int, agent: str, env_kw: dict, row: Callable = batch_row) -> list[dict]:
    """Roll the agent of spec ``agent`` on ``task`` with :func:`agents.base.rollout`; one row per step,
    ``row(step, reward, sources, info, metrics)`` with ``sources`` [N] the labels of the batch acted on."""
    env = gym.make("CurriculumSelect-v0", task=task, **env_kw)
    rows: list[dict] = []
    bar = tqdm(total=steps, desc=f"{task} seed {seed}", unit="step", leave=False)
    def on_step(rec) -> None:
        if rec.step:  # the record pairs the batch acted on with the step's info
            rows.append(row(rec.step, rec.reward, np.asarray(rec.acted["source"]), rec.info, rec.metrics))
            bar.update(1)

    rollout(env, study_agent(agent), steps, seed, on_step)
    bar.close()
    env.close()
    return rows


def figure_needle(out: pathlib.Path, steps: int, seed: int, agent: str, env_kw: dict, tag: str) -> dict:
    env_kw = {"num_candidates": 16, **env_kw}
    rows = run_agent("needle", steps, seed, agent, env_kw)
    if "needle/rank" not in rows[0]:
        raise ValueError(f"agent {agent!r} reports no needle/rank metric (soft-Q agents do)")
    n = env_kw["num_candidates"]
    rank = np.array([r["needle/rank"] for r in rows])
    prob = np.array([r["needle/prob"] for r in rows])
    last = slice(max(0, len(rows) - 100), len(rows))
    summary = {"top1_share_last100": float(np.mean(rank[last] == 1)), "mean_prob_last100": float(prob[last].mean()),
               "uniform": 1.0 / n, "mean_rank_last100": float(rank[last].mean()),
               "final_reward": rows[-1]["reward"]}
    write_csv(out / f"needle{tag}.csv", rows)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    steps_ = [r["step"] for r in rows]
    a.plot(steps_, rank, ".", ms=3)
    a.set_ylabel("needle rank (1 = top)")
    a.invert_yaxis()
    b.plot(steps_, prob, label="pi(needle)")
    b.axhline(1.0 / n, color="k", ls="--", label="uniform 1/N")
    b.set_ylabel("policy probability")
    b.set_xlabel("step")
    b.legend()
    a.set_title(textwrap.fill(f"soft-Q on needle (N={n}) {agent}", 110), fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"needle{tag}.png", dpi=120)
    plt.close(fig)
    return summary


def figure_noisy(out: pathlib.Path, steps: int, seed: int, agent: str, env_kw: dict, tag: str) -> dict:
    rows = run_agent("noisy", steps, seed, agent, env_kw)
    # Policy mass on prose vs what a uniform policy puts there (the batch's prose fraction), per step.
    mass = np.array([r.get("mass/prose", 0.0) for r in rows])
    share = np.array([r.get("batch_share/prose", 0.0) for r in rows])
    last = slice(max(0, len(rows) - 100), len(rows))
    summary = {"prose_mass_last100": float(mass[last].mean()), "prose_share_last100": float(share[last].mean()),
               "ratio_last100": float(mass[last].sum() / share[last].sum()),
               "ratio_first100": float(mass[:100].sum() / share[:100].sum()),
               "ratio_all": float(mass.sum() / share.sum()), "final_reward": rows[-1]["reward"]}
    write_csv(out / f"noisy{tag}.csv", rows)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps_ = [r["step"] for r in rows]
    k = 20
    if len(mass) >= k:
        smooth = np.convolve(mass, np.ones(k), "valid") / np.convolve(share, np.ones(k), "valid")
        ax.plot(steps_[k - 1:], smooth, label=f"pi mass on prose / prose share of the batch ({k}-step window)")
    ax.axhline(1.0, color="k", ls="--", label="uniform (= stream share)")
    ax.set_xlabel("step")
    ax.set_ylabel("prose mass / prose share")
    ax.set_title(textwrap.fill(f"soft-Q on noisy {agent}", 110), fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"noisy{tag}.png", dpi=120)
    plt.close(fig)
    return summary


def figure_overhead(out: pathlib.Path, steps: int, seed: int, agent: str, env_kw: dict, tag: str) -> dict:
    """Time of (agent.act + env.step + agent.observe) vs env.step with uniform weights, interleaved.

    Two identical envs, each stepped by a :class:`benchmarks.timers.Stepper`; each round steps both,
    in alternating order, so machine noise hits both arms.
    """
    arms = {"agent": Stepper(env_kw, agent, seed), "uniform": Stepper(env_kw, None, seed)}
    for step in range(1, steps + 1):
        for arm in (("agent", "uniform") if step % 2 else ("uniform", "agent")):
            arms[arm].step()
    rows = [{"step": step, "agent_s": a, "uniform_s": u}
            for step, (a, u) in enumerate(zip(arms["agent"].times, arms["uniform"].times, strict=True), start=1)]
    for stepper in arms.values():
        stepper.env.close()
    warm = rows[5:]  # skip warm-up steps
    a = float(np.median([r["agent_s"] for r in warm]))
    u = float(np.median([r["uniform_s"] for r in warm]))
    ta, tu = sum(r["agent_s"] for r in warm), sum(r["uniform_s"] for r in warm)
    write_csv(out / f"overhead{tag}.csv", rows)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in rows], [r["agent_s"] for r in rows], label="soft-Q step")
    ax.plot([r["step"] for r in rows], [r["uniform_s"] for r in rows], label="uniform-mixture step")
    ax.set_xlabel("step")
    ax.set_ylabel("seconds")
    ax.set_title(f"overhead: median ratio {a / u:.3f}, total ratio {ta / tu:.3f}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"overhead{tag}.png", dpi=120)
    plt.close(fig)
    return {"median_agent_s": a, "median_uniform_s": u, "median_ratio": a / u, "total_ratio": ta / tu}


def figure_signal(out: pathlib.Path, steps: int, seed: int, agent: str, env_kw: dict, tag: str) -> dict:
    """Is there a per-candidate signal to learn? Uniformly random single-window steps on ``noisy``.

    Per step: the source of the trained window, the unpaired reward change r_k - r_{k-1} (different
    D-hat samples) and the paired gain (same D-hat before and after, ``paired_reward=True``). The
    summary gives each source's mean and standard error of both over the first third of the steps.
    The windows are drawn by the random agent in select mode (``--agent`` is ignored).
    """
    def trained_row(step: int, reward: float, sources: np.ndarray, info: dict, metrics: dict) -> dict:
        source = str(sources[int(np.argmax(info["weights"]))])  # select mode: the weights are one-hot on a
        return {"step": step, "source": source, "reward": reward, "gain": info["reward_gain"]}

    env_kw = {**env_kw, "action_mode": "select", "paired_reward": True}
    uniform = "random@action_mode=select"  # a uniformly random window a step
    rows = run_agent("noisy", steps, seed, uniform, env_kw, row=trained_row)
    for k, r in enumerate(rows):  # the unpaired change r_k - r_{k-1}
        r["delta"] = r["reward"] - rows[k - 1]["reward"] if k else float("nan")
    write_csv(out / f"signal{tag}.csv", rows)
    first = rows[1:max(2, len(rows) // 3)]
    summary = {}
    for source in sorted({r["source"] for r in first}):
        for key in ("delta", "gain"):
            x = np.array([r[key] for r in first if r["source"] == source])
            summary[f"{source}/{key}"] = float(x.mean())
            summary[f"{source}/{key}_se"] = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    return summary


FIGURES = {"needle": figure_needle, "noisy": figure_noisy, "overhead": figure_overhead, "signal": figure_signal}
DEFAULT_STEPS = {"needle": 300, "noisy": 300, "overhead": 60, "signal": 300}


def _env_options(text: str) -> dict:
    """``--env``'s ``key=value,...`` (:func:`agents.specs.parse_options`), an argparse error if malformed."""
    try:
        return parse_options(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("figure", choices=[*FIGURES, "all"])
    p.add_argument("--out", default="results/soft_q", help="folder for the CSV and PNG files")
    p.add_argument("--steps", type=int, default=None, help="env steps (default: per figure)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--agent", default="soft_q_paper", metavar="SPEC",
                   help="agent spec, e.g. soft_q_paper@beta=0.1,gamma=0 or gain (default soft_q_paper)")
    p.add_argument("--env", type=_env_options, default={}, metavar="K=V,...",
                   help="env config overrides, e.g. num_candidates=8,paired_reward=True")
    p.add_argument("--tag", default="", help="suffix of the output file names")
    args = p.parse_args(argv)
    try:
        agent = study_agent(args.agent)  # a bad spec fails here, before any figure runs
    except (ValueError, TypeError) as exc:
        p.error(f"--agent: {exc}")
    torch.set_num_threads(1)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env_kw = {"action_mode": agent.action_mode, **getattr(agent, "env_kwargs", {}), **args.env}
    for name in FIGURES if args.figure == "all" else [args.figure]:
        steps = args.steps or DEFAULT_STEPS[name]
        t0 = time.perf_counter()
        summary = FIGURES[name](out, steps, args.seed, args.agent, env_kw, args.tag)
        line = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
        print(f"{name}{args.tag} ({steps} steps, seed {args.seed}, {time.perf_counter() - t0:.0f}s): {line}")


if __name__ == "__main__":
    main()
