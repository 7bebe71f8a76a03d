"""A fastText-style quality classifier (the GPT-3 / Llama data filters; Joulin et al., 2017, *Bag of
Tricks*): logistic regression on a bag of hashed n-grams (fastText's linear model without its low-rank
embedding), D against the stream, training the candidates it finds most D-like.

A window ``x`` is the bag of its ``F = 2L - 1`` hashed unigrams and bigrams
(:func:`agents.hashed_ngrams.hashed_ngrams`) normalised to unit length, ``phi(x) = c_x / ||c_x||`` [K]
(``c_x``: its bucket counts; unit length keeps the weights' and the bias's steps on one scale), and the
classifier is linear:

    z(x) = w . phi(x) + b = b + sum_{features f of x} w[f] / ||c_x||        P(x from D) = sigmoid(z(x))

It learns online by SGD on the mean binary cross-entropy of a class-balanced mini-batch: ``m`` windows
of D (label 1) against ``m`` of the candidates just streamed (label 0), ``m = min(batch_size, |D|, N)``,
both drawn without replacement from the agent's generator, so a run is deterministic from its seed.
The gradient of the loss in z is ``sigmoid(z) - y``, hence

    w <- w - lr/(2m) sum_i (sigmoid(z_i) - y_i) phi(x_i),    b <- b - lr/(2m) sum_i (sigmoid(z_i) - y_i).

At the first step it fits ``init_steps`` SGD steps on D against those first candidates; at every later
step ``update_steps`` more against the new candidates; then it scores the candidates and trains the B
of highest logit (B = the env's ``train_batch``; top-1 without a budget or in ``select`` mode). The
negatives hold some D-like windows (the stream mixes them in): the classifier tells D from the stream
*as a whole*, as the practitioners' filters do, which still ranks D-like windows first.

It reads no LM output and no source label (``env_kwargs``: no statistic, no reward, no observation).

**FLOPs** (2 per multiply-add, charged to ``agent``; F features per window): a window's bag norm is at
most F multiply-adds (2·F, D's once in ``setup``, charged at the first step: 2·|D|·F); a logit is one
multiply-add per feature occurrence (2·F); an SGD step on the 2m windows counts 3x its forward (forward,
backward, update, the usual 6-vs-2 rule): 12·m·F. Per step: 4·N·F (norms and logits of the candidates)
+ ``update_steps`` x 12·m·F (the first step ``init_steps`` x 12·m·F). Hashing is integer work (none).
Next to the env's LM forwards this is negligible: FLOPs x plain training ≈ 1.00 plus this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.hashed_ngrams import HashedNgramAgent, HashedNgramConfig
from curriculum_env.config_rules import positive_int


@dataclass
class ClassifierConfig(HashedNgramConfig):
    """Options of :class:`ClassifierAgent` (plus ``action_mode``, ``buckets``)."""

    lr: float = 3.0
    """SGD step size of the weights and the bias."""
    batch_size: int = 16
    """Windows per class in each SGD mini-batch (capped at |D| and N)."""
    init_steps: int = 50
    """SGD steps of the initial fit, D against the first candidates."""
    update_steps: int = 1
    """SGD steps at every later step, D against the new candidates."""

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(batch_size=self.batch_size, init_steps=self.init_steps, update_steps=self.update_steps)
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")


def bag_norms(features: np.ndarray) -> np.ndarray:
    """``||c_x||_2`` [n], the Euclidean norm of each window's bucket counts, from its features [n, F]."""
    n, f = features.shape
    rows = np.repeat(np.arange(n), f)
    _, first, counts = np.unique(rows * (int(features.max()) + 1) + features.ravel(), return_index=True,
                                 return_counts=True)  # the distinct (window, bucket) pairs and their counts
    return np.sqrt(np.bincount(rows[first], weights=counts.astype(np.float64) ** 2, minlength=n))


def logits(w: np.ndarray, b: float, features: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """``z = b + w . phi(x)`` [n] of windows' features [n, F] with ``phi(x) = c_x / norms``."""
    return b + w[features].sum(axis=1) / norms


class OnlineClassifier:
    """The classifier itself (module doc), for any agent that wants its logit: D against the candidates it is
    shown, one SGD fit per :meth:`score` call. Draws its mini-batches from ``rng``; adds its FLOPs to
    :attr:`flops` (the owner charges them)."""

    def __init__(self, config: ClassifierConfig, rng: np.random.Generator):
        self.config, self.rng = config, rng
        self.w = np.zeros(config.buckets)  # [K]
        self.b = 0.0
        self.target_features = np.zeros((0, 1), dtype=np.int64)  # [|D|, F]
        self.target_norms = np.zeros(0)  # [|D|] their bag norms
        self.flops = 0.0  # FLOPs spent and not yet taken by the owner
        self.calls = 0  # score calls since fit_target
        self.last_loss = float("nan")  # the last SGD batch's cross-entropy before its step

    def fit_target(self, features: np.ndarray) -> None:
        """Keep D's features [|D|, F] and their bag norms; start from w = 0, b = 0."""
        self.target_features, self.target_norms = features, bag_norms(features)
        self.flops += 2 * features.size  # D's bag norms
        self.w, self.b = np.zeros(self.config.buckets), 0.0
        self.calls = 0

    def sgd_step(self, negatives: np.ndarray, norms: np.ndarray) -> float:
        """One SGD step on m windows of D (label 1) and m of ``negatives`` [N, F] (label 0; ``norms`` [N] their
        bag norms); returns the batch's mean binary cross-entropy before the step."""
        m = min(self.config.batch_size, len(self.target_features), len(negatives))
        pos = self.rng.choice(len(self.target_features), size=m, replace=False)
        neg = self.rng.choice(len(negatives), size=m, replace=False)
        x = np.concatenate([self.target_features[pos], negatives[neg]])  # [2m, F]
        x_norms = np.concatenate([self.target_norms[pos], norms[neg]])  # [2m]
        y = np.repeat([1.0, 0.0], m)  # [2m]
        z = logits(self.w, self.b, x, x_norms)  # [2m]
        g = np.exp(-np.logaddexp(0.0, -z)) - y  # sigmoid(z) - y = dBCE/dz, [2m]
        per_feature = np.repeat(g / x_norms, x.shape[1])  # dz/dw_f = (count of f) / ||c_x||
        self.w -= self.config.lr / (2 * m) * np.bincount(x.ravel(), weights=per_feature, minlength=self.config.buckets)
        self.b -= self.config.lr * float(g.mean())
        self.flops += 3 * 2 * x.size  # 3x the forward's multiply-add per feature occurrence
        return float(np.mean(np.logaddexp(0.0, z) - y * z))  # BCE with logits

    def score(self, features: np.ndarray) -> np.ndarray:
        """Learn from the candidates' features [N, F] (``init_steps`` SGD steps at the first call, then
        ``update_steps``), then return their logits z [N]."""
        if not len(self.target_features):
            raise RuntimeError("the classifier has no D: call fit_target (the agent's setup) first")
        self.calls += 1
        norms = bag_norms(features)  # [N]
        self.flops += 2 * features.size
        steps = self.config.init_steps if self.calls == 1 else self.config.update_steps
        self.last_loss = [self.sgd_step(features, norms) for _ in range(steps)][-1]
        z = logits(self.w, self.b, features, norms)  # [N]
        self.flops += 2 * features.size
        return z

    def take_flops(self) -> float:
        """The FLOPs spent since the last call (for the owner to charge)."""
        flops, self.flops = self.flops, 0.0
        return flops

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w.copy(), "b": self.b, "calls": self.calls, "flops": self.flops}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        w = np.array(state["w"], dtype=np.float64)
        if w.shape != (self.config.buckets,):
            raise ValueError(f"classifier state: w of shape {w.shape} does not match buckets={self.config.buckets}")
        self.w, self.b = w, float(state["b"])
        self.calls, self.flops = int(state.get("calls", 0)), float(state.get("flops", 0.0))


class ClassifierAgent(HashedNgramAgent):
    """Train the candidates a linear hashed-n-gram classifier (D vs the stream, online SGD) rates most D-like."""

    name = "classifier"
    config_class = ClassifierConfig
    prefix = "classifier"

    def fit_target(self, features: np.ndarray) -> None:
        self.model = OnlineClassifier(self.config, self.rng)
        self.model.fit_target(features)
        self.charge(self.model.take_flops())

    def score(self, features: np.ndarray) -> np.ndarray:
        if getattr(self, "model", None) is None:
            raise RuntimeError("ClassifierAgent.setup(env, seed) must run before act()")
        z = self.model.score(features)  # [N]
        self.charge(self.model.take_flops())
        self._metrics.update({"classifier/train_loss": self.model.last_loss,
                              "classifier/d_prob_mean": float(np.mean(np.exp(-np.logaddexp(0.0, -z))))})
        return z

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), **self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.model.load_state_dict({"calls": self.steps, **state})

    @property
    def w(self) -> np.ndarray:
        """The classifier's weights [K]."""
        return self.model.w

    @property
    def b(self) -> float:
        """The classifier's bias."""
        return self.model.b
