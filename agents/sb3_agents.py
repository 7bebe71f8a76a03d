"""Stable-Baselines3 PPO and DQN as harness agents (``ppo``, ``dqn``), learning directly on the env.

Both use the permutation-equivariant networks of :mod:`agents.sb3_policy`. They follow the
"drives the env itself" half of the agent protocol: ``drive(env, steps, seed, on_step)`` builds the
SB3 model on ``env`` with ``seed`` and runs ``model.learn``; it reports the reset (step 0), then a
small callback reports every env step to ``on_step(StepRecord)`` and stops learning after exactly ``steps`` env steps
(PPO would otherwise finish its rollout of ``n_steps``), so every agent gets the same budget.

SB3 seeds Python's, numpy's and torch's *global* generators and samples actions from them; ``drive``
runs inside :func:`isolated_global_rng`, so the caller's global random state is the same afterwards.

Both read only the observation (``env_kwargs``: ``candidate_stats=()``, the cheapest env step) and
need no change under the env's training budget ``train_batch=B``: PPO's mixture weights are a
logit-normal sample, all positive, and the env trains the B largest of them (so PPO's policy
chooses the B through the order of its weights); a ``select`` action (DQN, PPO select) trains the
chosen candidate plus B - 1 others the env picks at random.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from agents.base import OnStep, StepRecord
from agents.sb3_policy import EquivariantDQNPolicy, EquivariantPolicy
from agents.scoring import check_action_mode


@contextlib.contextmanager
def isolated_global_rng() -> Iterator[None]:
    """Run a block that seeds global RNGs (SB3 does) and restore Python's, numpy's and torch's after."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


class StepReporter(BaseCallback):
    """Calls ``on_step(StepRecord)`` each env step (``acted``: the previous step's info, or the reset's
    ``first``); stops learning after ``steps``."""

    def __init__(self, steps: int, on_step: OnStep, first: dict):
        super().__init__()
        self.steps = steps
        self.report = on_step
        self.acted = first

    def _on_training_start(self) -> None:
        infos = getattr(self.training_env, "reset_infos", None)  # SB3's own reset: the first step acts on it
        if infos:
            self.acted = infos[0]

    def _on_step(self) -> bool:
        reward = float(self.locals["rewards"][0])
        info = self.locals["infos"][0]
        metrics = {f"sb3/{k}": float(v) for k, v in self.model.logger.name_to_value.items()
                   if isinstance(v, (int, float, np.floating, np.integer))}
        self.report(StepRecord(self.num_timesteps, info, reward, metrics, self.acted))
        self.acted = info
        return self.num_timesteps < self.steps


@dataclass
class PPOConfig:
    """Options of :class:`PPOAgent` (SB3 PPO hyper-parameters sized for short curriculum runs)."""

    action_mode: str = "mixture"
    """``mixture``: logit-normal weights over N (see :mod:`agents.sb3_policy`). ``select``: Categorical over N."""
    net_arch: list[int] = field(default_factory=lambda: [64])
    """Hidden sizes of the shared per-candidate MLPs (actor and critic)."""
    learning_rate: float = 3e-4
    """Adam learning rate of the policy."""
    n_steps: int = 64
    """Env steps per rollout before each PPO update."""
    batch_size: int = 32
    """Minibatch size of the PPO update."""
    n_epochs: int = 4
    """Passes over each rollout."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    log_std_init: float = 0.0
    """Initial log sigma of the mixture-mode logit-normal."""
    device: str = "cpu"
    """Torch device of the policy (the policy is tiny; ``cpu`` avoids transfers)."""

    def __post_init__(self) -> None:
        check_action_mode(self.action_mode)


@dataclass
class DQNConfig:
    """Options of :class:`DQNAgent` (select mode only)."""

    action_mode: str = "select"
    """Must be ``select``: DQN picks one candidate (Discrete(N))."""
    net_arch: list[int] = field(default_factory=lambda: [64])
    """Hidden sizes of the shared per-candidate Q-MLP."""
    learning_rate: float = 1e-3
    """Adam learning rate of the Q-network."""
    buffer_size: int = 10_000
    """Replay capacity (capped at the run's step count)."""
    learning_starts: int = 50
    """Env steps collected before the first gradient step."""
    batch_size: int = 32
    """Replay minibatch size."""
    train_freq: int = 1
    """Env steps between gradient steps."""
    target_update_interval: int = 100
    """Env steps between hard target-network updates."""
    exploration_fraction: float = 0.3
    """Share of the run over which epsilon decays from 1 to its final value."""
    exploration_final_eps: float = 0.05
    """Final epsilon of epsilon-greedy."""
    gamma: float = 0.99
    """Discount factor."""
    device: str = "cpu"
    """Torch device of the Q-network."""

    def __post_init__(self) -> None:
        if self.action_mode != "select":
            raise ValueError(f"DQN works in 'select' mode only (Discrete(N)), got action_mode={self.action_mode!r}")


class _SB3Agent:
    """Shared harness plumbing: ``drive`` builds the model and learns for exactly ``steps`` steps."""

    name = "sb3"
    config_class: type = PPOConfig

    def __init__(self, **kwargs: Any):
        self.config = self.config_class(**kwargs)
        self.action_mode = self.config.action_mode
        self.model = None

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """Env config it needs beyond ``action_mode``: no per-candidate statistic (the policy reads the observation)."""
        return {"candidate_stats": ()}

    def make_model(self, env: gym.Env, seed: int, steps: int):
        """The SB3 model on ``env`` for a run of ``steps`` env steps."""
        raise NotImplementedError

    def drive(self, env: gym.Env, steps: int, seed: int, on_step: OnStep) -> None:
        if env.unwrapped.config.action_mode != self.action_mode:
            raise ValueError(f"{self.name} needs an env made with action_mode={self.action_mode!r}")
        _, first = env.reset(seed=seed)  # the reset record (step 0); SB3's learn resets again, from its seed
        on_step(StepRecord(0, first))
        with isolated_global_rng():
            self.model = self.make_model(env, seed, steps)
            # an in-memory logger: SB3's default makes an (empty) tempdir/SB3-<time> folder on every learn()
            self.model.set_logger(Logger(folder=None, output_formats=[]))
            self.model.learn(total_timesteps=steps, callback=StepReporter(steps, on_step, first))

    def metrics(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config),
                "policy": None if self.model is None else self.model.policy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.model is not None and state.get("policy") is not None:
            self.model.policy.load_state_dict(state["policy"])


class PPOAgent(_SB3Agent):
    """SB3 PPO with :class:`~agents.sb3_policy.EquivariantPolicy`, mixture or select mode."""

    name = "ppo"
    config_class = PPOConfig

    def make_model(self, env: gym.Env, seed: int, steps: int):
        from stable_baselines3 import PPO

        c = self.config
        return PPO(EquivariantPolicy, env, learning_rate=c.learning_rate, n_steps=c.n_steps, batch_size=c.batch_size,
                   n_epochs=c.n_epochs, gamma=c.gamma, gae_lambda=c.gae_lambda, ent_coef=c.ent_coef,
                   policy_kwargs=dict(net_arch=list(c.net_arch), log_std_init=c.log_std_init),
                   seed=seed, device=c.device, verbose=0)


class DQNAgent(_SB3Agent):
    """SB3 DQN with :class:`~agents.sb3_policy.EquivariantDQNPolicy` (select mode)."""

    name = "dqn"
    config_class = DQNConfig

    def make_model(self, env: gym.Env, seed: int, steps: int):
        from stable_baselines3 import DQN

        c = self.config
        return DQN(EquivariantDQNPolicy, env, learning_rate=c.learning_rate,
                   buffer_size=min(c.buffer_size, max(steps, 1)), learning_starts=c.learning_starts,
                   batch_size=c.batch_size, train_freq=c.train_freq,
                   target_update_interval=c.target_update_interval, exploration_fraction=c.exploration_fraction,
                   exploration_final_eps=c.exploration_final_eps, gamma=c.gamma,
                   policy_kwargs=dict(net_arch=list(c.net_arch)), seed=seed, device=c.device, verbose=0)
