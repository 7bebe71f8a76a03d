"""CurriculumSelect: language-model training as a Gymnasium environment.

Importing this package registers ``CurriculumSelect-v0`` and does no model or data work; the env
class and learner are imported on first use.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from gymnasium.envs.registration import register, registry

from curriculum_env.config import EPISODE_STEPS, EnvConfig

__version__ = "0.1.0"
__all__ = ["EnvConfig", "CurriculumSelectEnv", "Learner", "Task", "Source", "__version__"]

ENV_ID = "CurriculumSelect-v0"
if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="curriculum_env.env:CurriculumSelectEnv", max_episode_steps=EPISODE_STEPS)


def _one_torch_thread_after_fork() -> None:
    """In a forked child (gymnasium's async vector env on Linux), run torch on one intra-op thread.

    A parent that has run any torch op holds an OpenMP thread pool that a forked child inherits in a
    state it cannot use: the child's first parallel op waits forever. PyTorch's DataLoader workers
    set one thread for the same reason. Only acts if torch is already imported (this package's import
    stays free of torch)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_one_torch_thread_after_fork)


def __getattr__(name: str) -> Any:  # lazy re-exports keep the import cheap
    if name == "CurriculumSelectEnv":
        from curriculum_env.env import CurriculumSelectEnv

        return CurriculumSelectEnv
    if name == "Learner":
        from curriculum_env.learner import Learner

        return Learner
    if name in ("Task", "Source"):
        from curriculum_env.data import tasks

        return getattr(tasks, name)
    raise AttributeError(f"module 'curriculum_env' has no attribute {name!r}")
