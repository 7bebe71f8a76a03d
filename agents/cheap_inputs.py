"""What the cheap soft-Q agent (:mod:`agents.soft_q_cheap`) knows of a candidate without running the LM on it,
and the credit it pays for only on the windows the step trains.

**Inputs** (per candidate, from its token ids; none runs a transformer block). Each scalar enters Q twice,
z-scored over the step's N candidates and as its level:

- ``classifier``: the logit of the online D-vs-stream classifier (:class:`agents.classifier.OnlineClassifier`,
  the ``classifier`` baseline's model, fitted the same way on D less its last quarter), level: the logit itself.
  D's last quarter (its windows are in document order, so mostly other documents) is the **check**: every
  step the classifier scores it, and the AUC of check windows against the step's candidates (the chance that
  a target window it never trained on outranks a stream window) joins a running mean (rate 0.05, seeded by
  the first step's).
  :attr:`CheapInputs.trust` = clip((2·AUC - 1) / 0.5, 0, 1): 0 where the classifier only tells D's own
  documents from the rest (a stream of the target's own kind, ``prose``: AUC 0.50), 1 from AUC 0.75 on
  (the other tuning tasks: 0.79-0.89);
- ``reference``: the mean next-token loss under a hashed bigram model of D (:class:`agents.ngram_model.HashedBigram`,
  counted once in ``setup``), level: divided by log V;
- ``seen``: the same under a bigram model of every window trained so far: low for content the learner has
  already been shown, level: divided by log V;
- ``distinct``: the share of the window's transitions that occur in it for the first time (1 for prose,
  low for a repeated phrase), level: itself;
- ``embedding``: the learner's own input embeddings averaged over the window (the LM's representation at
  layer 0: a lookup into W_e, no block), each of the d columns z-scored over the step (no level).

**The reference** of the credit (:mod:`agents.cheap_credit`): per-token losses of the trained windows under the
bigram model of D (or, with ``reference_steps``, a tiny GPT-2 trained on D) and which of their transitions D has
(:meth:`CheapInputs.reference_token_losses`, :meth:`CheapInputs.known`).

**FLOPs** (2 per multiply-add, the env's rule): the classifier's own (module :mod:`agents.classifier`); the
embedding mean, N·L·d additions a step. The bigram models count and look up integers, with one log per
token: counted as no FLOPs, as the env counts no tokenizer work.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.classifier import ClassifierConfig, OnlineClassifier, bag_norms, logits
from agents.hashed_ngrams import hashed_ngrams
from agents.ngram_model import HashedBigram
from agents.reference_model import ReferenceModel
from agents.soft_q_inputs import first_occurrences, zscore

CHEAP_FEATURES = ("classifier", "reference", "seen", "distinct", "embedding")
"""The inputs Q may read (module doc)."""


CHECK_SHARE = 8
"""D's last 1/CHECK_SHARE windows (at least MIN_CHECK) are the classifier's check, never fitted on."""
MIN_CHECK = 8
"""The fewest check windows; a D of fewer than twice as many keeps them all for the classifier (trust 1)."""
AUC_RATE = 0.05
"""Rate of the running mean of the classifier's AUC on D's check windows."""


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """The chance that a ``positive`` score outranks a ``negative`` one (ties count half): the ROC AUC."""
    p, n = np.asarray(positive, dtype=np.float64)[:, None], np.asarray(negative, dtype=np.float64)[None, :]
    return float(np.mean(p > n) + 0.5 * np.mean(p == n))


class CheapInputs:
    """Builds Q's input [N, k] from token ids and the learner's embedding table; holds the credit's reference."""

    def __init__(self, features: tuple[str, ...], classifier: ClassifierConfig | None = None,
                 reference_steps: int = 0):
        unknown = [f for f in features if f not in CHEAP_FEATURES]
        if unknown or not features:
            raise ValueError(f"cheap inputs: features must be a non-empty subset of {CHEAP_FEATURES}, got {features!r}")
        self.features = tuple(features)
        self.model = ReferenceModel(steps=reference_steps) if reference_steps else None  # None: the bigram of D
        self.classifier_config = classifier or ClassifierConfig()
        self.classifier: OnlineClassifier | None = None
        self.check: np.ndarray | None = None  # D's check windows' features [k, F] (None: none held back)
        self.reference: HashedBigram | None = None
        self.seen: HashedBigram | None = None
        self.learner = None  # the env's learner, whose input embeddings the 'embedding' input averages
        self.log_vocab = 1.0
        self.flops = 0.0

    @property
    def scalars(self) -> tuple[str, ...]:
        return tuple(f for f in self.features if f != "embedding")

    def setup(self, env: gym.Env, rng: np.random.Generator) -> int:
        """Count D's bigrams, fit nothing else yet (the classifier learns at each step); return Q's input width."""
        u = env.unwrapped
        vocab = len(u.data.tokenizer)
        self.log_vocab = math.log(vocab)
        heldout = np.asarray(u.data.heldout.ids)
        self.reference = HashedBigram(vocab)
        self.reference.update(heldout)
        if self.model is not None:
            self.model.fit(heldout, u.data.tokenizer, int(rng.integers(2**62)), rng)
        self.env_learner = getattr(u, "learner", None)  # where the reference model's FLOPs go
        self.seen = HashedBigram(vocab)
        self.classifier = None
        if "classifier" in self.features:
            # the check, D's tail; a D under 2 x MIN_CHECK windows (a needle) is too small to hold any back
            k = max(MIN_CHECK, len(heldout) // CHECK_SHARE) if len(heldout) >= 2 * MIN_CHECK else 0
            self.classifier = OnlineClassifier(self.classifier_config, rng)
            self.classifier.fit_target(hashed_ngrams(heldout[:len(heldout) - k], self.classifier_config.buckets))
            self.check = hashed_ngrams(heldout[len(heldout) - k:], self.classifier_config.buckets) if k else None
            self.check_norms = bag_norms(self.check) if k else None
            self.flops += 2 * self.check.size if k else 0
        self.auc, self.auc_steps = 0.5, 0
        self.learner = getattr(u, "learner", None) if "embedding" in self.features else None
        if "embedding" in self.features and self.learner is None:
            raise ValueError("cheap inputs: 'embedding' reads the learner's input embeddings; this env has no learner")
        return 2 * len(self.scalars) + (int(env.observation_space.shape[1]) if self.learner is not None else 0)

    def columns(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """The scalar inputs [N] of windows ``ids`` [N, L], by name."""
        out: dict[str, np.ndarray] = {}
        if self.classifier is not None:
            out["classifier"] = self.classifier.score(hashed_ngrams(ids, self.classifier_config.buckets))
            self.flops += self.classifier.take_flops()
            if self.check is not None:
                check = logits(self.classifier.w, self.classifier.b, self.check, self.check_norms)  # [k]
                self.flops += 2 * self.check.size
                value = auc(check, out["classifier"])
                self.auc = value if self.auc_steps == 0 else self.auc + AUC_RATE * (value - self.auc)  # 1st seeds it
                self.auc_steps += 1
        if "reference" in self.features:
            out["reference"] = self.reference.losses(ids)
        if "seen" in self.features:
            out["seen"] = self.seen.losses(ids)
        if "distinct" in self.features:
            out["distinct"] = first_occurrences(ids).mean(1)
        return out

    def build(self, ids: np.ndarray) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
        """Q's input [N, k] (float32) for windows ``ids`` [N, L], and the scalar columns it was made from."""
        ids = np.asarray(ids)
        cols = self.columns(ids)
        levels = {"classifier": 1.0, "reference": 1.0 / self.log_vocab, "seen": 1.0 / self.log_vocab, "distinct": 1.0}
        parts = [np.stack([zscore(cols[s]) for s in self.scalars] + [cols[s] * levels[s] for s in self.scalars],
                          axis=1)] if self.scalars else []
        if self.learner is not None:  # W_e is read live: the model is built at reset, after setup
            table = self.learner.input_embeddings
            with torch.no_grad():
                mean = table[torch.as_tensor(ids, device=table.device)].float().mean(1).cpu()
            self.flops += ids.size * mean.shape[1]  # one addition per token and column
            parts.append(np.stack([zscore(c) for c in mean.numpy().T], axis=1))
        return torch.from_numpy(np.concatenate(parts, axis=1).astype(np.float32)), cols

    @property
    def trust(self) -> float:
        """How far the classifier's logit is to be trusted, from its running AUC on D's check windows (module doc);
        1 when D is too small to hold a check back."""
        if self.classifier is not None and self.check is None:
            return 1.0
        return float(np.clip((2.0 * self.auc - 1.0) / 0.5, 0.0, 1.0))

    def reference_token_losses(self, ids: np.ndarray) -> np.ndarray:
        """Per-token losses [B, L-1] of windows ``ids`` [B, L] under the credit's reference model of D."""
        if self.model is None:
            return self.reference.token_losses(ids)
        return self.model.token_losses(ids, self.env_learner)

    def known(self, ids: np.ndarray) -> np.ndarray:
        """Which transitions of windows ``ids`` [B, L] occur in D [B, L-1] (a bigram count of D above 0)."""
        return self.reference.counted(ids)

    def mark_seen(self, ids: np.ndarray) -> None:
        """Count trained windows ``ids`` [B, L] into the ``seen`` model."""
        self.seen.update(np.asarray(ids))

    def take_flops(self) -> float:
        flops, self.flops = self.flops, 0.0
        return flops

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen.state_dict(), "auc": self.auc, "auc_steps": self.auc_steps,
                "classifier": None if self.classifier is None else {**self.classifier.state_dict(),
                                                                     "rng": self.classifier.rng.bit_generator.state}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seen.load_state_dict(state["seen"])
        self.auc, self.auc_steps = float(state["auc"]), int(state["auc_steps"])
        if self.classifier is not None:
            self.classifier.load_state_dict(state["classifier"])
            self.classifier.rng.bit_generator.state = state["classifier"]["rng"]
