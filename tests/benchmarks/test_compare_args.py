"""``benchmarks.compare``'s options (no run): presets, ``--env key=value``, precedence, ``--quick``."""

import dataclasses

import pytest

from benchmarks.compare import build_specs, parse_args
from benchmarks.compare_args import Args, convert, parser
from benchmarks.presets import BENCH_ENV, BENCH_SCHEDULE, PRESETS
from curriculum_env.data.suite import SUITE_TUNING

ONE = ["--agents", "random", "--tasks", "noisy", "--seeds", "1"]


def error_of(argv, capsys) -> str:
    """The CLI's error message for ``argv`` (it must exit with argparse's status 2)."""
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


def test_env_sets_fields_converted_by_their_type():
    args = parse_args([*ONE, "--env", "lr=5e-4", "--env", "n_layer=3", "--env", "update_guard=false",
                       "--env", "weight_decay=0.01", "--env", "lr_schedule=linear", "--env", "tokenizer=none",
                       "--env", "warmup_steps=7"])
    env = build_specs(args)[0].env
    assert env["lr"] == 5e-4 and type(env["lr"]) is float
    assert env["n_layer"] == 3 and type(env["n_layer"]) is int
    assert env["update_guard"] is False and env["weight_decay"] == 0.01 and env["lr_schedule"] == "linear"
    assert env["warmup_steps"] == 7 and env["lr_horizon"] == 300  # given: kept; a decaying LR ends with the run
    assert "tokenizer" not in env  # None is EnvConfig's default: not recorded (see the fingerprint test below)
    assert {k: env[k] for k in ("n_head", "n_embd", "train_batch")} == {"n_head": 2, "n_embd": 64, "train_batch": 4}


@pytest.mark.parametrize(("annotation", "raw", "value"), [
    ("int", "12", 12), ("int | None", "none", None), ("int | None", "3", 3), ("float", "1e-3", 1e-3),
    ("float", "2", 2.0), ("bool", "True", True), ("bool", "0", False), ("str", "cuda:1", "cuda:1"),
    ("str | None", "None", None), ("tuple[str, ...]", "loss, entropy", ("loss", "entropy"))])
def test_convert_reads_a_value_by_the_fields_type(annotation, raw, value):
    got = convert("field", annotation, raw)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("setting", "message"), [
    ("n_layer=two", "n_layer takes int, got 'two'"),
    ("update_guard=maybe", "update_guard takes bool, got 'maybe'"),
    ("n_layers=4", "unknown env field 'n_layers' (did you mean n_layer?)"),
    ("learning_rate=1e-3", "unknown env field 'learning_rate'"),
    ("lr", "'lr' is not key=value"),
    ("task=noisy", "task is set by --tasks or --suite"),
    ("seed=3", "seed is set by --seeds"),
    ("lr_horizon=50", "lr_horizon is set by --steps"),
    ("preset=gpt2-124m", "preset is set by --preset"),
    ("observation=none", "observation is each agent's to ask for"),
])
def test_a_bad_env_setting_is_an_error_naming_the_key(setting, message, capsys):
    err = error_of([*ONE, "--env", setting], capsys)
    assert f"argument --env: {message}" in err


def test_an_env_the_config_refuses_fails_before_any_run(capsys):
    assert "n_embd (64) must be divisible by n_head (3)" in error_of([*ONE, "--env", "n_head=3"], capsys)
    err = error_of([*ONE, "--env", "train_batch=32"], capsys)
    assert "preset bench" in err and "train_batch must be an integer in [1, num_candidates=16]" in err
    assert "--all-n trains every candidate" in error_of([*ONE, "--all-n", "--env", "train_batch=2"], capsys)


def test_an_unknown_preset_is_an_error_listing_the_presets(capsys):
    err = error_of([*ONE, "--preset", "big"], capsys)
    assert "invalid choice: 'big'" in err and all(f"'{name}'" in err for name in ("bench", "bench-small", "warm"))
    assert set(PRESETS) == {"bench", "bench-small", "warm"}


def test_the_bench_small_preset_sets_the_model_the_budget_and_the_folder():
    args = parse_args(["--preset", "bench-small"])
    assert {k: args.env[k] for k in ("n_layer", "n_head", "n_embd", "context_length")} == \
        {"n_layer": 4, "n_head": 4, "n_embd": 128, "context_length": 64}
    assert (args.steps, args.eval_every, args.choice_every) == (600, 40, 120)
    assert args.out == "results/compare-small" and args.tasks == ["noisy", "mixed"]
    assert args.agents == ["random", "oracle", "rho_loss", "soft_q"]
    assert {s.env["lr_horizon"] for s in build_specs(args)} == {600}


def test_explicit_options_beat_the_suite_and_the_preset():
    args = parse_args(["--preset", "bench-small", "--suite", "tuning", "--agents", "random", "--steps", "50",
                       "--env", "n_layer=3", "--env", "lr=1e-3"])
    assert args.tasks == list(SUITE_TUNING) and args.out == "results/compare-small-suite"  # suite over preset
    assert args.steps == 50 and args.env["n_layer"] == 3 and args.env["lr"] == 1e-3  # explicit over both
    assert args.eval_every == 40 and args.env["n_embd"] == 128  # the rest stays the preset's
    assert parse_args(["--preset", "bench-small", "--suite", "tuning", "--agents", "random", "--out", "x"]).out == "x"


def test_quick_shrinks_the_budget_into_its_own_folder():
    quick = parse_args(["--agents", "random", "--quick"])
    assert quick.tasks == ["noisy", "needle"] and quick.out == "results/compare-quick"
    assert (quick.seeds, quick.steps, quick.eval_every, quick.choice_every) == (2, 100, 10, 100)
    small = parse_args(["--agents", "random", "--preset", "bench-small", "--quick"])
    assert small.tasks == ["noisy", "mixed"] and small.out == "results/compare-small-quick" and small.steps == 100
    mine = parse_args(["--agents", "random", "--quick", "--tasks", "prose", "--seeds", "1", "--steps", "40",
                       "--out", "mine"])
    assert mine.tasks == ["prose"] and (mine.seeds, mine.steps, mine.out) == (1, 40, "mine")
    wide = parse_args(["--agents", "random", "--quick", "--stream-width", "32"])
    assert wide.out == "results/compare-w32-quick" and wide.env["num_candidates"] == 32


# noisy__random__0 under each preset, as the CLI before presets (--scale) fingerprinted it: finished runs stay found
PINNED = {(): ("a965f5d3ce90", "results/compare"), ("--quick",): ("a9f19c6f164c", "results/compare-quick"),
          ("--preset", "bench-small"): ("5948569f57e6", "results/compare-small"),
          ("--preset", "warm"): ("13caf0dff789", "results/compare-warm")}


@pytest.mark.parametrize("argv", list(PINNED))
def test_presets_keep_the_fingerprints_of_finished_runs(argv):
    args = parse_args([*argv, "--agents", "random", "--tasks", "noisy", "--seeds", "1"])
    assert args.out == PINNED[argv][1]
    spec = build_specs(args)[0]
    assert spec.run_id == "noisy__random__0" and spec.fingerprint() == PINNED[argv][0]


def test_a_field_set_to_the_configs_default_leaves_the_fingerprint_alone():
    plain = build_specs(parse_args(ONE))[0]
    for setting in ("init=random", "weight_decay=0", "device=cpu", "lr=2e-3"):
        assert build_specs(parse_args([*ONE, "--env", setting]))[0].fingerprint() == plain.fingerprint(), setting
    assert build_specs(parse_args([*ONE, "--env", "weight_decay=0.1"]))[0].fingerprint() != plain.fingerprint()


def test_the_bench_preset_is_the_benchmarks_env_and_schedule_and_args_defaults():
    bench = PRESETS["bench"]
    assert {**bench.env} == {**BENCH_ENV, "lr": BENCH_SCHEDULE["lr"], "lr_schedule": BENCH_SCHEDULE["lr_schedule"],
                             "lr_final": BENCH_SCHEDULE["lr_final"], "device": "cpu"}
    assert bench.run_env(200)["warmup_steps"] == 20 and bench.run_env(200)["lr_horizon"] == 200
    defaults = Args()
    assert (defaults.env, defaults.out, defaults.steps, defaults.tasks) == \
        (dict(bench.env), bench.out, bench.steps, list(bench.tasks))
    with pytest.raises(TypeError):
        bench.env["lr"] = 1.0  # a preset cannot be changed in place
    with pytest.raises(dataclasses.FrozenInstanceError):
        bench.steps = 10


def test_help_lists_the_presets_and_the_env_option():
    text = parser().format_help()
    assert "--env KEY=VALUE" in text and "--preset {bench,bench-small,warm}" in text
    assert all(f"{p.name}: {p.doc.split()[0]}" in " ".join(text.split()) for p in PRESETS.values())
    for gone in ("--scale", "--n-layer", "--lr ", "--train-batch", "--num-candidates", "--device", "--init"):
        assert gone not in text
