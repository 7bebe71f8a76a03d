"""Saving and restoring a :class:`~curriculum_env.env.CurriculumSelectEnv` episode exactly (its
``save_state`` / ``load_state``): model, optimizer, stream, generators, counters, FLOPs, the current
candidates, in one ``torch.save`` file that loads with ``weights_only=True``."""

from __future__ import annotations

import copy
import io
import os
import pathlib

import numpy as np
import torch

from curriculum_env.candidate_source import content_keys
from curriculum_env.config import EnvConfig
from curriculum_env.data.stream import Batch
from curriculum_env.episode import Episode
from curriculum_env.files import write_atomic

STATE_VERSION = 3  # 2: the influence probe's generator and last probe; 3: FLOPs counters


def save(env, path: str | os.PathLike) -> None:
    """Write ``env``'s state atomically to ``path`` (see ``CurriculumSelectEnv.save_state``)."""
    if env._batch is None:
        raise RuntimeError("call reset() before save_state()")
    state = {
        "version": STATE_VERSION,
        "config": plain_config(env.config),
        "learner": env.learner.state_dict(),
        "stream": to_torch(env.stream.state_dict()),
        "np_random": env.np_random.bit_generator.state,
        **episode_state(env.episode),
        "streamed": torch.from_numpy(env._streamed.keys()),  # the windows a candidate may be
        "flops": env.learner.flops.state_dict(),
        "batch": {"ids": torch.from_numpy(env._batch.ids), "source": [str(s) for s in env._batch.source],
                  "rarity": torch.from_numpy(env._batch.rarity), "length": torch.from_numpy(env._batch.length)},
    }
    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot save the env state to {path}: it is a directory; give a file path")
    parent = path.parent
    if not parent.exists() or not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise FileNotFoundError(f"cannot save the env state to {path}: its folder {parent} {what}")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        write_atomic(path, buffer.getvalue())
    except OSError as exc:
        raise OSError(f"cannot save the env state to {path}: {exc}") from exc


def load(env, path: str | os.PathLike) -> None:
    """Restore ``env`` from a :func:`save` file, or leave it exactly as it was and raise."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"cannot read env state from {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise ValueError(f"{path} is not a CurriculumSelect env state (version {STATE_VERSION})")
    if state["config"] != plain_config(env.config):
        raise ValueError(f"{path} was saved with a different config; build the env with the same arguments")
    if env._batch is None:
        env.reset()
    backup = (copy.deepcopy(env.learner.state_dict()), env.stream.state_dict(),
              env.np_random.bit_generator.state, copy.deepcopy(env.episode),
              env._batch, env._scores, env.learner.flops.state_dict(), env._streamed.keys())
    try:
        env.learner.load_state_dict(state["learner"])
        env.stream.load_state_dict(to_numpy(state["stream"]))
        env.np_random.bit_generator.state = state["np_random"]
        env.episode = Episode.from_state_dict({**state, "last": to_numpy(state["last"]),
                                               "influence": None if state["influence"] is None
                                               else state["influence"].numpy()})
        b = state["batch"]
        env._batch = Batch(b["ids"].numpy(), np.asarray(b["source"], dtype=object),
                           b["rarity"].numpy(), b["length"].numpy())
        streamed = state.get("streamed")  # absent from files saved before it: the current candidates at least
        env._streamed.replace(content_keys(env._batch.ids) if streamed is None else streamed.numpy())
        env._scores = env._score(env._batch.ids)
        env.learner.flops.load_state_dict(state["flops"])  # after re-scoring the batch: not part of the run
    except Exception as exc:
        learner, stream, rng, env.episode, env._batch, env._scores, flops, streamed_keys = backup
        env._streamed.replace(streamed_keys)
        env.learner.flops.load_state_dict(flops)
        env.learner.load_state_dict(learner)
        env.stream.load_state_dict(stream)
        env.np_random.bit_generator.state = rng
        raise ValueError(f"env state in {path} does not fit this env: {exc}") from exc


def episode_state(episode: Episode) -> dict:
    """The episode's fields of a state file (its probe and last record as tensors and lists)."""
    state = episode.state_dict()
    influence = state["influence"]
    return {**state, "influence": None if influence is None else torch.from_numpy(influence),
            "last": to_torch(state["last"])}


def plain_config(config: EnvConfig) -> dict:
    """The config as plain values (tasks by repr) for storing beside a state."""
    return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)) for k, v in vars(config).items()}


def to_torch(obj):
    if isinstance(obj, np.ndarray) and obj.dtype == object:  # labels: a list of str round-trips safely
        return [str(x) for x in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, dict):
        return {k: to_torch(v) for k, v in obj.items()}
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    return obj


def to_numpy(obj):
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, list):
        return np.asarray(obj, dtype=object)
    if isinstance(obj, dict):
        return {k: to_numpy(v) for k, v in obj.items()}
    return obj
