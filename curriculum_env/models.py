"""The model pieces the learner and any model trained beside it share: the device, a random-init GPT-2 and
the next-token NLL every loss in the package is built from."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` means CUDA when present; an unavailable CUDA device is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    return device


def gpt2_model(vocab_size: int, n_positions: int, eos_token_id: int, n_layer: int, n_head: int, n_embd: int,
               attn_implementation: str | None = "sdpa") -> torch.nn.Module:
    """A randomly initialised GPT-2 LM (dropout off, BOS = EOS), from the global torch RNG: the env's learner,
    and any small model trained beside it (a reference model). ``attn_implementation="sdpa"``: torch's fused
    attention kernels; ``None``: transformers' own choice."""
    from transformers import GPT2Config, GPT2LMHeadModel

    extra = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    config = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                        n_head=n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=eos_token_id,
                        eos_token_id=eos_token_id, **extra)
    return GPT2LMHeadModel(config)


def next_token_stats(logits: torch.Tensor, ids: torch.Tensor,
                     entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Next-token NLL [B, L-1] from logits [B, L, V] and ids [B, L] (graph-connected when the logits are)
    and, with ``entropy``, the predictive entropy [B, L-1] in nats (no graph) from the same normalisation.

    The log-softmax runs on the contiguous [B*L, V] view and the last position's (unused) row is dropped
    afterwards: the shifted slice ``logits[:, :-1]`` would need a copy of the whole logits tensor, and a
    transposed [B, V, L-1] layout is several times slower on CPU. Equal, bit for bit, to
    ``F.cross_entropy`` on the same view, in value, gradient and layout (the NLL is a strided view of
    the [B, L] result, so its reductions add in the same order).
    """
    b, t, v = logits.shape
    targets = torch.zeros_like(ids)
    targets[:, :-1] = ids[:, 1:]
    logp = logits.float().reshape(b * t, v).log_softmax(-1)
    nll = (-logp.gather(-1, targets.reshape(b * t, 1))).view(b, t)[:, :-1]  # a view, as cross-entropy's
    if not entropy:
        return nll, None
    with torch.no_grad():
        per_row = logp.view(b, t, v)[:, :-1]
        return nll, -(per_row.exp() * per_row).sum(-1)


def token_nll(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Next-token negative log-likelihood [B, L-1] (:func:`next_token_stats` without the entropy)."""
    return next_token_stats(logits, ids)[0]
