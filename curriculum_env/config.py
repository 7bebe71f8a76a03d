"""Typed configuration of :class:`~curriculum_env.env.CurriculumSelectEnv`.

Every field of :class:`EnvConfig` is a keyword argument of ``gym.make("CurriculumSelect-v0", ...)``.
The config imports nothing heavy, so ``import curriculum_env`` stays cheap.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from curriculum_env.config_rules import is_number, refuse_moot

ACTION_MODES = ("mixture", "select")
PRECISIONS = ("fp32", "bf16")
TRAIN_WEIGHTINGS = ("uniform", "action")
CANDIDATE_STATS = ("loss", "entropy", "token_loss")
INFLUENCE_KINDS = ("first_order", "measured")
OBSERVATIONS = ("hidden", "none")
EPISODE_STEPS = 1000
"""``max_episode_steps`` of the registered ``CurriculumSelect-v0`` (one episode = one training run)."""
LR_SCHEDULES = ("constant", "cosine", "linear")
DIFFICULTY_METRICS = ("rarity", "length")
INITS = ("random", "base")

GPT2_124M: dict[str, Any] = {
    # the model: GPT-2 small (124M parameters with GPT-2's vocabulary; 85M without the embeddings)
    "n_layer": 12,
    "n_head": 12,
    "n_embd": 768,
    "vocab_size": 50257,  # GPT-2's; the offline BPE reaches it only from enough text, hence code_chars
    "code_chars": 12_000_000,  # the whole standard library (~11M characters) into the BPE and the code corpus
    "context_length": 1024,  # GPT-2's n_positions; the default model's n_positions is context_length
    # the paper's step: N candidates scored, all N trained as a mixture (no train_batch), M reward windows
    "num_candidates": 64,
    "reward_batch": 256,
    "heldout_size": 1024,  # |D| = 4 x M, so the M windows drawn each step differ from step to step
    "test_size": 256,
    "lr": 6e-4,  # GPT-2 small's learning rate (GPT-3 paper, nanoGPT)
    # one GPU
    "device": "auto",
    "precision": "bf16",
    "micro_batch_size": 16,  # fwd/bwd windows per chunk: ~16 x 0.8 GB of activations under bf16 autocast
    "eval_micro_batch_size": 32,  # no-grad windows per chunk (scoring, reward): logits [32, 1024, V] in fp32
}

PRESETS: dict[str, dict[str, Any]] = {"gpt2-124m": GPT2_124M, "paper": GPT2_124M}
"""Named presets for ``EnvConfig.from_preset(name, ...)`` / ``gym.make(..., preset=name)``: each maps fields
to values; explicit arguments win over them.

``gpt2-124m`` (alias ``paper``) is the paper's scale on one GPU: GPT-2 small (12 layers, 12 heads,
d = 768, 1,024-token windows, GPT-2's 50,257-token vocabulary: 124.4M parameters, tied embeddings),
N = 64 candidates, M = 256 reward windows from |D| = 1,024, bf16 autocast on CUDA when present.
Choices and why:

- ``context_length=1024``: GPT-2's positions; the default model is built with ``n_positions =
  context_length``, and a pretrained ``model=`` must have at least that many positions.
- ``vocab_size=50257`` with ``code_chars=12_000_000``: the offline BPE stops merging when its text
  runs out; prose plus the default 2M code characters gives ~30k tokens, prose plus the whole standard
  library gives GPT-2's 50,257, so the model has GPT-2's size. (With ``tokenizer=`` a real GPT-2
  tokenizer gives the same.)
- **Data.** At 1,024 tokens per window the built-in tasks (whose held-out sets are all ``prose``) hold
  only 23 held-out windows, far fewer than M = 256, so the env refuses them rather than quietly
  scoring the reward on 23 windows (see :meth:`EnvConfig.check_heldout`): give a task
  with more target text (your files or a ``datasets`` name; offline, ``task="stdlib"``
  -- the standard library's code as target, 683 held-out windows, so |D| = 683), or lower
  ``reward_batch`` / ``context_length`` explicitly. With a pretrained ``model=`` the preset's shape fields
  are left out (the checkpoint brings its own); given explicitly with ``model=`` they are refused.
- ``fused_forward`` stays ``False`` (the default): the fused forward would keep the autograd graph of
  all N windows alive from the observation to the update. Its saved tensors, measured on CPU for one
  1,024-token window of this model, are ~1.28 GB in fp32 and ~0.76 GB under bf16 autocast (plus the
  bf16 weight copies once): 82 GB / 49 GB for N = 64, more than or most of one 80 GB GPU. The
  separate no-grad scoring forward costs one forward of N more and keeps memory at one micro-batch;
  pass ``fused_forward=True`` to try the fused step under bf16 (``studies.step_phases --fused``
  reports its peak memory).
- ``micro_batch_size=16`` / ``eval_micro_batch_size=32``: a fwd/bwd chunk of 16 windows holds ~13 GB
  of activations under bf16; a no-grad chunk of 32 holds fp32 logits and log-softmax of ~6.6 GB each.
- ``precision="bf16"``, ``device="auto"``: bf16 autocast with fp32 master weights on the GPU when
  there is one (on CPU it runs too, slowly). ``lr=6e-4``: GPT-2 small's learning rate.
"""


def preset_values(name: Any) -> dict[str, Any]:
    """The field values of preset ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {sorted(PRESETS)}")
    return dict(PRESETS[name])


@dataclass
class EnvConfig:
    """All knobs of the environment, typed and defaulted for the offline tiny default.

    A preset (:data:`PRESETS`) gives values to every field not passed explicitly:
    ``EnvConfig.from_preset("gpt2-124m", num_candidates=8)`` (or ``gym.make(..., preset="gpt2-124m",
    num_candidates=8)``) is the preset with N = 8. Explicit arguments always win, also when they equal a
    field's class default; :meth:`replace` keeps the preset name and changes only what it is given. The
    constructor itself takes every field as given, so ``EnvConfig(preset=...)`` is refused: it would
    record a preset whose values it never applied.
    """

    # --- task and data --------------------------------------------------------------------------
    task: Any = "prose"
    """Named task (``prose``, ``noisy``, ``mixed``, ``needle``; the generalisation suite's ``gen/...``, see
    :mod:`curriculum_env.data.suite`), anything :func:`~curriculum_env.data.tasks.resolve_task` takes, or a
    :class:`~curriculum_env.data.tasks.Task`."""
    num_candidates: int = 16
    """N, candidate windows streamed per step."""
    context_length: int = 64
    """Tokens per context window (fixed length, no padding)."""
    heldout_size: int = 256
    """|D|: at most this many windows in the fixed held-out set that feeds the reward (a task holds what its
    target text gives; ``env.unwrapped.data.heldout`` has the windows, and benchmark runs record the size)."""
    reward_batch: int = 16
    """M, windows of D sampled afresh each step for the reward (eq. 1); a task whose D is smaller is
    refused (see :meth:`check_heldout`)."""
    compute_reward: bool = True
    """Run the reward forward (eq. 1). ``False``, for agents that never read the reward: the M held-out
    windows are still drawn (so every random stream is the same either way) but not scored, the step
    returns a reward of ``0.0`` and ``info`` has no ``reward``. The agents of :mod:`agents` declare it
    in their ``env_kwargs``."""
    paired_reward: bool = False
    """Also score the same M windows under theta_k before the update: ``info["reward_before"]`` and
    ``info["reward_gain"]`` = reward - reward_before (one extra no-grad forward of M windows)."""
    test_size: int = 256
    """At most this many windows in the test split that benchmarks report on (disjoint from D and the
    stream; a task holds what its target text gives)."""
    difficulty: str = "rarity"
    """Difficulty score in ``info``: ``rarity`` (mean token surprisal) or ``length`` (words per sentence)."""
    tokenizer: str | None = None
    """``None`` for the byte-level BPE trained on the offline corpus, else an HF tokenizer name or path."""
    vocab_size: int = 4096
    """Vocabulary of the trained BPE tokenizer (ignored when ``tokenizer`` is given)."""
    code_chars: int = 2_000_000
    """Characters of standard-library source read for the offline ``code`` corpus (and the cap of each capped
    corpus of :mod:`curriculum_env.data.stdlib_corpora`)."""
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
    observation: str = "hidden"
    """``hidden``: the observation is the candidates' last-token hidden states (the paper's). ``none``: an
    all-zero observation of the same shape, and the scoring forward runs only for ``candidate_stats`` --
    for agents that read nothing the LM computes about the candidates (random, the oracle, plain training)."""
    candidate_stats: tuple[str, ...] = ("loss", "entropy")
    """Per-candidate statistics the observation forward computes for ``info``: ``loss``, ``entropy``,
    ``token_loss`` (the per-token NLL [N, L-1] that ``loss`` is the mean of). Each works on the
    full-vocabulary logits of the same forward; ``()`` runs the transformer body alone, the cheapest step."""

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
    """``None`` for a GPT-2 built from the fields below (see ``init``), else an HF causal-LM name or path."""
    init: str = "random"
    """How the GPT-2 built from the fields below starts: ``random`` (a random init from the reset's seed) or
    ``base`` (the built-in base model, pretrained once on the offline general corpora and cached, the same
    weights at every reset: continued pre-training; :mod:`curriculum_env.base_model`). Its pretraining is
    not charged to runs."""
    n_layer: int = 2
    """Transformer blocks of the default GPT-2."""
    n_head: int = 2
    """Attention heads of the default GPT-2."""
    n_embd: int = 64
    """Hidden size d of the default GPT-2 (the observation width)."""

    # --- optimisation ---------------------------------------------------------------------------
    lr: float = 1e-3
    """alpha, AdamW learning rate of the LM."""
    lr_schedule: str = "constant"
    """Learning-rate schedule after ``warmup_steps``: ``constant``, ``cosine`` or ``linear`` decay to
    ``lr_final * lr`` at the last update of ``lr_horizon`` (:mod:`curriculum_env.schedule`)."""
    warmup_steps: int = 0
    """Updates of linear warm-up from ``lr / warmup_steps`` to ``lr`` (0: none)."""
    lr_final: float = 0.1
    """Floor of a decaying schedule, as a fraction of ``lr`` (in [0, 1])."""
    lr_horizon: int | None = None
    """Updates over which the schedule decays; ``None``: the registered episode length,
    :data:`EPISODE_STEPS` = 1,000. The env cannot see a ``max_episode_steps`` given to ``gym.make`` (the
    ``TimeLimit`` wrapper holds it), so pass ``lr_horizon`` with it. After the horizon the rate stays at
    the floor."""
    weight_decay: float = 0.0
    """AdamW weight decay of the LM."""
    grad_clip: float = 1.0
    """G, max global gradient norm of the LM update."""
    update_guard: bool = True
    """Copy theta and the AdamW state before each optimizer step and restore them when the updated weights
    are not finite (then the episode terminates with theta as it was). Costs a copy of 3x the parameters
    per step and that much memory; turn off only where the memory is needed."""
    micro_batch_size: int = 16
    """Candidates per forward/backward chunk; gradients are accumulated across chunks."""
    eval_micro_batch_size: int | None = None
    """Windows per chunk of the no-grad forwards (the reward, the scoring forward when it runs without
    gradients, ``evaluate``); ``None``: ``micro_batch_size``. No-grad chunks hold no graph, so they can be larger."""
    fused_forward: bool = False
    """Whether the observation forward also yields the losses the next update backpropagates. ``False``
    (default): the observation forward runs without gradients and the update runs its own forward, so no
    autograd graph outlives a step. ``True``: the pending observation keeps the graph of all N windows
    until the next ``step`` trains on it (one forward of N fewer per step; the memory of N windows'
    activations between steps; anything that changes theta in between must call ``refresh()``). Only the
    all-N mixture of hidden observations can fuse (``action_mode="mixture"``, ``observation="hidden"``,
    no ``train_batch``); elsewhere ``True`` is refused."""
    device: str = "cpu"
    """Torch device: ``cpu``, ``cuda``, ``cuda:1`` or ``auto`` (CUDA when present)."""
    dtype: str = "float32"
    """Parameter storage dtype: ``float32`` or ``bfloat16`` (pure bf16: weights and AdamW state in bf16, no
    fp32 master copy). For mixed precision keep ``float32`` and set ``precision="bf16"``."""
    precision: str = "fp32"
    """Compute precision of every model forward: ``fp32``, or ``bf16`` -- bfloat16 autocast with fp32
    master weights, gradients and AdamW state; losses, log-probs and entropies reduced in fp32. CPU
    results are bit-reproducible from the seed in both; on CUDA see :mod:`curriculum_env.learner`."""
    compile: bool = False
    """``torch.compile`` the transformer body (the LM head and losses stay eager). The first steps compile
    (minutes on a large model); results differ from eager in the last bits (fused kernels reorder sums)."""

    # --- episode --------------------------------------------------------------------------------
    render_mode: str | None = None
    """``ansi`` returns a one-line summary of the step from ``render()``."""
    timings: bool = False
    """Report each phase's wall time in ``info`` (``time/forward``, ``time/update``, ``time/reward``,
    ``time/influence``, and a candidate source's or wrapper's own), in seconds. Off by default: a timing
    belongs to the machine, not to the MDP, and two runs from one seed must return equal infos
    (Gymnasium's determinism check compares them). The benchmark harness turns it on."""

    # --- preset ---------------------------------------------------------------------------------
    preset: str | None = None
    """Named preset filling every field not given (``gpt2-124m``, alias ``paper``: the paper's scale on one
    GPU; see :data:`PRESETS`). A plain string, so worker processes rebuild the same config from it."""

    def __post_init__(self) -> None:
        """Validate the config as given, in a fixed order (so a config with several faults always names the same
        one): the preset rule, each field on its own range, then the rules that tie fields together; put
        ``candidate_stats`` in :data:`CANDIDATE_STATS` order; and resolve ``task`` (an unknown task raises)."""
        _check_preset(self)
        _check_fields(self)  # each field on its own; the rules below tie fields together
        _check_precision_and_reward(self)
        _check_fused_forward(self)
        _refuse_moot_fields(self)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        _check_training_budget(self)
        self.candidate_stats = _ordered_stats(self.candidate_stats)
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
        preset = kwargs.pop("preset", None)
        return cls(**kwargs) if preset is None else cls.from_preset(preset, **kwargs)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> EnvConfig:
        """Preset ``name``'s values (:data:`PRESETS`) with ``overrides`` on top; every other field its default."""
        preset = preset_values(name)
        if overrides.get("model") is not None:  # a pretrained model brings its own shape: the preset's is moot
            preset = {k: v for k, v in preset.items() if k not in MODEL_SHAPE}
        values = {**preset, **overrides, "preset": name}
        token = _BUILDING_FROM_PRESET.set(True)
        try:
            return cls(**values)
        finally:
            _BUILDING_FROM_PRESET.reset(token)

    def replace(self, **changes: Any) -> EnvConfig:
        """A copy with ``changes`` applied (validated like a fresh config). Every other field keeps its
        value, so the preset cannot change here: build a new config for another preset."""
        if "preset" in changes and changes["preset"] != self.preset:
            raise ValueError(f"replace() keeps every field as it is, so it cannot switch preset {self.preset!r} "
                             f"to {changes['preset']!r}; build a new config: EnvConfig.from_preset(name, ...)")
        token = _BUILDING_FROM_PRESET.set(True)  # the preset's values are already this config's own
        try:
            return dataclasses.replace(self, **changes)
        finally:
            _BUILDING_FROM_PRESET.reset(token)

    @property
    def trained_per_step(self) -> int:
        """Windows trained each step: B (``train_batch``), or N without a budget (the all-N mixture)."""
        return self.train_batch or self.num_candidates

    def check_heldout(self, available: int) -> None:
        """Refuse a task whose held-out set D has fewer than ``reward_batch`` windows.

        ``heldout_size`` and ``test_size`` are upper bounds (a task holds what its text gives; runs record
        the sizes they got), but M is the reward's sample size: scoring eq. 1 on fewer windows than asked
        would change the reward's variance without a word, and under a preset every timing at that scale.
        Needle tasks are exempt: their D is the needle window by design, and M is 1 there.
        """
        if available >= self.reward_batch:
            return
        from curriculum_env.data.tasks import resolve_task

        task = resolve_task(self.task)
        if task.needle:
            return
        where = f"preset {self.preset!r}: " if self.preset else ""
        raise ValueError(
            f"{where}task {task.name!r} has {available} held-out windows of {self.context_length} "
            f"tokens, fewer than reward_batch={self.reward_batch}. Give a task with more target text (your files "
            "or a datasets name; offline: task='stdlib', the standard library's "
            f"code), or pass reward_batch<={available} or a smaller context_length")


# Each field's own range, one rule per kind (checked by _check_fields, in this order).
CHOICES = {"init": INITS, "action_mode": ACTION_MODES, "difficulty": DIFFICULTY_METRICS,
           "dtype": ("float32", "bfloat16"),
           "precision": PRECISIONS, "render_mode": (None, "ansi"), "influence_kind": INFLUENCE_KINDS,
           "lr_schedule": LR_SCHEDULES, "observation": OBSERVATIONS, "train_weighting": TRAIN_WEIGHTINGS}
INTEGERS = {"num_candidates": 1, "heldout_size": 1, "reward_batch": 1, "test_size": 1, "vocab_size": 1,
            "influence_heldout": 1, "micro_batch_size": 1, "n_layer": 1, "n_head": 1, "n_embd": 1, "code_chars": 1,
            "influence_every": 0, "warmup_steps": 0, "context_length": 2}  # name -> smallest value
OPTIONAL_INTEGERS = ("eval_micro_batch_size", "lr_horizon")  # a positive integer, or None for the default
FLAGS = ("compile", "update_guard", "compute_reward", "fused_forward", "timings")
POSITIVE_NUMBERS = ("lr", "grad_clip")


def _check_fields(cfg: EnvConfig) -> None:
    """Refuse a field outside its own range (:data:`CHOICES`, :data:`INTEGERS`, ...), naming it and its value."""
    for name, options in CHOICES.items():
        if getattr(cfg, name) not in options:
            raise ValueError(f"{name} must be one of {options}, got {getattr(cfg, name)!r}")
    for name, low in INTEGERS.items():
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            what = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
            raise ValueError(f"{name} must be {what}, got {value!r}")
    for name in OPTIONAL_INTEGERS:
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    for name in FLAGS:
        if not isinstance(getattr(cfg, name), bool):
            raise ValueError(f"{name} must be True or False, got {getattr(cfg, name)!r}")
    for name in POSITIVE_NUMBERS:
        value = getattr(cfg, name)
        if not (is_number(value) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if not (is_number(cfg.weight_decay) and math.isfinite(cfg.weight_decay) and cfg.weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {cfg.weight_decay!r}")
    if not (is_number(cfg.lr_final) and 0 <= cfg.lr_final <= 1):
        raise ValueError(f"lr_final is a fraction of lr and must lie in [0, 1], got {cfg.lr_final!r}")


MODEL_SHAPE = ("n_layer", "n_head", "n_embd")  # fields that shape the random-init GPT-2 alone


# The rules that tie fields together, checked by EnvConfig.__post_init__ after _check_fields, in this order.


def _check_preset(cfg: EnvConfig) -> None:
    """Refuse an unknown preset name, and a preset given to the constructor itself (only
    :meth:`EnvConfig.from_preset` and :meth:`EnvConfig.replace` apply a preset's values)."""
    if cfg.preset is None:
        return
    preset_values(cfg.preset)  # raises on an unknown name
    if not _BUILDING_FROM_PRESET.get():
        raise TypeError(f"EnvConfig(preset={cfg.preset!r}, ...) takes every field as given and would not "
                        f"apply the preset's values: use EnvConfig.from_preset({cfg.preset!r}, ...) or "
                        f"gym.make(..., preset={cfg.preset!r})")


def _check_precision_and_reward(cfg: EnvConfig) -> None:
    """Refuse bf16 autocast over bf16 weights (mixed and pure bf16 at once), then a paired reward without the
    reward."""
    if cfg.precision == "bf16" and cfg.dtype == "bfloat16":
        raise ValueError("precision='bf16' keeps fp32 master weights but dtype='bfloat16' stores the weights in "
                         "bf16: use precision='bf16' with dtype='float32' (mixed precision), or "
                         "dtype='bfloat16' with precision='fp32' (pure bf16)")
    if cfg.paired_reward and not cfg.compute_reward:
        raise ValueError("paired_reward=True scores the reward windows before and after the update, but "
                         "compute_reward=False skips the reward: drop one of them")


def _check_fused_forward(cfg: EnvConfig) -> None:
    """Refuse ``fused_forward=True`` unless the step trains the all-N mixture of hidden observations, naming
    each setting that scores the candidates without gradients instead."""
    if not cfg.fused_forward:
        return
    why = [f"{name}={value!r}" for name, value, fuses in (
        ("action_mode", cfg.action_mode, cfg.action_mode == "mixture"),
        ("train_batch", cfg.train_batch, cfg.train_batch is None),
        ("observation", cfg.observation, cfg.observation == "hidden")) if not fuses]
    if why:
        raise ValueError(f"fused_forward=True needs the all-N mixture of hidden observations, but "
                         f"{', '.join(why)} scores the candidates without gradients: leave fused_forward "
                         "at False")


def _refuse_moot_fields(cfg: EnvConfig) -> None:
    """Refuse a field set away from its default where nothing reads it (:func:`refuse_moot`): the influence
    probe's settings without probes, and the random-init model's shape and ``init`` with a pretrained ``model``."""
    refuse_moot(cfg, [*((name, bool(cfg.influence_every), "influence_every=0 (no probe runs)")
                        for name in ("influence_kind", "influence_heldout")),
                      *((name, cfg.model is None, f"model={cfg.model!r} (it brings its own shape)")
                        for name in MODEL_SHAPE),
                      ("init", cfg.model is None, f"model={cfg.model!r} (it brings its own weights)")])


def _check_training_budget(cfg: EnvConfig) -> None:
    """Refuse a ``train_batch`` outside [1, N], then ``train_weighting='action'`` without a budget or where the
    agent's weights would leave the chosen candidate alone (select mode with B > 1)."""
    if cfg.train_batch is not None:
        b = cfg.train_batch
        if not isinstance(b, int) or isinstance(b, bool) or not 1 <= b <= cfg.num_candidates:
            raise ValueError(f"train_batch must be an integer in [1, num_candidates={cfg.num_candidates}] "
                             f"or None, got {b!r}")
    if cfg.train_weighting == "action" and cfg.train_batch is None:
        raise ValueError("train_weighting='action' only applies with a training budget: set train_batch too")
    if cfg.train_weighting == "action" and cfg.action_mode == "select" and cfg.train_batch > 1:
        raise ValueError("train_weighting='action' with action_mode='select' would train the chosen candidate "
                         "alone (the B-1 filled ones have weight 0): use train_weighting='uniform' or mixture mode")


def _ordered_stats(candidate_stats: Any) -> tuple[str, ...]:
    """``candidate_stats`` (one name or a sequence of names) as a tuple in :data:`CANDIDATE_STATS` order, each
    once; anything else, or an unknown name, is refused."""
    stats = (candidate_stats,) if isinstance(candidate_stats, str) else candidate_stats
    try:
        unknown = sorted(set(stats) - set(CANDIDATE_STATS))
    except TypeError:
        raise ValueError(f"candidate_stats must be a sequence of {CANDIDATE_STATS}, got {stats!r}") from None
    if unknown:
        raise ValueError(f"candidate_stats: unknown statistic(s) {unknown}; choose from {CANDIDATE_STATS}")
    return tuple(s for s in CANDIDATE_STATS if s in stats)


# Set while from_preset or replace builds a config, whose preset values are applied: the constructor refuses a
# preset name otherwise (it would record a preset whose values it never applied).
_BUILDING_FROM_PRESET: contextvars.ContextVar[bool] = contextvars.ContextVar("building_from_preset", default=False)

