"""The comparison's figures, one function each: curves per task, speed-up bars, the needle figure, the
learning agents' diagnostics, shares per source over the run and the SGLD diagnostics of Langevin-RAG
(§3.6); the agents' colours, which every figure shares. The compute frontier's figure is drawn with its
table in :mod:`benchmarks.frontier`. :func:`benchmarks.report.plot` decides which figures a results folder
gets."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from benchmarks.stats import iqm_ci
from benchmarks.strict_json import number


def agent_colors(agents: list[str]) -> dict[str, Any]:
    """A colour per agent, the same in every figure of a results folder: tab10's, then past ten agents tab20b's
    darkest shades and the rest of tab20b (no agent gets a pale tint of another's colour)."""
    import matplotlib.pyplot as plt

    shades = [plt.cm.tab10(i) for i in range(10)] + [plt.cm.tab20b(i) for i in (*range(0, 20, 4), *range(1, 20, 4))]
    return {a: shades[i % len(shades)] for i, a in enumerate(agents)}


def plot_curves(path: pathlib.Path, results: list[dict[str, Any]], tasks: list[str], colors: dict, x_key: str,
                y_key: str, xlabel: str, ylabel: str) -> pathlib.Path:
    """One panel per task: ``y_key`` of each agent's curve points against ``x_key`` (IQM over seeds with
    a bootstrap band; only the points where every seed measured ``y_key``); the multiple-choice panel has
    its chance level."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for agent, color in colors.items():
            runs = [r for r in results if r["spec"]["task"] == task and r["spec"]["agent"] == agent]
            if not runs:
                continue
            n = min(len(r["curve"]) for r in runs)
            points = [i for i in range(n) if all(r["curve"][i].get(y_key) is not None for r in runs)]
            x = [float(np.mean([number(r["curve"][i][x_key]) for r in runs])) for i in points]
            bands = [iqm_ci([number(r["curve"][i][y_key]) for r in runs], n_resamples=300) for i in points]
            ax.plot(x, [b[0] for b in bands], label=agent, color=color, lw=1.4, marker="." if len(x) < 8 else None)
            ax.fill_between(x, [b[1] for b in bands], [b[2] for b in bands], color=color, alpha=0.15)
        chance = next((r.get("choice_chance") for r in results if r.get("choice_chance")), None)
        if y_key == "choice_accuracy" and chance:
            ax.axhline(chance, color="k", lw=0.8, ls="--", label="chance")
        ax.set(title=task, xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_source_shares(path: pathlib.Path, runs: list[dict[str, Any]], prefix: str, title: str,
                       ylabel: str) -> pathlib.Path:
    """The diagnostics ``<prefix><source>`` (a share per source) against steps, mean over seeds, one panel
    per task: the policy's mass (``mass/``) or the retrieved windows (``retrieved/``)."""
    import matplotlib.pyplot as plt

    labels_of = {r["spec"]["task"]: {k for row in r["diagnostics"] for k in row if k.startswith(prefix)}
                 for r in runs}
    tasks = sorted(t for t, labels in labels_of.items() if len(labels) > 1)  # one source: its mass is 1
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(4.5 * max(1, len(tasks)), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=False):
        group = [r["diagnostics"] for r in runs if r["spec"]["task"] == task]
        n = min(len(d) for d in group)
        labels = sorted(labels_of[task])
        steps = [row["step"] for row in group[0][:n]]
        for key in labels:
            ax.plot(steps, np.nanmean([[row.get(key, np.nan) for row in d[:n]] for d in group], axis=0),
                    label=key.removeprefix(prefix), lw=1.4)
        ax.set(title=f"{task}: {title}", xlabel="step", ylabel=ylabel, ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sgld(path: pathlib.Path, runs: list[dict[str, Any]]) -> pathlib.Path:
    """The SGLD diagnostics of §3.6 over the run (mean over seeds), one panel each, one line per agent/task."""
    import matplotlib.pyplot as plt

    keys = ("langevin/q_gain", "langevin/q_tokens", "langevin/entropy", "langevin/max_prob", "langevin/cosine",
            "langevin/jaccard")
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for group in sorted({(r["spec"]["agent"], r["spec"]["task"]) for r in runs}):
            ds = [r["diagnostics"] for r in runs if (r["spec"]["agent"], r["spec"]["task"]) == group]
            n = min(len(d) for d in ds)
            ax.plot([row["step"] for row in ds[0][:n]],
                    np.nanmean([[row.get(key, np.nan) for row in d[:n]] for d in ds], axis=0), lw=1.2,
                    label="/".join(group))
        ax.set(title=key.removeprefix("langevin/"), xlabel="step")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _save(fig: Any, path: pathlib.Path) -> pathlib.Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_efficiency(path: pathlib.Path, rows: list[dict[str, Any]], tasks: list[str], colors: dict) -> pathlib.Path:
    """Speed-up bars per task and agent (IQM, 95% CI), hatched where not every seed reached random's final NLL."""
    import matplotlib.pyplot as plt

    agents = list(colors)
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(agents) * len(tasks)), 3.8))
    width = 0.8 / max(1, len(agents))
    for j, agent in enumerate(agents):
        found = [next((r for r in rows if r["task"] == t and r["agent"] == agent), None) for t in tasks]
        vals = [r["efficiency_vs_random"] if r else np.nan for r in found]
        err = [[max(0.0, v - r["efficiency_vs_random_seeds"]["ci_low"]) if r and np.isfinite(v) else 0.0
                for v, r in zip(vals, found, strict=True)],
               [max(0.0, r["efficiency_vs_random_seeds"]["ci_high"] - v) if r and np.isfinite(v) else 0.0
                for v, r in zip(vals, found, strict=True)]]
        bars = ax.bar(np.arange(len(tasks)) + j * width, vals, width, yerr=err, capsize=2, label=agent,
                      color=colors[agent])
        for bar, r in zip(bars, found, strict=True):
            if r and not all(np.isfinite(r["efficiency_vs_random_seeds"]["per_seed"])):
                bar.set(alpha=0.35, hatch="//")  # the IQM is over the seeds that got there only
    ax.axhline(1, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, tasks)
    ax.set(ylabel="speed-up vs random (× fewer examples)",
           title="Examples to reach random's final test NLL, at equal compute (IQM, 95% CI; "
                 "hatched: not reached in every seed)")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_needle(path: pathlib.Path, rows: list[dict[str, Any]], colors: dict) -> pathlib.Path:
    """Share of steps each agent trained the needle, whole run and second half, against chance (B/N)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(rows)), 3.6))
    ax.bar(range(len(rows)), [r["needle_trained_iqm"] for r in rows],
           color=[colors.get(r["agent"], "grey") for r in rows], label="whole run")
    ax.scatter(range(len(rows)), [r["needle_trained_second_half_iqm"] for r in rows], color="k", zorder=3,
               s=14, label="second half")
    ax.axhline(rows[0]["chance"], color="k", lw=0.8, ls="--", label="chance (B/N)")
    ax.set_xticks(range(len(rows)), [r["agent"] for r in rows], rotation=30, ha="right")
    ax.set(ylim=(0, 1.05), ylabel="share of steps the needle was trained", title="Does the agent find the needle?")
    ax.legend(fontsize=7)
    return _save(fig, path)


LEARNING = ("policy/entropy", "policy/effective_batch", "q/spread")  # what a learned policy reports


def learning_keys(row: dict[str, float]) -> list[str]:
    """The diagnostics of a learned policy in one logged row: its entropy, effective batch and Q spread
    (``policy/*``, ``q/spread``, as the soft-Q agents log them) and its mass on the target (``mass/prose``,
    ``mass/needle``); empty for agents without a learned Q (no ``q/*`` metric)."""
    if not any(k.startswith("q/") for k in row):  # no learned Q: a rule, not a learned policy
        return []
    return [k for k in LEARNING if k in row] + [k for k in ("mass/prose", "mass/needle") if k in row][:1]


def plot_diagnostics(path: pathlib.Path, runs: list[dict[str, Any]]) -> pathlib.Path:
    """The learning agents' diagnostics (:func:`learning_keys` of the first run) over the lowest seed's run,
    one panel per key, one line per agent/task."""
    import matplotlib.pyplot as plt

    keys = learning_keys(runs[0]["diagnostics"][0])
    seed = min(r["spec"]["seed"] for r in runs)
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for r in runs:
            if r["spec"]["seed"] != seed:
                continue
            d = r["diagnostics"]
            ax.plot([row["step"] for row in d], [row.get(key, np.nan) for row in d],
                    label=f"{r['spec']['agent']}/{r['spec']['task']}", lw=1)
        ax.set(title=key, xlabel="step")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6)
    return _save(fig, path)
