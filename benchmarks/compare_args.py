"""The options of ``python -m benchmarks.compare``, parsed once into :class:`Args`.

Precedence is one pass: the preset's defaults (``--preset``, :data:`benchmarks.presets.PRESETS`), then a suite's
(``--suite``: its tasks and folder), then what the command line gives. The env of the runs is the preset's with
``--env key=value`` on top, for any ``EnvConfig`` field (converted by the field's type), so no env setting needs
a flag of its own; fields the comparison sets itself (the task, the seed, the LR horizon) and the ones each agent
asks for are refused, naming the option that owns them.
"""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from benchmarks.presets import BENCH, PRESETS, Preset, run_env

OWNED = {"task": "--tasks or --suite", "seed": "--seeds", "steps": "--steps",
         "lr_horizon": "--steps (a decaying LR completes within the run)",
         "preset": "--preset (compare's presets; an env preset such as gpt2-124m is not one of them)"}
"""Keys ``--env`` refuses because an option of compare sets them: key -> that option."""
RECORDED = frozenset(BENCH.env) | {"warmup_steps"}
"""Env fields every run records. Any other field is recorded only when it differs from ``EnvConfig``'s default,
so that ``--env init=random`` leaves the fingerprint (and the finished runs) of the command without it."""


def option(default: Any, help: str, **argparse_kwargs: Any) -> Any:
    """A field of :class:`Args`: its default (a callable makes a fresh one each time), its ``--help`` and what
    else argparse needs (``type``, ``metavar``, ``choices``: a callable is called when the parser is built)."""
    default_kw = {"default_factory": default} if callable(default) else {"default": default}
    return field(**default_kw, metadata={"help": help, **argparse_kwargs})


def _cli_type(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert`` for argparse's ``type=``: its ValueError becomes argparse's error with the message kept."""
    def wrapped(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    wrapped.__name__ = convert.__name__
    return wrapped


def agent_list(text: str) -> list[str]:
    """``--agents``: comma-separated agent specs (an agent's own ``@key=value,...`` options stay with it)."""
    from agents.specs import split_specs

    return split_specs(text)


def task_list(text: str) -> list[str]:
    """``--tasks``: comma-separated tasks."""
    return [t.strip() for t in text.split(",") if t.strip()]


def suite_names() -> tuple[str, ...]:
    from curriculum_env.data.suite import SUITES

    return tuple(SUITES)


def env_setting(text: str) -> tuple[str, Any]:
    """``--env key=value``: an ``EnvConfig`` field and its value converted by the field's type (``none`` is
    ``None`` where the field takes it; bools are true/false, 1/0, yes/no). ValueError for anything else,
    naming the key: a field compare or the agents own, or an unknown one with the closest field's name."""
    key, sep, raw = (part.strip() for part in text.partition("="))
    if not sep or not key:
        raise ValueError(f"{text!r} is not key=value")
    from benchmarks.runs import AGENT_ENV_FIELDS

    if key in OWNED:
        raise ValueError(f"{key} is set by {OWNED[key]}, not by --env")
    if key in AGENT_ENV_FIELDS:
        raise ValueError(f"{key} is each agent's to ask for (its env_kwargs), not the comparison's")
    from curriculum_env.config import EnvConfig

    types = {f.name: str(f.type) for f in fields(EnvConfig)}
    if key not in types:
        close = difflib.get_close_matches(key, types, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"unknown env field {key!r}{hint}; --env sets EnvConfig's fields (curriculum_env/config.py)")
    return key, convert(key, types[key], raw)


def convert(key: str, annotation: str, raw: str) -> Any:
    """``raw`` as a value of field ``key`` whose type is written ``annotation`` (``int | None``, ``float``, ...)."""
    kinds = {k.strip() for k in annotation.split("|")}
    if "None" in kinds and raw.lower() == "none":
        return None
    try:
        if "bool" in kinds:
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[raw.lower()]
        if "int" in kinds:
            return int(raw)
        if "float" in kinds:
            return float(raw)
    except (KeyError, ValueError):
        raise ValueError(f"{key} takes {annotation}, got {raw!r}") from None
    if annotation.startswith("tuple"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def _preset_help() -> str:
    return "the comparison's defaults, named (benchmarks/presets.py; default bench): " + "; ".join(
        f"{p.name}: {p.doc}" for p in PRESETS.values())


@dataclass
class Args:
    """One comparison's options. Each field is the flag ``--field-name``; the defaults are the bench preset's."""

    preset: str = option(BENCH.name, _preset_help(), choices=tuple(PRESETS))
    env: dict[str, Any] = option(lambda: dict(BENCH.env), "set an EnvConfig field of every run over the preset's "
                                 "(repeatable): --env lr=1e-3 --env n_layer=4; N is num_candidates, B train_batch. "
                                 "Not the task, seed or LR horizon (options set them) nor what each agent asks for",
                                 action="append", type=_cli_type(env_setting), metavar="KEY=VALUE")
    agents: list[str] = option(lambda: list(BENCH.agents), "comma-separated agent specs: name, module.path:Class, "
                               "either with @key=value,... options (default: the preset's)", type=_cli_type(agent_list))
    tasks: list[str] = option(lambda: list(BENCH.tasks), "comma-separated tasks: built-in names, .toml/.json task "
                              "files or module.path:function (default: the preset's)", type=task_list)
    suite: str | None = option(None, "run a task suite instead of --tasks: 'generalisation' (its tuning and held-out "
                               "halves), 'tuning', 'heldout' or 'fresh' (the second held-out set), into the preset's "
                               f"suite folder ({BENCH.suite_out} for bench) unless --out is given", choices=suite_names)
    seeds: int = option(3, "seeds 0..S-1 per agent and task", type=int)
    steps: int = option(BENCH.steps, "gradient steps per run (default: the preset's)", type=int)
    eval_every: int = option(BENCH.eval_every, "steps between test-split evaluations (default: the preset's)",
                             type=int)
    choice_every: int = option(BENCH.choice_every, "steps between multiple-choice evaluations (also at the first "
                               "and last step; default: the preset's)", type=int)
    choices: int = option(4, "candidates per multiple-choice item (the downstream metric; chance 1/choices)", type=int)
    stream_width: int | None = option(None, "the wide track: every agent sees W candidates a step (N = W) and trains "
                                      "B; output folder OUT-w<W> unless --out is given", type=int, metavar="W")
    all_n: bool = option(False, "no budget: train every candidate with non-zero weight (the paper's all-N mixture)")
    export_models: bool = option(False, "write each run's final LM as a Hugging Face model directory in "
                                 "OUT/models/<run>/")
    out: str = option(BENCH.out, "output folder (default: the preset's)")
    workers: int = option(lambda: min(2, os.cpu_count() or 1), "parallel processes (default: min(2, CPUs))",
                          type=int)
    ray: str | None = option(None, "run on a Ray cluster (default: start or join a local one)", nargs="?", const="",
                             metavar="ADDRESS")
    quick: bool = option(False, "at most 2 seeds x 100 steps (bench: on noisy and needle), into OUT-quick")
    no_plots: bool = option(False, "skip the PNG plots")
    tensorboard: bool = option(False, "also write every run's per-step metrics as TensorBoard events in "
                               "OUT/tensorboard/")

    def run_env(self) -> dict[str, Any]:
        """The env of each run: :attr:`env` with the LR warm-up and horizon of :attr:`steps`."""
        return run_env(self.env, self.steps)

    def check(self) -> None:
        """Refuse, with ValueError, what could not run, before any run starts."""
        if min(self.steps, self.seeds, self.eval_every, self.choice_every) < 1:
            raise ValueError("--steps, --seeds, --eval-every and --choice-every must be positive")
        if self.choices < 2:
            raise ValueError(f"--choices must be at least 2, got {self.choices}")
        if len(set(self.agents)) != len(self.agents) or len(set(self.tasks)) != len(self.tasks):
            raise ValueError("--agents and --tasks must not repeat an entry")
        from curriculum_env.config import EnvConfig
        from curriculum_env.data.tasks import resolve_task

        try:
            EnvConfig(**self.run_env())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the runs' env (preset {self.preset} and --env): {exc}") from None
        for t in self.tasks:
            resolve_task(t)
        if self.tensorboard:
            from benchmarks.event_log import require_tensorboard

            require_tensorboard()
        self.check_agents()

    def check_agents(self) -> None:
        """Build each agent once: an unknown agent, a bad option or env_kwargs the benchmark fixes fail here."""
        from agents import make_agent
        from benchmarks.runs import agent_env_kwargs

        for a in self.agents:
            try:
                agent_env_kwargs(make_agent(a))
            except TypeError as exc:
                raise ValueError(str(exc)) from None


def parser(description: str | None = None) -> argparse.ArgumentParser:
    """The command line of :class:`Args`. Options not given are left out of the namespace (no argparse
    defaults), so :func:`resolve` knows what was explicit."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                argument_default=argparse.SUPPRESS)
    for f in fields(Args):
        kwargs = dict(f.metadata)
        if callable(kwargs.get("choices")):
            kwargs["choices"] = kwargs["choices"]()
        if f.type == "bool":
            kwargs["action"] = "store_true"
        p.add_argument("--" + f.name.replace("_", "-"), **kwargs)
    return p


def parse(argv: list[str] | None = None, description: str | None = None) -> Args:
    """Parse and check a command line (argparse's error and exit status 2 on a bad one)."""
    p = parser(description)
    given = vars(p.parse_args(argv))
    try:
        args = resolve(given)
        args.check()
    except ValueError as exc:
        p.error(str(exc))
    return args


def resolve(given: dict[str, Any]) -> Args:
    """:class:`Args` from the options given (by field name): the preset's defaults, then the suite's, then
    ``given``; ``--stream-width``, ``--all-n`` and ``--quick`` then change N, B, the budget and the folder."""
    given = dict(given)
    preset = PRESETS[given.get("preset", BENCH.name)]
    suite = given.get("suite")
    if suite is not None and "tasks" in given:
        raise ValueError("--tasks and --suite both choose the tasks: give one of them (--suite runs the suite's tasks)")
    env = run_settings(preset, dict(given.pop("env", [])), given.get("stream_width"), given.get("all_n", False))
    args = Args(**{**preset_options(preset), **suite_options(suite, preset), **given, "env": env})
    if args.stream_width is not None and "out" not in given:
        args.out += f"-w{args.stream_width}"
    if args.quick:
        if "tasks" not in given and suite is None and preset.quick_tasks is not None:
            args.tasks = list(preset.quick_tasks)
        args.seeds, args.steps, args.eval_every = min(args.seeds, 2), min(args.steps, 100), min(args.eval_every, 10)
        if "out" not in given:
            args.out += "-quick"
    return args


def preset_options(preset: Preset) -> dict[str, Any]:
    """The options ``preset`` gives defaults for, besides its env."""
    return {"agents": list(preset.agents), "tasks": list(preset.tasks), "steps": preset.steps,
            "eval_every": preset.eval_every, "choice_every": preset.choice_every, "out": preset.out}


def suite_options(suite: str | None, preset: Preset) -> dict[str, Any]:
    """The options ``--suite`` sets (its tasks, the preset's suite folder); none without a suite."""
    if suite is None:
        return {}
    from curriculum_env.data.suite import SUITES

    return {"tasks": list(SUITES[suite]), "out": preset.suite_out}


def run_settings(preset: Preset, overrides: dict[str, Any], stream_width: int | None, all_n: bool) -> dict[str, Any]:
    """The env every run shares: the preset's, ``--env`` on top, N from ``--stream-width`` and no B with
    ``--all-n``; a field outside :data:`RECORDED` only where it differs from ``EnvConfig``'s default."""
    from curriculum_env.config import EnvConfig
    from curriculum_env.config_rules import default_of

    env = {**preset.env, **overrides}
    if stream_width is not None:
        if overrides.get("num_candidates", stream_width) != stream_width:
            raise ValueError(f"--stream-width {stream_width} and --env num_candidates={overrides['num_candidates']} "
                             "both set N: give one")
        if stream_width < 1:
            raise ValueError(f"--stream-width must be positive, got {stream_width}")
        env["num_candidates"] = stream_width
    if all_n:
        if "train_batch" in overrides:
            raise ValueError("--all-n trains every candidate with non-zero weight and --env train_batch trains B of "
                             "them: give one")
        env["train_batch"] = None
    return {k: v for k, v in env.items() if k in RECORDED or v != default_of(EnvConfig, k)}
