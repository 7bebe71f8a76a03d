"""Retrieval without replacement (RingBuffer.sample), the per-task window embeddings and RetrievalSource."""

from __future__ import annotations

import numpy as np
import pytest

from curriculum_env.retrieval import HashEmbedder, RingBuffer, content_key
from curriculum_env.retrieval.source import RetrievalConfig, RetrievalSource
from curriculum_env.retrieval.window_store import WindowEmbeddings
from tests.conftest import make_tiny
from tests.wrappers.test_retrieval import fill

N = 8


def test_sample_takes_distinct_available_windows_and_follows_the_best_at_low_tau():
    rng = np.random.default_rng(0)
    ring = RingBuffer(40, 16, 4)
    fill(ring, rng, 5, 8)
    available = np.ones(40, dtype=bool)
    available[::3] = False
    q = ring.vectors[[1, 2]]  # queries equal to two stored windows (slot 1, 2 are available)
    got = ring.sample(q, 10, top_k=5, tau=1e-4, rng=rng, available=available)
    assert len(set(got.slots.tolist())) == 10 and available[got.slots].all()
    assert got.slots[0] == 1 and got.slots[1] == 2  # at tau -> 0 each query takes its best remaining neighbour
    scores = q @ ring.vectors.T
    for j, (slot, query) in enumerate(zip(got.slots, got.query, strict=True)):  # greedy: best of what was left
        left = available.copy()
        left[got.slots[:j]] = False
        assert query == j % 2 and scores[query, slot] == pytest.approx(scores[query, left].max())
    # the pool runs out: fewer than asked, never a repeat
    assert len(ring.sample(q, 100, 5, 0.1, rng, available).slots) == int(available.sum())


def test_sample_skips_copies_of_a_taken_window():
    rng = np.random.default_rng(1)
    ring = RingBuffer(8, 4, 3)
    v = np.eye(4, dtype=np.float32)[[0, 0, 1, 2]]
    ids = np.array([[1, 1, 1], [1, 1, 1], [2, 2, 2], [3, 3, 3]])
    ring.add(v, ids, ["a"] * 4, ["s"] * 4, np.zeros(4), np.zeros(4))
    got = ring.sample(v[:1], 4, 4, 0.1, rng, np.ones(8, bool))
    assert len(got.slots) == 3 and len({content_key(ring.ids[s]) for s in got.slots}) == 3


class Counting(HashEmbedder):
    def __init__(self):
        super().__init__(16)
        self.encoded = 0
        self.flops_per_token = 10.0

    def encode(self, texts):
        self.encoded += len(texts)
        return super().encode(texts)


def test_window_embeddings_are_computed_once_per_pool_and_looked_up_by_content():
    env = make_tiny(task="mixed")
    data = env.unwrapped.data
    emb = Counting()
    store = WindowEmbeddings(data, emb, progress=False)
    total = sum(len(p) for p in data.stream_pools.values())
    assert len(store) == total and emb.encoded == total
    ids = data.stream_pools["code"].ids[[5, 17, 3]]
    expected = HashEmbedder(16).encode(data.tokenizer.batch_decode(ids.tolist()))
    np.testing.assert_array_equal(store.lookup(ids), expected)
    again = WindowEmbeddings(data, emb, progress=False)  # the cache: nothing embedded a second time
    assert emb.encoded == total and again.missed == 0
    own = np.full((1, ids.shape[1]), 7)  # a window in no pool is embedded on the spot
    expected_own = HashEmbedder(16).encode(data.tokenizer.batch_decode([own[0].tolist()]))
    np.testing.assert_array_equal(again.lookup(own), expected_own)
    assert again.missed == 1 and store.flops(3, 32) == 10.0 * 34 * 3


def pool_source(env, **config):
    base = env.unwrapped
    store = WindowEmbeddings(base.data, HashEmbedder(16), progress=False)
    queries = {"q": None}
    src = RetrievalSource(store, lambda: queries["q"], N, 32, RetrievalConfig(**{"ring_size": 64, **config}),
                          base.learner.add_flops)
    base.set_candidate_source(src)
    return src, queries, store


def test_pool_rule_retrieves_for_the_queries_and_never_proposes_a_trained_window_again():
    env = make_tiny(task="mixed")
    src, queries, store = pool_source(env, n_fresh=2, prefill=True, n_ingest=16)
    _, info = env.reset(seed=0)
    assert info["examples_streamed"] == 64 and info["rag/retrieved"] == 0  # no query yet: the fresh batch
    assert info["rag/ring_size"] == 64  # proposed, not trained yet: still in the pool
    seen = {content_key(r) for r in info["token_ids"]}
    for step in range(1, 5):
        queries["q"] = store.lookup(info["token_ids"][:2])
        ring_before = {int(k) for k, a in zip(src.ring.keys, src.available, strict=True) if a}
        _, _, _, _, info = env.step(np.ones(N, np.float32))
        keys = [content_key(r) for r in info["token_ids"]]
        sampled = info["rag/sampled"]
        assert sampled.sum() == N - 2 == info["rag/retrieved"]
        assert {k for k, s in zip(keys, sampled, strict=True) if s} <= ring_before  # retrieved from the open pool
        assert not seen & set(keys)  # every candidate was trained (weights all positive): none proposed twice
        seen |= set(keys)
        assert np.isnan(info["rag/score"][~sampled]).all() and (info["rag/query"][sampled] >= 0).all()
        assert info["examples_streamed"] == 64 + 16 * step and info["rag/ingested"] == 16
        assert info["rag/ingested_total"] == 64 + 16 * step
    assert info["flops/retrieval"] == 4 * 2 * 2 * 64 * 16  # the searches alone: the hash embedder has no model


def test_paper_rule_needs_no_fresh_windows_and_sources_are_deterministic():
    with pytest.raises(ValueError, match="n_fresh"):
        RetrievalConfig(rule="paper", n_fresh=2)
    runs = []
    for _ in range(2):
        env = make_tiny(task="mixed")
        src, queries, store = pool_source(env, rule="paper", n_fresh=0, prefill=True)
        _, info = env.reset(seed=4)
        queries["q"] = store.lookup(info["token_ids"][:3])
        _, _, _, _, info = env.step(np.ones(N, np.float32))
        runs.append(info["token_ids"])
        assert 1 <= info["rag/retrieved"] <= 3 and len({content_key(r) for r in info["token_ids"]}) == N
    np.testing.assert_array_equal(*runs)


def test_by_default_the_ring_holds_the_table_stream_and_keeps_what_was_not_trained():
    env = make_tiny(task="mixed", train_batch=2)
    src, queries, store = pool_source(env, n_fresh=2)  # prefill=False, n_ingest=None: the fresh batches alone
    _, info = env.reset(seed=0)
    assert info["examples_streamed"] == N == src.ring.size == info["rag/ring_size"]
    trained, flops = set(), 0.0
    for step in range(1, 5):
        queries["q"] = store.lookup(info["token_ids"][:2])
        proposed, size = info["token_ids"], src.ring.size
        w = np.zeros(N, np.float32)
        w[[0, 1]] = 1.0  # the env trains candidates 0 and 1
        _, _, _, _, info = env.step(w)
        trained |= {content_key(r) for r in proposed[[0, 1]]}
        retrieved = {content_key(r) for r in info["token_ids"][info["rag/sampled"]]}
        if step == 1:  # the pool: the reset's batch less the two trained
            assert retrieved == {content_key(r) for r in proposed} - trained
        assert not retrieved & trained  # a trained window never comes back from the ring
        assert info["examples_streamed"] == N * (step + 1) and info["rag/ingested"] == N  # every agent's stream
        flops += 2 * 2 * size * 16  # two queries scored against every ring row (d = 16)
        assert info["flops/retrieval"] == flops  # the hash embedder itself costs nothing


def test_a_search_reports_its_similarity_flops():
    rng = np.random.default_rng(2)
    ring = RingBuffer(40, 16, 4)
    fill(ring, rng, 5, 8)
    q = ring.vectors[[1, 2, 3]]
    assert ring.sample(q, 4, 5, 0.1, rng, np.ones(40, bool)).flops == 2 * 3 * ring.size * 16
    got = ring.retrieve(q, 5, 0.1, 6, rng)
    assert got.flops > 0 and got.flops % (2 * 3 * ring.size * 16) == 0  # one product per search (deeper: more)
