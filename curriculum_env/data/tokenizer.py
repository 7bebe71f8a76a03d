"""Tokenizers: a byte-level BPE trained on the offline corpus (cached on disk), or any HF tokenizer."""

from __future__ import annotations

import hashlib
import os
import pathlib
from collections.abc import Sequence

EOS = "<|endoftext|>"


def cache_root(cache_dir: str | None = None) -> pathlib.Path:
    """The on-disk cache: ``cache_dir``, else ``$CURRICULUM_ENV_CACHE``, else ``~/.cache/curriculum_env``."""
    root = cache_dir or os.environ.get("CURRICULUM_ENV_CACHE") or "~/.cache/curriculum_env"
    path = pathlib.Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def fingerprint(texts: Sequence[str], *extra: object) -> str:
    """A short content hash of ``texts`` and ``extra`` (the cache key)."""
    h = hashlib.sha256()
    for item in extra:
        h.update(repr(item).encode())
    for text in texts:
        h.update(len(text).to_bytes(8, "little"))
        h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def train_bpe(texts: Sequence[str], vocab_size: int, cache_dir: str | None = None):
    """Train (or load from cache) a byte-level BPE on ``texts``; returns a ``PreTrainedTokenizerFast``.

    The cache entry ``bpe-<hash>.json`` is verified on read (:mod:`curriculum_env.data.cache`): a damaged
    one is retrained, with a warning naming it."""
    from curriculum_env.data.cache import cached

    def build() -> bytes:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[EOS],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        return tok.to_str().encode("utf-8")

    path = cache_root(cache_dir) / f"bpe-{fingerprint(texts, vocab_size)}.json"
    return cached(path, build, bpe_from_json)


def bpe_from_json(payload: bytes):
    """A ``PreTrainedTokenizerFast`` (eos ``<|endoftext|>``) from a serialised ``tokenizers`` JSON; raises
    ``ValueError`` if it is not one or lacks the eos token."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    try:
        backend = Tokenizer.from_str(payload.decode("utf-8"))
    except Exception as exc:  # the Rust side raises its own Exception type
        raise ValueError(f"not a tokenizers JSON: {exc}") from exc
    if backend.token_to_id(EOS) is None:
        raise ValueError(f"the tokenizer has no {EOS} token")
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS)


def tokenizer_json(tokenizer) -> bytes:
    """The serialised ``tokenizers`` JSON of a fast tokenizer (what :func:`bpe_from_json` reads)."""
    return tokenizer.backend_tokenizer.to_str().encode("utf-8")


def load_pretrained(name_or_path: str):
    """Any HF tokenizer by hub name or local path (``HF_HUB_OFFLINE=1`` is respected)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:
        raise ValueError(f"cannot load tokenizer {name_or_path!r}: {exc}") from exc
    if tok.eos_token_id is None:
        raise ValueError(f"tokenizer {name_or_path!r} has no eos token to separate documents")
    return tok
