"""Turn finished runs into the comparison: summary rows, CSV/JSON and PNG plots; the markdown tables are
:mod:`benchmarks.report_markdown`'s."""

from __future__ import annotations

import math
import pathlib
from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks.csv_table import write_csv
from benchmarks.frontier import plot_frontier, track_names
from benchmarks.label_marks import agent_label
from benchmarks.plotting import (
    agent_colors,
    learning_keys,
    plot_curves,
    plot_diagnostics,
    plot_efficiency,
    plot_needle,
    plot_sgld,
    plot_source_shares,
)
from benchmarks.report_markdown import SUITE_HALVES
from benchmarks.stats import examples_to_reach, gap_closed, iqm, iqm_ci, normalised_auc
from benchmarks.strict_json import number, strict_json
from curriculum_env.data.suite import half_of

BASELINE, ORACLE = "random", "oracle"


def _by(results, *keys):
    groups: dict[tuple, list] = defaultdict(list)
    for r in results:
        groups[tuple(r["spec"][k] for k in keys)].append(r)
    return groups


class UnequalComputeError(ValueError):
    """Runs of one task trained different numbers of examples, took different gradient steps or streamed
    different numbers of windows."""


def check_equal_compute(results: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per task, the examples trained, gradient steps and examples streamed every run shares; raises
    :class:`UnequalComputeError` naming the runs when they differ (no comparison is honest then: an agent that
    looks at more of the stream, or trains more, buys its lead)."""
    budget = {}
    for task, runs in sorted(_by(results, "task").items()):
        seen = defaultdict(list)
        for r in runs:
            key = (r["examples_trained"], r["gradient_steps"], r["examples_streamed"])
            seen[key].append(f"{r['spec']['agent']}/seed {r['spec']['seed']}")
        if len(seen) > 1:
            detail = "; ".join(f"{ex} examples in {st} steps, {streamed} streamed: {', '.join(names[:4])}"
                               + (f" and {len(names) - 4} more" if len(names) > 4 else "")
                               for (ex, st, streamed), names in sorted(seen.items(), key=lambda kv: str(kv[0])))
            raise UnequalComputeError(f"task {task[0]!r}: runs trained or streamed different amounts ({detail}); "
                                      "refusing to compare them")
        (examples, steps, streamed), = seen
        budget[task[0]] = {"examples_trained": examples, "gradient_steps": steps, "examples_streamed": streamed,
                           "train_batch": runs[0].get("train_batch"), "splits": runs[0].get("splits")}
    return budget


def _seed_ratios(runs, baseline, value) -> list[float]:
    """``value(run, baseline_run)`` for each run whose seed the baseline also ran."""
    return [value(r, baseline[r["spec"]["seed"]]) for r in runs if r["spec"]["seed"] in baseline]


def _nll(run: dict[str, Any]) -> list[float]:
    return [number(c["test_nll"]) for c in run["curve"]]


def _efficiency(run: dict[str, Any], base: dict[str, Any]) -> float:
    """Random's examples trained / the examples ``run`` needs to reach random's final test NLL (nan: never)."""
    xs = [c["examples_trained"] for c in run["curve"]]
    need = examples_to_reach(xs, _nll(run), number(base["final_test_nll"]))
    return base["examples_trained"] / need if np.isfinite(need) and need > 0 else float("nan")


def flops_per_step_vs_plain(run: dict[str, Any]) -> float:
    """The run's model FLOPs per step (selection included) / plain training's: B random windows
    forward and backward, no scoring forward, no reward forward (``6·P`` per trained token)."""
    if run.get("flops") is None or not run.get("plain_step_flops"):
        return float("nan")
    return number(run["flops"]) / run["gradient_steps"] / run["plain_step_flops"]


def _flops_efficiency(run: dict[str, Any], base: dict[str, Any]) -> float:
    """Plain random training's FLOPs to reach random's final test NLL / the FLOPs ``run`` needs (nan: never).

    Plain random training trains what random trains (a uniformly random B of the stream each step) at
    ``plain_step_flops`` a step and nothing else, so its curve is random's and its FLOPs to get there are
    random's steps to get there times ``plain_step_flops``."""
    if "flops" not in run["curve"][-1] or not base.get("plain_step_flops"):
        return float("nan")
    target = number(base["final_test_nll"])
    base_steps = examples_to_reach([c["step"] for c in base["curve"]], _nll(base), target)
    need = examples_to_reach([number(c["flops"]) for c in run["curve"]], _nll(run), target)
    if not base_steps > 0:  # random's final is no lower than where it started (a warm run that lost): undefined
        return float("nan")
    plain = base_steps * base["plain_step_flops"]
    return plain / need if np.isfinite(need) and need > 0 else float("nan")


def _retrieval(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A retrieval agent's row: each source's share of the retrieved candidates (mean over seeds), the
    target's share retrieved against its share of the stream, and the windows it looked at; None for
    agents that retrieve nothing."""
    shares = [{k.removeprefix("retrieved/"): v for k, v in r.get("mean_mass", {}).items()
               if k.startswith("retrieved/")} for r in runs]
    if not all(shares):
        return None
    labels = sorted(set().union(*shares))
    mean = {s: float(np.mean([sh.get(s, 0.0) for sh in shares])) for s in labels}
    target, stream = runs[0].get("target"), runs[0].get("stream_shares", {})
    out: dict[str, Any] = {"retrieved_shares": mean, "target": target}
    if target in stream:
        per_seed = [sh.get(target, 0.0) for sh in shares]
        out.update({"retrieved_target_share": float(np.mean(per_seed)), "stream_target_share": stream[target],
                    "retrieved_target_vs_stream": float(np.mean(per_seed)) / stream[target],
                    "retrieved_target_vs_stream_min": min(per_seed) / stream[target]})
    for key in ("ingested_total", "ring_size"):
        values = [r["windows"][key] for r in runs if key in r.get("windows", {})]
        if values:
            out[f"windows_{key}"] = float(np.mean(values))
    return out


def _trained(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The target domain's share of the windows the env trained (mean over seeds) and of the stream; empty for
    runs recorded without ``trained_share`` or without a target in the stream."""
    target, stream = runs[0].get("target"), runs[0].get("stream_shares", {})
    if target not in stream or not all("trained_share" in r for r in runs):
        return {}
    share = float(np.mean([r["trained_share"].get(target, 0.0) for r in runs]))
    return {"trained_target_share": share, "stream_target_share": stream[target], "target": target}


def _spread(values: list[float]) -> dict[str, Any]:
    point, lo, hi = iqm_ci(values)
    return {"iqm": point, "ci_low": lo, "ci_high": hi, "per_seed": [float(v) for v in values]}


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (task, agent) rows, the needle figure, and per-agent aggregates across tasks.

    Raises :class:`UnequalComputeError` when the runs of a task did not train the same amount.
    """
    budget = check_equal_compute(results)
    by_task_agent = _by(results, "task", "agent")
    baseline = _baseline_runs(results)
    task_mean = {key: float(np.mean([number(r["final_test_nll"]) for r in rs])) for key, rs in by_task_agent.items()}
    rows, needle, improvements, by_half = [], [], defaultdict(list), defaultdict(lambda: defaultdict(list))
    for (task, agent), runs in sorted(by_task_agent.items()):
        base = baseline.get(task, {})
        common = _common_row(task, agent, runs, base, budget[task])
        if all("needle_trained" in r for r in runs):  # D is the needle itself: no test NLL measures it
            needle.append(_needle_row(common, runs))
            continue
        improve = _seed_ratios(runs, base, lambda r, b: number(b["final_test_nll"]) - number(r["final_test_nll"]))
        improvements[agent].extend(improve)
        if half_of(task):
            by_half[half_of(task)][agent].extend(improve)
        rows.append({**common, **_final_nll(runs), **_improvement(improve), **_speedups(runs, base),
                     **_accuracies(runs), "gap_closed": _gap_closed(task, agent, task_mean),
                     "tokens_trained": float(np.mean([r["tokens_trained"] for r in runs]))})
    summary = {"rows": rows, "needle": needle, "aggregate": _aggregate(improvements, rows), "equal_compute": budget,
               "top_q": _top_q(results)}
    aggregate_by_half = {half: _aggregate(by_half[half], [r for r in rows if half_of(r["task"]) == half])
                         for half, _, _ in SUITE_HALVES if half in by_half}
    if aggregate_by_half:  # runs of the generalisation suite: each half's aggregate on its own
        summary["aggregate_by_half"] = aggregate_by_half
    return summary


def _baseline_runs(results: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    """Random's runs (the baseline every row is compared with), task -> seed -> run."""
    baseline: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in results:
        if r["spec"]["agent"] == BASELINE:
            baseline[r["spec"]["task"]][r["spec"]["seed"]] = r
    return baseline


def _common_row(task: str, agent: str, runs: list[dict[str, Any]], base: dict[int, dict[str, Any]],
                budget: dict[str, Any]) -> dict[str, Any]:
    """What every row has, the needle's too: the step's wall time and FLOPs (against random's and plain
    training's), the task's equal-compute budget, the labels read, and the trained and retrieved shares."""
    step_vs_random = _seed_ratios(runs, base, lambda r, b: number(r["step_time"]) / number(b["step_time"]))
    median_vs_random = _seed_ratios(runs, base, lambda r, b: number(r.get("step_time_median"))
                                    / number(b.get("step_time_median")))
    overhead = [number(r["step_time"]) / number(r["plain_step_time"]) for r in runs]
    return {"task": task, "agent": agent, "seeds": len(runs),
            "step_time_ms": 1e3 * iqm([number(r["step_time"]) for r in runs]),
            "step_time_vs_random": iqm(step_vs_random) if step_vs_random else float("nan"),
            "median_step_time_vs_random": iqm(median_vs_random) if median_vs_random else float("nan"),
            "selection_overhead": iqm(overhead),
            "flops_per_step_vs_plain": iqm([flops_per_step_vs_plain(r) for r in runs]),
            "flops_per_step": iqm([number(r.get("flops")) / r["gradient_steps"] for r in runs]),
            "setup_time_s": iqm([number(r["setup_time"]) for r in runs]),
            "examples_streamed": budget["examples_streamed"],
            "reads_labels": runs[0].get("reads_labels"),
            "examples_trained": budget["examples_trained"],
            "gradient_steps": budget["gradient_steps"],
            "wall_time_s": float(np.mean([number(r["wall_time"]) for r in runs])),
            **_trained(runs), **(_retrieval(runs) or {})}


def _needle_row(common: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A needle-task row (D is the needle itself, so no test NLL measures it): the share of steps that trained
    the needle, over the run and its second half, against chance."""
    shares = [r["needle_trained"]["all"] for r in runs]
    late = [r["needle_trained"]["second_half"] for r in runs]
    return {**common, "needle_trained_iqm": iqm(shares), "needle_trained": _spread(shares),
            "needle_trained_second_half_iqm": iqm(late), "chance": runs[0]["needle_trained"]["chance"]}


def _final_nll(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The final test NLL's IQM [95% CI] over seeds, its perplexity, and the IQM of the normalised area under
    the test-NLL curve."""
    point, lo, hi = iqm_ci([number(r["final_test_nll"]) for r in runs])
    return {"final_nll_iqm": point, "final_nll_ci_low": lo, "final_nll_ci_high": hi, "perplexity": math.exp(point),
            "auc_nll_iqm": iqm([normalised_auc([c["examples_trained"] for c in r["curve"]], _nll(r)) for r in runs])}


def _improvement(improve: list[float]) -> dict[str, Any]:
    """The IQM of the per-seed improvements over random (final test NLL), and how many seeds improved."""
    return {"improvement_over_random_iqm": iqm(improve) if improve else float("nan"),
            "improved_seeds": f"{sum(v > 0 for v in improve)}/{len(improve)}" if improve else ""}


def _speedups(runs: list[dict[str, Any]], base: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The speed-ups over random on the seeds random also ran: in examples (IQM over the seeds that reach
    random's final test NLL), adjusted for the step's wall time and for its FLOPs."""
    paired = [r for r in runs if r["spec"]["seed"] in base]
    eff = [_efficiency(r, base[r["spec"]["seed"]]) for r in paired]
    flops_eff = [_flops_efficiency(r, base[r["spec"]["seed"]]) for r in paired]
    adjusted = [e * number(r["plain_step_time"]) / number(r["step_time"]) for e, r in zip(eff, paired, strict=True)]
    reached = [e for e in eff if np.isfinite(e)]
    flops_reached = [e for e in flops_eff if np.isfinite(e)]
    return {"efficiency_vs_random": _spread(reached)["iqm"] if reached else float("nan"),
            "efficiency_vs_random_seeds": _spread(eff),
            "reached_random_final": f"{len(reached)}/{len(eff)}" if eff else "",
            "compute_adjusted_speedup": iqm([a for a in adjusted if np.isfinite(a)]) if adjusted else float("nan"),
            "flops_adjusted_speedup": iqm(flops_reached) if flops_reached else float("nan"),
            "flops_adjusted_speedup_seeds": _spread(flops_eff)}


def _accuracies(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The final multiple-choice and completion accuracies, IQM [95% CI] over seeds, and multiple choice's
    chance."""
    c_point, c_lo, c_hi = iqm_ci([number(r.get("final_choice_accuracy")) for r in runs])
    g_point, g_lo, g_hi = iqm_ci([number(r.get("final_completion_accuracy")) for r in runs])
    return {"choice_accuracy_iqm": c_point, "choice_accuracy_ci_low": c_lo, "choice_accuracy_ci_high": c_hi,
            "choice_chance": runs[0].get("choice_chance", float("nan")),
            "completion_accuracy_iqm": g_point, "completion_accuracy_ci_low": g_lo,
            "completion_accuracy_ci_high": g_hi}


def _gap_closed(task: str, agent: str, task_mean: dict[tuple[str, str], float]) -> float:
    """The share of the random-to-oracle gap in mean final test NLL the agent closes on ``task`` (nan without
    both)."""
    oracle, rand = task_mean.get((task, ORACLE)), task_mean.get((task, BASELINE))
    return gap_closed(task_mean[(task, agent)], rand, oracle) if oracle is not None and rand is not None \
        else float("nan")


def _top_q(results: list[dict[str, Any]]) -> dict[str, Any]:
    """task/agent -> the Q-ranked windows of its lowest seed (early, middle, late), for agents that log them."""
    top_q = {}
    for r in sorted(results, key=lambda r: -r["spec"]["seed"]):
        if r.get("top_q"):
            top_q[f"{r['spec']['task']}/{r['spec']['agent']}"] = r["top_q"]
    return top_q


def _aggregate(improvements: dict[str, list[float]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per agent, the IQM [95% CI] of its per-seed improvements over random and its mean gap closed over ``rows``."""
    aggregate = []
    for agent, vals in sorted(improvements.items()):
        point, lo, hi = iqm_ci(vals)
        gaps = [r["gap_closed"] for r in rows if r["agent"] == agent and np.isfinite(r["gap_closed"])]
        reads = next((r.get("reads_labels") for r in rows if r["agent"] == agent), None)
        aggregate.append({"agent": agent, "reads_labels": reads, "runs": len(vals), "improvement_iqm": point,
                          "improvement_ci_low": lo,
                          "improvement_ci_high": hi, "mean_gap_closed": float(np.mean(gaps)) if gaps else float("nan")})
    return aggregate


def write_tables(out: pathlib.Path, summary: dict[str, Any], results: list[dict[str, Any]], md: str) -> None:
    """``results.md``, ``summary.csv``, ``aggregate.csv`` (and ``aggregate_by_half.csv`` for the generalisation
    suite's halves), ``summary.json`` and ``curves.csv``."""
    (out / "results.md").write_text(md)
    halves = [{"half": half, **row} for half, rows in summary.get("aggregate_by_half", {}).items() for row in rows]
    for name, rows in (("summary", summary["rows"]), ("needle", summary["needle"]),
                       ("aggregate", summary["aggregate"]), ("aggregate_by_half", halves)):
        if not rows:
            continue
        write_csv(out / f"{name}.csv",
                  [{k: (strict_json(v) if isinstance(v, dict) else v) for k, v in row.items()} for row in rows])
    (out / "summary.json").write_text(strict_json(summary, indent=1))  # NaN -> null: strict JSON
    spec_keys, curve_keys = ("task", "agent", "seed"), ("step", "examples_streamed", "examples_trained", "test_nll")
    write_csv(out / "curves.csv", [{**{k: r["spec"][k] for k in spec_keys}, **{k: c[k] for k in curve_keys}}
                                   for r in results for c in r["curve"]], columns=(*spec_keys, *curve_keys))


def plot(out: pathlib.Path, summary: dict[str, Any], results: list[dict[str, Any]]) -> list[pathlib.Path]:
    """Every figure the results support: test-NLL curves against examples trained and against model FLOPs,
    multiple-choice accuracy (IQM bootstrap bands), speed-up bars, the compute frontier (final test NLL against
    total FLOPs, :mod:`benchmarks.frontier`), the needle figure, the learning agents' diagnostics, each agent's
    policy mass and retrieved sources per source, and the SGLD diagnostics.
    Figures follow the metrics the runs logged, not agent names."""
    import matplotlib

    matplotlib.use("Agg")

    paths = []
    tasks = sorted({r["spec"]["task"] for r in results} - {r["task"] for r in summary["needle"]})
    agents = sorted({r["spec"]["agent"] for r in results})
    colors = agent_colors(agents)
    if tasks:
        for name, x_key, y_key, xlabel, ylabel in CURVES:
            if all(any(c.get(x_key) is not None and c.get(y_key) is not None for c in r["curve"])
                   for r in results if r["spec"]["task"] in tasks):
                paths.append(plot_curves(out / name, results, tasks, colors, x_key, y_key, xlabel, ylabel))
        paths.append(plot_efficiency(out / "efficiency.png", summary["rows"], tasks, colors))
        if any(r.get("flops") is not None for r in results if r["spec"]["task"] in tasks):
            paths.append(plot_frontier(out / "frontier.png", {track_names([out], [results])[0]: results}, tasks, colors,
                                       {r["agent"]: agent_label(r) for r in summary["rows"]}))
    if summary["needle"]:
        paths.append(plot_needle(out / "needle.png", summary["needle"], colors))
    learning = [r for r in results if r.get("diagnostics") and learning_keys(r["diagnostics"][0])]
    if learning:
        paths.append(plot_diagnostics(out / "soft_q_diagnostics.png", learning))
    for agent in agents:
        runs = [r for r in results if r["spec"]["agent"] == agent and r.get("diagnostics")]
        for prefix, name, title, ylabel in SHARES:
            if any(k.startswith(prefix) for r in runs for row in r["diagnostics"] for k in row):
                paths.append(plot_source_shares(out / name.format(agent=agent), runs, prefix, title.format(agent=agent),
                                                ylabel))
    sgld = [r for r in results if r.get("diagnostics") and any(k.startswith("langevin/") for k in r["diagnostics"][0])]
    if sgld:
        paths.append(plot_sgld(out / "langevin_diagnostics.png", sgld))
    return paths


CURVES = (("curves.png", "examples_trained", "test_nll", "examples trained", "test NLL (nats/token)"),
          ("curves_flops.png", "flops", "test_nll", "model FLOPs, selection included", "test NLL (nats/token)"),
          ("choice.png", "examples_trained", "choice_accuracy", "examples trained", "multiple-choice accuracy"),
          ("completion.png", "examples_trained", "completion_accuracy", "examples trained", "completion accuracy"))
SHARES = (("mass/", "{agent}_mass.png", "{agent} policy mass", "mass of pi"),  # a policy's mass per source
          ("retrieved/", "retrieval_{agent}.png", "{agent}: sources retrieved", "share of retrieved windows"))
