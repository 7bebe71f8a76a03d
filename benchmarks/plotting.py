"""The comparison's figures, one function each: curves per task, speed-up bars, the needle figure, the
learning agents' diagnostics, shares per source over the run, the SGLD diagnostics of Langevin-RAG
(§3.6) and the compute frontier (:mod:`benchmarks.frontier`). :func:`benchmarks.report.plot` decides which
figures a results folder gets."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from benchmarks.frontier import on_frontier, plain_flops, points
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


TRACK_MARKERS = ("o", "s", "^", "D", "v", "P")
DODGE = 0.015
"""Sideways offset between neighbouring points of one budget (totals within 5%) in the frontier figure, in log
FLOPs (1.5%): the agents at plain training's budget stand side by side instead of on top of each other."""


def spread_sideways(flops: list[float], step: float = DODGE, budget: float = 0.05) -> list[float]:
    """``flops`` with the points of one budget (each within ``budget`` of the cheapest of its group) moved apart
    by ``step`` in log space, in the order given, centred on where they were."""
    order = sorted(range(len(flops)), key=lambda i: flops[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and flops[i] <= flops[groups[-1][0]] * (1 + budget):
            groups[-1].append(i)
        else:
            groups.append([i])
    out = list(flops)
    for group in groups:
        for k, i in enumerate(sorted(group)):
            out[i] = flops[i] * float(np.exp(step * (k - (len(group) - 1) / 2)))
    return out


def plot_frontier(path: pathlib.Path, tracks: dict[str, list[dict[str, Any]]], tasks: list[str], colors: dict,
                  labels: dict[str, str] | None = None) -> pathlib.Path:
    """The compute frontier, one panel per task: each agent's final test NLL (IQM over seeds, 95% CI) against its
    total FLOPs, selection included (IQM, log scale; the top axis in multiples of plain random training's
    total), a marker per track (``tracks``: name -> runs, e.g. ``W = 16``), an agent's tracks joined by a thin
    line, reference rows hollow, and the agents' Pareto frontier (:func:`benchmarks.frontier.on_frontier`) as
    a dashed step line with its agents named. ``labels`` are the legend's agent names (default: the names)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    labels = labels or {}
    pts = points(tracks, tasks)
    markers = dict(zip(tracks, TRACK_MARKERS * len(tracks), strict=False))
    agents = sorted({p.agent for p in pts})
    cols = min(len(tasks), 4)
    rows = -(-len(tasks) // cols)
    spare = rows * cols > len(tasks)  # the legend takes the first empty panel, else goes below the figure
    below = 0.0 if spare else 0.3 + 0.2 * -(-(len(agents) + len(tracks) + 1) // 6)  # inches: rows of six entries
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows + below), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        panel = sorted((p for p in pts if p.task == task), key=lambda p: (p.agent, list(tracks).index(p.track)))
        flags = on_frontier(panel)
        shown = dict(zip(panel, spread_sideways([p.flops for p in panel]), strict=True))
        for agent in sorted({p.agent for p in panel}):
            mine = sorted((p for p in panel if p.agent == agent), key=lambda p: list(tracks).index(p.track))
            color = colors.get(agent, "grey")
            x = [shown[p] for p in mine]
            if len(mine) > 1:
                ax.plot(x, [p.nll for p in mine], color=color, lw=0.8, alpha=0.6, zorder=1)
            for xi, p in zip(x, mine, strict=True):
                ax.errorbar(xi, p.nll, yerr=[[p.nll - p.nll_low], [p.nll_high - p.nll]], color=color,
                            marker=markers[p.track], ms=6, mfc="white" if p.reference else color, mew=1.3,
                            elinewidth=1, capsize=2, zorder=3)
        best = sorted((p for p in panel if flags[p]), key=lambda p: shown[p])
        xs = [p.flops for p in panel]
        if best:
            right = max(xs) * 1.8
            ax.step([shown[p] for p in best] + [right], [p.nll for p in best] + [best[-1].nll], where="post",
                    color="k", ls="--", lw=1, zorder=2)
            for k, p in enumerate(best):  # the cheapest named on its left, where no point stands
                ax.annotate(labels.get(p.agent, p.agent), (shown[p], p.nll), xytext=(-6 if k == 0 else 5, -11),
                            textcoords="offset points", fontsize=7, zorder=4, ha="right" if k == 0 else "left",
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
        ax.set_xscale("log")
        if xs:
            ax.set_xlim(min(xs) / 2.5, max(xs) * 1.8)  # room on the left for the cheapest name
        ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: the top axis reads the multiples
        unit = plain_flops(tracks, task)
        if np.isfinite(unit) and unit > 0:
            top = ax.secondary_xaxis("top", functions=(lambda x, u=unit: x / u, lambda x, u=unit: x * u))
            top.xaxis.set_major_locator(FixedLocator([1, 2, 4, 8, 16, 32, 64]))
            top.xaxis.set_minor_locator(NullLocator())
            top.xaxis.set_minor_formatter(NullFormatter())
            top.xaxis.set_major_formatter(lambda v, _: f"{v:g}×")
            top.tick_params(labelsize=7)
        ax.set_title(task, fontsize=9)
        ax.set(xlabel="total FLOPs, selection included", ylabel="final test NLL (nats/token)")
        ax.grid(alpha=0.3, which="both")
    handles = [Line2D([], [], color=colors.get(a, "grey"), marker="o", ls="", mfc="white" if
                      any(p.agent == a and p.reference for p in pts) else colors.get(a, "grey"),
                      label=labels.get(a, a)) for a in agents]
    handles += [Line2D([], [], color="k", marker=m, mfc="none", ls="", label=t) for t, m in markers.items()]
    handles += [Line2D([], [], color="k", ls="--", lw=1, label="frontier (agents, † not ranked)")]
    title = ("Compute frontier: final test NLL (IQM over seeds, 95% CI) against total FLOPs, selection included "
             "(top axis: × plain random training; points of one budget spread sideways)")
    for ax in axes.flat[len(tasks):]:
        ax.axis("off")
    if spare:
        axes.flat[len(tasks)].legend(handles=handles, loc="center", fontsize=8, ncol=2 if len(handles) > 12 else 1)
    else:
        fig.legend(handles=handles, loc="lower center", fontsize=8, ncol=min(len(handles), 6))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, below / (3.9 * rows + below), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
