"""Gymnasium wrappers over CurriculumSelectEnv.

- :class:`LangevinRAG` (with :class:`LangevinRAGConfig`): Algorithm 2, SGLD-guided retrieval of the
  candidates (paper §3). Re-exported lazily so importing a submodule stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LangevinRAG", "LangevinRAGConfig", "SGLDConfig"]


def __getattr__(name: str) -> Any:
    if name in ("LangevinRAG", "LangevinRAGConfig"):
        from curriculum_env.wrappers import langevin_rag

        return getattr(langevin_rag, name)
    if name == "SGLDConfig":
        from curriculum_env.wrappers.sgld import SGLDConfig

        return SGLDConfig
    raise AttributeError(f"module 'curriculum_env.wrappers' has no attribute {name!r}")
