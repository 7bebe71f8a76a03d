"""What a run keeps of the loop: the recorder :func:`benchmarks.runs.execute` hands to ``rollout`` as ``on_step``."""

from __future__ import annotations

import math
import time
from typing import IO, Any

import numpy as np

from benchmarks.strict_json import strict_json

RETRIEVAL_WINDOWS = ("rag/ring_size", "rag/ingested_total")  # the windows a retrieval agent looked at


def top_q_windows(agent: Any, acted: dict, tokenizer, k: int = 3) -> list[dict] | None:
    """The ``k`` candidates with the highest ``agent.last_q`` (Q of the batch it last acted on, described
    by ``acted``), with source and the start of their text."""
    q = getattr(agent, "last_q", None)
    if q is None or len(q) != len(acted["source"]):
        return None
    q = np.asarray(q, dtype=float)
    order = np.argsort(-q)[:k]
    return [{"q": float(q[i]), "source": str(acted["source"][i]),
             "text": tokenizer.decode(acted["token_ids"][i][:24].tolist())} for i in order]


def trained_share(counts: dict[str, int]) -> dict[str, float]:
    """Each source label's share of the windows trained in a run (``{}`` when nothing was trained)."""
    total = sum(counts.values())
    return {label: n / total for label, n in sorted(counts.items())} if total else {}


class RunRecorder:
    """Turns the loop's :class:`~agents.base.StepRecord` stream into a run's curve (test NLL every
    ``eval_every`` steps, multiple-choice and completion accuracy every ``choice_every``), diagnostics, timings, the
    per-step JSONL log and, optionally, TensorBoard events and a progress bar.

    Timing: ``setup_time`` is agent setup plus reset (up to the step-0 record); each later step's time
    runs from the end of the previous record's bookkeeping (evaluations and logging are not part of a
    step) to its record.
    """

    def __init__(self, spec: Any, env: Any, agent: Any, log: IO[str], events: Any = None, bar: Any = None):
        self.spec, self.env, self.agent, self.log, self.events, self.bar = spec, env, agent, log, events, bar
        data = env.unwrapped.data
        self.tokenizer, self.needle_task = data.tokenizer, data.task.needle
        self.curve: list[dict[str, float]] = []
        self.diagnostics: list[dict[str, float]] = []
        self.top_q: dict[str, Any] = {}
        self.mass_sums: dict[str, float] = {}
        self.trained_counts: dict[str, int] = {}  # source label -> windows the env trained (all agents)
        self.windows: dict[str, float] = {}
        self.needle_hits: list[float] = []
        self.step_times: list[float] = []
        self.flops: dict[str, float] = {}
        self.reset_flops = 0.0
        self.setup_time = math.nan
        s = spec.steps
        self.marks = {max(1, s // 10): "early", max(1, s // 2): "middle", s: "late"}
        self.t0 = self.clock = time.perf_counter()

    def _downstream(self) -> dict[str, float]:
        """The downstream metrics: multiple-choice and greedy completion accuracy on the test split."""
        u = self.env.unwrapped
        return {"choice_accuracy": u.evaluate_choice(self.spec.choices), "completion_accuracy": u.evaluate_completion()}

    def __call__(self, rec: Any) -> None:
        if rec.step == 0:
            self._reset(rec)
        else:
            self._step(rec)
        self.clock = time.perf_counter()  # evaluation and logging are not part of the step

    def _reset(self, rec: Any) -> None:
        """The untrained model's point of the curve (step 0) and the first observation's forward FLOPs."""
        self.setup_time = time.perf_counter() - self.clock
        u = self.env.unwrapped
        self.reset_flops = u.learner.flops.total
        self.curve.append({"step": 0, "examples_streamed": rec.info["examples_streamed"], "examples_trained": 0,
                           "flops": self.reset_flops, "test_nll": u.evaluate("test"), **self._downstream()})

    def _step(self, rec: Any) -> None:
        self.step_times.append(time.perf_counter() - self.clock)
        step, info, metrics, spec = rec.step, rec.info, rec.metrics, self.spec
        row = {"step": step, "reward": info.get("reward"), "examples_streamed": info["examples_streamed"],
               "examples_trained": info["examples_trained"], "train_loss": info.get("train_loss"),
               "lr": info.get("lr"), "flops": info["flops/total"], **{k: float(v) for k, v in metrics.items()}}
        for label in info.get("trained_source", ()):  # what the env trained this step, by source
            self.trained_counts[str(label)] = self.trained_counts.get(str(label), 0) + 1
        if self.needle_task:  # the trained windows' labels (the record's info describes the next batch)
            self.needle_hits.append(float("needle" in set(info["trained_source"])))
            row["needle_trained"] = self.needle_hits[-1]
        choice_due = step % spec.choice_every == 0 or step == spec.steps
        if step % spec.eval_every == 0 or choice_due:
            row["test_nll"] = self.env.unwrapped.evaluate("test")
            point = {"step": step, "examples_streamed": info["examples_streamed"],
                     "examples_trained": info["examples_trained"], "flops": info["flops/total"],
                     "test_nll": row["test_nll"]}
            if choice_due:
                downstream = self._downstream()
                point.update(downstream)
                row.update(downstream)
            self.curve.append(point)
        self.flops.update({k: v for k, v in info.items() if k.startswith("flops/")})
        if metrics and step % max(1, spec.steps // 50) == 0:
            self.diagnostics.append({"step": step, **{k: float(v) for k, v in metrics.items()}})
        for k, v in metrics.items():
            if k.startswith(("mass/", "retrieved/")):  # policy mass; Langevin-RAG's retrieved sources
                self.mass_sums[k] = self.mass_sums.get(k, 0.0) + float(v)
            elif k in RETRIEVAL_WINDOWS:
                self.windows[k.removeprefix("rag/")] = float(v)
        if step in self.marks and rec.acted is not None:
            top = top_q_windows(self.agent, rec.acted, self.tokenizer)
            if top is not None:
                self.top_q[self.marks[step]] = top
        self.log.write(strict_json(row) + "\n")
        if self.events is not None:
            self.events.step(step, info, metrics, self.step_times[-1], row.get("test_nll"))
        if self.bar is not None:
            self.bar.update(1)

    def summary(self, steps_done: int) -> dict[str, Any]:
        """The run result's fields the recorder owns."""
        times = self.step_times
        out = {"curve": self.curve, "flops_by_phase": self.flops, "diagnostics": self.diagnostics,
               "top_q": self.top_q, "setup_time": self.setup_time,
               "step_time": float(np.mean(times)) if times else float("nan"),
               "step_time_median": float(np.median(times)) if times else float("nan"),
               "mean_mass": {k: v / steps_done for k, v in self.mass_sums.items()},
               "trained_share": trained_share(self.trained_counts)}
        if self.windows:
            out["windows"] = self.windows
        return out

