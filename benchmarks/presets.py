"""The benchmark's named presets, in one place: ``python -m benchmarks.compare --preset NAME``.

A :class:`Preset` is every default of a comparison: the env of its runs (``EnvConfig`` fields: the model, the
data sizes, the optimiser, the device), the run length and evaluation cadence, the agents and tasks of its table
and the folders its runs go to. ``bench`` is the default table, ``bench-small`` checks that its conclusions hold
for a bigger model on longer windows, ``warm`` is continued pre-training from the built-in base model. Explicit
options of ``compare`` override any of it. The CLIs and studies that run the benchmark's model import it from here
(``BENCH_ENV``, ``BENCH_SCHEDULE``, :func:`run_env`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# The benchmark's model and data: small enough for the default table (132 runs) in minutes on two cores.
BENCH_ENV = dict(num_candidates=16, train_batch=4, context_length=32, n_layer=2, n_head=2, n_embd=64,
                 test_size=128, heldout_size=256, reward_batch=16, micro_batch_size=16)
# The benchmark's LR schedule: linear warm-up over the first 10% of the steps, then cosine decay to 10% of the
# peak at the run's last step (the horizon is the run's steps), peak 2e-3. Chosen by measuring random and the
# oracle (docs/results.md, "The protocol": the peak matters, warm-up and floor within the seeds' spread).
BENCH_SCHEDULE = dict(lr=2e-3, lr_schedule="cosine", warmup_fraction=0.1, lr_final=0.1)

# The default table: the learned agents, the cheap rules practitioners run (dsir, classifier, odm), RHO-LOSS on D,
# the paper's loss and competence baselines, and two reference rows that read labels (oracle, rho_loss_labelled).
# Registered but left out so that the table fits in minutes on two cores (--agents adds them):
# soft_q_closed_loop, soft_q_paper, ppo and uncertainty (each measured in earlier tables, docs/results.md),
# soft_q_uniform (an ablation) and langevin_rag_paper (the paper's Algorithm 2, ~40x random's step).
DEFAULT_AGENTS = ("soft_q", "langevin_rag", "dsir", "classifier", "odm", "rho_loss", "random", "loss", "competence",
                  "oracle", "rho_loss_labelled")
DEFAULT_TASKS = ("prose", "noisy", "mixed", "needle")


@dataclass(frozen=True)
class Preset:
    """A comparison's defaults, named. Each is what ``compare`` runs unless an option says otherwise."""

    name: str
    """``--preset NAME``."""
    env: Mapping[str, Any]
    """``EnvConfig`` fields of every run (read-only); ``--env key=value`` overrides one."""
    doc: str
    """One line for ``--help``: what the preset is for."""
    agents: tuple[str, ...] = DEFAULT_AGENTS
    tasks: tuple[str, ...] = DEFAULT_TASKS
    quick_tasks: tuple[str, ...] | None = None
    """The tasks of ``--quick`` (``None``: the preset's own)."""
    steps: int = 300
    eval_every: int = 20
    choice_every: int = 100
    out: str = "results/compare"
    suite_out: str = "results/compare-suite"
    """The output folder under ``--suite``: a preset's suite runs never share a folder with another preset's."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))

    def run_env(self, steps: int) -> dict[str, Any]:
        """The env of one of this preset's runs of ``steps`` steps (see :func:`run_env`)."""
        return run_env(self.env, steps)


def run_env(env: Mapping[str, Any], steps: int) -> dict[str, Any]:
    """``env`` for a run of ``steps`` steps: a decaying LR schedule completes within the run (``lr_horizon``) after
    a warm-up over ``BENCH_SCHEDULE["warmup_fraction"]`` of the steps, unless ``env`` gives ``warmup_steps``
    (a constant LR has none)."""
    out = dict(env)
    constant = out.get("lr_schedule", "constant") == "constant"
    out.setdefault("warmup_steps", 0 if constant else round(BENCH_SCHEDULE["warmup_fraction"] * steps))
    if not constant:
        out["lr_horizon"] = steps
    return out


BENCH = Preset(
    "bench", {**BENCH_ENV, **{k: BENCH_SCHEDULE[k] for k in ("lr", "lr_schedule", "lr_final")}, "device": "cpu"},
    "the default table: a 2-layer d = 64 GPT-2 on 32-token windows, 300 steps, on prose, noisy, mixed and needle",
    quick_tasks=("noisy", "needle"))
PRESETS: dict[str, Preset] = {p.name: p for p in (
    BENCH,
    # does the ordering hold for a bigger model on longer windows? (about an hour for four agents on two tasks)
    dataclasses.replace(
        BENCH, name="bench-small", env={**BENCH.env, "n_layer": 4, "n_head": 4, "n_embd": 128, "context_length": 64},
        doc="a second model scale: 4 layers, d = 128, 64-token windows, 600 steps; random, oracle, rho_loss and "
            "soft_q on noisy and mixed", quick_tasks=None,
        steps=600, eval_every=40, choice_every=120, agents=("random", "oracle", "rho_loss", "soft_q"),
        tasks=("noisy", "mixed"), out="results/compare-small", suite_out="results/compare-small-suite"),
    # continued pre-training: the default model and budget started from the built-in base model, at a tenth of the
    # peak LR (2e-4: the oracle's best on noisy, mixed and the tuning half among 5e-5 ... 2e-3; docs/warm_start.md),
    # on the tasks with a target the base model has not read all of
    dataclasses.replace(
        BENCH, name="warm", env={**BENCH.env, "init": "base", "lr": 2e-4},
        doc="continued pre-training: the bench model started from the built-in base model at lr 2e-4, on the tasks "
            "whose target it has not read all of", quick_tasks=None,
        agents=("random", "oracle", "classifier", "dsir", "odm", "rho_loss", "soft_q"), out="results/compare-warm",
        suite_out="results/compare-warm-suite",
        tasks=("prose", "noisy", "mixed", "gen/asyncio-in-code-tests", "gen/comments-in-prose",
               "gen/multiprocessing-in-reference-junk", "gen/comments-in-tests", "gen/c-headers-in-python",
               "gen/lint-logs-in-code-docstrings", "gen/jsonl-api-index-in-reference-comments",
               "gen/xml-in-html-xmlrpc")),
)}
"""The presets of ``python -m benchmarks.compare --preset NAME``, by name."""
