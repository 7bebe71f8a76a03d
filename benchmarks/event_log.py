"""TensorBoard event files for a benchmark run (``compare --tensorboard``), next to its JSONL log.

Tags follow the prefixes SB3 and CleanRL use, so a run reads like an RL run and an LM run at once:

- ``train/``: the env's reward (when the agent reads it), the LM's training loss, gradient norm and learning
  rate, examples trained, the run's model FLOPs so far;
- ``eval/test_nll``: the test split (every ``eval_every`` steps);
- ``time/``: the env's phases (``info["time/*"]``) and ``time/step``, the harness's wall time of the step;
- the agent's own metrics keep their prefix (``policy/``, ``q/``, ``td/``, ``mass/``, ...); an
  unprefixed one goes under ``agent/``.

The x-axis is the gradient step (every agent of a table trains the same examples per step).
"""

from __future__ import annotations

import math
import pathlib
from typing import Any

INFO_SCALARS = {"reward": "train/reward", "train_loss": "train/loss", "grad_norm": "train/grad_norm",
                "examples_trained": "train/examples_trained", "lr": "train/lr", "flops/total": "train/flops"}


def require_tensorboard() -> None:
    """Raise ``SystemExit`` with the install command when TensorBoard is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError as exc:
        raise SystemExit("--tensorboard needs TensorBoard: pip install -c constraints.txt "
                         "'curriculum-select[tensorboard]'") from exc


class EventLog:
    """Scalars of one run written under ``folder`` (one TensorBoard run)."""

    def __init__(self, folder: pathlib.Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(folder))

    def step(self, step: int, info: dict[str, Any], metrics: dict[str, float], step_time: float,
             test_nll: float | None = None) -> None:
        """Log one step: ``info`` from the env, ``metrics`` from the agent."""
        scalars = {tag: info.get(key) for key, tag in INFO_SCALARS.items()}
        scalars.update({key: info[key] for key in info if key.startswith("time/")})
        scalars["time/step"] = step_time
        scalars.update({(k if "/" in k else f"agent/{k}"): v for k, v in metrics.items()})
        if test_nll is not None:
            scalars["eval/test_nll"] = test_nll
        for tag, value in scalars.items():
            if isinstance(value, (int, float)) and math.isfinite(float(value)):
                self._writer.add_scalar(tag, float(value), step)

    def close(self) -> None:
        self._writer.close()
