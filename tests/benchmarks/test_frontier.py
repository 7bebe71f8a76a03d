"""The compute frontier on synthetic runs whose answers are known by hand: which points are on the frontier,
the table's IQMs, the CLI's figure and its refusal of a folder without runs."""

import pytest

from benchmarks import frontier, label_marks, report
from benchmarks.strict_json import atomic_write_json


def run(agent, seed, nll, flops, task="noisy", width=16, reads=None, steps=10, plain=10.0):
    """A finished run: ``steps`` gradient steps ending at test NLL ``nll`` after ``flops`` total FLOPs (plain
    training costs ``plain`` a step, so ``steps · plain`` in all)."""
    curve = [{"step": s, "examples_streamed": width * (s + 1), "examples_trained": 4 * s, "flops": flops * s / steps,
              "test_nll": nll + (steps - s) / steps} for s in (0, steps // 2, steps)]
    return {"spec": {"agent": agent, "task": task, "seed": seed, "env": {"num_candidates": width}},
            "fingerprint": f"{task}-{agent}-{seed}-{width}", "curve": curve, "final_test_nll": nll, "flops": flops,
            "plain_step_flops": plain, "gradient_steps": steps, "examples_trained": 4 * steps,
            "examples_streamed": width * (steps + 1), "tokens_trained": 128 * steps, "train_batch": 4,
            "reads_labels": reads, "wall_time": 1.0, "setup_time": 0.1, "step_time": 0.02, "plain_step_time": 0.01}


def test_a_dominated_point_leaves_the_frontier_and_a_cheaper_worse_one_stays():
    # (flops, nll): b is beaten by a (cheaper and better); c costs more but is better than a, so a stays
    a, b, c = (100.0, 5.0), (200.0, 5.5), (400.0, 4.0)
    assert frontier.pareto([a, b, c]) == [True, False, True]
    assert frontier.dominates(a, b) and not frontier.dominates(c, a) and not frontier.dominates(a, c)
    cheap_but_worse = (10.0, 9.0)  # the cheapest point stays on the frontier, however bad its NLL
    assert frontier.pareto([a, c, cheap_but_worse]) == [True, True, True]


def test_ties_keep_both_points_and_one_budget_is_decided_by_nll():
    assert frontier.pareto([(100.0, 5.0), (100.0, 5.0)]) == [True, True]  # identical: neither dominates
    assert frontier.pareto([(100.0, 5.0), (100.0, 5.2)]) == [True, False]  # same budget, worse NLL
    assert frontier.pareto([(100.0, 5.0), (150.0, 5.0)]) == [True, False]  # same NLL, more FLOPs
    # within 1% the budgets are one: the 0.5% cheaper point with the worse NLL does not hold the frontier
    assert frontier.pareto([(100.0, 5.2), (100.5, 5.0)]) == [False, True]
    assert frontier.pareto([(100.0, 5.2), (100.5, 5.0)], rtol=0.0) == [True, True]
    assert frontier.pareto([(100.0, 5.2), (102.0, 5.0)]) == [True, True]  # 2% apart: two budgets


def test_reference_rows_are_drawn_but_never_ranked():
    runs = [run("random", s, 6.0, 100.0) for s in range(3)] + [run("oracle", s, 5.0, 100.0, reads="reference")
                                                                for s in range(3)]
    flags = {p.agent: f for p, f in frontier.on_frontier(frontier.points({"W = 16": runs})).items()}
    assert flags == {"random": True, "oracle": False}  # the oracle does not push random off


def test_table_gives_the_iqm_over_seeds_in_multiples_of_plain_training():
    # soft_q's four seeds: NLL 1, 2, 3, 10 -> IQM mean(2, 3) = 2.5; FLOPs 290, 300, 310, 1000 -> IQM 305,
    # and plain random training is 10 steps x 10 FLOPs = 100, so 3.05x
    seeds = zip([1, 2, 3, 10], [290, 300, 310, 1000], strict=True)
    runs = [run("soft_q", s, nll, fl) for s, (nll, fl) in enumerate(seeds)]
    runs += [run("random", s, nll, 100.0) for s, nll in enumerate([4.0, 5.0, 6.0])]  # IQM of 3 seeds: 5.0
    runs += [run("loss", s, 6.0, 200.0) for s in range(3)]  # costs twice random's, no better: dominated
    runs += [run("oracle", s, 4.5, 100.0, reads="reference") for s in range(3)]
    tracks = {"W = 16": runs}
    unit = frontier.plain_flops(tracks, "noisy")
    assert unit == pytest.approx(100.0)
    lines = frontier.table(frontier.points(tracks), unit, lambda p: label_marks.agent_label(
        {"agent": p.agent, "reads_labels": p.reads_labels}))
    rows = {line.split(" | ")[0].strip("| "): line for line in lines[2:]}
    assert rows["soft_q"].startswith("| soft_q | W = 16 | 3.05 | 2.500 [") and rows["soft_q"].endswith("| 4 | yes |")
    assert "| 1.00 | 5.000 [" in rows["random"] and rows["random"].endswith("| yes |")
    assert "| 2.00 | 6.000 [6.000, 6.000] | 3 | no |" in rows["loss"]
    assert rows["oracle †"].endswith("| † not ranked: past the frontier |")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| oracle †", "| random", "| loss", "| soft_q"]


def write(folder, runs):
    (folder / "runs").mkdir(parents=True)
    for r in runs:
        atomic_write_json(folder / "runs" / f"{r['fingerprint'].replace('/', '-')}.json", r)
    return folder


def test_cli_draws_both_tracks_and_a_task_of_one_track_alone(tmp_path, capsys):
    narrow = write(tmp_path / "compare", [run(a, s, nll, fl) for s in range(2)
                                          for a, nll, fl in (("random", 6.0, 100.0), ("soft_q", 5.5, 390.0))])
    wide = write(tmp_path / "compare-w128",
                 [run(a, s, nll, fl, task=t, width=128) for s in range(2) for t in ("noisy", "gen/x")
                  for a, nll, fl in (("random", 6.1, 100.0), ("soft_q", 5.0, 1600.0))])
    out = tmp_path / "docs" / "frontier.png"
    assert frontier.main([str(narrow), str(wide), "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000
    printed = capsys.readouterr()
    assert "compare: 4 runs, W = 16" in printed.err and "compare-w128: 8 runs, W = 128" in printed.err
    noisy, gen = printed.out.split("\nnoisy")[1], printed.out.split("\ngen/x")[1].split("\nnoisy")[0]
    assert "| soft_q | W = 16 | 3.90 | 5.500" in noisy and "| soft_q | W = 128 | 16.00 | 5.000" in noisy
    assert "| random | W = 16 | 1.00 | 6.000 [6.000, 6.000] | 2 | yes |" in noisy
    assert "W = 16" not in gen and "| random | W = 128 | 1.00 | 6.100" in gen  # the wide track only


def test_cli_refuses_a_folder_without_runs_and_unknown_tasks(tmp_path, capsys):
    good = write(tmp_path / "good", [run("random", 0, 6.0, 100.0)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exc:
        frontier.main([str(good), str(tmp_path / "empty"), "--out", str(tmp_path / "f.png")])
    assert exc.value.code == 2 and "empty holds no runs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        frontier.main([str(good), "--tasks", "prose", "--out", str(tmp_path / "f.png")])
    assert "no runs of task prose" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()


def test_report_plot_adds_the_frontier_of_one_folder(tmp_path):
    results = [run(a, s, nll, fl) for s in range(2) for a, nll, fl in (("random", 6.0, 100.0), ("loss", 5.0, 230.0))]
    names = {p.name for p in report.plot(tmp_path, report.summarise(results), results)}
    assert "frontier.png" in names and (tmp_path / "frontier.png").stat().st_size > 0
    no_flops = [{k: v for k, v in r.items() if k != "flops"} for r in results]  # recorded before FLOPs: no figure
    (tmp_path / "old").mkdir()
    assert "frontier.png" not in {p.name for p in report.plot(tmp_path / "old", report.summarise(no_flops),
                                                              no_flops)}
