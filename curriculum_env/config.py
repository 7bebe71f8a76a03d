"""Typed configuration of :class:`~curriculum_env.env.CurriculumSelectEnv`.

Every field of :class:`EnvConfig` is a keyword argument of ``gym.make("CurriculumSelect-v0", ...)``.
The config imports nothing heavy, so ``import curriculum_env`` stays cheap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ACTION_MODES = ("mixture", "select")
TRAIN_WEIGHTINGS = ("uniform", "action")
CANDIDATE_STATS = ("loss", "entropy")
INFLUENCE_KINDS = ("first_order", "measured")
DIFFICULTY_METRICS = ("rarity", "length")


@dataclass
class EnvConfig:
    """All knobs of the environment, typed and defaulted for the offline tiny default."""

    # --- task and data --------------------------------------------------------------------------
    task: Any = "prose"
    """Named task (``prose``, ``noisy``, ``mixed``, ``needle``) or a :class:`~curriculum_env.data.tasks.Task`."""
    num_candidates: int = 16
    """N, candidate windows streamed per step."""
    context_length: int = 64
    """Tokens per context window (fixed length, no padding)."""
    heldout_size: int = 256
    """|D|, windows in the fixed held-out set that feeds the reward (capped by what the task has)."""
    reward_batch: int = 16
    """M, windows of D sampled afresh each step for the reward (eq. 1)."""
    paired_reward: bool = False
    """Also score the same M windows under theta_k before the update: ``info["reward_before"]`` and
    ``info["reward_gain"]`` = reward - reward_before (one extra no-grad forward of M windows)."""
    test_size: int = 256
    """Windows in the test split that benchmarks report on (disjoint from D and the stream)."""
    difficulty: str = "rarity"
    """Difficulty score in ``info``: ``rarity`` (mean token surprisal) or ``length`` (words per sentence)."""
    tokenizer: str | None = None
    """``None`` for the byte-level BPE trained on the offline corpus, else an HF tokenizer name or path."""
    vocab_size: int = 4096
    """Vocabulary of the trained BPE tokenizer (ignored when ``tokenizer`` is given)."""
    code_chars: int = 2_000_000
    """Characters of standard-library source read for the offline ``code`` corpus."""
    cache_dir: str | None = None
    """Cache for tokenizer and windows (default ``$CURRICULUM_ENV_CACHE``, else ``~/.cache/curriculum_env``)."""

    # --- action ---------------------------------------------------------------------------------
    action_mode: str = "mixture"
    """``mixture``: Box(0, 1, (N,)) weights, eq. 7 (the paper's update, default). ``select``: Discrete(N)."""

    # --- training budget (equal compute) --------------------------------------------------------
    train_batch: int | None = None
    """B, candidates trained per step: the B largest action weights (select mode: the chosen one first),
    ties broken at random from the env's generator, so every agent trains exactly B. ``None``: every
    candidate with non-zero weight (the paper's all-N mixture)."""
    train_weighting: str = "uniform"
    """With ``train_batch``: ``uniform`` trains each chosen candidate with weight 1/B; ``action`` keeps the
    agent's weights renormalised over the chosen B (the action must then have at least B positive weights)."""
    candidate_stats: tuple[str, ...] = ("loss", "entropy")
    """Per-candidate statistics the observation forward computes for ``info``: ``loss``, ``entropy``. Each
    works on the full-vocabulary logits; ``()`` runs the transformer body alone, the cheapest step."""

    # --- signals for agents (opt-in, each with its cost in info) ---------------------------------
    influence_every: int = 0
    """Every K steps (0: never) ``info["influence"]`` [N] holds each candidate's first-order influence on a
    sample of D, <grad l_Dsample, grad l_x> at theta_k (GREATS/MATES-style probe): one forward/backward per
    candidate plus one for the sample; its wall time is ``info["time/influence"]``."""
    influence_kind: str = "first_order"
    """``first_order``: <grad l_Dsample, grad l_x> (one forward/backward per candidate). ``measured``: the drop
    of the sample's loss after one real update on the candidate alone from the live optimizer state (MATES's
    probe: a forward/backward, an optimizer step and a forward of the sample per candidate; theta and the
    optimizer are restored)."""
    influence_heldout: int = 16
    """Windows of D in each influence probe's sample (drawn from a generator of its own: the reward's
    D-hat sequence is the same with or without probes)."""

    # --- model ----------------------------------------------------------------------------------
    model: str | None = None
    """``None`` for a random-init GPT-2 built from the fields below, else an HF causal-LM name or path."""
    n_layer: int = 2
    """Transformer blocks of the default GPT-2."""
    n_head: int = 2
    """Attention heads of the default GPT-2."""
    n_embd: int = 64
    """Hidden size d of the default GPT-2 (the observation width)."""

    # --- optimisation ---------------------------------------------------------------------------
    lr: float = 1e-3
    """alpha, AdamW learning rate of the LM."""
    weight_decay: float = 0.0
    """AdamW weight decay of the LM."""
    grad_clip: float = 1.0
    """G, max global gradient norm of the LM update."""
    micro_batch_size: int = 16
    """Candidates per forward/backward chunk; gradients are accumulated across chunks."""
    fused_forward: bool = True
    """Mixture mode without ``train_batch``: the observation forward also yields the losses the update
    backpropagates (under a budget the observation forward runs without gradients)."""
    device: str = "cpu"
    """Torch device: ``cpu``, ``cuda``, ``cuda:1`` or ``auto`` (CUDA when present)."""
    dtype: str = "float32"
    """Parameter dtype: ``float32`` or ``bfloat16``."""

    # --- episode --------------------------------------------------------------------------------
    render_mode: str | None = None
    """``ansi`` returns a one-line summary of the step from ``render()``."""

    def __post_init__(self) -> None:
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}")
        if self.difficulty not in DIFFICULTY_METRICS:
            raise ValueError(f"difficulty must be one of {DIFFICULTY_METRICS}, got {self.difficulty!r}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {self.dtype!r}")
        if self.render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {self.render_mode!r}")
        positive = ("num_candidates", "heldout_size", "reward_batch", "test_size", "vocab_size", "influence_heldout",
                    "micro_batch_size", "n_layer", "n_head", "n_embd", "code_chars")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.influence_every, int) or isinstance(self.influence_every, bool) \
                or self.influence_every < 0:
            raise ValueError(f"influence_every must be a non-negative integer, got {self.influence_every!r}")
        if self.influence_kind not in INFLUENCE_KINDS:
            raise ValueError(f"influence_kind must be one of {INFLUENCE_KINDS}, got {self.influence_kind!r}")
        if not isinstance(self.context_length, int) or self.context_length < 2:
            raise ValueError(f"context_length must be an integer >= 2, got {self.context_length!r}")
        for name in ("lr", "grad_clip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.train_batch is not None:
            b = self.train_batch
            if not isinstance(b, int) or isinstance(b, bool) or not 1 <= b <= self.num_candidates:
                raise ValueError(f"train_batch must be an integer in [1, num_candidates={self.num_candidates}] "
                                 f"or None, got {b!r}")
        if self.train_weighting not in TRAIN_WEIGHTINGS:
            raise ValueError(f"train_weighting must be one of {TRAIN_WEIGHTINGS}, got {self.train_weighting!r}")
        if self.train_weighting == "action" and self.train_batch is None:
            raise ValueError("train_weighting='action' only applies with a training budget: set train_batch too")
        if self.train_weighting == "action" and self.action_mode == "select" and self.train_batch > 1:
            raise ValueError("train_weighting='action' with action_mode='select' would train the chosen candidate "
                             "alone (the B-1 filled ones have weight 0): use train_weighting='uniform' or mixture mode")
        stats = (self.candidate_stats,) if isinstance(self.candidate_stats, str) else self.candidate_stats
        try:
            unknown = sorted(set(stats) - set(CANDIDATE_STATS))
        except TypeError:
            raise ValueError(f"candidate_stats must be a sequence of {CANDIDATE_STATS}, got {stats!r}") from None
        if unknown:
            raise ValueError(f"candidate_stats: unknown statistic(s) {unknown}; choose from {CANDIDATE_STATS}")
        self.candidate_stats = tuple(s for s in CANDIDATE_STATS if s in stats)
        if self.num_candidates < 2 and self.task == "needle":
            raise ValueError("the needle task needs num_candidates >= 2")
        from curriculum_env.data.tasks import resolve_task  # cheap: no data work

        resolve_task(self.task)  # raises on an unknown task name

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EnvConfig:
        """Build a config from ``gym.make`` keyword arguments, naming any unknown field."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise TypeError(
                f"unknown CurriculumSelect-v0 argument(s) {unknown}; valid arguments: {sorted(names)}"
            )
        return cls(**kwargs)

    def replace(self, **changes: Any) -> EnvConfig:
        """A copy with ``changes`` applied (validated like a fresh config)."""
        return dataclasses.replace(self, **changes)
