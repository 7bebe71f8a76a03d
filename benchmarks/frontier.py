"""The compute frontier: final test NLL against total FLOPs (selection included), every agent, one panel per task,
for one or more results folders (tracks: the stream widths W of ``python -m benchmarks.compare``).

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
    from benchmarks.plotting import agent_colors, plot_frontier
    from benchmarks.report import LABEL_NOTE, agent_label, load_results

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
