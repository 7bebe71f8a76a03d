"""The comparison as markdown: the per-task tables (a table per half of the generalisation suite), the needle
figure, the aggregates, what was trained, retrieval and what Q ranks first, with the note defining each column.
It renders the summary :func:`benchmarks.report.summarise` builds."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.label_marks import LABEL_NOTE, agent_label
from curriculum_env.data.suite import HALVES, half_of

# The report's heading for each half of curriculum_env.data.suite.HALVES (which tasks are in which half is said
# there, once): each half present gets its own table and aggregate.
HALF_HEADINGS = {
    "tuning": "Generalisation suite, tuning half (methods may be tuned on these tasks)",
    "held-out": "Generalisation suite, held-out half (never tuned on: a method generalises only if it wins here)",
    "fresh held-out": "Fresh held-out set (fixed before the cheap-input soft_q was tuned, never tuned on)",
}
SUITE_HALVES = tuple((half, HALVES[half], HALF_HEADINGS[half]) for half in HALVES)
"""(half, its tasks, its heading) for each half, in the suite's order."""


def _f(x: float, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"


def markdown(summary: dict[str, Any], wall_time: float | None = None) -> str:
    """The comparison as markdown tables (per task, the needle figure, then aggregated over tasks). Tasks of the
    generalisation suite (``SUITE_HALVES``) get a table per half, each under its own heading, after the other
    tasks' table, and an aggregate per half after the aggregate over all tasks."""
    lines = [_equal_compute_line(summary["equal_compute"]), ""]
    lines += _nll_tables(summary["rows"])
    lines += _needle_table(summary["needle"])
    lines += _aggregate_tables(summary)
    lines += _trained_table(summary["rows"])
    lines += _retrieval_table(summary["rows"])
    lines += _top_q_table(summary.get("top_q"))
    lines += ["", FOOTNOTE]
    if wall_time is not None:
        lines += ["", f"Wall time of this invocation: {wall_time:.0f} s."]
    return "\n".join(lines) + "\n"


FOOTNOTE = (
    "speed-up = random's examples trained ÷ the examples the agent needs to reach random's final test "
    "NLL. FLOPs ×plain = the agent's model FLOPs per step, selection included (scoring, reward and probe "
    "forwards, its own models), ÷ plain training on B random windows (6·P per trained token, no scoring, "
    "no reward; `random` reads nothing, so it is plain random training: 1.00). FLOPs-adj. speed-up = plain "
    "random training's FLOPs to reach random's final test NLL ÷ the agent's (> 1: selection saves more "
    "compute than it costs). MC accuracy: multiple-choice continuation on the test split at the last step "
    "(a test window's first half, its own second half among others'; IQM over seeds [95% CI]). completion "
    "accuracy: the share of the test windows' second-half tokens that the LM's top guess, given the true "
    "tokens before it, gets right (greedy completion; IQM [95% CI]). "
    "step ×plain (wall) = the agent's step time ÷ a plain training step timed on the same model at the "
    "end of the run (wall clock, machine-dependent). trained / streamed = examples trained and windows "
    "streamed per run, equal for every row of a task (checked). " + LABEL_NOTE)
"""The note under the tables: what each column means."""


def _equal_compute_line(equal_compute: dict[str, dict[str, Any]]) -> str:
    """The report's first line: per task, the examples, steps and windows every run shared (and the splits)."""
    return "Equal compute: " + "; ".join(
        f"{task}: {b['examples_trained']} examples in {b['gradient_steps']} steps"
        + (f" (B = {b['train_batch']} per step)" if b.get("train_batch") else " (all N per step)")
        + f", {b['examples_streamed']} windows streamed"
        + (f", |D| = {b['splits']['heldout']}, {b['splits']['test']} test windows" if b.get("splits") else "")
        for task, b in equal_compute.items()) + "."


def _nll_tables(all_rows: list[dict[str, Any]]) -> list[str]:
    """The per (task, agent) tables: the tasks outside the generalisation suite, then each half of the suite
    under its own heading (a heading for the other tasks only when there are both)."""
    chance = next((r["choice_chance"] for r in all_rows if np.isfinite(r.get("choice_chance", np.nan))), None)
    others = [r for r in all_rows if half_of(r["task"]) is None]
    lines: list[str] = []
    if others and len(others) < len(all_rows):
        lines += ["### Tasks outside the generalisation suite", ""]
    if others or not all_rows:
        lines += _nll_table(others, chance)
    for half, _, heading in SUITE_HALVES:  # each half of the generalisation suite in a table of its own
        rows = [r for r in all_rows if half_of(r["task"]) == half]
        if rows:  # a blank line before the heading unless it comes first
            lines += (["", f"### {heading}", ""] if lines else [f"### {heading}", ""]) + _nll_table(rows, chance)
    return lines


def _needle_table(needle: list[dict[str, Any]]) -> list[str]:
    """The needle figure's table: the share of steps each agent trained the needle (none without needle rows)."""
    if not needle:
        return []
    lines = ["", "Needle (D is the needle window itself, so no test NLL measures the task): share of steps "
             "the agent trained the needle.", "",
             "| agent | needle trained, IQM over seeds | second half of the run | chance (B/N) | step ×random |",
             "|---|---|---|---|---|"]
    for r in needle:
        lines.append(f"| {agent_label(r)} | {_f(r['needle_trained_iqm'], 2)} | "
                     f"{_f(r['needle_trained_second_half_iqm'], 2)} | {_f(r['chance'], 2)} | "
                     f"{_f(r['step_time_vs_random'], 2)} |")
    return lines


def _aggregate_tables(summary: dict[str, Any]) -> list[str]:
    """The aggregate over all tasks, then one per half of the generalisation suite (or the fresh set) present."""
    lines = ["", "Across tasks (improvement = random's final test NLL − agent's, same task and seed; > 0 is better):",
             ""] + _aggregate_table(summary["aggregate"])
    for half, _, _ in SUITE_HALVES:
        if half in summary.get("aggregate_by_half", {}):
            where = "set" if half.startswith("fresh") else "half of the generalisation suite"
            lines += ["", f"Across the {half} {where} only:", ""] \
                + _aggregate_table(summary["aggregate_by_half"][half])
    return lines


def _top_q_table(top_q: dict[str, Any] | None) -> list[str]:
    """What Q ranks first: the 3 highest-Q candidates early, midway and late in each run that logged them (paper
    §4.3); none without them."""
    if not top_q:
        return []
    lines = ["", "What Q ranks first (lowest seed; the 3 highest-Q candidates early, midway and late in the run, "
             "paper §4.3):", "", "| task/agent | when | Q | source | text |", "|---|---|---|---|---|"]
    for key, marks in sorted(top_q.items()):
        for when in ("early", "middle", "late"):
            for w in marks.get(when, []):
                text = " ".join(w["text"].split())[:60].replace("|", "\\|")
                lines.append(f"| {key} | {when} | {w['q']:.3f} | {w['source']} | {text} |")
    return lines


def _nll_table(rows: list[dict[str, Any]], chance: float | None) -> list[str]:
    """The markdown lines of the per (task, agent) table of ``rows``."""
    lines = ["| task | agent | final test NLL, IQM [95% CI] | Δ vs random (seeds > 0) | speed-up vs random "
             "(seeds reaching) | gap closed | FLOPs ×plain | FLOPs-adj. speed-up | "
             f"MC accuracy{f' (chance {chance:.2f})' if chance else ''} | completion accuracy | step ×plain (wall) | "
             "wall s | trained / streamed |", "|" + "---|" * 13]
    for r in sorted(rows, key=lambda r: (r["task"], r.get("reads_labels") == "reference", r["agent"])):
        e = r["efficiency_vs_random_seeds"]
        lines.append(
            f"| {r['task']} | {agent_label(r)} | {_f(r['final_nll_iqm'])} [{_f(r['final_nll_ci_low'])}, "
            f"{_f(r['final_nll_ci_high'])}] | {_f(r['improvement_over_random_iqm'])} ({r['improved_seeds']}) | "
            f"{_f(r['efficiency_vs_random'], 2)}× [{_f(e['ci_low'], 2)}, {_f(e['ci_high'], 2)}] "
            f"({r['reached_random_final']}) | {_f(r['gap_closed'], 2)} | {_f(r['flops_per_step_vs_plain'], 2)} | "
            f"{_f(r['flops_adjusted_speedup'], 2)}× | {_f(r['choice_accuracy_iqm'], 3)} "
            f"[{_f(r['choice_accuracy_ci_low'], 3)}, {_f(r['choice_accuracy_ci_high'], 3)}] | "
            f"{_f(r['completion_accuracy_iqm'], 3)} [{_f(r['completion_accuracy_ci_low'], 3)}, "
            f"{_f(r['completion_accuracy_ci_high'], 3)}] | {_f(r['selection_overhead'], 2)} | {r['wall_time_s']:.1f} | "
            f"{r['examples_trained']} / {r['examples_streamed']} |")
    return lines


def _trained_table(rows: list[dict[str, Any]]) -> list[str]:
    """The target domain's share of what each agent trained, a row per task and a column per agent."""
    rows = [r for r in rows if "trained_target_share" in r and r["stream_target_share"] < 1]  # a choice to make
    if not rows:
        return []
    agents = sorted({r["agent"] for r in rows})
    lines = ["", "What was trained (mean over seeds): the target domain's share of the windows each agent trained, "
             "against its share of the stream.", "",
             "| task | target | stream share | " + " | ".join(agents) + " |", "|" + "---|" * (3 + len(agents))]
    for task in sorted({r["task"] for r in rows}):
        share = {r["agent"]: r["trained_target_share"] for r in rows if r["task"] == task}
        first = next(r for r in rows if r["task"] == task)
        lines.append(f"| {task} | {first['target']} | {_f(first['stream_target_share'], 2)} | "
                     + " | ".join(_f(share.get(a, float("nan")), 2) for a in agents) + " |")
    return lines


def _retrieval_table(rows: list[dict[str, Any]]) -> list[str]:
    """The retrieval agents' windows: the target's share retrieved against the stream's, what they looked at."""
    rows = [r for r in rows if "retrieved_shares" in r]
    if not rows:
        return []
    lines = ["", "Retrieval (mean over seeds): the target domain's share of the retrieved candidates against its "
             "share of the stream, and the windows each run looked at.", "",
             "| task | agent | target | stream share | retrieved share | × stream (lowest seed) | windows ingested "
             "| examples streamed | ring (open) | median step ×random |", "|" + "---|" * 10]
    for r in rows:
        g = lambda key, r=r: r.get(key, float("nan"))  # noqa: E731
        lines.append(f"| {r['task']} | {r['agent']} | {r.get('target', '–')} | "
                     f"{_f(g('stream_target_share'), 2)} | {_f(g('retrieved_target_share'), 2)} "
                     f"| {_f(g('retrieved_target_vs_stream'), 2)} ({_f(g('retrieved_target_vs_stream_min'), 2)}) | "
                     f"{_f(g('windows_ingested_total'), 0)} | {r['examples_streamed']} | "
                     f"{_f(g('windows_ring_size'), 0)} | {_f(r['median_step_time_vs_random'], 2)} |")
    return lines


def _aggregate_table(aggregate: list[dict[str, Any]]) -> list[str]:
    lines = ["| agent | runs | improvement, IQM [95% CI] | mean gap closed |", "|---|---|---|---|"]
    for a in aggregate:
        lines.append(f"| {agent_label(a)} | {a['runs']} | {_f(a['improvement_iqm'])} [{_f(a['improvement_ci_low'])}, "
                     f"{_f(a['improvement_ci_high'])}] | {_f(a['mean_gap_closed'], 2)} |")
    return lines
