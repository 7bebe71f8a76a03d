"""The language model under training: build, fused forward, weighted update, reward, state.

This is the handle agents reach through ``env.unwrapped.learner``:

- ``model``, ``tokenizer``, ``input_embeddings`` (W_e, [V, d]) and ``hidden_size`` (d);
- ``hidden(input_ids=..., inputs_embeds=..., grad=False)``: last-layer hidden state at the final
  token, ``[B, d]``; with ``grad=True`` the result stays connected to theta;
- ``add_auxiliary_loss(loss, tokens=T)``: a scalar added to the next LM update, backpropagated into theta
  only and applied in the **same** optimizer step (e.g. a TD loss sent into theta, the paper's §2.7). T, the tokens
  the loss trains, is required: they count in the env's ``tokens_trained`` (``aux_tokens_trained``) and
  cost ``6·P`` FLOPs each, charged when the loss is queued (:mod:`curriculum_env.flops`).

Nothing here touches global random state: the default model is initialised inside
``torch.random.fork_rng`` from a seed the env draws from its own generator.

**Speed.** The default GPT-2 uses PyTorch's scaled-dot-product attention (``attn_implementation="sdpa"``:
flash / memory-efficient kernels on CUDA); ``precision="bf16"`` runs every model forward under bfloat16
autocast with fp32 master weights, gradients and AdamW state (losses, log-probs and entropies are
reduced in fp32); ``compile=True`` compiles the transformer body with ``torch.compile``; on CUDA
AdamW runs its fused kernel. A step synchronises with the device only where the host needs a
number: once when the observation comes back to the host, once in the update (the step-or-skip
decision on a finite loss and gradient norm, one transfer of loss, auxiliary loss and norm), once per
reward: no per-chunk ``float(...)`` or ``nonzero`` on the step path.

**Reproducibility.** On CPU everything is bit-reproducible from the seed, in fp32 (the default) and
under bf16 autocast alike (CPU kernels are deterministic for a fixed thread count). On CUDA, with the
same GPU, driver and library versions: forward passes (observations, rewards, per-candidate statistics)
repeat bit for bit; gradient steps do *not*, because the embedding backward and the fused SDPA backward kernels
(flash / memory-efficient attention) accumulate with atomics in a nondeterministic order -- two runs
agree to float rounding at first and then drift apart. ``torch.use_deterministic_algorithms(True)``
(with ``CUBLAS_WORKSPACE_CONFIG=:4096:8``) makes them repeatable at some speed cost; the env leaves
that global switch to the user. bf16 autocast itself is deterministic but differs from fp32 by bf16
rounding (~1e-2 relative in logits), and CPU bf16 differs from CUDA bf16; ``compile=True`` differs
from eager in the last bits (fused kernels reorder sums).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from curriculum_env import probes
from curriculum_env.auxiliary_losses import AuxiliaryLosses
from curriculum_env.flops import FlopCounter, FlopModel
from curriculum_env.learner_results import Scores, UpdateStats, _cat, _on_cpu
from curriculum_env.models import gpt2_model, next_token_stats, resolve_device, token_nll
from curriculum_env.step_guard import StepGuard


class Learner:
    """A causal LM with AdamW, gradient clipping and micro-batched accumulation."""

    def __init__(self, cfg, tokenizer):
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.device = resolve_device(cfg.device)
        self.dtype = torch.bfloat16 if cfg.dtype == "bfloat16" else torch.float32
        self.eval_micro_batch_size = cfg.eval_micro_batch_size or cfg.micro_batch_size
        self.model: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._aux = AuxiliaryLosses()
        self._initial_state: dict[str, torch.Tensor] | None = None
        self.flops = FlopCounter()
        """Model FLOPs spent, per phase (:mod:`curriculum_env.flops`); the env zeroes it at ``reset``."""
        self.flop_model: FlopModel | None = None
        self._guard = StepGuard()

    # ---------------------------------------------------------------------------- construction
    @property
    def fixed_init(self) -> bool:
        """Whether every reset starts from the same weights (a pretrained ``model=`` or ``init="base"``) rather
        than a random init from the reset's seed."""
        return self.cfg.model is not None or self.cfg.init == "base"

    def _build(self) -> torch.nn.Module:
        if self.cfg.model is None and self.cfg.init == "base":
            from curriculum_env.base_model import base_model_for

            return base_model_for(self.cfg, self.tokenizer).model()
        if self.cfg.model is None:
            return gpt2_model(len(self.tokenizer), self.cfg.context_length, self.tokenizer.eos_token_id,
                              n_layer=self.cfg.n_layer, n_head=self.cfg.n_head, n_embd=self.cfg.n_embd)
        from transformers import AutoModelForCausalLM

        try:  # transformers picks SDPA by itself for every architecture that supports it
            model = AutoModelForCausalLM.from_pretrained(self.cfg.model)
        except Exception as exc:
            raise ValueError(f"cannot load causal LM {self.cfg.model!r}: {exc}") from exc
        if model.get_input_embeddings().weight.shape[0] < len(self.tokenizer):
            raise ValueError(f"model {self.cfg.model!r} has fewer embeddings than the tokenizer has tokens")
        positions = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions < self.cfg.context_length:
            raise ValueError(f"model {self.cfg.model!r} has {positions} positions, fewer than "
                             f"context_length={self.cfg.context_length}: lower context_length")
        return model

    def pretrained_start(self) -> torch.nn.Module | None:
        """A new copy of the pretrained LM every reset starts from (``init="base"`` or ``model=``), for an agent's
        own model to start from as well (RHO-LOSS's reference); ``None`` under a random init."""
        if not self.fixed_init:
            return None
        with torch.random.fork_rng(devices=[]):
            return self._build()  # the pretrained weights, as every reset loads them

    def reinitialise(self, seed: int) -> None:
        """A fresh model (random init from ``seed``, or the pretrained or base weights) and a fresh AdamW.

        With ``compile=True`` the compiled model object is kept across resets and the fresh weights are
        loaded into it (the same values a rebuild gives), so a reset does not recompile.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.model is not None and self.cfg.compile:
                fresh = None if self.fixed_init else self._build()
                self.model.load_state_dict(fresh.state_dict() if fresh is not None else self._initial_state)
            elif self.model is None or not self.fixed_init:
                self.model = self._build()
                if self.fixed_init:
                    self._initial_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                self.model.load_state_dict(self._initial_state)
        self.model.to(device=self.device, dtype=self.dtype).train()
        self.flop_model = FlopModel(self.model)
        if self.cfg.compile and not getattr(self.model, "_curriculum_compiled", False):
            # in place (nn.Module.compile): parameter names and state_dict keys stay as they are
            getattr(self.model, "base_model", self.model).compile()
            self.model._curriculum_compiled = True
        fused = {"fused": True} if self.device.type == "cuda" else {}  # one kernel for the AdamW step on CUDA
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay, **fused
        )
        self._aux.clear()

    def autocast(self):
        """The context every model forward runs in: bf16 autocast under ``precision="bf16"``, else nothing.

        Agents that call ``learner.model`` themselves should enter it too (``with learner.autocast(): ...``)
        to compute as the env does; :meth:`hidden` and every method here already do.
        """
        if self.cfg.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ---------------------------------------------------------------------------- handle for agents
    @property
    def hidden_size(self) -> int:
        """d, the width of the observation."""
        return int(self.model.get_input_embeddings().weight.shape[1])

    @property
    def input_embeddings(self) -> torch.Tensor:
        """W_e, the token-embedding matrix [V, d] (a live parameter: do not modify)."""
        return self.model.get_input_embeddings().weight

    def parameters(self) -> list[torch.nn.Parameter]:
        """theta, the LM parameters the optimizer steps."""
        return list(self.model.parameters())

    def as_ids(self, ids) -> torch.Tensor:
        """Token ids (array-like or tensor) as a long tensor on the learner's device."""
        if isinstance(ids, torch.Tensor):
            return ids.to(device=self.device, dtype=torch.long)
        return torch.from_numpy(np.array(ids, dtype=np.int64)).to(self.device)

    def _logits(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits [B, L, V] of ids [B, L] (bf16 under bf16 autocast; losses upcast them to fp32)."""
        with self.autocast():
            return self.model(input_ids=ids).logits

    def _forward(self, input_ids=None, inputs_embeds=None):
        with self.autocast():
            out = self.model(input_ids=input_ids, inputs_embeds=inputs_embeds, output_hidden_states=True)
        return out.logits, out.hidden_states[-1]

    def body_states(self, input_ids=None, inputs_embeds=None) -> torch.Tensor:
        """Last-layer hidden states [B, L, d] from the transformer body alone (no LM head, no logits)."""
        with self.autocast():
            return self.model.base_model(input_ids=input_ids, inputs_embeds=inputs_embeds)[0]

    def hidden(self, input_ids=None, inputs_embeds=None, grad: bool = False) -> torch.Tensor:
        """Last-layer hidden state at the final position, ``[B, d]``, for token ids or soft embeddings.

        FLOPs: a body forward of every token; with ``grad=True`` also its backward (the caller
        differentiates the result: SGLD, the TD loss into theta), charged to the current phase. An
        auxiliary loss built on them later pays only what is left of ``6·P`` per token (:meth:`add_auxiliary_loss`)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids or inputs_embeds")
        if input_ids is not None:
            input_ids = self.as_ids(input_ids)
            if input_ids.ndim != 2:
                raise ValueError(f"input_ids must be [B, L], got shape {tuple(input_ids.shape)}")
        with torch.set_grad_enabled(grad):
            h = self.body_states(input_ids, inputs_embeds)
        tokens = h.shape[0] * h.shape[1]
        body = self.flop_model.forward(tokens, head=False)
        self.flops.add(3 * body if grad else body)
        if grad:
            self._aux.graph_tokens += tokens  # an auxiliary loss built on them pays only the rest of 6·P
        return h[:, -1]

    def add_flops(self, flops: float, phase: str | None = None) -> None:
        """Charge ``flops`` spent outside this learner's model to the run's cost (default phase: the
        current one, ``agent`` outside the env's own phases) -- an agent's own reference model, for
        example (:class:`~curriculum_env.flops.FlopModel` counts a model's FLOPs the env's way)."""
        self.flops.add(flops, phase)

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every parameter group (the env's schedule calls it before each update)."""
        for group in self.optimizer.param_groups:
            group["lr"] = float(lr)

    @property
    def lr(self) -> float:
        """The learning rate the next optimizer step will use."""
        return float(self.optimizer.param_groups[0]["lr"])

    def add_auxiliary_loss(self, loss: torch.Tensor, *, tokens: int | None = None) -> None:
        """Queue a scalar loss for the next :meth:`update`; only its gradient w.r.t. theta is used.

        ``tokens`` (required): how many tokens the loss trains, e.g. ``B * L`` for a loss on the hidden
        states of B windows of L tokens (0 for one that trains no token, a penalty on the weights). They
        are training like the update's: when the update is taken they count in the env's ``tokens_trained``
        (and ``aux_tokens_trained``), and they cost ``6·P`` FLOPs each, charged now to the current phase,
        less what :meth:`hidden` with ``grad=True`` has charged since the last update for up to ``tokens``
        of its tokens (their body forward and backward): ``6·P`` per token in all.
        """
        self.flops.add(self._aux.add(loss, tokens, self.flop_model))

    def take_auxiliary_losses(self) -> list[tuple[torch.Tensor, int]]:
        """The queued ``(loss, tokens)`` pairs, removed from the queue (put them back with
        :meth:`restore_auxiliary_losses`, which charges nothing again)."""
        return self._aux.take()

    def restore_auxiliary_losses(self, taken: list[tuple[torch.Tensor, int]]) -> None:
        """Queue again the pairs :meth:`take_auxiliary_losses` returned (their FLOPs were charged when added)."""
        self._aux.restore(taken)

    # ---------------------------------------------------------------------------- forward
    def window_losses(self, ids: torch.Tensor) -> torch.Tensor:
        """Per-window mean next-token cross-entropy [B] of ``ids`` [B, L], graph-connected when grad is on."""
        return token_nll(self._logits(ids), ids).mean(-1)

    def _chunk_scores(self, ids: torch.Tensor, stats: tuple[str, ...], with_grad: bool):
        """Hidden state [B, d] and, when asked (or needed for the fused update), loss [B], entropy [B] and
        per-token loss [B, L-1], all still on the model's device."""
        if not with_grad and not stats:
            return self.body_states(ids)[:, -1].detach().float(), None, None, None
        logits, h = self._forward(ids)  # [B, L, V]
        loss, entropy, tokens = self._stats(logits, ids, stats)
        return h[:, -1].detach().float(), loss, entropy, tokens

    @staticmethod
    def _stats(logits: torch.Tensor, ids: torch.Tensor, stats: tuple[str, ...]):
        """Per-window mean NLL [B] (graph-connected when grad is on) and, if ``stats`` asks, mean entropy [B]
        and the per-token NLL [B, L-1] (detached) it is the mean of."""
        nll, entropy = next_token_stats(logits, ids, entropy="entropy" in stats)
        tokens = nll.detach() if "token_loss" in stats else None
        return nll.mean(-1), None if entropy is None else entropy.mean(-1), tokens

    def score(self, ids, with_grad: bool, stats: tuple[str, ...] = ("loss", "entropy")) -> Scores:
        """Forward a batch ``[N, L]`` in micro-batches: hidden states and the asked ``stats``.

        ``stats`` names the per-candidate statistics to compute (``loss``, ``entropy``); with none and
        no gradient only the transformer body runs. With ``with_grad`` the losses keep their graph for
        :meth:`update` (fused forward) and are always computed. Chunks of ``micro_batch_size`` windows
        with gradients, of ``eval_micro_batch_size`` without; hidden states and entropies come back to the
        host in one transfer, the losses stay on the device (the fused update needs their graph).
        """
        ids = self.as_ids(ids)
        hs, losses, ents, toks = [], [], [], []
        size = self.cfg.micro_batch_size if with_grad else self.eval_micro_batch_size
        with torch.set_grad_enabled(with_grad), self._mode(train=with_grad):
            for chunk in ids.split(size):
                h, loss, ent, tok = self._chunk_scores(chunk, stats, with_grad)
                hs.append(h)
                losses.append(loss)
                ents.append(ent)
                toks.append(tok)
        self.flops.add(self.flop_model.forward(ids.numel(), head=with_grad or bool(stats)))
        return Scores(torch.cat(hs).cpu(), _cat(losses), _on_cpu(_cat(ents)), with_grad, _on_cpu(_cat(toks)))

    @torch.no_grad()
    def score_and_log_prob(self, ids, reference, stats: tuple[str, ...] = ()) -> tuple[Scores, float]:
        """:meth:`score` of candidates ``ids`` [N, L] without gradients and :meth:`log_prob` of
        ``reference`` [M, L], from **one** pass over the M + N windows (same theta): the env's reward
        and next observation. Chunks of ``eval_micro_batch_size``; the reference rows go through the LM
        head, the candidate rows only when ``stats`` asks. The same numbers as the two calls (the rows
        of a batch do not interact); FLOPs go to ``reward`` (the M) and ``forward`` (the N)."""
        ids, reference = self.as_ids(ids), self.as_ids(reference)
        m = len(reference)
        both = torch.cat([reference, ids])
        hs, losses, ents, toks = [], [], [], []
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        head = self.model.get_output_embeddings()
        with self._mode(train=False):
            for start in range(0, len(both), self.eval_micro_batch_size):
                chunk = both[start:start + self.eval_micro_batch_size]
                split = max(0, min(len(chunk), m - start))  # rows [0, split) of the chunk are reference rows
                with self.autocast():
                    body = self.model.base_model(input_ids=chunk)[0]  # [b, L, d]
                if split:
                    with self.autocast():
                        logits = head(body[:split])
                    total = total + token_nll(logits, chunk[:split]).sum().double()
                if split < len(chunk):
                    cand, body_c = chunk[split:], body[split:]
                    hs.append(body_c[:, -1].float())
                    if stats:
                        with self.autocast():
                            logits = head(body_c)
                        loss, ent, tok = self._stats(logits, cand, stats)
                        losses.append(loss)
                        ents.append(ent)
                        toks.append(tok)
        self.flops.add(self.flop_model.forward(reference.numel()), "reward")
        self.flops.add(self.flop_model.forward(ids.numel(), head=bool(stats)), "forward")
        scores = Scores(torch.cat(hs).cpu(), _cat(losses), _on_cpu(_cat(ents)), False, _on_cpu(_cat(toks)))
        return scores, -float(total) / reference[:, 1:].numel()

    @contextlib.contextmanager
    def _mode(self, train: bool):
        """The model in train or eval mode inside the block, as it was after it. No-grad passes run in
        eval mode (a pretrained model's dropout stays off), passes that train keep train mode."""
        was_training = self.model.training
        self.model.train(train)
        try:
            yield
        finally:
            self.model.train(was_training)

    def gradient(self, ids) -> torch.Tensor:
        """Flat gradient float32 [P] of the mean per-token NLL of windows ``ids`` [B, L] w.r.t. theta,
        accumulated over micro-batches; theta and its ``.grad`` are untouched (in the model's current mode)."""
        ids = self.as_ids(ids)
        params = [p for p in self.model.parameters() if p.requires_grad]
        total = [torch.zeros_like(p) for p in params]
        for chunk in ids.split(self.cfg.micro_batch_size):
            loss = token_nll(self._logits(chunk), chunk).mean() * (len(chunk) / len(ids))
            for t, g in zip(total, torch.autograd.grad(loss, params), strict=True):
                t += g
        self.flops.add(self.flop_model.train(ids.numel()))
        return torch.cat([t.reshape(-1).float() for t in total])

    def influence(self, ids, reference) -> np.ndarray:
        """First-order influence [N] of each window of ``ids`` on the loss of ``reference``
        (:func:`curriculum_env.probes.first_order_influence`)."""
        return probes.first_order_influence(self, ids, reference)

    def measured_gain(self, ids, reference) -> np.ndarray:
        """Measured one-step gain [N] of each window of ``ids`` on ``reference``
        (:func:`curriculum_env.probes.measured_gain`)."""
        return probes.measured_gain(self, ids, reference)

    @torch.no_grad()
    def log_prob(self, ids) -> float:
        """Mean per-token log-probability of windows ``[M, L]`` (eq. 1; minus the LM loss).

        Chunks of ``eval_micro_batch_size``; the per-chunk sums are accumulated in float64 on the device
        in order (the same numbers as summing them as Python floats) and read once: one host sync.
        """
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        for chunk, logits in self.eval_logits(ids):
            total = total + token_nll(logits, chunk).sum().double()
            count += chunk[:, 1:].numel()
        return -float(total) / count

    @torch.no_grad()
    def eval_logits(self, ids) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(chunk [b, L], its logits [b, L, V]) for the windows ``ids`` [B, L] in chunks of ``eval_micro_batch_size``:
        no-grad, eval mode (the mode restored after), the forward's FLOPs charged to the current phase once the
        last chunk is read. The evaluation passes read the LM through this."""
        ids = self.as_ids(ids)
        with self._mode(train=False):
            for chunk in ids.split(self.eval_micro_batch_size):
                yield chunk, self._logits(chunk)
        self.flops.add(self.flop_model.forward(ids.numel()))

    def save_pretrained(self, folder) -> None:
        """Write the LM and its tokenizer as a Hugging Face model directory (safetensors weights, config,
        tokenizer files) that ``AutoModelForCausalLM.from_pretrained`` and ``lm_eval --model hf`` load."""
        model = getattr(self.model, "_orig_mod", self.model)
        model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)

    # ---------------------------------------------------------------------------- update
    def update(self, weights: np.ndarray, ids, scores: Scores | None = None) -> UpdateStats:
        """One optimizer step on ``sum_i w_i * loss_i`` plus queued auxiliary losses (eq. 7).

        ``weights`` [N] must already be validated and normalised. With ``scores`` from a
        ``with_grad`` forward the stored graph is used; otherwise the candidates with non-zero
        weight are forwarded in micro-batches and their gradients accumulated. A non-finite loss or
        gradient skips the step and leaves theta and the optimizer untouched; so does a step whose
        *updated* weights are not finite (finite gradients, an overflowing update): with ``update_guard``
        (the default) theta and the AdamW state are copied before the step and restored after it.

        One host sync: every chunk is backpropagated without reading its loss (the sums accumulate in
        float64 on the device, in order); loss, auxiliary loss and the clipped gradient norm come back
        together for the step-or-skip decision. A non-finite chunk poisons the gradients, but the step is
        then skipped and the gradients dropped, exactly as when its backward was skipped.
        """
        params = self.parameters()
        self.optimizer.zero_grad(set_to_none=True)
        w_host = np.asarray(weights, dtype=np.float32)
        active = np.flatnonzero(w_host > 0)  # on the host: torch.nonzero on CUDA would sync
        if scores is not None and scores.with_grad:
            loss_sum, window_loss, token_loss = self._backward_scored(w_host, active, scores, ids, params)
        else:
            loss_sum, window_loss, token_loss = self._backward_chunks(w_host, active, ids, params)
        aux_tokens = self._aux.tokens
        aux_sum = self._backward_auxiliary(params)
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip) if grads else torch.tensor(float("nan"))
        flat_tokens = [] if token_loss is None else [token_loss.reshape(-1)]
        host = torch.cat([torch.stack([loss_sum, aux_sum, norm.to(loss_sum)]), window_loss,
                          *flat_tokens]).cpu().numpy()  # the sync: losses, norm and per-token NLL together
        k = 3 + len(window_loss)
        loss_value, aux_value, grad_norm = (float(x) for x in host[:3])
        finite = bool(np.isfinite(loss_value) and np.isfinite(aux_value))
        if not finite:
            grad_norm = float("nan")
        elif grads:
            finite = bool(np.isfinite(grad_norm))
        finite, weights_finite = self._step_if_finite(params, finite)
        tokens_host = None if token_loss is None else host[k:].reshape(token_loss.shape).astype(np.float32)
        return UpdateStats(loss_value, aux_value, grad_norm, bool(grad_norm > self.cfg.grad_clip), finite,
                           weights_finite, host[3:k].copy(), token_loss=tokens_host,
                           aux_tokens=aux_tokens if finite else 0)

    def _backward_scored(self, w_host: np.ndarray, active: np.ndarray, scores: Scores, ids,
                         params: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Backpropagate ``sum_i w_i loss_i`` through the graph a ``with_grad`` scoring forward kept; return the
        loss sum (float64), the active windows' losses and their per-token losses (device tensors, no sync)."""
        total = (torch.as_tensor(w_host, device=self.device) * scores.loss).sum()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device) + total.detach().double()
        window_loss = scores.loss.detach()[torch.as_tensor(active, device=self.device)].double()
        token_loss = None if scores.token_loss is None else scores.token_loss[torch.as_tensor(active)].to(window_loss)
        torch.autograd.backward(total, inputs=params)
        self.flops.add(self.flop_model.backward(int(np.prod(np.shape(ids)))))  # the N windows' graph
        return loss_sum, window_loss, token_loss

    def _backward_chunks(self, w_host: np.ndarray, active: np.ndarray, ids,
                         params: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Forward and backpropagate the windows of non-zero weight in micro-batches, accumulating gradients;
        return the loss sum (float64, summed in order), their window losses and per-token losses (no sync)."""
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        w = torch.as_tensor(w_host[active], device=self.device)
        ids_t = self.as_ids(np.asarray(ids)[active] if not isinstance(ids, torch.Tensor) else ids[active])
        mb = self.cfg.micro_batch_size
        parts, token_parts = [], []
        for start in range(0, len(active), mb):
            chunk = ids_t[start:start + mb]
            nll = token_nll(self._logits(chunk), chunk)  # [mb, L-1]
            losses = nll.mean(-1)  # [mb], the window losses (window_losses)
            parts.append(losses.detach().double())
            token_parts.append(nll.detach().double())
            part = (w[start:start + mb] * losses).sum()
            loss_sum = loss_sum + part.detach().double()
            torch.autograd.backward(part, inputs=params)
        self.flops.add(self.flop_model.train(ids_t.numel()))
        window_loss = torch.cat(parts) if parts else loss_sum.new_zeros(0)
        return loss_sum, window_loss, torch.cat(token_parts) if token_parts else None

    def _backward_auxiliary(self, params: list) -> torch.Tensor:
        """Backpropagate the queued auxiliary losses into theta and clear the queue; return their sum (float64)."""
        aux_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        for aux, _ in self._aux.queue:
            aux_sum = aux_sum + aux.detach().double()
            torch.autograd.backward(aux, inputs=params)
        self._aux.clear()
        return aux_sum

    def _step_if_finite(self, params: list, finite: bool) -> tuple[bool, bool]:
        """The optimizer step when loss and gradients are finite; with ``update_guard`` a step whose weights come
        out non-finite is undone. Returns (stepped, weights finite); the gradients are dropped either way."""
        weights_finite = True
        if finite:
            snapshot = self._guard.snapshot(params, self.optimizer) if self.cfg.update_guard else None
            self.optimizer.step()
            if snapshot is not None and not self._guard.keep_or_undo(snapshot, self.optimizer):
                finite = weights_finite = False  # finite gradients, non-finite weights: undone
        self.optimizer.zero_grad(set_to_none=True)
        return finite, weights_finite

    # ---------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Model and optimizer state (tensors and plain Python values only)."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output into the current model and optimizer."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
