"""CurriculumSelectEnv: language-model training as a Gymnasium environment."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from curriculum_env import env_state
from curriculum_env.actions import action_weights, trained_weights
from curriculum_env.candidate_source import CandidateSource, SplitGuard, StreamedWindows, checked_batch, draw_from
from curriculum_env.config import EPISODE_STEPS, EnvConfig
from curriculum_env.data.build import build_task_data
from curriculum_env.data.stream import Batch, CandidateStream
from curriculum_env.env_readout import EnvReadout
from curriculum_env.episode import Episode
from curriculum_env.evaluation import ChoiceItems, choice_accuracy, choice_items, completion_accuracy
from curriculum_env.learner import Learner
from curriculum_env.learner_results import Scores
from curriculum_env.phase_times import PhaseTimes
from curriculum_env.schedule import lr_at


class CurriculumSelectEnv(EnvReadout, gym.Env):
    """Choose what a language model learns from, one step of training at a time.

    Each step the env streams N fresh candidate context windows C_k. The agent weights (or picks)
    them, the LM takes one AdamW step on the weighted loss, and the reward is how well the updated
    model predicts a fresh sample of a fixed held-out set D (Viteri & Vrabac, *Curriculum Selection
    via Soft Q-Learning*, eqs. 1 and 7).

    ## Action Space

    ``action_mode="mixture"`` (default): ``Box(0, 1, (N,), float32)``, non-negative weights that the
    env normalises to sum to one; the LM trains on ``sum_i w_i loss_i`` — the paper's update (eq. 7),
    the expected gradient under the agent's policy. Values above 1 are accepted (only ratios
    matter); NaN, negative, wrongly shaped or all-zero weights raise ``ValueError``.
    ``action_mode="select"``: ``Discrete(N)``, the LM trains on the chosen candidate alone.

    **Training budget** (``train_batch=B``, the benchmark's default; unset: the paper's all-N mixture).
    Each step trains on *exactly* B of the N candidates, so every agent spends the same compute:
    the B with the largest action weights (in select mode the chosen candidate first), ties broken
    by a permutation drawn from ``self.np_random`` every step -- equal weights mean a uniformly
    random subset, and an action with fewer than B positive weights is filled at random. Each chosen
    candidate gets weight 1/B (``train_weighting="action"``: the agent's weights renormalised over
    the B). The observation forward then runs without gradients and only the B chosen are forwarded
    with gradients: one step costs N no-grad forwards + B forward/backward + the reward forward.

    ## Observation Space

    ``Box(-inf, inf, (N, d), float32)``, a new array every step:

    | index | meaning                                                                        |
    |-------|--------------------------------------------------------------------------------|
    | i     | last-layer hidden state at the final token of candidate i under the current LM |

    With ``observation="none"`` (for agents that read nothing the LM computes about the candidates:
    random, the oracle) it is all zeros, and without ``candidate_stats`` no scoring forward runs at all.

    ## Rewards

    Mean per-token log-probability of M windows drawn afresh from D with ``self.np_random``,
    measured *after* the update (eq. 1). It is minus the usual LM loss (about -log V at init).
    With ``paired_reward=True`` the same windows are also scored *before* the update, and ``info``
    carries ``reward_before`` and ``reward_gain`` (reward - reward_before): the update's effect on D
    with the sampling noise of D-hat cancelled (at small M that noise can exceed the gain of one step).
    The reward and the next observation are computed under the same theta_{k+1}, so they come from one
    pass over the M + N windows (timed as ``time/forward``; their FLOPs are still split between
    ``flops/reward`` and ``flops/forward``). With ``compute_reward=False`` (for agents that never read
    it) the M windows are drawn but not scored: the step returns ``0.0`` and ``info`` has no ``reward``.

    ## Learning rate and cost

    The LM's learning rate follows ``lr_schedule`` (constant, or linear warm-up then cosine or linear
    decay to ``lr_final * lr`` over ``lr_horizon`` updates; :mod:`curriculum_env.schedule`); ``info["lr"]``
    is the rate of the update the step applied. ``info["flops/<phase>"]`` are the running model FLOPs
    of the episode (``forward``, ``update``, ``reward``, ``influence``, ``agent``; ``flops/total``, their
    sum), counted as 2·P per forward token and 6·P per trained token (:mod:`curriculum_env.flops`).

    ## Info

    ``loss``, ``entropy`` and ``token_loss`` (those named in ``candidate_stats``; each is computed once,
    in the forward that made the observation, and only when asked: without them that forward skips
    the LM head; ``token_loss`` [N, L-1] is the per-token NLL whose mean is ``loss``), ``difficulty``
    (also ``rarity`` and ``length``), ``source`` and ``token_ids`` for the current candidates;
    ``examples_streamed``, ``examples_trained``, ``tokens_trained`` (the trained windows' tokens plus
    ``aux_tokens_trained``, the tokens auxiliary losses trained);
    with ``timings=True`` the phases' wall times ``time/forward``, ``time/update``, ``time/reward``
    (and ``time/influence``, the probes' cost), in seconds; after a step also ``weights`` (the action,
    normalised), ``train_weights``, ``trained`` and ``trained_source`` (the weights the LM trained
    with, the indices of the candidates trained and their source labels -- indices into the
    candidates the action weighted, i.e. the *previous* observation, while the per-candidate fields
    above already describe the next candidates), ``train_loss``, ``trained_loss`` (the loss of each trained
    window in the training forward, aligned with ``trained``: free, no extra forward),
    ``trained_token_loss`` ([B, L-1], the per-token NLL ``trained_loss`` is the mean of), ``aux_loss``,
    ``grad_norm``, ``effective_batch`` (1/||train_weights||^2). With ``influence_every=K``, every K-th
    observation also carries ``influence`` [N], each candidate's first-order influence on a sample of D
    (an opt-in signal for any agent).

    ## Episode End

    An episode is one training run. Truncation comes from ``max_episode_steps`` (registration:
    1000). ``terminated=True`` only when training diverges: a non-finite loss or gradient (the update
    is skipped) or non-finite updated weights (the update is undone, ``update_guard``) leave theta and
    the optimizer as they were; a non-finite reward after a finite update ends the episode too.
    ``info["termination_reason"]`` says which.

    ## Arguments

    Every field of :class:`~curriculum_env.config.EnvConfig` is a keyword argument of ``gym.make``.

    ## Handle for agents

    ``env.unwrapped.learner`` (:class:`~curriculum_env.learner.Learner`) exposes the model, tokenizer,
    ``hidden(...)`` for token ids or ``inputs_embeds``, ``add_auxiliary_loss(loss, tokens=T)`` whose
    gradient enters the same optimizer step as the LM loss (its T tokens count in ``tokens_trained`` and
    are charged ``6·P`` each), and ``add_flops(flops)`` for the cost of an agent's own models.
    ``set_candidate_source(source)`` lets a source choose the candidates among the windows the env streams
    for it (:mod:`curriculum_env.candidate_source`); a candidate that is a window of D or of the test
    split is refused, from a source and from ``set_candidates`` alike. ``env.unwrapped.evaluate("test")``
    gives the test-split NLL, ``evaluate_choice()`` a multiple-choice continuation accuracy and
    ``evaluate_completion()`` a greedy completion accuracy (:mod:`curriculum_env.evaluation`), none touching
    any random state; ``export_model(folder)`` writes
    the LM as a Hugging Face model directory (``AutoModelForCausalLM.from_pretrained``, ``lm_eval --model
    hf``).

    ## Version History

    * v0: initial release; ``train_batch``, ``train_weighting`` and ``candidate_stats`` added
      (defaults unchanged); the LR schedule, FLOPs in ``info``, ``compute_reward`` and ``observation``
      added (defaults unchanged: constant LR, reward and observation computed); candidates from a source
      or ``set_candidates`` that are D or test windows refused; auxiliary losses declare the tokens they
      train (``aux_tokens_trained``, counted in ``tokens_trained`` and FLOPs).

    ## Example

    >>> import gymnasium as gym, curriculum_env
    >>> env = gym.make("CurriculumSelect-v0", num_candidates=4)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape
    (4, 64)
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> bool(-20 < reward < 0)
    True
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, config: EnvConfig | None = None, **kwargs: Any):
        if config is None:
            config = EnvConfig.from_kwargs(**kwargs)
        elif kwargs:
            config = config.replace(**kwargs)
        self.config = config
        self.render_mode = config.render_mode
        self.data = build_task_data(config)
        config.check_heldout(len(self.data.heldout))  # M must fit in D (a clear error, not a silent cap)
        self.learner = Learner(config, self.data.tokenizer)
        n, d = config.num_candidates, self._hidden_size()
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(n, d), dtype=np.float32)
        if config.action_mode == "select":
            self.action_space = spaces.Discrete(n)
        else:
            self.action_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        self.stream: CandidateStream | None = None
        self.candidate_source: CandidateSource | None = None  # set_candidate_source; None: the stream's batches
        self._batch: Batch | None = None
        self._scores: Scores | None = None
        self.episode: Episode | None = None  # made at reset
        self._guard: SplitGuard | None = None  # built at the first candidate a source or set_candidates gives
        self._streamed = StreamedWindows()  # every window streamed this episode: the only windows a candidate may be
        self._choice_items: dict[tuple[int, int | None], ChoiceItems] = {}  # the test split's MC items, per shape

    def _hidden_size(self) -> int:
        if self.config.model is None:
            return self.config.n_embd
        from transformers import AutoConfig

        try:
            return int(AutoConfig.from_pretrained(self.config.model).hidden_size)
        except Exception as exc:
            raise ValueError(f"cannot read the config of model {self.config.model!r}: {exc}") from exc

    # ------------------------------------------------------------------------------------ helpers
    @property
    def fused(self) -> bool:
        """Whether the observation forward also serves the update (``fused_forward``, which the config
        accepts only for the all-N mixture of hidden observations)."""
        return self.config.fused_forward

    @property
    def _scoring(self) -> bool:
        """Whether the step needs a forward of the candidates (an observation, statistics or the fused graph)."""
        return self.config.observation == "hidden" or bool(self.config.candidate_stats) or self.fused

    def _score(self, ids: np.ndarray, with_grad: bool | None = None) -> Scores:
        """The observation forward of ``ids`` [N, L] with the statistics ``candidate_stats`` asks for
        (none at all when nothing reads it: ``observation="none"`` without statistics)."""
        grad = self.fused if with_grad is None else with_grad
        if not self._scoring:
            return Scores(torch.zeros(len(ids), self.observation_space.shape[1]), None, None, False)
        with self.learner.flops.phase("forward"):
            return self.learner.score(ids, with_grad=grad, stats=self.config.candidate_stats)

    @property
    def split_guard(self) -> SplitGuard:
        """The content keys of D and the test split that no candidate may match (built once, at first use)."""
        if self._guard is None:
            self._guard = SplitGuard(self.data)
        return self._guard

    def _observe(self, reward_ids: np.ndarray | None = None, reset: bool = False,
                 trained: np.ndarray | None = None) -> float | None:
        """Stream the next candidates and score them; with ``reward_ids`` [M, L] also the reward (eq. 1),
        from the same pass over the M + N windows when the candidates' forward runs without gradients.
        ``trained`` [B, L]: the windows the update just trained, told to a source that asks (``trained``)."""
        if reset:
            self._streamed.clear()
        batch = self._streamed.add(self.stream.next_batch())
        if self.candidate_source is not None:
            try:
                if trained is not None and callable(getattr(self.candidate_source, "trained", None)):
                    self.candidate_source.trained(trained.copy())
                draw = draw_from(self.stream)
                b = self.candidate_source.propose(batch, lambda count: self._streamed.add(draw(count)), reset)
                batch = self._checked(b.ids, b.source, b.rarity, b.length)  # before anything scores or trains it
            except Exception as exc:  # theta may have moved already: refuse to go on with stale candidates
                self._batch = None
                raise ValueError(f"the candidate source {type(self.candidate_source).__name__} failed ({exc}); "
                                 "call reset() to start a new episode") from exc
        self._probe(batch.ids)  # before the scoring forward: a measured probe steps theta in place
        self._batch = batch
        reward = None
        if reward_ids is not None and self._scoring and not self.fused:
            with self._times.measure("forward"):  # the reward's forward is part of the same pass
                self._scores, reward = self.learner.score_and_log_prob(batch.ids, reward_ids,
                                                                       self.config.candidate_stats)
        else:
            with self._times.measure("forward"):
                self._scores = self._score(self._batch.ids)
            if reward_ids is not None:
                with self._times.measure("reward", add=True):
                    reward = self._reward(reward_ids)
        return reward

    def _reward(self, ids: np.ndarray) -> float:
        with self.learner.flops.phase("reward"):
            return self.learner.log_prob(ids)

    def scheduled_lr(self, step: int) -> float:
        """The learning rate of update ``step`` (0-based) under the config's schedule."""
        c = self.config
        horizon = EPISODE_STEPS if c.lr_horizon is None else c.lr_horizon
        return lr_at(step, c.lr, c.lr_schedule, c.warmup_steps, c.lr_final, horizon)

    def _probe(self, ids: np.ndarray) -> None:
        """Every ``influence_every`` steps: the influence of candidates ``ids`` on a sample of D. Runs before
        the observation forward, whose graph (fused mode) would not survive a measured probe's update."""
        self.episode.influence = None
        self._times.zero("influence")
        k = self.config.influence_every
        if not k or self.episode.step % k:
            return
        probe = self.learner.measured_gain if self.config.influence_kind == "measured" else self.learner.influence
        with self._times.measure("influence"), self.learner.flops.phase("influence"):
            sample = self.data.heldout.sample(self.episode.probe_rng, self.config.influence_heldout)
            self.episode.influence = probe(ids, sample)

    def _obs(self) -> np.ndarray:
        if self.config.observation == "none":
            return np.zeros(self.observation_space.shape, dtype=np.float32)
        return self._scores.hidden.numpy().astype(np.float32, copy=True)

    def _info(self) -> dict[str, Any]:
        b, s = self._batch, self._scores
        difficulty = b.rarity if self.config.difficulty == "rarity" else b.length
        stats = {}
        if "loss" in self.config.candidate_stats:
            stats["loss"] = s.loss.detach().float().cpu().numpy().copy()
        if "entropy" in self.config.candidate_stats:
            stats["entropy"] = s.entropy.numpy().copy()
        if "token_loss" in self.config.candidate_stats:
            stats["token_loss"] = s.token_loss.float().numpy().copy()
        return {
            **stats,
            **({} if self.episode.influence is None else {"influence": self.episode.influence.copy()}),
            "difficulty": difficulty.copy(),
            "rarity": b.rarity.copy(),
            "length": b.length.copy(),
            "source": b.source.copy(),
            "token_ids": b.ids.copy(),
            "step": self.episode.step,  # first, as always
            "examples_streamed": self.stream.examples_streamed,
            **self.episode.counters(self.config.context_length),
            **self.learner.flops.info(),
            **(self._times.times if self.config.timings else {}),
            **self.episode.last,
            **self._source_info(),
        }

    def _source_info(self) -> dict[str, Any]:
        """The candidate source's ``info()`` fields (its ``time/*`` only with ``timings``)."""
        extra = self.candidate_source.info() if hasattr(self.candidate_source, "info") else {}
        return extra if self.config.timings else {k: v for k, v in extra.items() if not k.startswith("time/")}

    # ------------------------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        model_seed, stream_seed = (int(x) for x in self.np_random.integers(0, 2**63 - 1, size=2))
        self.learner.reinitialise(model_seed)
        self.learner.flops.reset()
        self.learner.set_lr(self.scheduled_lr(0))
        self.stream = CandidateStream(self.data, self.config.num_candidates, np.random.default_rng(stream_seed))
        self.episode = Episode(np.random.default_rng([stream_seed, 1]))  # influence samples; np_random is untouched
        self._times = PhaseTimes()
        self._observe(reset=True)
        return self._obs(), self._info()

    def step(self, action: Any):
        if self._batch is None:
            raise RuntimeError("call reset() before step()")
        weights = action_weights(action, self.config)  # checked before any change
        train_weights = trained_weights(weights, self.config, self.np_random)
        m = min(self.config.reward_batch, len(self.data.heldout))  # smaller only for a needle's one-window D
        # drawn whether or not the reward is computed, so every random stream is the same either way
        heldout = self.data.heldout.sample(self.np_random, m)
        reward_ids = heldout if self.config.compute_reward else None
        lr = self.learner.lr
        with self._times.measure("reward"):
            before = self._reward(heldout) if self.config.paired_reward else None
        with self._times.measure("update"), self.learner.flops.phase("update"):
            stats = self.learner.update(train_weights, self._batch.ids, self._scores)
        self.episode.step += 1
        self.learner.set_lr(self.scheduled_lr(self.episode.step))  # the next update's rate (a measured probe too)
        batch = self._batch
        if stats.finite:
            self.episode.examples_trained += int(np.count_nonzero(train_weights))
            self.episode.aux_tokens_trained += stats.aux_tokens
            # the reward and the next candidates, one pass
            reward = self._observe(reward_ids, trained=batch.ids[train_weights > 0])
        else:
            reward = None
            if reward_ids is not None:
                with self._times.measure("reward", add=True):
                    reward = self._reward(reward_ids)
            self._scores = self._score(batch.ids, with_grad=False)
        reward = 0.0 if reward is None else reward
        terminated = not stats.finite or not np.isfinite(reward)
        self.episode.last = stats.info(weights, train_weights, batch.source, lr, batch.ids.shape[1])
        if reward_ids is not None:
            self.episode.last["reward"] = reward
        if before is not None:
            self.episode.last.update({"reward_before": before, "reward_gain": reward - before})
        if terminated:
            if not stats.weights_finite:
                why = "the update gave non-finite weights; theta and the optimizer were restored"
            elif not stats.finite:
                why = "non-finite loss or gradient; the update was skipped"
            else:
                why = "non-finite reward after the update"
            self.episode.last["termination_reason"] = f"training diverged at step {self.episode.step}: {why}"
        return self._obs(), float(reward), terminated, False, self._info()

    def set_candidates(self, ids: np.ndarray, source: np.ndarray, rarity, length):
        """Make ``ids`` [N, L] the current candidates, re-scored under the current LM; returns ``(obs, info)``.

        The next ``step`` trains on them; nothing is counted as streamed. To choose every step's
        candidates, install a candidate source instead (:meth:`set_candidate_source`). Wrong shape,
        dtype or out-of-vocabulary ids, a window of D or of the test split, or a window the env has not
        streamed this episode raise ``ValueError`` and leave the env as it was.
        """
        if self._batch is None:
            raise RuntimeError("call reset() before set_candidates()")
        batch = self._checked(ids, source, rarity, length)
        self._probe(batch.ids)
        with self._times.measure("forward"):
            self._scores = self._score(batch.ids)
        self._batch = batch
        return self._obs(), self._info()

    def set_candidate_source(self, source: CandidateSource | None) -> None:
        """Let ``source`` choose the candidates from the next reset or update on (``None``: the stream's own).

        ``source.propose(fresh, draw, reset)`` returns the N windows to score and train on next; see
        :mod:`curriculum_env.candidate_source` for the contract and for what counts as streamed.
        """
        if source is not None and not callable(getattr(source, "propose", None)):
            raise TypeError(f"a candidate source needs propose(fresh, draw, reset), got {type(source).__name__}")
        self.candidate_source = source

    def _checked(self, ids, source, rarity, length) -> Batch:
        """A copy of candidates from outside the stream (a source, ``set_candidates``), or ``ValueError``: the
        wrong shape or vocabulary, a window of D or the test split, a window not streamed this episode."""
        vocab = int(self.learner.input_embeddings.shape[0])
        batch = checked_batch(ids, source, rarity, length, self.config.num_candidates, self.config.context_length,
                              vocab)
        self.split_guard.check(batch.ids)
        self._streamed.check(batch.ids)
        return batch

    def refresh(self):
        """Re-score the current candidates under the current LM; returns ``(obs, info)``.

        For agents that change theta between steps (e.g. re-initialising the LM): the observation
        (and, with ``fused_forward=True``, the update graph it keeps) must belong to the model the next
        step trains.
        """
        if self._batch is None:
            raise RuntimeError("call reset() before refresh()")
        b = self._batch
        return self.set_candidates(b.ids, b.source, b.rarity, b.length)

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        if self.episode is None or not self.episode.last:
            return f"step 0 | {self.config.num_candidates} candidates | task {self.data.task.name}"
        w = self.episode.last["weights"]
        top = int(np.argmax(w))
        return (
            f"step {self.episode.step} | reward {self.episode.last.get('reward', float('nan')):.4f}"
            f" | train loss {self.episode.last['train_loss']:.4f}"
            f" | eff. batch {self.episode.last['effective_batch']:.1f} | top w {w[top]:.2f}"
            f" ({self._batch.source[top] if self._batch is not None else '?'})"
        )

    def evaluate(self, split: str = "test") -> float:
        """Mean per-token NLL of a whole split (``test`` or ``heldout``); uses no random state, and its
        FLOPs are kept apart (``eval``), out of the run's cost."""
        pools = {"test": self.data.test, "heldout": self.data.heldout}
        if split not in pools:
            raise ValueError(f"split must be 'test' or 'heldout', got {split!r}")
        with self.learner.flops.phase("eval"):
            return -self.learner.log_prob(pools[split].ids)

    def evaluate_completion(self) -> float:
        """Greedy completion accuracy on the test split (:func:`~curriculum_env.evaluation.completion_accuracy`):
        the share of the test windows' second-half tokens that the LM's top guess gets right; FLOPs under
        ``eval``."""
        with self.learner.flops.phase("eval"):
            return completion_accuracy(self.learner, self.data.test.ids)

    def choice_items(self, num_choices: int = 4, max_items: int | None = None) -> ChoiceItems:
        """The multiple-choice items of the test split (:mod:`curriculum_env.evaluation`): the same for
        every run of a task (their own generator, seed 0)."""
        key = (num_choices, max_items)
        if key not in self._choice_items:
            self._choice_items[key] = choice_items(self.data.test.ids, num_choices, max_items)
        return self._choice_items[key]

    def evaluate_choice(self, num_choices: int = 4, max_items: int | None = None) -> float:
        """Multiple-choice continuation accuracy on the test split (chance ``1 / num_choices``): each of the
        first ``max_items`` test windows' first half with its own second half and ``num_choices - 1``
        others'. Uses no random state; FLOPs kept apart like :meth:`evaluate`."""
        items = self.choice_items(num_choices, max_items)
        with self.learner.flops.phase("eval"):
            return choice_accuracy(self.learner, items)[0]

    def export_model(self, folder: str | os.PathLike) -> pathlib.Path:
        """Write the LM under training as a Hugging Face model directory (weights, config, tokenizer), for
        ``transformers.AutoModelForCausalLM.from_pretrained(folder)`` and ``lm_eval --model hf
        --model_args pretrained=folder``; returns the folder."""
        if self._batch is None:
            raise RuntimeError("call reset() before export_model()")
        folder = pathlib.Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"cannot export the model to {folder}: it is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        self.learner.save_pretrained(folder)
        return folder

    # ------------------------------------------------------------------------------------ state
    def save_state(self, path: str | os.PathLike) -> None:
        """Write the full env state (model, optimizer, stream, RNGs, counters) atomically to ``path``;
        a place that cannot hold it raises an error naming the path (:mod:`curriculum_env.env_state`)."""
        env_state.save(self, path)

    def load_state(self, path: str | os.PathLike):
        """Restore a :meth:`save_state` file (loaded with ``weights_only=True``); returns ``(obs, info)``.

        On any error the env is left exactly as it was. Through ``gym.make``'s wrappers, call
        ``env.reset()`` first (they insist on it), then ``env.unwrapped.load_state(path)``; the
        ``TimeLimit`` wrapper counts steps from there.
        """
        env_state.load(self, path)
        return self._obs(), self._info()
