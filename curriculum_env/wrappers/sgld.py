"""Softmax-relaxed SGLD in token-logit space (paper §3.2-3.3, Algorithm 2 lines 4-14).

K chains of logits lambda [L, V] are pushed uphill on the energy E = Q(h)/tau_sld, where h is the
last-layer hidden state of the soft embeddings softmax(lambda/tau_t) @ W_e fed to the LM as
``inputs_embeds``. Gradients are taken with ``torch.autograd.grad`` w.r.t. lambda only, so nothing
accumulates into the LM's (or the Q-network's) ``.grad``. All randomness comes from the
``torch.Generator`` passed in.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

QFn = Callable[[torch.Tensor], torch.Tensor]
"""Anything mapping hidden states [B, d] to Q-values [B] (or [B, 1]), differentiable in its input."""


@dataclass
class SGLDConfig:
    """Hyperparameters of logit-space SGLD. ``(paper)`` marks the paper's values; the rest are
    CPU-sensible defaults tuned on the offline tiny GPT-2 (the paper gives no numbers for them)."""

    num_chains: int | None = None
    """K, parallel chains; ``None`` means the env's ``num_candidates`` N (CPU default)."""
    query_length: int = 16
    """L, tokens per query sequence (CPU default; must be <= the env's context_length)."""
    steps: int = 16
    """T_max, Langevin steps per env step (CPU default)."""
    step_size: float = 2.0
    """epsilon, Langevin step size of eq. 13 (CPU default)."""
    noise: float = 0.05
    """sigma, standard deviation of the Langevin noise eta (CPU default)."""
    tau_sld: float = 0.01
    """tau_sld, SGLD temperature: energy E = Q / tau_sld (eq. 12; CPU default)."""
    tau_start: float = 2.0
    """Softmax temperature at the first SGLD step (eq. 14; CPU default)."""
    tau_end: float = 0.2
    """Softmax temperature at the last SGLD step (eq. 14; CPU default)."""
    init_logit: float = 10.0
    """Logit of the random token at initialisation, all others 0 (paper)."""
    grad_clip: float = 10.0
    """G, per-chain clip of the gradient norm over the flattened [L, V] logits (CPU default)."""
    gradient_checkpointing: bool = False
    """Enable the model's gradient checkpointing during SGLD (HF models; bounds memory for long L)."""

    def __post_init__(self) -> None:
        if self.num_chains is not None and (not isinstance(self.num_chains, int) or self.num_chains < 1):
            raise ValueError(f"num_chains must be a positive integer or None, got {self.num_chains!r}")
        for name in ("query_length", "steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("step_size", "tau_sld", "tau_start", "tau_end", "grad_clip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not (isinstance(self.noise, (int, float)) and self.noise >= 0):
            raise ValueError(f"noise must be >= 0, got {self.noise!r}")

    def tau(self, t: int) -> float:
        """tau_t, linear anneal from tau_start to tau_end over T_max steps (eq. 14)."""
        if self.steps == 1:
            return float(self.tau_end)
        return self.tau_start + t / (self.steps - 1) * (self.tau_end - self.tau_start)


@dataclass
class SGLDResult:
    """Samples and diagnostics (§3.6) of one SGLD run; Q-values are evaluated at tau_end."""

    logits: torch.Tensor  # [K, L, V] final lambda
    tokens: torch.Tensor  # [K, L] int64, argmax tokens (eq. 15)
    q_init: np.ndarray  # [K] Q at the initial logits
    q_final: np.ndarray  # [K] Q at the collected logits
    q_random: np.ndarray  # [K] Q at fresh random logits (unbiased reference)
    q_tokens: np.ndarray  # [K] Q of the extracted hard tokens (input_ids)
    entropy: float  # mean softmax entropy per position at tau_end (nats)
    max_prob: float  # mean max softmax probability per position at tau_end
    cosine: float  # mean pairwise cosine of the chains' soft embeddings [L*d] at tau_end
    jaccard: float  # mean pairwise Jaccard similarity of the chains' token sets
    grad_norm: float  # mean per-chain gradient norm (before clipping)
    clip_fraction: float  # share of (step, chain) pairs whose gradient was clipped
    entropy_trace: np.ndarray  # [T_max] mean softmax entropy at tau_t before each step
    q_trace: np.ndarray  # [T_max] mean Q at tau_t before each step

    def diagnostics(self, prefix: str = "langevin/") -> dict[str, float]:
        """Flat scalar diagnostics for ``info`` (§3.6)."""
        return {
            f"{prefix}q_init": float(self.q_init.mean()),
            f"{prefix}q_final": float(self.q_final.mean()),
            f"{prefix}q_gain": float((self.q_final - self.q_init).mean()),
            f"{prefix}q_random": float(self.q_random.mean()),
            f"{prefix}q_tokens": float(self.q_tokens.mean()),
            f"{prefix}entropy": self.entropy,
            f"{prefix}max_prob": self.max_prob,
            f"{prefix}cosine": self.cosine,
            f"{prefix}jaccard": self.jaccard,
            f"{prefix}grad_norm": self.grad_norm,
            f"{prefix}clip_fraction": self.clip_fraction,
        }


def one_hot_logits(k: int, length: int, vocab: int, init_logit: float, generator: torch.Generator,
                   device: torch.device) -> torch.Tensor:
    """Near-one-hot logits [K, L, V]: a uniformly random token per position at ``init_logit``, others 0."""
    tokens = torch.randint(vocab, (k, length), generator=generator, device=device)
    logits = torch.zeros(k, length, vocab, device=device)
    logits.scatter_(-1, tokens[..., None], float(init_logit))
    return logits


def _as_q(q_fn: QFn, h: torch.Tensor) -> torch.Tensor:
    q = q_fn(h.float())
    if q.ndim == 2 and q.shape[-1] == 1:
        q = q[:, 0]
    if q.shape != (h.shape[0],):
        raise ValueError(f"q_fn must map hidden states [B, d] to Q-values [B], got shape {tuple(q.shape)}")
    return q


class LogitSGLD:
    """Runs SGLD chains through a :class:`~curriculum_env.learner.Learner` (``env.unwrapped.learner``)."""

    def __init__(self, learner, config: SGLDConfig | None = None):
        self.learner = learner
        self.config = config or SGLDConfig()

    def _soft_embeds(self, logits: torch.Tensor, tau: float) -> torch.Tensor:
        w_e = self.learner.input_embeddings.detach()  # [V, d]
        probs = torch.softmax(logits / tau, dim=-1)  # [K, L, V] (eq. 11)
        k, length, vocab = logits.shape
        matmul = 2.0 * k * length * vocab * w_e.shape[1]  # the soft-embedding product; x3 with its backward
        self.learner.add_flops(3 * matmul if logits.requires_grad else matmul)
        return (probs.to(w_e.dtype) @ w_e[: logits.shape[-1]])  # [K, L, d]

    def _q(self, q_fn: QFn, logits: torch.Tensor, tau: float, grad: bool) -> torch.Tensor:
        h = self.learner.hidden(inputs_embeds=self._soft_embeds(logits, tau), grad=grad)  # [K, d]
        return _as_q(q_fn, h)

    def run(self, q_fn: QFn, generator: torch.Generator, num_chains: int) -> SGLDResult:
        """Run ``num_chains`` chains for T_max steps and collect one sample per chain (Algorithm 2)."""
        cfg, learner = self.config, self.learner
        model = learner.model
        vocab = len(learner.tokenizer)
        device = learner.input_embeddings.device
        n_positions = getattr(model.config, "n_positions", None)
        if n_positions is not None and cfg.query_length > n_positions:
            raise ValueError(f"query_length {cfg.query_length} exceeds the model's {n_positions} positions")
        was_training = model.training
        # transformers 5 renamed gradient_* to activation_checkpointing_*; support both spellings.
        prefix = "activation" if hasattr(type(model), "activation_checkpointing_enable") else "gradient"
        was_checkpointing = bool(getattr(model, f"is_{prefix}_checkpointing", False))
        if cfg.gradient_checkpointing:
            # HF models only checkpoint in training mode; the offline GPT-2 has no dropout.
            kwargs = {f"{prefix}_checkpointing_kwargs": {"use_reentrant": False}}
            getattr(model, f"{prefix}_checkpointing_enable")(**kwargs)
            model.train()
        else:
            model.eval()
        try:
            return self._run(q_fn, generator, num_chains, vocab, device)
        finally:
            if cfg.gradient_checkpointing and not was_checkpointing:
                getattr(model, f"{prefix}_checkpointing_disable")()
            model.train(was_training)

    def _run(self, q_fn: QFn, generator: torch.Generator, k: int, vocab: int, device) -> SGLDResult:
        cfg = self.config
        shape = (k, cfg.query_length, vocab)
        logits = one_hot_logits(k, cfg.query_length, vocab, cfg.init_logit, generator, device)  # [K, L, V]
        random_logits = one_hot_logits(k, cfg.query_length, vocab, cfg.init_logit, generator, device)
        with torch.no_grad():
            q_init = self._q(q_fn, logits, cfg.tau_end, grad=False)
            q_random = self._q(q_fn, random_logits, cfg.tau_end, grad=False)
        grad_norms, clipped, ent_trace, q_trace = [], [], [], []
        sqrt_eps = math.sqrt(cfg.step_size)
        for t in range(cfg.steps):
            tau = cfg.tau(t)  # eq. 14
            lam = logits.detach().requires_grad_(True)
            q = self._q(q_fn, lam, tau, grad=True)  # [K]
            energy = q / cfg.tau_sld  # eq. 12
            (grad,) = torch.autograd.grad(energy.sum(), lam)  # [K, L, V]; theta's .grad untouched
            norms = grad.flatten(1).norm(dim=1)  # [K], per-chain norm over the flattened [L, V]
            scale = torch.clamp(cfg.grad_clip / (norms + 1e-12), max=1.0)
            noise = torch.randn(shape, generator=generator, device=device)
            # eq. 13 with clipping (Algorithm 2 line 10): lambda += eps/2 clip(grad E, G) + sqrt(eps) sigma eta
            logits = lam.detach() + 0.5 * cfg.step_size * grad * scale[:, None, None] + sqrt_eps * cfg.noise * noise
            with torch.no_grad():
                p = torch.softmax(lam.detach() / tau, dim=-1)
                ent_trace.append(float(-(p * torch.log(p.clamp_min(1e-30))).sum(-1).mean()))
            q_trace.append(float(q.detach().mean()))
            grad_norms.append(norms.detach())
            clipped.append(norms.detach() > cfg.grad_clip)
        tokens = logits.argmax(-1)  # [K, L] (eq. 15)
        with torch.no_grad():
            q_final = self._q(q_fn, logits, cfg.tau_end, grad=False)
            q_tokens = _as_q(q_fn, self.learner.hidden(input_ids=tokens))
            p = torch.softmax(logits / cfg.tau_end, dim=-1)  # [K, L, V]
            entropy = float(-(p * torch.log(p.clamp_min(1e-30))).sum(-1).mean())
            max_prob = float(p.max(-1).values.mean())
            soft = self._soft_embeds(logits, cfg.tau_end).flatten(1).float()  # [K, L*d]
        return SGLDResult(
            logits=logits, tokens=tokens,
            q_init=q_init.detach().float().cpu().numpy(), q_final=q_final.detach().float().cpu().numpy(),
            q_random=q_random.detach().float().cpu().numpy(), q_tokens=q_tokens.detach().float().cpu().numpy(),
            entropy=entropy, max_prob=max_prob, cosine=mean_pairwise_cosine(soft),
            jaccard=mean_pairwise_jaccard(tokens.cpu().numpy()),
            grad_norm=float(torch.stack(grad_norms).mean()), clip_fraction=float(torch.stack(clipped).float().mean()),
            entropy_trace=np.asarray(ent_trace), q_trace=np.asarray(q_trace),
        )


def mean_pairwise_cosine(x: torch.Tensor) -> float:
    """Mean cosine similarity over distinct pairs of rows of ``x`` [K, D]; NaN when K < 2."""
    k = x.shape[0]
    if k < 2:
        return float("nan")
    u = torch.nn.functional.normalize(x, dim=1)
    sim = u @ u.T  # [K, K]
    return float((sim.sum() - sim.diagonal().sum()) / (k * (k - 1)))


def mean_pairwise_jaccard(tokens: np.ndarray) -> float:
    """Mean Jaccard similarity |A & B| / |A | B| over distinct pairs of rows' token sets; NaN when K < 2."""
    sets = [set(row.tolist()) for row in tokens]
    if len(sets) < 2:
        return float("nan")
    return float(np.mean([len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2)]))
