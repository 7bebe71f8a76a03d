"""Permutation-equivariant Stable-Baselines3 policies for CurriculumSelect's [N, d] observations.

The candidates are a set: relabelling them must relabel the action and leave the value unchanged.
SB3's defaults flatten [N, d] into one vector and mix candidates in every layer, so here

- :class:`CandidateFeatures` passes ``[B, N, d]`` through (no flattening);
- the actor is one MLP shared by all candidates, ``[B, N, d] -> [B, N, h]``, then a shared linear
  head ``h -> 1`` gives one score per candidate ``[B, N]`` (:class:`PerCandidateHead`, which replaces
  SB3's ``action_net`` that would mix candidates);
- the critic is a DeepSets value: shared MLP per candidate, mean over candidates, ``Linear + act``,
  then SB3's ``value_net`` -> ``[B, 1]``;
- DQN's Q-network is a shared per-candidate MLP ``d -> ... -> 1``: Q ``[B, N]`` (as in the paper's eq. 2).

Action distributions:

- ``select`` (``Discrete(N)``): Categorical with logits = the candidate scores, i.e. softmax over them.
- ``mixture`` (``Box(0, 1, (N,))``): **logit-normal** weights. Each candidate gets
  ``z_i ~ Normal(score_i, sigma)`` with one shared, learned ``sigma`` (a per-candidate sigma would break
  equivariance), and the action is ``a_i = sigmoid(z_i)`` clamped to ``[eps, 1 - eps]``. Actions
  therefore always lie inside ``Box(0, 1)`` (SB3's clipping is a no-op) and are never all zero, so the
  env's normalisation ``w = a / sum(a)`` is always valid. ``log_prob`` inverts the sigmoid and adds the
  Jacobian ``-sum log(a (1 - a))``; entropy has no closed form (SB3 then uses ``-log_prob``).

Usable from plain SB3::

    PPO(EquivariantPolicy, env)             # env in "select" or "mixture" mode
    DQN(EquivariantDQNPolicy, env)          # env in "select" mode
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn


def _check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> int:
    """N, after checking the observation is [N, d] and the action has one entry per candidate."""
    if not (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 2):
        raise ValueError(f"equivariant policies need a Box observation [N, d], got {observation_space}")
    n = observation_space.shape[0]
    if isinstance(action_space, spaces.Discrete):
        size = int(action_space.n)
    elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        size = action_space.shape[0]
    else:
        raise ValueError(f"equivariant policies need Discrete(N) or Box((N,)) actions, got {action_space}")
    if size != n:
        raise ValueError(f"the action has {size} entries but the observation has {n} candidates")
    return n


def candidate_mlp(in_dim: int, sizes: list[int], activation_fn: type[nn.Module]) -> tuple[nn.Module, int]:
    """An MLP applied to the last axis (so shared by all candidates) and its output width."""
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(in_dim, size), activation_fn()]
        in_dim = size
    return nn.Sequential(*layers), in_dim


class CandidateFeatures(BaseFeaturesExtractor):
    """Keeps the candidate axis: ``[B, N, d] -> [B, N, d]``; ``features_dim`` is d (per candidate)."""

    def __init__(self, observation_space: spaces.Box):
        if not (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 2):
            raise ValueError(f"CandidateFeatures needs a Box observation [N, d], got {observation_space}")
        super().__init__(observation_space, features_dim=observation_space.shape[1])

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return observations  # [B, N, d]


class PerCandidateHead(nn.Module):
    """A shared linear ``h -> 1`` per candidate: ``[B, N, h] -> [B, N]``."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.linear = nn.Linear(latent_dim, 1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.linear(latent).squeeze(-1)


class EquivariantExtractor(nn.Module):
    """SB3's ``mlp_extractor`` slot: per-candidate actor latents [B, N, h_pi] and a pooled critic latent [B, h_vf]."""

    def __init__(self, features_dim: int, pi_sizes: list[int], vf_sizes: list[int], activation_fn: type[nn.Module]):
        super().__init__()
        self.policy_net, self.latent_dim_pi = candidate_mlp(features_dim, pi_sizes, activation_fn)
        self.value_phi, width = candidate_mlp(features_dim, vf_sizes, activation_fn)
        self.value_rho = nn.Sequential(nn.Linear(width, width), activation_fn())  # after pooling
        self.latent_dim_vf = width

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_net(features)  # [B, N, h_pi]

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_rho(self.value_phi(features).mean(dim=-2))  # mean over candidates -> [B, h_vf]


class LogitNormalDistribution(DiagGaussianDistribution):
    """``a = sigmoid(z)``, ``z ~ Normal(mean, std)`` per candidate, clamped to ``[eps, 1 - eps]``."""

    def __init__(self, action_dim: int, epsilon: float = 1e-6):
        super().__init__(action_dim)
        self.epsilon = epsilon

    def _squash(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z).clamp(self.epsilon, 1.0 - self.epsilon)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        a = actions.clamp(self.epsilon, 1.0 - self.epsilon)
        z = torch.log(a) - torch.log1p(-a)  # logit, the inverse of the sigmoid
        return super().log_prob(z) - torch.log(a * (1.0 - a)).sum(dim=-1)  # change of variables

    def entropy(self) -> torch.Tensor | None:
        return None  # no closed form; SB3 falls back to -log_prob

    def sample(self) -> torch.Tensor:
        return self._squash(super().sample())

    def mode(self) -> torch.Tensor:
        return self._squash(super().mode())

    def log_prob_from_params(self, mean_actions: torch.Tensor, log_std: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor]:
        actions = self.actions_from_params(mean_actions, log_std)
        return actions, self.log_prob(actions)


class EquivariantPolicy(ActorCriticPolicy):
    """Actor-critic for PPO/A2C whose action scores permute with the candidates and whose value is
    invariant to their order (see the module docstring).

    ``net_arch``: hidden sizes of the per-candidate MLPs, a list (shared spec for actor and critic)
    or ``dict(pi=[...], vf=[...])``; default ``[64]``. Other arguments are SB3's.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule,
                 net_arch: list[int] | dict[str, list[int]] | None = None, **kwargs: Any):
        _check_spaces(observation_space, action_space)
        kwargs.setdefault("features_extractor_class", CandidateFeatures)
        if kwargs.get("use_sde"):
            raise ValueError("EquivariantPolicy does not support gSDE (use_sde=True)")
        super().__init__(observation_space, action_space, lr_schedule, net_arch=[64] if net_arch is None else net_arch,
                         **kwargs)

    def _build_mlp_extractor(self) -> None:
        arch = self.net_arch
        pi, vf = (arch.get("pi", []), arch.get("vf", [])) if isinstance(arch, dict) else (list(arch), list(arch))
        self.mlp_extractor = EquivariantExtractor(self.features_dim, pi, vf, self.activation_fn)

    def _build(self, lr_schedule) -> None:
        if isinstance(self.action_space, spaces.Box):
            self.action_dist = LogitNormalDistribution(self.action_space.shape[0])
        super()._build(lr_schedule)
        # Replace SB3's action_net (Linear(h, N) mixes candidates) by a shared per-candidate head.
        self.action_net = PerCandidateHead(self.mlp_extractor.latent_dim_pi)
        if isinstance(self.action_space, spaces.Box):
            self.log_std = nn.Parameter(torch.full((1,), float(self.log_std_init)))  # one sigma for all candidates
        if self.ortho_init:
            self.action_net.apply(lambda m: self.init_weights(m, gain=0.01))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


class EquivariantQNetwork(QNetwork):
    """DQN's Q-network as a shared per-candidate MLP: ``[B, N, d] -> Q [B, N]``."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete, features_extractor,
                 features_dim: int, net_arch: list[int] | None = None, activation_fn: type[nn.Module] = nn.ReLU,
                 normalize_images: bool = True):
        _check_spaces(observation_space, action_space)
        super().__init__(observation_space, action_space, features_extractor, features_dim, net_arch, activation_fn,
                         normalize_images)
        body, width = candidate_mlp(features_dim, list(self.net_arch), activation_fn)
        self.q_net = nn.Sequential(body, PerCandidateHead(width))  # eq. 2 per candidate


class EquivariantDQNPolicy(DQNPolicy):
    """DQN policy whose online and target Q-networks are :class:`EquivariantQNetwork` (default ``net_arch`` [64])."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete, lr_schedule,
                 net_arch: list[int] | None = None, **kwargs: Any):
        _check_spaces(observation_space, action_space)
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"DQN needs the env in 'select' mode (Discrete(N)), got {action_space}")
        kwargs.setdefault("features_extractor_class", CandidateFeatures)
        super().__init__(observation_space, action_space, lr_schedule, net_arch=[64] if net_arch is None else net_arch,
                         **kwargs)

    def make_q_net(self) -> EquivariantQNetwork:
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return EquivariantQNetwork(**net_args).to(self.device)
