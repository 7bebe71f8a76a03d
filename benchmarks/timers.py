"""Timers of env steps, one module for the CLIs and studies that time them.

:class:`StepClock` times the agent steps of :func:`agents.base.rollout`; :class:`Stepper` advances an env and an
agent one timed step at a time; :class:`FloorStepper` times a budgeted step's raw model calls (its compute floor)
and :class:`PlainStepper` plain training's step on an env's own learner (the harness's reference for every
selection overhead, :func:`plain_step_time`); :func:`interleaved` runs several steppers in alternating blocks.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from curriculum_env.models import token_nll

PHASES = ("forward", "update", "reward")
"""The env phases a stepper times (``info["time/<phase>"]``)."""


class StepClock(gym.Wrapper):
    """Times the agent steps of :func:`agents.base.rollout`: wrap the env, hand the wrapper to rollout, and
    in ``on_step`` read :meth:`elapsed` first and call :meth:`restart` last.

    ``elapsed()`` is then the agent's ``act`` + ``env.step`` + ``observe`` alone: the clock restarts at
    the end of every ``on_step`` and of every ``reset`` (so agent setup, resets and whatever ``on_step``
    does are left out). ``on_reset``, if given, is called after each reset, before the clock restarts.
    """

    def __init__(self, env: gym.Env, on_reset: Callable[[], None] | None = None):
        super().__init__(env)
        self.on_reset = on_reset
        self.mark = time.perf_counter()

    def reset(self, **kwargs):
        out = self.env.reset(**kwargs)
        if self.on_reset is not None:
            self.on_reset()
        self.restart()
        return out

    def elapsed(self) -> float:
        """Seconds since the last :meth:`restart` (or reset)."""
        return time.perf_counter() - self.mark

    def restart(self) -> None:
        self.mark = time.perf_counter()


class UniformWeights:
    """The agent of the plain arms: equal weight on every candidate (the paper's all-N mixture, or B of
    them at random under a budget)."""

    action_mode = "mixture"
    name = "uniform"

    def setup(self, env: gym.Env, seed: int) -> None:
        self.shape = env.action_space.shape

    def act(self, obs: np.ndarray, info: dict) -> np.ndarray:
        return np.ones(self.shape, dtype=np.float32)

    def observe(self, reward, obs, info, terminated, truncated) -> None:
        pass


class Stepper:
    """An env plus an agent (``None``: :class:`UniformWeights`), advanced one step per :meth:`step`
    through :func:`agents.base.agent_steps` (the package's one loop, as a generator, so the sections
    can interleave several steppers a block at a time), with each step's wall time (agent ``act`` +
    ``env.step`` + ``observe``; :class:`StepClock` leaves setup and resets out) and env phase times.
    """

    def __init__(self, env_kwargs: dict, agent: str | None, seed: int = 0):
        from agents import make_agent
        from agents.base import agent_steps

        self.env = gym.make("CurriculumSelect-v0", **{"timings": True, **env_kwargs})  # per-phase times
        self.agent = make_agent(agent) if agent else UniformWeights()
        self.clock = StepClock(self.env)
        self._loop = agent_steps(self.clock, self.agent, seed)
        next(self._loop)  # setup and reset (step 0) now, so other arms may read its model
        self.times: list[float] = []
        self.phases: dict[str, list[float]] = {k: [] for k in PHASES}

    def step(self) -> None:
        self.clock.restart()
        try:
            info = next(self._loop).info
        except StopIteration:
            raise RuntimeError("the env terminated (training diverged): no more steps to time") from None
        self.times.append(self.clock.elapsed())
        for k in self.phases:
            self.phases[k].append(float(info[f"time/{k}"]))


class FloorStepper:
    """The compute floor of one budgeted env step, as raw model calls on a *copy* of an env's model.

    One step: ``model(ids_N)`` under no_grad (the full LM forward, logits included; ``body_only``:
    the transformer body alone, as the env's observation forward without statistics), then
    ``model(ids_B)`` with grad -> per-token cross-entropy mean -> backward -> ``clip_grad_norm_`` ->
    AdamW step, then the reward forward ``model(ids_M)`` under no_grad + cross-entropy. The model and
    its AdamW are deep copies / fresh ones (the env's ``lr``, ``weight_decay``, ``grad_clip``), so
    stepping the floor never touches the env. Windows come from the env's own data (a candidate
    stream of its task and held-out windows of D), drawn before timing; only model calls are timed.
    Same interface as :class:`Stepper` (``step``, ``times``, ``phases``).
    """

    def __init__(self, env: gym.Env, budget: int, seed: int = 0, pool: int = 32, body_only: bool = False):
        from curriculum_env.data.stream import CandidateStream

        u = env.unwrapped
        cfg = u.config
        self.model = copy.deepcopy(u.learner.model).train()
        self.params = list(self.model.parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.grad_clip = cfg.grad_clip
        self.forward_n = self.model.base_model if body_only else self.model
        device = u.learner.device
        rng = np.random.default_rng(seed)
        stream = CandidateStream(u.data, cfg.num_candidates, np.random.default_rng(seed))
        heldout = u.data.heldout
        m = min(cfg.reward_batch, len(heldout))
        self.windows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for _ in range(pool):
            ids = stream.next_batch().ids
            chosen = np.sort(rng.choice(cfg.num_candidates, size=budget, replace=False))
            held = heldout.sample(rng, m)
            self.windows.append(tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device)
                                      for a in (ids, ids[chosen], held)))
        self._k = 0
        self.times: list[float] = []
        self.phases: dict[str, list[float]] = {k: [] for k in PHASES}

    def _nll(self, ids: torch.Tensor) -> torch.Tensor:
        return token_nll(self.model(input_ids=ids).logits, ids).mean()  # the fastest NLL we know

    def step(self) -> None:
        ids_n, ids_b, ids_m = self.windows[self._k % len(self.windows)]
        self._k += 1
        t0 = time.perf_counter()
        with torch.no_grad():
            self.forward_n(input_ids=ids_n)
        t1 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        self._nll(ids_b).backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        t2 = time.perf_counter()
        with torch.no_grad():
            float(self._nll(ids_m))
        t3 = time.perf_counter()
        self.times.append(t3 - t0)
        for k, v in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            self.phases[k].append(v)


class PlainStepper:
    """Plain training on the env's own learner: B random windows of its stream per step, one
    ``learner.update`` (forward/backward, clip, AdamW), no scoring forward, no reward -- the reference
    row of the FLOPs columns (``6·P`` per trained token). Windows are drawn before timing. It steps
    the env's own model, so give it an env of its own."""

    def __init__(self, env: Any, budget: int, seed: int = 0, pool: int = 32):
        from curriculum_env.data.stream import CandidateStream

        u = env.unwrapped
        self.learner = u.learner
        self.budget = budget
        rng = np.random.default_rng(seed)
        stream = CandidateStream(u.data, u.config.num_candidates, np.random.default_rng(seed))
        self.windows = [stream.next_batch().ids[np.sort(rng.choice(u.config.num_candidates, budget, replace=False))]
                        for _ in range(pool)]
        self._k = 0
        self.times: list[float] = []
        self.phases: dict[str, list[float]] = {k: [] for k in ("forward", "update", "reward")}

    def step(self) -> None:
        ids = self.windows[self._k % len(self.windows)]
        self._k += 1
        t0 = time.perf_counter()
        self.learner.update(np.full(self.budget, 1.0 / self.budget), ids)
        self.times.append(time.perf_counter() - t0)
        for k, v in zip(self.phases, (0.0, self.times[-1], 0.0), strict=True):
            self.phases[k].append(v)


def plain_step_time(env, seed: int, steps: int = 20) -> float:
    """Seconds per step of plain training (:class:`PlainStepper`) on the env's own model, measured at the
    end of a run under the same load, as the reference the selection overhead is reported against. It
    trains the model further: call it after the last evaluation."""
    u = env.unwrapped
    stepper = PlainStepper(env, u.config.trained_per_step, seed, pool=steps + 2)
    for _ in range(steps + 2):
        stepper.step()
    return float(np.mean(stepper.times[2:]))  # the first two warm the allocator


def interleaved(steppers: dict, rounds: int, block: int, warmup: int = 5,
                stat: Callable[[list[float]], float] = statistics.median) -> dict[str, float]:
    """Seconds per step of each stepper (the median by default), run in alternating blocks."""
    for s in steppers.values():
        for _ in range(warmup):
            s.step()
        s.times.clear()
        for v in s.phases.values():
            v.clear()
    for _ in range(rounds):
        for s in steppers.values():
            for _ in range(block):
                s.step()
    return {name: stat(s.times) for name, s in steppers.items()}


def phase_medians(stepper) -> dict[str, float]:
    """Median seconds of each phase, plus ``other``: the median of step time minus the three phases."""
    med = {k: statistics.median(v) for k, v in stepper.phases.items()}
    rest = [t - sum(p) for t, *p in zip(stepper.times, *stepper.phases.values(), strict=True)]
    med["other"] = statistics.median(rest)
    return med
