"""One benchmark run (agent x task x seed): train, evaluate on the test split, write atomically."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; its hash names the result file."""

    agent: str
    task: str
    seed: int
    steps: int
    eval_every: int
    env: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return f"{self.task}__{self.agent}__{self.seed}"

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def atomic_write_json(path: pathlib.Path, obj: Any) -> None:
    """Write JSON so a crash leaves either the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def result_path(out: pathlib.Path, spec: RunSpec) -> pathlib.Path:
    return out / "runs" / f"{spec.run_id}.json"


def is_done(out: pathlib.Path, spec: RunSpec) -> bool:
    """Whether a finished result for exactly this spec is on disk."""
    path = result_path(out, spec)
    if not path.exists():
        return False
    try:
        return json.loads(path.read_text()).get("fingerprint") == spec.fingerprint()
    except json.JSONDecodeError:
        return False


def _top_q_windows(agent: Any, info: dict, tokenizer, k: int = 3) -> list[dict] | None:
    q = getattr(agent, "last_q", None)
    if q is None:
        return None
    q = np.asarray(q, dtype=float)
    order = np.argsort(-q)[:k]
    return [{"q": float(q[i]), "source": str(info["source"][i]),
             "text": tokenizer.decode(info["token_ids"][i][:24].tolist())} for i in order]


def execute(spec: RunSpec, out: pathlib.Path, show_steps: bool = False) -> dict[str, Any]:
    """Run ``spec``; log every step to ``out/logs/<run>.jsonl`` and return the result.

    The caller writes the result (:func:`save_result`), so remote workers (Ray) need no shared disk
    for results and a run killed midway leaves no result file.
    """
    import gymnasium as gym
    import torch

    import curriculum_env  # noqa: F401
    from agents import make_agent
    from agents.base import rollout

    torch.set_num_threads(1)
    agent = make_agent(spec.agent)
    env = gym.make("CurriculumSelect-v0", task=spec.task, action_mode=agent.action_mode,
                   max_episode_steps=spec.steps + 1, **{**getattr(agent, "env_kwargs", {}), **spec.env})
    tokenizer = env.unwrapped.data.tokenizer
    curve: list[dict[str, float]] = []
    diagnostics: list[dict[str, float]] = []
    top_q: dict[str, Any] = {}
    mass_sums: dict[str, float] = {}
    log_path = out / "logs" / f"{spec.run_id}.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    marks = {max(1, spec.steps // 10): "early", max(1, spec.steps // 2): "middle", spec.steps: "late"}
    bar = None
    if show_steps:
        from tqdm.auto import tqdm

        bar = tqdm(total=spec.steps, desc=spec.run_id, leave=False, unit="step")
    t0 = time.perf_counter()

    with open(log_path, "w") as log:

        def on_step(step: int, reward: float, info: dict, metrics: dict) -> None:
            row = {"step": step, "reward": reward, "examples_streamed": info["examples_streamed"],
                   "train_loss": info.get("train_loss"), **{k: float(v) for k, v in metrics.items()}}
            if step % spec.eval_every == 0 or step == spec.steps:
                row["test_nll"] = env.unwrapped.evaluate("test")
                curve.append({"step": step, "examples_streamed": info["examples_streamed"],
                              "examples_trained": info["examples_trained"], "test_nll": row["test_nll"]})
            if metrics and step % max(1, spec.steps // 50) == 0:
                diagnostics.append({"step": step, **{k: float(v) for k, v in metrics.items()}})
            for k, v in metrics.items():
                if k.startswith("mass/"):
                    mass_sums[k] = mass_sums.get(k, 0.0) + float(v)
            if step in marks:
                top = _top_q_windows(agent, info, tokenizer)
                if top is not None:
                    top_q[marks[step]] = top
            log.write(json.dumps(row, default=_jsonable) + "\n")
            if bar is not None:
                bar.update(1)

        # the untrained model: reset(seed) is deterministic, and rollout resets with the same seed
        env.reset(seed=spec.seed)
        initial = env.unwrapped.evaluate("test")
        last = rollout(env, agent, spec.steps, spec.seed, on_step=on_step)
    if bar is not None:
        bar.close()
    n0 = env.unwrapped.config.num_candidates
    curve.insert(0, {"step": 0, "examples_streamed": n0, "examples_trained": 0, "test_nll": initial})
    steps_done = max(1, int(last.get("step", 0)))
    result = {
        "spec": asdict(spec), "fingerprint": spec.fingerprint(), "curve": curve,
        "final_test_nll": curve[-1]["test_nll"], "examples_streamed": last.get("examples_streamed"),
        "examples_trained": last.get("examples_trained"), "tokens_trained": last.get("tokens_trained"),
        "gradient_steps": steps_done, "wall_time": time.perf_counter() - t0,
        "diagnostics": diagnostics, "top_q": top_q,
        "mean_mass": {k: v / steps_done for k, v in mass_sums.items()},
    }
    env.close()
    return result


def save_result(out: pathlib.Path, result: dict[str, Any]) -> pathlib.Path:
    """Write a finished run atomically to ``out/runs/<run>.json``."""
    spec = RunSpec(**result["spec"])
    path = result_path(out, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, result)
    return path

