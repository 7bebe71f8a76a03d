"""CurriculumSelect: language-model training as a Gymnasium environment.

Importing this package registers ``CurriculumSelect-v0`` and does no model or data work; the env
class and learner are imported on first use.
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

from curriculum_env.config import EnvConfig

__version__ = "0.1.0"
__all__ = ["EnvConfig", "CurriculumSelectEnv", "Learner", "Task", "Source", "__version__"]

ENV_ID = "CurriculumSelect-v0"
if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="curriculum_env.env:CurriculumSelectEnv", max_episode_steps=1000)


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
