"""The model pieces the learner and any model trained beside it share: the device, a random-init GPT-2 and
the next-token NLL every loss in the package is built from."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def token_nll(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Next-token negative log-likelihood [B, L-1] from logits [B, L, V] and ids [B, L].

    Cross-entropy runs on the contiguous [B*L, V] view with the last position's target ignored: the
    shifted slice ``logits[:, :-1]`` would need a copy of the whole logits tensor, and the
    transposed [B, V, L-1] layout is several times slower on CPU.
    """
    b, t, v = logits.shape
    targets = torch.full_like(ids, -100)
    targets[:, :-1] = ids[:, 1:]
    nll = F.cross_entropy(logits.float().reshape(b * t, v), targets.reshape(b * t), ignore_index=-100,
                          reduction="none")
    return nll.view(b, t)[:, :-1]
