"""RAG retrieval (paper §3.4): ring buffer refresh, FAISS search, eq. 16 sampling, embedding cache."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from curriculum_env.retrieval import HashEmbedder, MiniLMEmbedder, RingBuffer, embed_cached, make_embedder


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fill(ring, rng, batches, n, d=16, length=4, start=0):
    """Add ``batches`` batches of n windows whose ids encode their global insertion number."""
    serial = start
    for _ in range(batches):
        ids = (serial + np.arange(n))[:, None] * np.ones(length, dtype=np.int64)  # [n, L]
        ring.add(unit(rng, n, d), ids, [f"w{s}" for s in serial + np.arange(n)], ["a"] * n, np.zeros(n), np.zeros(n))
        serial += n
    return serial


@pytest.mark.parametrize("n", [7, 64, 100])
def test_ring_holds_exactly_the_last_i_windows(n):
    rng = np.random.default_rng(0)
    ring = RingBuffer(64, 16, 4)
    total = fill(ring, rng, 11, n)
    assert len(ring) == 64 and ring.added == total
    expected = set(range(total - 64, total))
    assert set(ring.serial.tolist()) == expected
    assert set(ring.ids[:, 0].tolist()) == expected  # the token ids moved with the vectors
    assert all(t == f"w{s}" for t, s in zip(ring.texts, ring.serial, strict=True))


def test_partial_ring_and_search_match_a_fresh_index_flat_ip():
    rng = np.random.default_rng(1)
    ring = RingBuffer(64, 16, 4)
    fill(ring, rng, 2, 20)  # 40 of 64 slots
    queries = unit(rng, 5, 16)
    for _ in range(4):  # and again after wrapping around
        index = faiss.IndexFlatIP(16)
        index.add(ring.vectors[: len(ring)])
        ref_scores, ref_slots = index.search(queries, 6)
        scores, slots = ring.search(queries, 6)
        np.testing.assert_array_equal(slots, ref_slots)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-6)
        fill(ring, rng, 1, 23)


def test_retrieve_returns_unique_windows_from_the_buffer():
    rng = np.random.default_rng(2)
    ring = RingBuffer(64, 16, 4)
    fill(ring, rng, 4, 16)
    queries = unit(rng, 6, 16)
    got = ring.retrieve(queries, top_k=5, tau=0.1, n=8, rng=np.random.default_rng(0))
    assert got.num_sampled <= 6 and got.sampled.sum() == got.num_sampled
    assert len(set(got.slots.tolist())) == 8  # exactly n distinct windows
    assert set(got.slots.tolist()) <= set(range(len(ring)))
    _, top = ring.search(queries, 5)
    for slot, q, s in zip(got.slots[got.sampled], got.query[got.sampled], got.scores[got.sampled], strict=True):
        assert slot in top[q]  # each sampled result is among its query's top-k
        assert s == pytest.approx(float(queries[q] @ ring.vectors[slot]), abs=1e-5)


def test_retrieve_dedupes_equal_content_in_different_slots():
    ring = RingBuffer(8, 4, 2)
    v = np.eye(4, dtype=np.float32)
    ids = np.array([[1, 1], [1, 1], [2, 2], [3, 3]])  # slots 0 and 1 hold the same window
    ring.add(v, ids, ["a", "a", "b", "c"], ["x"] * 4, np.zeros(4), np.zeros(4))
    got = ring.retrieve(v[[0, 1]], top_k=1, tau=0.1, n=3, rng=np.random.default_rng(0))
    assert got.num_sampled == 1  # both queries hit the same content: R = 1
    assert len({tuple(ring.ids[s]) for s in got.slots}) == 3


def test_softmax_sampling_follows_eq_16():
    ring = RingBuffer(4, 2, 1)
    angles = np.array([0.0, 0.3, 0.6, 1.2])
    v = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    ring.add(v, np.arange(4)[:, None], list("abcd"), ["x"] * 4, np.zeros(4), np.zeros(4))
    tau, rng = 0.1, np.random.default_rng(3)
    counts = np.zeros(4)
    for _ in range(4000):
        counts[ring.retrieve(v[:1], top_k=4, tau=tau, n=1, rng=rng).slots[0]] += 1
    p = np.exp(v @ v[0] / tau)
    np.testing.assert_allclose(counts / counts.sum(), p / p.sum(), atol=0.03)


def test_bad_inputs_are_clear_errors():
    ring = RingBuffer(4, 3, 2)
    with pytest.raises(ValueError, match="empty"):
        ring.search(np.zeros((1, 3), np.float32), 1)
    with pytest.raises(ValueError, match="vectors"):
        ring.add(np.zeros((2, 5)), np.zeros((2, 2)), ["a", "b"], ["x", "x"], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="unknown embedder"):
        make_embedder("word2vec")


def test_hash_embedder_is_normalised_and_deterministic():
    e = HashEmbedder(32)
    a = e.encode(["the cat sat on the mat", "", "def f(x): return x"])
    assert a.shape == (3, 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(a, HashEmbedder(32).encode(["the cat sat on the mat", "", "def f(x): return x"]))


def test_embed_cached_writes_once_and_reloads(tmp_path):
    class Counting(HashEmbedder):
        calls = 0

        def encode(self, texts):
            Counting.calls += 1
            return super().encode(texts)

    texts = [f"window {i}" for i in range(10)]
    emb = Counting(8)
    first = embed_cached(emb, texts, str(tmp_path), batch_size=4, progress=False)
    assert Counting.calls == 3  # batches of 4
    second = embed_cached(emb, texts, str(tmp_path), batch_size=4, progress=False)
    assert Counting.calls == 3  # served from the cache
    np.testing.assert_array_equal(first, second)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].startswith("embed-") and files[0].endswith(".npy")  # no temp file left
    embed_cached(emb, texts[:5], str(tmp_path), progress=False)
    assert Counting.calls == 4  # other content, other key (one batch of 5)


def test_real_minilm_embeds_sentences_by_meaning():
    emb = MiniLMEmbedder()
    v = emb.encode(["A cat is sleeping on the sofa.", "The kitten naps on the couch.",
                    "Quarterly tax filings are due in April."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # paraphrases are closer than unrelated text
