"""The report's figures on synthetic runs whose answers are known by hand, and its refusal to compare
runs that did not train the same amount."""

import subprocess
import sys

import numpy as np
import pytest

from benchmarks import label_marks, report, report_markdown


def run(agent, seed, nlls, task="noisy", step=0.02, plain=0.01, examples_per_point=40, steps=None, needle=None):
    """A finished run: ``nlls`` at 0, 40, 80, ... examples trained."""
    curve = [{"step": 10 * i, "examples_streamed": 16 * (i + 1), "examples_trained": examples_per_point * i,
              "test_nll": v} for i, v in enumerate(nlls)]
    r = {"spec": {"agent": agent, "task": task, "seed": seed}, "curve": curve, "final_test_nll": nlls[-1],
         "examples_streamed": curve[-1]["examples_streamed"], "examples_trained": curve[-1]["examples_trained"],
         "tokens_trained": 32 * curve[-1]["examples_trained"], "gradient_steps": steps or 10 * (len(nlls) - 1),
         "train_batch": 4, "wall_time": 1.0, "setup_time": 0.1, "step_time": step, "plain_step_time": plain}
    if needle is not None:
        r["needle_trained"] = {"all": needle, "second_half": needle, "chance": 0.25}
    return r


def test_speed_up_overheads_and_compute_adjusted_speed_up_by_hand():
    results = []
    for seed in range(3):
        results.append(run("random", seed, [8.0, 7.0, 6.0, 5.0, 4.0]))  # final 4.0 at 160 examples
        # reaches 4.0 at 80 examples (2x), steps cost 3x plain -> compute-adjusted 2 * 0.01 / 0.03
        results.append(run("oracle", seed, [8.0, 6.0, 4.0, 3.5, 3.0], step=0.03))
        results.append(run("loss", seed, [8.0, 7.5, 7.0, 6.5, 6.0]))  # never reaches 4.0
    summary = report.summarise(results)
    rows = {r["agent"]: r for r in summary["rows"]}
    assert rows["random"]["efficiency_vs_random"] == pytest.approx(1.0)
    assert rows["oracle"]["efficiency_vs_random"] == pytest.approx(2.0)
    assert rows["oracle"]["efficiency_vs_random_seeds"]["per_seed"] == pytest.approx([2.0, 2.0, 2.0])
    assert rows["oracle"]["step_time_vs_random"] == pytest.approx(1.5)
    assert rows["oracle"]["selection_overhead"] == pytest.approx(3.0)
    assert rows["oracle"]["compute_adjusted_speedup"] == pytest.approx(2.0 / 3.0)
    assert rows["oracle"]["improvement_over_random_iqm"] == pytest.approx(1.0)
    assert rows["oracle"]["improved_seeds"] == "3/3"
    assert np.isnan(rows["loss"]["efficiency_vs_random"]) and rows["loss"]["reached_random_final"] == "0/3"
    assert rows["loss"]["gap_closed"] == pytest.approx(-2.0)  # (4 - 6) / (4 - 3)
    assert summary["equal_compute"]["noisy"]["examples_trained"] == 160
    md = report_markdown.markdown(summary)
    assert "noisy: 160 examples in 40 steps (B = 4 per step), 80 windows streamed" in md
    assert "| noisy | oracle | 3.000" in md
    assert md.count("| 160 / 80 |") == 3  # the trained / streamed column, one row per agent


def with_flops(r, per_step, plain=100.0):
    """``r`` with model FLOPs: ``per_step`` each gradient step."""
    for c in r["curve"]:
        c["flops"] = per_step * c["step"]
    return {**r, "flops": per_step * r["gradient_steps"], "plain_step_flops": plain}


def test_flops_per_step_and_flops_adjusted_speed_up_by_hand():
    results = []
    for seed in range(3):
        results.append(with_flops(run("random", seed, [8.0, 7.0, 6.0, 5.0, 4.0]), 100.0))  # plain training
        # 2x fewer examples to random's final 4.0, at 3x plain's FLOPs per step: FLOPs-adjusted 2 / 3
        results.append(with_flops(run("oracle", seed, [8.0, 6.0, 4.0, 3.5, 3.0]), 300.0))
        # reaches 4.0 two thirds of the way from step 20 (6.0) to 30 (3.0), at 1.6x: 40 / (1.6 * 26.67)
        results.append(with_flops(run("loss", seed, [8.0, 7.0, 6.0, 3.0, 3.0]), 160.0))
    rows = {r["agent"]: r for r in report.summarise(results)["rows"]}
    assert rows["random"]["flops_per_step_vs_plain"] == pytest.approx(1.0)
    assert rows["random"]["flops_adjusted_speedup"] == pytest.approx(1.0)
    assert rows["oracle"]["flops_per_step_vs_plain"] == pytest.approx(3.0)
    assert rows["oracle"]["flops_adjusted_speedup"] == pytest.approx(2.0 / 3.0)
    assert rows["loss"]["flops_adjusted_speedup"] == pytest.approx(40 / (1.6 * (20 + 20 / 3)))
    assert rows["loss"]["flops_adjusted_speedup_seeds"]["per_seed"] == pytest.approx([0.9375] * 3)
    md = report_markdown.markdown(report.summarise(results))
    assert "| noisy | oracle | 3.000" in md and "| 3.00 | 0.67× |" in md


def test_speed_ups_are_undefined_where_random_ends_above_where_it_started():
    results = []  # a warm start: random loses what the base model knew, an agent keeps it
    for seed in range(3):
        results.append(with_flops(run("random", seed, [5.0, 5.1, 5.2]), 100.0))
        results.append(with_flops(run("rho_loss", seed, [5.0, 4.99, 4.98]), 600.0))
        results[-1]["curve"][0]["flops"] = 50.0  # charged before the first step, like an IL model's training
    rows = {r["agent"]: r for r in report.summarise(results)["rows"]}
    for agent in ("random", "rho_loss"):
        assert np.isnan(rows[agent]["efficiency_vs_random"]) and np.isnan(rows[agent]["flops_adjusted_speedup"])
    assert rows["rho_loss"]["improvement_over_random_iqm"] == pytest.approx(0.22)


def test_summary_json_is_strict_json_with_nulls(tmp_path):
    import json

    results = [run("random", s, [8.0, 7.0, 6.0]) for s in range(2)]
    results += [run("loss", s, [8.0, 7.5, 7.0]) for s in range(2)]  # never reaches random: NaN speed-up
    results[0]["step_time"] = float("nan")
    summary = report.summarise(results)
    report.write_tables(tmp_path, summary, results, report_markdown.markdown(summary))

    def refuse(constant):
        raise ValueError(f"bare {constant} in summary.json")

    loaded = json.loads((tmp_path / "summary.json").read_text(), parse_constant=refuse)
    loss = next(r for r in loaded["rows"] if r["agent"] == "loss")
    assert loss["efficiency_vs_random"] is None and loss["efficiency_vs_random_seeds"]["per_seed"] == [None, None]
    for line in (tmp_path / "summary.csv").read_text().splitlines():
        assert "NaN" not in line


def test_runs_that_trained_different_amounts_are_refused_with_their_names():
    results = [run("random", 0, [8.0, 7.0, 6.0]), run("loss", 0, [8.0, 7.5, 7.0], examples_per_point=10)]
    with pytest.raises(report.UnequalComputeError, match="task 'noisy'.*loss/seed 0.*refusing"):
        report.summarise(results)
    # different gradient steps with the same examples are refused too
    with pytest.raises(report.UnequalComputeError):
        report.summarise([run("random", 0, [8.0, 7.0, 6.0]), run("oracle", 0, [8.0, 7.0, 6.0], steps=7)])
    # streaming more of the stream is refused too (a ring that looks at 8x the windows buys its lead)
    wide = run("rag", 0, [8.0, 7.0, 6.0])
    with pytest.raises(report.UnequalComputeError, match=r"160 streamed: rag/seed 0.*refusing"):
        report.summarise([run("random", 0, [8.0, 7.0, 6.0]), {**wide, "examples_streamed": 160}])
    # another task may have its own budget
    ok = report.summarise([run("random", 0, [8.0, 7.0]), run("random", 0, [8.0, 7.0, 6.0], task="mixed")])
    assert {t: b["examples_trained"] for t, b in ok["equal_compute"].items()} == {"mixed": 80, "noisy": 40}


def test_the_needle_leaves_the_nll_table_for_its_own_figure(tmp_path):
    results = [run("random", s, [8.0, 7.0], task="needle", needle=0.25) for s in range(3)]
    results += [run("oracle", s, [8.0, 7.5], task="needle", needle=1.0) for s in range(3)]
    results += [run("random", s, [8.0, 7.0]) for s in range(3)]
    summary = report.summarise(results)
    assert [r["task"] for r in summary["rows"]] == ["noisy"]
    needle = {r["agent"]: r for r in summary["needle"]}
    assert needle["oracle"]["needle_trained_iqm"] == 1.0 and needle["random"]["chance"] == 0.25
    md = report_markdown.markdown(summary)
    assert "| oracle | 1.00 | 1.00 | 0.25 |" in md and "| needle |" not in md
    report.write_tables(tmp_path, summary, results, md)
    paths = report.plot(tmp_path, summary, results)
    assert {p.name for p in paths} >= {"curves.png", "efficiency.png", "needle.png"}
    assert (tmp_path / "needle.csv").read_text().startswith("task,agent")


def test_compare_refuses_the_all_n_table_when_agents_train_different_amounts(tmp_path):
    args = ["--tasks", "noisy", "--seeds", "1", "--steps", "3", "--eval-every", "3", "--env", "n_layer=1",
            "--env", "n_embd=32", "--env", "num_candidates=8", "--workers", "1", "--no-plots"]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--all-n", "--agents", "random,loss",
                           "--out", str(tmp_path), *args], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "No comparison" in proc.stderr and "refusing" in proc.stderr
    assert not (tmp_path / "results.md").exists()


def test_retrieval_row_compares_the_retrieved_target_share_with_the_stream_share():
    results = []
    for seed, share in enumerate([0.5, 0.6, 0.4]):
        results.append({**run("random", seed, [8.0, 7.0]), "step_time_median": 0.01})
        rag = {**run("rag", seed, [8.0, 6.0]), "step_time_median": 0.03, "target": "prose",
               "stream_shares": {"prose": 0.25, "junk": 0.75},
               "mean_mass": {"retrieved/prose": share, "retrieved/junk": 1 - share, "mass/prose": 0.9},
               "windows": {"ingested_total": 1000.0 + seed, "ring_size": 700.0}}
        results.append(rag)
    rows = {r["agent"]: r for r in report.summarise(results)["rows"]}
    assert "retrieved_shares" not in rows["random"]  # an agent that retrieves nothing has no retrieval fields
    rag = rows["rag"]
    assert rag["retrieved_shares"] == pytest.approx({"prose": 0.5, "junk": 0.5})
    assert rag["retrieved_target_vs_stream"] == pytest.approx(2.0)  # 0.5 / 0.25
    assert rag["retrieved_target_vs_stream_min"] == pytest.approx(1.6)  # the lowest seed: 0.4 / 0.25
    assert rag["windows_ingested_total"] == pytest.approx(1001.0)
    assert rag["median_step_time_vs_random"] == pytest.approx(3.0)
    md = report_markdown.markdown(report.summarise(results))
    assert "| noisy | rag | prose | 0.25 | 0.50 | 2.00 (1.60) | 1001 |" in md


def test_rows_that_read_source_labels_are_marked_and_references_come_last():
    results = []
    for seed in range(3):
        results.append({**run("random", seed, [8.0, 7.0])})
        results.append({**run("oracle", seed, [8.0, 6.0]), "reads_labels": "reference"})
        results.append({**run("odm", seed, [8.0, 6.5]), "reads_labels": "source"})
        results.append({**run("zeta", seed, [8.0, 6.9])})
    summary = report.summarise(results)
    md = report_markdown.markdown(summary)
    order = [line.split(" | ")[1] for line in md.splitlines() if line.startswith("| noisy | ")]
    assert order == ["odm ‡", "random", "zeta", "oracle †"]  # agents by name, then the reference rows
    assert "| oracle † | 3 |" in md and "| odm ‡ | 3 |" in md  # the aggregate marks them too
    assert label_marks.LABEL_NOTE in md


def test_trained_table_gives_the_target_share_of_what_each_agent_trained():
    results = []
    for seed, share in enumerate([0.5, 0.7, 0.6]):
        shares = {"target": "prose", "stream_shares": {"prose": 0.25, "junk": 0.75}}
        results.append({**run("random", seed, [8.0, 7.0]), **shares, "trained_share": {"prose": 0.25, "junk": 0.75}})
        picky = {"prose": share, "junk": 1 - share}
        results.append({**run("picky", seed, [8.0, 6.0]), **shares, "trained_share": picky})
        results.append({**run("blind", seed, [8.0, 6.5]), **shares, "trained_share": {"junk": 1.0}})  # no target at all
    rows = {r["agent"]: r for r in report.summarise(results)["rows"]}
    assert rows["picky"]["trained_target_share"] == pytest.approx(0.6)
    assert rows["blind"]["trained_target_share"] == 0.0
    md = report_markdown.markdown(report.summarise(results))
    assert "| task | target | stream share | blind | picky | random |" in md
    assert "| noisy | prose | 0.25 | 0.00 | 0.60 | 0.25 |" in md
    legacy = [{k: v for k, v in r.items() if k != "trained_share"} for r in results]  # runs recorded before it
    assert "trained_target_share" not in report.summarise(legacy)["rows"][0]
    assert "What was trained" not in report_markdown.markdown(report.summarise(legacy))


def test_figures_follow_the_logged_metrics_not_agent_names(tmp_path):
    from benchmarks.plotting import learning_keys

    assert learning_keys({"step": 1, "policy/entropy": 0.5, "mass/prose": 0.3}) == []  # a rule: no learned Q
    assert learning_keys({"step": 1, "policy/entropy": 0.5, "q/spread": 1.0, "q/mean": 0.0, "mass/prose": 0.3}) == [
        "policy/entropy", "q/spread", "mass/prose"]
    results = []
    for seed in range(2):
        learner = {"policy/entropy": 1.0, "q/spread": 0.5, "mass/prose": 0.7, "mass/junk": 0.3}
        for agent, row in (("random", {"policy/entropy": 2.0}), ("my_learner", learner)):
            r = run(agent, seed, [8.0, 7.0, 6.0])
            r["diagnostics"] = [{"step": s, **row} for s in (10, 20)]
            results.append(r)
    names = {p.name for p in report.plot(tmp_path, report.summarise(results), results)}
    assert {"soft_q_diagnostics.png", "my_learner_mass.png", "curves.png", "efficiency.png"} <= names
    assert "random_mass.png" not in names and all((tmp_path / n).stat().st_size > 0 for n in names)
