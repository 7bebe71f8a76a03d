"""The compute frontier: final test NLL against total FLOPs (selection included), every agent, one panel per task,
for one or more results folders (tracks: the stream widths W of ``python -m benchmarks.compare``): its points,
its table and its figure (:func:`plot_frontier`, which :func:`benchmarks.report.plot` draws for one folder too).

Each agent is a point per track: x the IQM over seeds of the run's total ``flops`` (selection included), y the IQM
of its final test NLL with a bootstrap CI. The Pareto frontier of a panel is the set of agents no other agent beats
on both axes; it answers "which agent is best at each budget". Reference rows (``reads_labels == "reference"``,
marked † in the report) are drawn but never ranked, so they are left out of the frontier; the table says whether
the agents' frontier dominates them.

    python -m benchmarks.frontier results/compare results/compare-w128 --out docs/frontier.png
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.stats import iqm, iqm_ci
from benchmarks.strict_json import number

SAME_BUDGET = 0.01
"""Totals within this relative distance count as one budget: an agent whose selection costs a sliver of
training (a classifier's logit per candidate) does not lose the frontier to random for that sliver."""


@dataclass(frozen=True)
class Point:
    """One agent on one track of one task: its seeds' IQMs."""

    task: str
    track: str
    agent: str
    reads_labels: str | None
    flops: float
    """IQM over seeds of the run's total model FLOPs, selection included."""
    nll: float
    """IQM over seeds of the final test NLL, with its 95% bootstrap CI below."""
    nll_low: float
    nll_high: float
    seeds: int

    @property
    def reference(self) -> bool:
        return self.reads_labels == "reference"


def dominates(a: tuple[float, float], b: tuple[float, float], rtol: float = SAME_BUDGET) -> bool:
    """Whether ``a = (flops, nll)`` beats ``b``: at most ``b``'s budget (within ``rtol``) and at most its NLL,
    strictly better on one of them. Equal points dominate neither way."""
    same_or_less = a[0] <= b[0] * (1 + rtol)
    strictly = a[1] < b[1] or a[0] * (1 + rtol) < b[0]
    return same_or_less and a[1] <= b[1] and strictly


def pareto(points: Sequence[tuple[float, float]], rtol: float = SAME_BUDGET) -> list[bool]:
    """For each ``(flops, nll)``, whether no other point dominates it (:func:`dominates`): the lower-left
    envelope, ties kept."""
    return [not any(dominates(q, p, rtol) for j, q in enumerate(points) if j != i) for i, p in enumerate(points)]


def stream_width(runs: list[dict[str, Any]]) -> int | None:
    """W, the candidates streamed per step (``spec.env.num_candidates``, what ``--stream-width`` sets), when
    every run agrees on it; ``None`` otherwise."""
    widths = {r["spec"].get("env", {}).get("num_candidates") for r in runs}
    return widths.pop() if len(widths) == 1 else None


def is_needle(run: dict[str, Any]) -> bool:
    """The needle task: D is the needle window itself, so no test NLL measures it (the report's needle figure)."""
    return "needle_trained" in run


def points(tracks: dict[str, list[dict[str, Any]]], tasks: Sequence[str] | None = None) -> list[Point]:
    """A :class:`Point` per (track, task, agent) with a total FLOPs count, in ``tasks`` (default: every task of
    the runs but the needle)."""
    out = []
    for track, runs in tracks.items():
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in runs:
            if (tasks is None and not is_needle(r)) or (tasks is not None and r["spec"]["task"] in tasks):
                groups[r["spec"]["task"], r["spec"]["agent"]].append(r)
        for (task, agent), group in sorted(groups.items()):
            flops = [number(r.get("flops")) for r in group]
            if not np.isfinite(flops).any():
                continue  # recorded before FLOPs were counted
            nll, lo, hi = iqm_ci([number(r["final_test_nll"]) for r in group])
            out.append(Point(task, track, agent, group[0].get("reads_labels"), iqm(flops), nll, lo, hi, len(group)))
    return out


def on_frontier(panel: Sequence[Point], rtol: float = SAME_BUDGET) -> dict[Point, bool]:
    """For each point of one panel, whether it is on the agents' frontier (reference rows: never)."""
    ranked = [p for p in panel if not p.reference]
    flags = dict(zip(ranked, pareto([(p.flops, p.nll) for p in ranked], rtol), strict=True))
    return {p: flags.get(p, False) for p in panel}


def plain_flops(tracks: dict[str, list[dict[str, Any]]], task: str) -> float:
    """Plain random training's total FLOPs on ``task``: B random windows a step, no selection, ``gradient_steps
    × plain_step_flops`` (IQM over the task's runs of the first track holding it, W = 16 where tracks are ordered
    by width; nan when not recorded). It is the unit of the table and of the figure's top axis."""
    for runs in tracks.values():
        totals = [r["gradient_steps"] * number(r.get("plain_step_flops")) for r in runs if r["spec"]["task"] == task]
        if np.isfinite(totals).any():
            return iqm(totals)
    return float("nan")


def table(panel: Sequence[Point], unit: float, label: Callable[[Point], str] = lambda p: p.agent) -> list[str]:
    """The markdown lines of one panel, cheapest first: total FLOPs as a multiple of ``unit`` (plain random
    training's total), final NLL, and whether the point is on the frontier (a reference row: whether the agents'
    frontier dominates it, or it reaches past the frontier)."""
    flags = on_frontier(panel)
    ranked = [(p.flops, p.nll) for p in panel if not p.reference]
    lines = ["| agent | track | total FLOPs ×plain | final test NLL, IQM [95% CI] | seeds | on frontier |",
             "|---|---|---|---|---|---|"]
    for p in sorted(panel, key=lambda p: (round(p.flops / unit, 2), p.nll, p.agent)):
        if p.reference:
            beaten = any(dominates(q, (p.flops, p.nll)) for q in ranked)
            where = "† not ranked: " + ("dominated" if beaten else "past the frontier")
        else:
            where = "yes" if flags[p] else "no"
        lines.append(f"| {label(p)} | {p.track} | {p.flops / unit:.2f} | {p.nll:.3f} [{p.nll_low:.3f}, "
                     f"{p.nll_high:.3f}] | {p.seeds} | {where} |")
    return lines


def track_names(folders: Sequence[pathlib.Path], runs: Sequence[list[dict[str, Any]]]) -> list[str]:
    """Each folder's track name, ``W = <width>``; the folder's name joins it where two folders share a width or
    a folder's runs disagree on it."""
    widths = [stream_width(rs) for rs in runs]
    return [f"W = {w}" if w is not None and widths.count(w) == 1 else
            (f"W = {w} ({f.name})" if w is not None else f.name) for f, w in zip(folders, widths, strict=True)]


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
    line, reference rows hollow, and the agents' Pareto frontier (:func:`on_frontier`) as a dashed step line
    with its agents named. ``labels`` are the legend's agent names (default: the names)."""
    import matplotlib.pyplot as plt

    labels = labels or {}
    pts = points(tracks, tasks)
    markers = dict(zip(tracks, TRACK_MARKERS * len(tracks), strict=False))
    agents = sorted({p.agent for p in pts})
    rows, cols, spare, below = _grid(len(tasks), len(agents) + len(tracks) + 1)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows + below), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        _frontier_panel(ax, [p for p in pts if p.task == task], task, list(tracks), plain_flops(tracks, task),
                        colors, markers, labels)
    handles = _legend_handles(pts, agents, colors, labels, markers)
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


def _grid(panels: int, entries: int) -> tuple[int, int, bool, float]:
    """The frontier figure's grid for ``panels`` panels, at most four a row: (rows, columns, whether a panel is
    left empty for the legend's ``entries``, the inches below the panels for the legend when none is)."""
    cols = min(panels, 4)
    rows = -(-panels // cols)
    spare = rows * cols > panels  # the legend takes the first empty panel, else goes below the figure
    below = 0.0 if spare else 0.3 + 0.2 * -(-entries // 6)  # inches: rows of six entries
    return rows, cols, spare, below


def _frontier_panel(ax: Any, task_points: list[Point], task: str, track_order: list[str], unit: float,
                    colors: dict, markers: dict[str, str], labels: dict[str, str]) -> None:
    """One task's panel: its agents' points, the agents' frontier with its agents named, a log FLOPs axis and,
    where plain training's total ``unit`` is known, a top axis in multiples of it."""
    from matplotlib.ticker import NullFormatter

    panel = sorted(task_points, key=lambda p: (p.agent, track_order.index(p.track)))
    flags = on_frontier(panel)
    shown = dict(zip(panel, spread_sideways([p.flops for p in panel]), strict=True))
    _draw_points(ax, panel, shown, track_order, colors, markers)
    best = sorted((p for p in panel if flags[p]), key=lambda p: shown[p])
    xs = [p.flops for p in panel]
    if best:
        _draw_frontier_line(ax, best, shown, max(xs) * 1.8, labels)
    ax.set_xscale("log")
    if xs:
        ax.set_xlim(min(xs) / 2.5, max(xs) * 1.8)  # room on the left for the cheapest name
    ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: the top axis reads the multiples
    if np.isfinite(unit) and unit > 0:
        _multiples_axis(ax, unit)
    ax.set_title(task, fontsize=9)
    ax.set(xlabel="total FLOPs, selection included", ylabel="final test NLL (nats/token)")
    ax.grid(alpha=0.3, which="both")


def _draw_points(ax: Any, panel: list[Point], shown: dict[Point, float], track_order: list[str], colors: dict,
                 markers: dict[str, str]) -> None:
    """Each agent's points of one panel at their ``shown`` x: NLL with its CI, the track's marker (hollow for a
    reference row), an agent's tracks joined by a thin line."""
    for agent in sorted({p.agent for p in panel}):
        mine = sorted((p for p in panel if p.agent == agent), key=lambda p: track_order.index(p.track))
        color = colors.get(agent, "grey")
        x = [shown[p] for p in mine]
        if len(mine) > 1:
            ax.plot(x, [p.nll for p in mine], color=color, lw=0.8, alpha=0.6, zorder=1)
        for xi, p in zip(x, mine, strict=True):
            ax.errorbar(xi, p.nll, yerr=[[p.nll - p.nll_low], [p.nll_high - p.nll]], color=color,
                        marker=markers[p.track], ms=6, mfc="white" if p.reference else color, mew=1.3,
                        elinewidth=1, capsize=2, zorder=3)


def _draw_frontier_line(ax: Any, best: list[Point], shown: dict[Point, float], right: float,
                        labels: dict[str, str]) -> None:
    """The frontier's points ``best`` (left to right) as a dashed step line out to ``right``, each agent named."""
    ax.step([shown[p] for p in best] + [right], [p.nll for p in best] + [best[-1].nll], where="post",
            color="k", ls="--", lw=1, zorder=2)
    for k, p in enumerate(best):  # the cheapest named on its left, where no point stands
        ax.annotate(labels.get(p.agent, p.agent), (shown[p], p.nll), xytext=(-6 if k == 0 else 5, -11),
                    textcoords="offset points", fontsize=7, zorder=4, ha="right" if k == 0 else "left",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})


def _multiples_axis(ax: Any, unit: float) -> None:
    """A top axis reading total FLOPs as multiples of ``unit`` (plain random training's total): 1×, 2×, 4×..."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    top = ax.secondary_xaxis("top", functions=(lambda x, u=unit: x / u, lambda x, u=unit: x * u))
    top.xaxis.set_major_locator(FixedLocator([1, 2, 4, 8, 16, 32, 64]))
    top.xaxis.set_minor_locator(NullLocator())
    top.xaxis.set_minor_formatter(NullFormatter())
    top.xaxis.set_major_formatter(lambda v, _: f"{v:g}×")
    top.tick_params(labelsize=7)


def _legend_handles(pts: list[Point], agents: list[str], colors: dict, labels: dict[str, str],
                    markers: dict[str, str]) -> list[Any]:
    """The frontier figure's legend: a dot per agent (hollow for a reference row), a marker per track, and the
    frontier's dashed line."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors.get(a, "grey"), marker="o", ls="", mfc="white" if
                      any(p.agent == a and p.reference for p in pts) else colors.get(a, "grey"),
                      label=labels.get(a, a)) for a in agents]
    handles += [Line2D([], [], color="k", marker=m, mfc="none", ls="", label=t) for t, m in markers.items()]
    handles += [Line2D([], [], color="k", ls="--", lw=1, label="frontier (agents, † not ranked)")]
    return handles


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.frontier", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=pathlib.Path, metavar="FOLDER",
                   help="results folders of benchmarks.compare (each with runs/*.json), one track each")
    p.add_argument("--out", type=pathlib.Path, default=None, help="the PNG to write (default FOLDER/frontier.png, "
                                                                   "the first folder)")
    p.add_argument("--tasks", default=None, help="comma-separated tasks (default: every task but the needle)")
    p.add_argument("--agents", default=None, help="comma-separated agents (default: every agent)")
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    args.agents = [a.strip() for a in args.agents.split(",") if a.strip()] if args.agents else None
    args.out = args.out or args.folders[0] / "frontier.png"
    args.error = p.error
    return args


def main(argv: list[str] | None = None) -> int:
    from benchmarks.label_marks import LABEL_NOTE, agent_label
    from benchmarks.plotting import agent_colors
    from benchmarks.runs import load_results

    args = parse_args(argv)
    loaded = []
    for folder in args.folders:
        runs = load_results(folder)
        if not runs:
            args.error(f"{folder} holds no runs (no {folder / 'runs'}/*.json): give results folders written by "
                       "python -m benchmarks.compare")
        print(f"{folder}: {len(runs)} runs, W = {stream_width(runs)}", file=sys.stderr)
        loaded.append(runs)
    named = sorted(zip(track_names(args.folders, loaded), loaded, strict=True),
                   key=lambda kv: (stream_width(kv[1]) is None, stream_width(kv[1]) or 0))  # narrowest first
    for wanted, key in ((args.tasks, "task"), (args.agents, "agent")):
        missing = sorted(set(wanted or ()) - {r["spec"][key] for _, runs in named for r in runs})
        if missing:
            args.error(f"no runs of {key} {', '.join(missing)} in {', '.join(map(str, args.folders))}")
    tracks = {name: [r for r in runs if args.agents is None or r["spec"]["agent"] in args.agents]
              for name, runs in named}
    pts = points(tracks, args.tasks)
    if not pts:
        args.error("no runs with total FLOPs and a test NLL in the folders, --tasks and --agents given")
    tasks = args.tasks or sorted({p.task for p in pts})
    labels = {p.agent: agent_label({"agent": p.agent, "reads_labels": p.reads_labels}) for p in pts}
    for task in tasks:
        unit = plain_flops(tracks, task)
        print(f"\n{task} (×plain: ÷ {unit:.4g} FLOPs, plain random training's total)\n")
        print("\n".join(table([p for p in pts if p.task == task], unit, lambda p: labels[p.agent])))
    print(f"\nOn frontier: no other agent reaches a lower final test NLL at no more total FLOPs (within "
          f"{SAME_BUDGET:.0%}); reference rows are never ranked. {LABEL_NOTE}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_frontier(args.out, tracks, tasks, agent_colors(sorted(labels)), labels)
    print(f"Written {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
