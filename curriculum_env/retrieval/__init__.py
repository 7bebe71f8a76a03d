"""RAG retrieval for Langevin-RAG (paper §3.4): sentence embedders and a FAISS ring buffer."""

from curriculum_env.retrieval.embedder import Embedder, HashEmbedder, MiniLMEmbedder, embed_cached, make_embedder
from curriculum_env.retrieval.ring import Retrieved, RingBuffer, content_key, content_keys

__all__ = ["Embedder", "HashEmbedder", "MiniLMEmbedder", "Retrieved", "RingBuffer", "content_key", "content_keys",
           "embed_cached", "make_embedder"]
