"""Figures of the comparison that take more than a few lines: curves per task, shares per source over
the run, and the SGLD diagnostics of Langevin-RAG (§3.6). :func:`benchmarks.report.plot` decides which
figures a results folder gets."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from benchmarks.runs import number
from benchmarks.stats import iqm_ci


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
