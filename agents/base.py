"""The agent protocol every curriculum agent follows, and the one loop that runs it.

An agent is any object with these methods (no base class needed)::

    name: str                      # short id used in tables
    action_mode: str               # "mixture" or "select": the env action mode it needs
    setup(env, seed) -> None       # once per episode, before env.reset; may keep env.unwrapped.learner
    act(obs, info) -> action       # obs [N, d] float32; info from the env (loss, entropy, source, ...)
    observe(reward, obs, info, terminated, truncated) -> None   # learn from the step just taken
    metrics() -> dict[str, float]  # optional: diagnostics of the last step (flat, prefixed names)
    state_dict() -> dict; load_state_dict(state) -> None   # optional: checkpointing
    env_kwargs: dict               # optional: env config it needs beyond action_mode (e.g. paired_reward,
                                   # candidate_stats = exactly the per-candidate statistics it reads)
    reads_labels: str | None       # optional: "reference" if it reads which source is the target (the oracle),
                                   # "source" if it reads info["source"] but never which is the target (ODM);
                                   # the benchmark marks such rows. Absent: it reads no source label

Agents that drive the env themselves (Stable-Baselines3's ``learn``) implement instead::

    drive(env, steps, seed, on_step) -> None   # must call on_step(StepRecord) for the reset and each step

:func:`rollout` runs either kind for a number of steps, so benchmarks and tests share one loop.

**Training budget.** An env made with ``train_batch=B`` trains exactly B of the N candidates each
step (the B largest action weights, ties at random; see the env's docstring). Agents read B in
``setup`` with :func:`train_budget` (``None``: no budget, the all-N mixture) and, where it matters,
shape their action so the env's top-B is the set they mean to train. Agents read ``info["loss"]`` /
``info["entropy"]`` through :func:`candidate_stat`, which names ``candidate_stats`` when the env was
made without the statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

OnStep = Callable[["StepRecord"], None]


@runtime_checkable
class Agent(Protocol):
    """What the harness calls on every agent (see the module docstring); :func:`missing_methods` checks it.
    ``metrics``, ``state_dict``/``load_state_dict`` and ``env_kwargs`` are optional, and an agent with
    ``drive`` needs none of the methods."""

    name: str
    action_mode: str

    def setup(self, env: gym.Env, seed: int) -> None: ...

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> Any: ...

    def observe(self, reward: float, obs: np.ndarray, info: dict[str, Any], terminated: bool,
                truncated: bool) -> None: ...


PROTOCOL_METHODS = tuple(name for name, value in vars(Agent).items()
                         if callable(value) and not name.startswith("_"))  # setup, act, observe


def missing_methods(agent: Any) -> list[str]:
    """The :class:`Agent` methods ``agent`` lacks (an agent with ``drive`` drives the env itself), plus
    ``action_mode`` when it does not declare one."""
    needed = () if callable(getattr(agent, "drive", None)) else PROTOCOL_METHODS
    missing = [m for m in needed if not callable(getattr(agent, m, None))]
    if getattr(agent, "action_mode", None) not in ("mixture", "select"):
        missing.append("action_mode ('mixture' or 'select')")
    return missing


@dataclass(frozen=True)
class StepRecord:
    """One record of the loop (:func:`agent_steps`, :func:`rollout`).

    ``step`` 0 is the reset: ``info`` describes the first candidates, ``reward`` is None, ``acted`` None
    and ``metrics`` empty. For ``step`` >= 1, ``acted`` is the info the agent acted on (the candidates
    this step chose among: ``info["trained"]`` indexes them) and ``info`` is the env's info after the
    step (its counters and the *next* candidates); ``metrics`` are the agent's after ``observe``.
    """

    step: int
    info: dict[str, Any]
    reward: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    acted: dict[str, Any] | None = None


def rollout(env: gym.Env, agent: Any, steps: int, seed: int, on_step: OnStep | None = None) -> dict[str, float]:
    """Run ``agent`` on ``env`` for ``steps`` steps from ``reset(seed=seed)``, calling ``on_step(record)``
    with a :class:`StepRecord` for the reset (step 0) and after every step.

    Returns the last step's info summary (``reward``, counters). Stops early, after reporting the
    step, when the env terminates (training diverged).
    """
    if getattr(agent, "action_mode", None) not in ("mixture", "select"):
        raise ValueError(f"agent {agent!r} must declare action_mode 'mixture' or 'select'")
    if env.unwrapped.config.action_mode != agent.action_mode:
        raise ValueError(
            f"agent {getattr(agent, 'name', agent)!r} needs action_mode={agent.action_mode!r} but the env "
            f"was made with {env.unwrapped.config.action_mode!r}"
        )
    last: dict[str, float] = {}

    def record(rec: StepRecord) -> None:
        if rec.step:
            i = rec.info
            last.update(reward=rec.reward, step=rec.step, examples_streamed=i["examples_streamed"],
                        examples_trained=i["examples_trained"], tokens_trained=i["tokens_trained"])
        if on_step is not None:
            on_step(rec)

    if hasattr(agent, "drive"):
        agent.drive(env, steps, seed, record)
    else:
        for rec in agent_steps(env, agent, seed, steps):
            record(rec)
    return last


def agent_steps(env: gym.Env, agent: Any, seed: int, steps: int | None = None) -> Iterator[StepRecord]:
    """The loop itself, one :class:`StepRecord` per ``next()``: ``setup`` and ``reset(seed=seed)`` (step 0),
    then ``act`` / ``step`` / ``observe``. Ends after ``steps`` steps (``None``: never) or after a
    terminating step (training diverged); after a truncating step it resets before the next act (that
    reset is not a record: the next record's ``acted`` is its info). No checks: :func:`rollout` makes
    them; callers that interleave several loops (``benchmarks.throughput``) step it themselves.
    """
    agent.setup(env, seed)
    metrics = getattr(agent, "metrics", dict)  # optional: an agent without it reports nothing
    obs, info = env.reset(seed=seed)
    yield StepRecord(0, info)
    step = 0
    while steps is None or step < steps:
        step += 1
        acted = info
        action = agent.act(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        agent.observe(reward, obs, info, terminated, truncated)
        yield StepRecord(step, info, reward, metrics(), acted)
        if terminated:
            return
        if truncated:
            obs, info = env.reset()


def train_budget(env: Any) -> int | None:
    """B, the env's ``train_batch`` (candidates trained per step), or ``None`` without a budget.

    Reads ``env.unwrapped.config.train_batch``; an env (or test stub) without that config has no budget.
    """
    config = getattr(getattr(env, "unwrapped", env), "config", None)
    b = getattr(config, "train_batch", None)
    return None if b is None else int(b)


def candidate_stat(info: dict[str, Any], key: str) -> np.ndarray:
    """``info[key]`` [N] (``loss`` or ``entropy``), or a KeyError naming the env's ``candidate_stats``."""
    if key not in info:
        raise KeyError(f"info has no {key!r}: make the env with candidate_stats including {key!r} "
                       f"(the agent's env_kwargs ask for it)")
    return info[key]


def gumbel_top_k(log_p: np.ndarray, k: int, rng: Any) -> np.ndarray:
    """k distinct indices drawn without replacement with probabilities ``softmax(log_p)`` [N]:
    the k largest of ``log_p + Gumbel noise`` (Gumbel-top-k; the first index is a draw from it).
    Entries with ``log_p = -inf`` come last. Returns int64 [k], in the order drawn.

    ``rng``: a numpy Generator, or a ``torch.Generator`` for agents whose random stream is torch's
    (the noise is then -log(-log(u)) of float64 uniforms drawn from it)."""
    log_p = np.asarray(log_p, dtype=np.float64)
    if not 1 <= k <= len(log_p):
        raise ValueError(f"k must lie in [1, {len(log_p)}], got {k!r}")
    if isinstance(rng, np.random.Generator):
        noise = rng.gumbel(size=len(log_p))
    else:
        import torch

        u = torch.rand(len(log_p), generator=rng, dtype=torch.float64).clamp_min(1e-300)
        noise = (-torch.log(-torch.log(u))).numpy()
    return np.argsort(-(log_p + noise), kind="stable")[:k]  # [k]


def source_mass(weights: np.ndarray, sources: np.ndarray) -> dict[str, float]:
    """Share of ``weights`` on each source label: ``{"mass/<label>": share}``."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    return {f"mass/{label}": float(w[sources == label].sum()) for label in np.unique(sources)}
