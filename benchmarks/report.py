"""Turn finished runs into the comparison: summary rows, markdown table, CSV/JSON and PNG plots."""

from __future__ import annotations

import csv
import json
import math
import pathlib
from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks.stats import examples_to_reach, gap_closed, iqm, iqm_ci, normalised_auc

BASELINE, ORACLE = "random", "oracle"


def load_results(out: pathlib.Path) -> list[dict[str, Any]]:
    """Every finished run under ``out/runs``."""
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]


def _by(results, *keys):
    groups: dict[tuple, list] = defaultdict(list)
    for r in results:
        groups[tuple(r["spec"][k] for k in keys)].append(r)
    return groups


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (task, agent) rows and per-agent aggregates across tasks."""
    by_task_agent = _by(results, "task", "agent")
    random_final = {(r["spec"]["task"], r["spec"]["seed"]): r["final_test_nll"]
                    for r in results if r["spec"]["agent"] == BASELINE}
    task_mean = {key: float(np.mean([r["final_test_nll"] for r in rs])) for key, rs in by_task_agent.items()}
    rows, improvements = [], defaultdict(list)
    for (task, agent), runs in sorted(by_task_agent.items()):
        finals = [r["final_test_nll"] for r in runs]
        point, lo, hi = iqm_ci(finals)
        reach, improve = [], []
        for r in runs:
            target = random_final.get((task, r["spec"]["seed"]))
            if target is None:
                continue
            xs = [c["examples_streamed"] for c in r["curve"]]
            reach.append(examples_to_reach(xs, [c["test_nll"] for c in r["curve"]], target))
            improve.append(target - r["final_test_nll"])
            improvements[agent].append(target - r["final_test_nll"])
        budget = runs[0]["examples_streamed"]
        reached = [x for x in reach if np.isfinite(x)]
        oracle, rand = task_mean.get((task, ORACLE)), task_mean.get((task, BASELINE))
        rows.append({
            "task": task, "agent": agent, "seeds": len(runs),
            "final_nll_iqm": point, "final_nll_ci_low": lo, "final_nll_ci_high": hi,
            "perplexity": math.exp(point),
            "auc_nll_iqm": iqm([normalised_auc([c["examples_streamed"] for c in r["curve"]],
                                               [c["test_nll"] for c in r["curve"]]) for r in runs]),
            "improvement_over_random_iqm": iqm(improve) if improve else float("nan"),
            "examples_to_random_final_iqm": iqm(reached) if reached else float("nan"),
            "reached_random_final": f"{len(reached)}/{len(reach)}" if reach else "",
            "efficiency_vs_random": (budget / iqm(reached)) if reached else float("nan"),
            "gap_closed": gap_closed(task_mean[(task, agent)], rand, oracle)
            if oracle is not None and rand is not None else float("nan"),
            "examples_streamed": budget,
            "examples_trained": float(np.mean([r["examples_trained"] for r in runs])),
            "tokens_trained": float(np.mean([r["tokens_trained"] for r in runs])),
            "gradient_steps": runs[0]["gradient_steps"],
            "wall_time_s": float(np.mean([r["wall_time"] for r in runs])),
        })
    aggregate = []
    for agent, vals in sorted(improvements.items()):
        point, lo, hi = iqm_ci(vals)
        gaps = [r["gap_closed"] for r in rows if r["agent"] == agent and np.isfinite(r["gap_closed"])]
        aggregate.append({"agent": agent, "runs": len(vals), "improvement_iqm": point, "improvement_ci_low": lo,
                          "improvement_ci_high": hi, "mean_gap_closed": float(np.mean(gaps)) if gaps else float("nan")})
    return {"rows": rows, "aggregate": aggregate}


def _f(x: float, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"


def markdown(summary: dict[str, Any], wall_time: float | None = None) -> str:
    """The comparison as markdown tables (per task, then aggregated over tasks)."""
    lines = ["| task | agent | final test NLL, IQM [95% CI] | ppl | AUC | Δ vs random | examples to random's final "
             "| gap closed | ex. trained | wall s |", "|" + "---|" * 10]
    for r in summary["rows"]:
        lines.append(
            f"| {r['task']} | {r['agent']} | {_f(r['final_nll_iqm'])} [{_f(r['final_nll_ci_low'])}, "
            f"{_f(r['final_nll_ci_high'])}] | {_f(r['perplexity'], 1)} | {_f(r['auc_nll_iqm'])} | "
            f"{_f(r['improvement_over_random_iqm'])} | {_f(r['examples_to_random_final_iqm'], 0)} "
            f"({r['reached_random_final']}) | {_f(r['gap_closed'], 2)} | {r['examples_trained']:.0f} | "
            f"{r['wall_time_s']:.1f} |")
    lines += ["", "Across tasks (improvement = random's final test NLL − agent's, same task and seed; > 0 is better):",
              "", "| agent | runs | improvement, IQM [95% CI] | mean gap closed |", "|---|---|---|---|"]
    for a in summary["aggregate"]:
        lines.append(f"| {a['agent']} | {a['runs']} | {_f(a['improvement_iqm'])} [{_f(a['improvement_ci_low'])}, "
                     f"{_f(a['improvement_ci_high'])}] | {_f(a['mean_gap_closed'], 2)} |")
    if wall_time is not None:
        lines += ["", f"Wall time of this invocation: {wall_time:.0f} s."]
    return "\n".join(lines) + "\n"


def write_tables(out: pathlib.Path, summary: dict[str, Any], results: list[dict[str, Any]], md: str) -> None:
    """``results.md``, ``summary.csv``, ``aggregate.csv``, ``summary.json`` and ``curves.csv``."""
    (out / "results.md").write_text(md)
    for name, rows in (("summary", summary["rows"]), ("aggregate", summary["aggregate"])):
        with open(out / f"{name}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
            w.writeheader()
            w.writerows(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    with open(out / "curves.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "agent", "seed", "step", "examples_streamed", "examples_trained", "test_nll"])
        for r in results:
            for c in r["curve"]:
                w.writerow([r["spec"]["task"], r["spec"]["agent"], r["spec"]["seed"], c["step"],
                            c["examples_streamed"], c["examples_trained"], c["test_nll"]])


def plot(out: pathlib.Path, summary: dict[str, Any], results: list[dict[str, Any]]) -> list[pathlib.Path]:
    """Test-NLL curves with IQM bootstrap bands, improvement bars, soft-Q diagnostics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    tasks = sorted({r["spec"]["task"] for r in results})
    agents = sorted({r["spec"]["agent"] for r in results})
    colors = {a: plt.cm.tab10(i % 10) for i, a in enumerate(agents)}
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for agent in agents:
            runs = [r for r in results if r["spec"]["task"] == task and r["spec"]["agent"] == agent]
            if not runs:
                continue
            n = min(len(r["curve"]) for r in runs)
            x = [c["examples_streamed"] for c in runs[0]["curve"][:n]]
            bands = [iqm_ci([r["curve"][i]["test_nll"] for r in runs], n_resamples=300) for i in range(n)]
            ax.plot(x, [b[0] for b in bands], label=agent, color=colors[agent], lw=1.4)
            ax.fill_between(x, [b[1] for b in bands], [b[2] for b in bands], color=colors[agent], alpha=0.15)
        ax.set(title=task, xlabel="examples streamed", ylabel="test NLL (nats/token)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    paths.append(out / "curves.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(agents) * len(tasks)), 3.8))
    width = 0.8 / max(1, len(agents))
    for j, agent in enumerate(agents):
        vals = [next((r["improvement_over_random_iqm"] for r in summary["rows"]
                      if r["task"] == t and r["agent"] == agent), np.nan) for t in tasks]
        ax.bar(np.arange(len(tasks)) + j * width, vals, width, label=agent, color=colors[agent])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, tasks)
    ax.set(ylabel="final test NLL: random − agent", title="Sample efficiency at equal budget (IQM over seeds)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    paths.append(out / "efficiency.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    soft = [r for r in results if r["spec"]["agent"].startswith("soft_q") and r["diagnostics"]]
    if soft:
        keys = _diagnostic_keys(soft[0]["diagnostics"][0])
        fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.4), squeeze=False)
        for ax, key in zip(axes[0], keys, strict=True):
            for r in soft:
                if r["spec"]["seed"] != soft[0]["spec"]["seed"]:
                    continue
                d = r["diagnostics"]
                ax.plot([row["step"] for row in d], [row.get(key, np.nan) for row in d],
                        label=f"{r['spec']['agent']}/{r['spec']['task']}", lw=1)
            ax.set(title=key, xlabel="step")
            ax.grid(alpha=0.3)
        axes[0][-1].legend(fontsize=6)
        fig.tight_layout()
        paths.append(out / "soft_q_diagnostics.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def _diagnostic_keys(row: dict[str, float]) -> list[str]:
    wanted = []
    for pattern in ("entropy", "effective_batch", "spread", "mass/prose", "mass/needle"):
        match = next((k for k in row if pattern in k and k not in wanted), None)
        if match:
            wanted.append(match)
    return wanted or [k for k in row if k != "step"][:4]
