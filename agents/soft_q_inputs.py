"""What the soft-Q agent's Q-network reads per candidate, and the learnability reward.

**Inputs** (the agent's ``inputs``):

- ``hidden``: the env observation, the learner's detached last-layer hidden state of each candidate
  [N, d] (the paper, §2.2);
- ``features``: a short vector per candidate computed from what the env's scoring forward already
  gives (``info["loss"]``, ``info["entropy"]``) and, with a reference model, the reference loss:
  each statistic twice, z-scored over the N candidates of the step (where it ranks among this
  step's candidates) and divided by log V (its level, comparable across steps and tasks);
- ``both``: the two side by side [N, d + F].

**Reference model** (``reference=True``). A tiny GPT-2 (:class:`agents.reference_model.ReferenceModel`)
trained in ``setup`` on the env's held-out set D (``env.unwrapped.data.heldout``): the windows the
reward is computed from, so it adds no information the env does not already give the agent, and
reads neither source labels nor the test split. Its FLOPs (training and every forward) are charged
to the run.

**Learnability** (the ``learnability`` credit, :mod:`agents.soft_q_credit`): the per-candidate reward
``r_i = z_i(L_theta(x_i) - L_ref(x_i))``, the candidate's loss under the learner minus its loss
under the reference, z-scored over the N candidates of the step. It is the reducible loss of
RHO-LOSS (Mindermann et al., 2022), there a ranking rule; here an intrinsic reward from which Q
learns, through the soft Bellman target, a value over what it reads.

**Fresh excess** (``fresh=True``; the learnability signals ``fresh`` and ``reducible+fresh``). The window mean of the
reducible loss has two blind spots. A window that repeats a phrase scores like the phrase, though its
repeats teach the same transition again and again; and a window whose tokens the learner already
predicts better than the reference (negative excess) is marked down for them, though what is learnt
need not be unlearnt. The fresh excess reads the per-token losses of the same two forwards (the env's
``token_loss``, the reference's :meth:`~agents.reference_model.ReferenceModel.token_losses`) and
keeps, per window, only what is left to learn of what is new:

    fresh(x) = 1/(L-1) * sum over t in F(x) of max(0, l_theta(x, t) - l_ref(x, t))

where F(x) holds the positions whose transition (previous token, token) occurs there for the first
time in the window (:func:`first_occurrences`). The per-token max(0, .) is the token selection of
Rho-1 (Lin et al., 2024: train on tokens of high excess loss); counting each transition once is the
in-window analogue of deduplication. With ``reducible+fresh`` the reward is the sum of the z-scored
window reducible loss and the z-scored fresh excess, z-scored again: the first keeps RHO-LOSS's
penalty for text unlike D, the second the count of new things to learn.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.base import candidate_stat
from agents.reference_model import ReferenceModel

STATS = ("loss", "entropy", "reference", "learnability", "fresh")
"""The per-candidate statistics of the ``features`` input, in column order (``reference`` and
``learnability`` only with a reference model, ``fresh`` only with the fresh excess)."""
FRESH_TOKENS = ("floored", "signed", "centred")
"""What each token adds to the fresh excess: its excess floored at 0, its excess, or its excess minus the
mean excess of every token of the step's candidates."""


def first_occurrences(ids: np.ndarray) -> np.ndarray:
    """Mask [N, L-1] of the positions t (predicting token t+1 of windows ``ids`` [N, L]) whose transition
    ``(ids[t], ids[t+1])`` has not occurred earlier in the same window; aligned with the per-token NLL."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 2 or ids.shape[1] < 2:
        raise ValueError(f"first_occurrences needs windows [N, L] with L >= 2, got shape {ids.shape}")
    pairs = ids[:, :-1] * (int(ids.max()) + 1) + ids[:, 1:]  # [N, L-1], one integer per transition
    order = np.argsort(pairs, axis=1, kind="stable")  # equal transitions in order of position
    ranked = np.take_along_axis(pairs, order, axis=1)
    first = np.ones_like(ranked, dtype=bool)
    first[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    mask = np.empty_like(first)
    np.put_along_axis(mask, order, first, axis=1)
    return mask


def fresh_excess(learner_tokens: np.ndarray, reference_tokens: np.ndarray, ids: np.ndarray,
                 token: str = "floored", first: bool = True) -> np.ndarray:
    """The fresh excess [N] (module doc): per-token excess ``learner - reference`` [N, L-1] (``token``: floored
    at 0, signed, or centred on its mean over all N windows), summed over :func:`first_occurrences` of windows
    ``ids`` [N, L] (``first=False``: every position) and divided by L - 1."""
    excess = np.asarray(learner_tokens, dtype=np.float64) - np.asarray(reference_tokens, dtype=np.float64)
    if excess.shape != (len(ids), np.shape(ids)[1] - 1):
        raise ValueError(f"per-token losses {excess.shape} do not match windows {np.shape(ids)} (need [N, L-1])")
    if token == "floored":
        excess = np.maximum(excess, 0.0)
    elif token == "centred":
        excess = excess - excess.mean()
    elif token != "signed":
        raise ValueError(f"fresh excess token must be one of {FRESH_TOKENS}, got {token!r}")
    if first:
        excess = excess * first_occurrences(ids)
    return excess.sum(1) / excess.shape[1]


def zscore(x: np.ndarray) -> np.ndarray:
    """``x`` [N] minus its mean over the candidates, divided by its standard deviation (0 when constant)."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


class CandidateInputs:
    """Builds Q's input [N, k] per step and the statistics it is made from; owns the reference model."""

    def __init__(self, kind: str, reference: ReferenceModel | None, fresh: bool = False,
                 fresh_token: str = "floored", fresh_first: bool = True):
        if fresh and reference is None:
            raise ValueError("the fresh excess is the learner's per-token loss minus the reference's: it needs a "
                             "reference")
        self.kind = kind
        self.reference = reference
        self.fresh = fresh
        self.fresh_options = {"token": fresh_token, "first": fresh_first}
        self.learner = None
        self.log_vocab = 1.0
        self.d = 0

    @property
    def stats(self) -> tuple[str, ...]:
        return STATS[: 2 + 2 * (self.reference is not None)] + ("fresh",) * self.fresh

    @property
    def needs_stats(self) -> bool:
        """Whether the env must report ``loss`` and ``entropy`` per candidate."""
        return self.kind != "hidden" or self.reference is not None

    def setup(self, env: gym.Env, seed: int) -> int:
        """Fit the reference model on D (seeded from ``seed``); return the width of Q's input."""
        self.d = int(env.observation_space.shape[1])
        if not self.needs_stats:
            return self.d  # the paper's input: nothing of the env beyond its observation
        u = env.unwrapped
        self.learner = u.learner
        self.log_vocab = math.log(len(u.data.tokenizer))
        if self.reference is not None:
            rng = np.random.default_rng(seed)
            self.reference.fit(u.data.heldout.ids, u.data.tokenizer, seed, rng)
        width = {"hidden": self.d, "features": 2 * len(self.stats), "both": self.d + 2 * len(self.stats)}
        return width[self.kind]

    def columns(self, info: dict[str, Any]) -> dict[str, np.ndarray]:
        """The per-candidate statistics [N] of this step, by name (:data:`STATS`)."""
        out = {"loss": np.asarray(candidate_stat(info, "loss"), dtype=np.float64),
               "entropy": np.asarray(candidate_stat(info, "entropy"), dtype=np.float64)}
        if self.reference is not None:
            out["reference"] = self.reference.losses(info["token_ids"], self.learner)
            out["learnability"] = out["loss"] - out["reference"]
        if self.fresh:
            if "token_loss" not in info:
                raise KeyError("the fresh excess reads info['token_loss']: make the env with candidate_stats "
                               "including 'token_loss' (the agent's env_kwargs ask for it)")
            reference = self.reference.token_losses(info["token_ids"], self.learner)
            out["fresh"] = fresh_excess(info["token_loss"], reference, info["token_ids"], **self.fresh_options)
        return out

    def build(self, obs: np.ndarray, info: dict[str, Any]) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
        """Q's input [N, k] (float32) and the statistics it was made from (empty for ``hidden`` alone
        without a reference)."""
        cols = self.columns(info) if self.needs_stats else {}
        parts = []
        if self.kind in ("hidden", "both"):
            parts.append(np.asarray(obs, dtype=np.float32))
        if self.kind in ("features", "both"):
            z = [zscore(cols[s]) for s in self.stats]
            level = [cols[s] / self.log_vocab for s in self.stats]
            parts.append(np.stack(z + level, axis=1).astype(np.float32))
        return torch.from_numpy(np.concatenate(parts, axis=1)), cols

    def state_dict(self) -> dict[str, Any]:
        return {"reference": None if self.reference is None else self.reference.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.reference is not None and state.get("reference") is not None:
            self.reference.load_state_dict(state["reference"])
