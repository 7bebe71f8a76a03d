"""One benchmark run (agent x task x seed): train, evaluate on the test split, write atomically."""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmarks.strict_json import atomic_write_json
from benchmarks.timers import plain_step_time

_SAFE = re.compile(r"[^A-Za-z0-9_.=@,+-]")


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; its hash names the result file."""

    agent: str
    task: str
    seed: int
    steps: int
    eval_every: int
    env: dict[str, Any] = field(default_factory=dict)
    choice_every: int = 100
    """Steps between multiple-choice evaluations (also at the first and the last step)."""
    choices: int = 4
    """Candidates per multiple-choice item (chance 1 / choices)."""
    export: bool = False
    """Write the final LM as a Hugging Face model directory in ``OUT/models/<run>/``."""

    @property
    def run_id(self) -> str:
        """``<task>__<agent>__<seed>`` as a file name (a task file's path or an agent's ``module:Class``
        and options have their other characters replaced by ``-``)."""
        return "__".join(_SAFE.sub("-", part) for part in (self.task, self.agent, str(self.seed)))

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


AGENT_ENV_FIELDS = frozenset({
    "action_mode", "candidate_stats", "compute_reward", "paired_reward", "observation", "influence_every",
    "influence_kind", "influence_heldout", "fused_forward", "difficulty", "timings", "render_mode",
})
"""The env fields an agent's ``env_kwargs`` may set in a benchmark run: what it reads and pays for (the
per-candidate statistics, the reward and paired reward forwards, the observation, the influence probe,
all charged in FLOPs), how that is computed without changing what is trained (``fused_forward``), and
read-only choices (``difficulty``, ``timings``, ``render_mode``). Every other field is the benchmark's
-- the task and its data, N, B, M, the model and its shape, the optimiser and its schedule
(``lr``, ``weight_decay``, ``grad_clip``, ``train_weighting``, ...), the device and precision -- and
an agent that sets one is refused (:func:`agent_env`)."""


def agent_env_kwargs(agent: Any) -> dict[str, Any]:
    """The agent's ``env_kwargs`` (without ``action_mode``, which the harness passes itself), or
    ``ValueError`` naming the field when it sets one the benchmark fixes (:data:`AGENT_ENV_FIELDS`).
    The one check of what an agent may ask of the env; every place that builds a run's env calls it."""
    asked = dict(getattr(agent, "env_kwargs", None) or {})
    name = getattr(agent, "name", type(agent).__name__)
    fixed = sorted(set(asked) - AGENT_ENV_FIELDS)
    if fixed:
        raise ValueError(f"agent {name!r} sets the env field(s) {', '.join(fixed)} in its env_kwargs, which the "
                         f"benchmark fixes for every agent; an agent may set only {sorted(AGENT_ENV_FIELDS)}")
    mode = asked.pop("action_mode", None)
    if mode is not None and mode != getattr(agent, "action_mode", mode):
        raise ValueError(f"agent {name!r} asks for action_mode={mode!r} in its env_kwargs but its action_mode "
                         f"is {agent.action_mode!r}")
    return asked


def agent_env(agent: Any, env: dict[str, Any] | None = None) -> dict[str, Any]:
    """The env keyword arguments of a benchmark run of ``agent`` (beyond its ``action_mode``): timings on (phase
    times for the logs), the agent's checked ``env_kwargs`` (:func:`agent_env_kwargs`), then ``env``, the run's
    own settings, which win."""
    return {"timings": True, **agent_env_kwargs(agent), **(env or {})}


def result_path(out: pathlib.Path, spec: RunSpec) -> pathlib.Path:
    return out / "runs" / f"{spec.run_id}.json"


RESULT_KEYS = ("spec", "fingerprint", "curve", "final_test_nll", "examples_trained", "gradient_steps")


def read_run(path: pathlib.Path) -> dict[str, Any]:
    """A finished run's result from ``path``; ``ValueError`` saying what is wrong with a file that is not
    one (unreadable, not JSON, not a run result of this harness)."""
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read as JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(result, dict) or not isinstance(result.get("spec"), dict):
        raise ValueError(f"{path} is not a run result (a JSON {type(result).__name__} without a spec)")
    missing = [k for k in RESULT_KEYS if k not in result]
    if missing:
        raise ValueError(f"{path} is not a complete run result (no {', '.join(missing)})")
    return result


def is_done(out: pathlib.Path, spec: RunSpec) -> bool:
    """Whether a finished result for exactly this spec is on disk. A damaged file in its place is
    reported and counts as not done (the rerun overwrites it)."""
    path = result_path(out, spec)
    if not path.exists():
        return False
    try:
        return read_run(path)["fingerprint"] == spec.fingerprint()
    except ValueError as exc:
        warnings.warn(f"{exc}: running it again", stacklevel=2)
        return False


def load_results(out: pathlib.Path) -> list[dict[str, Any]]:
    """Every finished run under ``out/runs``; a damaged or foreign file there is skipped with a warning
    naming it (:func:`read_run`)."""
    results = []
    for path in sorted((out / "runs").glob("*.json")):
        try:
            results.append(read_run(path))
        except ValueError as exc:
            warnings.warn(f"skipping {exc}", stacklevel=2)
    return results


def execute(spec: RunSpec, out: pathlib.Path, show_steps: bool = False, tensorboard: bool = False) -> dict[str, Any]:
    """Run ``spec``; log every step to ``out/logs/<run>.jsonl`` (and, with ``tensorboard``, as
    TensorBoard events in ``out/tensorboard/<run>/``, :mod:`benchmarks.event_log`) and return the result.

    The caller writes the result (:func:`save_result`), so remote workers (Ray) need no shared disk
    for results and a run killed midway leaves no result file. What is kept of each step, and how it
    is timed, is :class:`benchmarks.recorder.RunRecorder`'s; ``plain_step_time`` is
    :func:`plain_step_time` on the same model.
    """
    import torch

    import curriculum_env  # noqa: F401  (registers CurriculumSelect-v0)
    from agents import make_agent
    from benchmarks.allocator import keep_freed_memory

    torch.set_num_threads(1)
    keep_freed_memory()
    agent = make_agent(spec.agent)
    env = _make_env(spec, agent)
    recorder, last = _roll_out(spec, env, agent, out, show_steps, tensorboard)
    wall_time = time.perf_counter() - recorder.t0
    result = _result(spec, env, agent, recorder, last, wall_time, out)
    env.close()
    return result


def _make_env(spec: RunSpec, agent: Any) -> Any:
    """The run's env: ``spec``'s task and settings with what ``agent`` reads (:func:`agent_env`), one step longer
    than the run so the time limit never ends it early."""
    import gymnasium as gym

    return gym.make("CurriculumSelect-v0", task=spec.task, action_mode=agent.action_mode,
                    max_episode_steps=spec.steps + 1, **agent_env(agent, spec.env))


def _roll_out(spec: RunSpec, env: Any, agent: Any, out: pathlib.Path, show_steps: bool,
              tensorboard: bool) -> tuple[Any, dict[str, Any]]:
    """Run the agent for ``spec.steps`` steps, each step recorded (:class:`benchmarks.recorder.RunRecorder`) to
    the run's JSONL log, and to a progress bar and TensorBoard events when asked; (the recorder, the last step's
    info)."""
    from agents.base import rollout
    from benchmarks.recorder import RunRecorder

    log_path = out / "logs" / f"{spec.run_id}.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    bar = events = None
    if show_steps:
        from tqdm.auto import tqdm

        bar = tqdm(total=spec.steps, desc=spec.run_id, leave=False, unit="step")
    if tensorboard:
        from benchmarks.event_log import EventLog

        events = EventLog(out / "tensorboard" / spec.run_id)
    with open(log_path, "w") as log:
        recorder = RunRecorder(spec, env, agent, log, events, bar)
        last = rollout(env, agent, spec.steps, spec.seed, on_step=recorder)
    if bar is not None:
        bar.close()
    if events is not None:
        events.close()
    return recorder, last


def _result(spec: RunSpec, env: Any, agent: Any, recorder: Any, last: dict[str, Any], wall_time: float,
            out: pathlib.Path) -> dict[str, Any]:
    """The finished run's result: what the recorder kept, the final test figures, the compute spent and the
    plain training step it is measured against. Reads what it needs of the model before timing the plain step,
    which trains the model further (and exports the model first when ``spec.export``)."""
    u = env.unwrapped
    aux_tokens = int(u.observation()[1]["aux_tokens_trained"]) if last else 0  # before plain_step_time's training
    if spec.export:  # before plain_step_time, which trains the model further
        u.export_model(out / "models" / spec.run_id)
    plain = plain_step_time(env, spec.seed)
    steps_done = max(1, int(last.get("step", 0)))
    b = u.config.trained_per_step
    recorded = recorder.summary(steps_done)
    curve = recorded["curve"]
    result = {
        "spec": asdict(spec), "fingerprint": spec.fingerprint(), **recorded,
        "final_test_nll": curve[-1]["test_nll"], "examples_streamed": last.get("examples_streamed"),
        "final_choice_accuracy": curve[-1].get("choice_accuracy"), "choice_chance": 1.0 / spec.choices,
        "final_completion_accuracy": curve[-1].get("completion_accuracy"),
        "examples_trained": last.get("examples_trained"), "tokens_trained": last.get("tokens_trained"),
        "aux_tokens_trained": aux_tokens,  # of tokens_trained: those auxiliary losses trained
        "gradient_steps": steps_done, "train_batch": u.config.train_batch,
        "flops": recorder.flops.get("flops/total", recorder.reset_flops),
        "plain_step_flops": u.learner.flop_model.train(b * u.config.context_length),
        "flop_params": u.learner.flop_model.params, "wall_time": wall_time, "plain_step_time": plain,
        "target": u.data.task.target.label, "stream_shares": u.data.stream_shares,
        "splits": {"heldout": len(u.data.heldout), "test": len(u.data.test)},  # heldout/test_size are upper bounds
        "reads_labels": getattr(agent, "reads_labels", None),  # "reference" / "source" (benchmarks.label_marks)
    }
    if recorder.needle_hits:  # the needle task: how often was the needle among the trained windows?
        result["needle_trained"] = _needle_trained(recorder.needle_hits, u.config)
    return result


def _needle_trained(needle_hits: list, cfg: Any) -> dict[str, float]:
    """The needle task's figure: the share of steps that trained the needle, over the whole run and its second
    half, and chance (B of N)."""
    return {"all": float(np.mean(needle_hits)), "second_half": float(np.mean(needle_hits[len(needle_hits) // 2:])),
            "chance": cfg.trained_per_step / cfg.num_candidates}


def save_result(out: pathlib.Path, result: dict[str, Any]) -> pathlib.Path:
    """Write a finished run atomically to ``out/runs/<run>.json``."""
    spec = RunSpec(**result["spec"])
    path = result_path(out, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, result)
    return path

