"""``benchmarks.compare --suite``: its options (no run), and the report's separate table for each half."""

import pytest

from benchmarks import report, report_markdown
from benchmarks.compare import parse_args
from benchmarks.presets import DEFAULT_AGENTS, DEFAULT_TASKS
from curriculum_env.data.suite import SUITE_HELDOUT, SUITE_TUNING
from tests.benchmarks.test_report import run


@pytest.mark.parametrize(("suite", "tasks"), [("generalisation", SUITE_TUNING + SUITE_HELDOUT),
                                              ("tuning", SUITE_TUNING), ("heldout", SUITE_HELDOUT)])
def test_suite_sets_the_tasks_and_the_output_folder(suite, tasks):
    args = parse_args(["--suite", suite, "--agents", "random,oracle"])
    assert args.tasks == list(tasks) and args.out == "results/compare-suite"
    assert args.agents == ["random", "oracle"] and args.steps == 300


def test_suite_keeps_the_default_agents_and_explicit_options_win():
    args = parse_args(["--suite", "heldout", "--out", "elsewhere", "--seeds", "5"])
    assert args.agents == list(DEFAULT_AGENTS) and args.out == "elsewhere" and args.seeds == 5
    quick = parse_args(["--suite", "tuning", "--agents", "random", "--quick"])
    assert quick.tasks == list(SUITE_TUNING) and quick.out == "results/compare-suite-quick"
    small = parse_args(["--suite", "tuning", "--agents", "random", "--preset", "bench-small"])
    assert small.tasks == list(SUITE_TUNING) and small.out == "results/compare-small-suite"
    assert small.env["n_layer"] == 4
    warm = parse_args(["--suite", "fresh", "--agents", "random", "--preset", "warm"])
    assert warm.out == "results/compare-warm-suite" and warm.env["init"] == "base"


def test_without_a_suite_the_defaults_are_unchanged():
    args = parse_args(["--agents", "random"])
    assert args.tasks == list(DEFAULT_TASKS) and args.out == "results/compare"
    assert parse_args(["--agents", "random", "--preset", "bench-small"]).tasks == ["noisy", "mixed"]
    assert parse_args(["--agents", "random", "--quick"]).tasks == ["noisy", "needle"]
    assert parse_args(["--agents", "random", "--tasks", SUITE_HELDOUT[0]]).tasks == [SUITE_HELDOUT[0]]


def test_stream_width_is_the_wide_track_in_its_own_folder(capsys):
    wide = parse_args(["--agents", "random", "--stream-width", "128"])
    assert wide.env["num_candidates"] == 128 and wide.env["train_batch"] == 4 and wide.out == "results/compare-w128"
    suite = parse_args(["--agents", "random", "--suite", "heldout", "--stream-width", "64"])
    assert suite.env["num_candidates"] == 64 and suite.out == "results/compare-suite-w64"
    assert parse_args(["--agents", "random", "--stream-width", "32", "--out", "x"]).out == "x"
    assert parse_args(["--agents", "random"]).env["num_candidates"] == 16
    assert parse_args(["--agents", "random", "--stream-width", "16", "--env", "num_candidates=16"]).out.endswith("-w16")
    with pytest.raises(SystemExit):
        parse_args(["--agents", "random", "--stream-width", "128", "--env", "num_candidates=16"])
    assert "--stream-width 128 and --env num_candidates=16 both set N" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--suite", "tuning", "--tasks", "noisy"], ["--tasks=noisy", "--suite=heldout"],
                                  ["--suite", "generalisation", "--tasks", "gen/comments-in-tests"]])
def test_tasks_with_suite_is_an_error_saying_so(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--agents", "random", *argv])
    assert exit_.value.code == 2
    assert "--tasks and --suite both choose the tasks" in capsys.readouterr().err


def test_an_unknown_suite_is_an_error(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--agents", "random", "--suite", "everything"])
    assert "invalid choice: 'everything'" in capsys.readouterr().err


def test_the_report_gives_the_held_out_half_its_own_table(tmp_path):
    tuning, heldout = SUITE_TUNING[0], SUITE_HELDOUT[0]
    results = [run(agent, seed, nlls, task=task) for task in ("noisy", tuning, heldout) for seed in range(3)
               for agent, nlls in (("random", [8.0, 6.0, 4.0]), ("oracle", [8.0, 5.0, 3.0]))]
    summary = report.summarise(results)
    md = report_markdown.markdown(summary)
    heading = {half: f"### {title}" for half, _, title in report_markdown.SUITE_HALVES}
    assert "held-out half" in heading["held-out"] and "tuning half" in heading["tuning"]
    at_tuning, at_heldout = md.index(heading["tuning"]), md.index(heading["held-out"])
    assert md.index("| noisy | oracle |") < at_tuning < md.index(f"| {tuning} | oracle |") < at_heldout
    assert at_heldout < md.index(f"| {heldout} | oracle |") < md.index("Across tasks")
    assert md.count("| task | agent |") == 3
    assert "Across the held-out half of the generalisation suite only:" in md
    assert [a["runs"] for a in summary["aggregate_by_half"]["held-out"]] == [3, 3]
    report.write_tables(tmp_path, summary, results, md)
    assert (tmp_path / "aggregate_by_half.csv").read_text().startswith("half,agent,")
    plain = report.summarise([r for r in results if r["spec"]["task"] == "noisy"])
    assert "aggregate_by_half" not in plain and "###" not in report_markdown.markdown(plain)


def test_the_warm_preset_starts_from_the_base_model_and_leaves_random_init_fingerprints_alone():
    from benchmarks.compare import build_specs, parse_args

    warm = parse_args(["--preset", "warm"])
    assert warm.env["init"] == "base" and warm.env["lr"] == 2e-4 and warm.out == "results/compare-warm"
    assert "noisy" in warm.tasks and "gen/comments-in-tests" in warm.tasks and "soft_q" in warm.agents
    assert {s.env["init"] for s in build_specs(warm)} == {"base"}
    cold = build_specs(parse_args(["--agents", "random", "--tasks", "noisy", "--seeds", "1"]))
    assert "init" not in cold[0].env  # a random init is the default: no key, so earlier runs still match
    explicit = build_specs(parse_args(["--agents", "random", "--tasks", "noisy", "--seeds", "1", "--env", "init=base"]))
    assert explicit[0].env["init"] == "base" and explicit[0].fingerprint() != cold[0].fingerprint()
