"""Does the learned Q rank the data that helps? Needle ranking, target-domain mass on ``noisy``, step overhead.

Usage::

    python -m benchmarks.q_ranking needle   --out results/soft_q [--steps 300] [--agent beta=0.01 ...]
    python -m benchmarks.q_ranking noisy    --out results/soft_q [--steps 300]
    python -m benchmarks.q_ranking overhead --out results/soft_q [--steps 60]
    python -m benchmarks.q_ranking signal   --out results/soft_q [--steps 300]
    python -m benchmarks.q_ranking all      --out results/soft_q

``--agent k=v`` overrides any :class:`agents.soft_q.SoftQConfig` field; ``--env k=v`` any env field.
The ``soft_q_gain`` preset (README, "What the soft-Q agent learns")::

    python -m benchmarks.q_ranking needle --seed 0 --tag _gain \
        --agent action_mode=select reward_signal=gain gamma=0.0 replay_size=2000 replay_updates=4 \
        --env action_mode=select paired_reward=True

and with ``reward_norm=0.01 lr=0.003 replay_updates=8`` added to ``--agent`` for the noisy figure.
Each figure writes ``<name>.csv`` (one row per step) and ``<name>.png`` into ``--out`` and prints
its summary numbers.
"""

from __future__ import annotations

import argparse
import ast
import csv
import pathlib
import textwrap
import time

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

import curriculum_env  # noqa: F401  (registers CurriculumSelect-v0)
from agents.soft_q import SoftQAgent


def parse_pairs(pairs: list[str]) -> dict:
    """``["beta=0.1", "td_into_theta=True"]`` -> ``{"beta": 0.1, "td_into_theta": True}``."""
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def write_csv(path: pathlib.Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        fields = list(dict.fromkeys(k for row in rows for k in row))  # union, first-seen order
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)


def run_agent(task: str, steps: int, seed: int, agent_kw: dict, env_kw: dict) -> list[dict]:
    """Roll the soft-Q agent; one row of metrics per step."""
    env = gym.make("CurriculumSelect-v0", task=task, **env_kw)
    agent = SoftQAgent(**agent_kw)
    agent.setup(env, seed)
    obs, info = env.reset(seed=seed)
    rows = []
    for step in tqdm(range(1, steps + 1), desc=f"{task} seed {seed}", unit="step", leave=False):
        sources = np.asarray(info["source"])  # the batch the policy is computed on: a uniform policy's mass
        share = {f"batch_share/{label}": float(np.mean(sources == label)) for label in np.unique(sources)}
        w = agent.act(obs, info)
        m = agent.metrics()  # the policy that produced w (before the reward arrives)
        obs, reward, term, trunc, info = env.step(w)
        agent.observe(reward, obs, info, term, trunc)
        rows.append({"step": step, "reward": reward, **share, **m})
        if term:
            break
    env.close()
    return rows


def figure_needle(out: pathlib.Path, steps: int, seed: int, agent_kw: dict, env_kw: dict, tag: str) -> dict:
    env_kw = {"num_candidates": 16, **env_kw}
    rows = run_agent("needle", steps, seed, agent_kw, env_kw)
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
    a.set_title(textwrap.fill(f"soft-Q on needle (N={n}) {agent_kw or 'paper defaults'}", 110), fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"needle{tag}.png", dpi=120)
    plt.close(fig)
    return summary


def figure_noisy(out: pathlib.Path, steps: int, seed: int, agent_kw: dict, env_kw: dict, tag: str) -> dict:
    rows = run_agent("noisy", steps, seed, agent_kw, env_kw)
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
    ax.set_title(textwrap.fill(f"soft-Q on noisy {agent_kw or 'paper defaults'}", 110), fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"noisy{tag}.png", dpi=120)
    plt.close(fig)
    return summary


def figure_overhead(out: pathlib.Path, steps: int, seed: int, agent_kw: dict, env_kw: dict, tag: str) -> dict:
    """Time of (agent.act + env.step + agent.observe) vs env.step with uniform weights, interleaved.

    Two identical envs; each round steps both, in alternating order, so machine noise hits both arms.
    """
    env_a = gym.make("CurriculumSelect-v0", **env_kw)
    env_u = gym.make("CurriculumSelect-v0", **env_kw)
    agent = SoftQAgent(**agent_kw)
    agent.setup(env_a, seed)
    obs, info = env_a.reset(seed=seed)
    env_u.reset(seed=seed)
    n = env_u.unwrapped.config.num_candidates
    uniform = np.full(n, 1.0 / n, dtype=np.float32)
    rows = []
    for step in range(1, steps + 1):
        times = {}
        for arm in (("agent", "uniform") if step % 2 else ("uniform", "agent")):
            t0 = time.perf_counter()
            if arm == "agent":
                w = agent.act(obs, info)
                obs, r, term, trunc, info = env_a.step(w)
                agent.observe(r, obs, info, term, trunc)
            else:
                env_u.step(uniform)
            times[arm] = time.perf_counter() - t0
        rows.append({"step": step, "agent_s": times["agent"], "uniform_s": times["uniform"]})
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


def figure_signal(out: pathlib.Path, steps: int, seed: int, agent_kw: dict, env_kw: dict, tag: str) -> dict:
    """Is there a per-candidate signal to learn? Uniformly random single-window steps on ``noisy``.

    Per step: the source of the trained window, the unpaired reward change r_k - r_{k-1} (different
    D-hat samples) and the paired gain (same D-hat before and after, ``paired_reward=True``). The
    summary gives each source's mean and standard error of both over the first third of the steps.
    No agent is involved (``--agent`` is ignored).
    """
    env = gym.make("CurriculumSelect-v0", task="noisy", **{**env_kw, "action_mode": "select", "paired_reward": True})
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    rows, prev = [], None
    for step in tqdm(range(1, steps + 1), desc=f"signal seed {seed}", unit="step", leave=False):
        a = int(rng.integers(len(info["source"])))
        source = str(info["source"][a])
        obs, reward, term, trunc, info = env.step(a)
        rows.append({"step": step, "source": source, "reward": reward, "gain": info["reward_gain"],
                     "delta": float("nan") if prev is None else reward - prev})
        prev = reward
        if term:
            break
    env.close()
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("figure", choices=[*FIGURES, "all"])
    p.add_argument("--out", default="results/soft_q", help="folder for the CSV and PNG files")
    p.add_argument("--steps", type=int, default=None, help="env steps (default: per figure)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--agent", nargs="*", default=[], metavar="K=V", help="SoftQConfig overrides")
    p.add_argument("--env", nargs="*", default=[], metavar="K=V", help="env config overrides")
    p.add_argument("--tag", default="", help="suffix of the output file names")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    agent_kw, env_kw = parse_pairs(args.agent), parse_pairs(args.env)
    for name in FIGURES if args.figure == "all" else [args.figure]:
        steps = args.steps or DEFAULT_STEPS[name]
        t0 = time.perf_counter()
        summary = FIGURES[name](out, steps, args.seed, agent_kw, env_kw, args.tag)
        line = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
        print(f"{name}{args.tag} ({steps} steps, seed {args.seed}, {time.perf_counter() - t0:.0f}s): {line}")


if __name__ == "__main__":
    main()
