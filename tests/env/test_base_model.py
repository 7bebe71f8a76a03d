"""The built-in base model: its corpus never holds measured text, it is cached and self-heals, and
``init="base"`` starts every reset from it without charging its pretraining to the run."""

import numpy as np
import pytest
import torch

from curriculum_env import base_model as bm
from curriculum_env.config import EnvConfig
from curriculum_env.data import pretraining
from curriculum_env.data.build import build_task_data
from curriculum_env.data.cache import CacheRebuiltWarning
from curriculum_env.data.tasks import PROSE, Task
from curriculum_env.data.windows import tokenize_documents
from curriculum_env.flops import parameter_counts
from tests.conftest import TINY, make_tiny

TINY_RECIPE = bm.BaseRecipe(steps=4, batch_size=8, warmup_steps=1)
CODE_CHARS = EnvConfig().code_chars


@pytest.fixture
def tiny_recipe(monkeypatch):
    """The base model's recipe cut to four steps (its cache key holds the recipe: no clash with the real one)."""
    monkeypatch.setattr(bm, "RECIPE", TINY_RECIPE)


@pytest.fixture(scope="module")
def corpus():
    return pretraining.pretraining_documents(CODE_CHARS)


def test_the_corpus_holds_no_file_and_no_text_of_any_shipped_tasks_d_or_test_split(corpus):
    docs, counts = corpus
    measured = pretraining.shipped_measured_documents(CODE_CHARS)
    assert len(pretraining.shipped_tasks()) == 17 and len(measured) > 400
    files = {pretraining.file_key(d) for d in docs}
    hashes = {pretraining.text_hash(d.text) for d in docs}
    assert not files & {pretraining.file_key(d) for d in measured}
    assert not hashes & {pretraining.text_hash(d.text) for d in measured}
    # by file: a test-split comment keeps its module's code out, whatever the corpus calls the document
    comments = next(d for d in measured if d.name.startswith("comments::"))
    assert not any(pretraining.file_key(d) == comments.name.split("::")[1] for d in docs)
    assert counts["documents"] == len(docs) and counts["documents_left_out"] > 0
    assert {d.name.split(":")[0] for d in docs} >= {"topic", "docstrings", "code_except"}


def test_no_window_of_the_prose_tasks_d_or_test_split_is_a_pretraining_window(corpus):
    data = build_task_data(EnvConfig(**TINY, task="noisy"))
    seen = {row.tobytes() for row in tokenize_documents(corpus[0], data.tokenizer, TINY["context_length"])}
    measured = np.concatenate([data.heldout.ids, data.test.ids])
    assert len(seen) > 1000 and not any(row.tobytes() in seen for row in measured)


def test_leaks_names_what_a_users_own_split_of_the_builtin_text_would_measure():
    assert pretraining.leaks("noisy", CODE_CHARS) == []
    wider = Task("my-prose", PROSE, ((PROSE, 1.0),), heldout_fraction=0.3, test_fraction=0.1)  # not a shipped split
    found = pretraining.leaks(wider, CODE_CHARS)
    assert found and all(name.startswith(("topic:", "docstrings:")) for name in found)


def test_a_document_sharing_a_measured_file_or_text_is_left_out():
    doc = pretraining.Document("code_except:encodings::json/decoder.py", "x = 1\n")
    held = pretraining.Measured(frozenset({"json/decoder.py"}), frozenset())
    assert held.holds(doc)
    assert pretraining.Measured(frozenset(), frozenset({pretraining.text_hash("x = 1\n")})).holds(doc)
    assert not pretraining.Measured(frozenset({"json/encoder.py"}), frozenset()).holds(doc)
    assert pretraining.file_key(pretraining.Document("topic:assert", "")) == "assert"


def test_the_base_model_is_cached_deterministic_and_rebuilt_when_damaged(tiny_recipe, tmp_path):
    cfg = EnvConfig(**TINY, task="noisy", init="base", cache_dir=str(tmp_path / "a"))
    tok = build_task_data(cfg).tokenizer
    first = bm.base_model_for(cfg, tok)
    (entry,) = (tmp_path / "a").glob("base-*.npz")
    meta = first.meta
    assert meta["tokens_trained"] == 4 * 8 * 64 and meta["positions"] == 64 and meta["n_embd"] == TINY["n_embd"]
    assert meta["flops"] == pytest.approx(6 * parameter_counts(first.model())["P"] * meta["tokens_trained"])
    assert bm.base_model_for(cfg, tok) is first  # read once per process
    other = bm.base_model_for(cfg.replace(cache_dir=str(tmp_path / "b")), tok)  # built again, elsewhere
    assert other is not first and other.meta["build_seconds"] != meta["build_seconds"]
    for k, v in first.state.items():
        torch.testing.assert_close(other.state[k], v, rtol=0, atol=0)  # the same model on every build
    raw = bytearray(entry.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    entry.write_bytes(bytes(raw))
    with pytest.warns(CacheRebuiltWarning, match=entry.name):
        healed = bm.base_model_for(cfg, tok)
    for k, v in first.state.items():
        torch.testing.assert_close(healed.state[k], v, rtol=0, atol=0)
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated
    with pytest.warns(CacheRebuiltWarning, match="damaged"):
        bm.base_model_for(cfg, tok)


def test_init_base_starts_every_reset_from_the_base_weights_and_charges_none_of_its_pretraining(tiny_recipe):
    env = make_tiny(task="noisy", init="base", candidate_stats=(), observation="none", compute_reward=False)
    u = env.unwrapped
    env.reset(seed=0)
    base = bm.base_model_for(u.config, u.data.tokenizer)
    for k, v in base.state.items():
        torch.testing.assert_close(u.learner.model.state_dict()[k], v, rtol=0, atol=0)
    start = u.evaluate("test")
    assert u.learner.flops.total == 0.0
    for _ in range(3):
        env.step(np.ones(8, dtype=np.float32))
    trained = u.evaluate("test")
    assert trained != start and u.learner.flops.total == pytest.approx(3 * u.learner.flop_model.train(8 * 32))
    env.reset(seed=5)  # another seed: the same base weights, not a random init
    assert u.evaluate("test") == start
    cold = make_tiny(task="noisy")
    cold.reset(seed=0)
    assert cold.unwrapped.evaluate("test") != start


def test_init_is_checked():
    with pytest.raises(ValueError, match="init must be one of"):
        EnvConfig(init="pretrained")
    with pytest.raises(ValueError, match="init='base' contradicts model="):
        EnvConfig(init="base", model="gpt2")
