"""Faults in the data layer: poisoned cache files are found and rebuilt (with a warning naming them), and
mistakes in task files are ``ValueError``s naming the file and the source."""

from __future__ import annotations

import json
import shutil
import threading
import warnings
from unittest import mock

import numpy as np
import pytest

from curriculum_env.config import EnvConfig
from curriculum_env.data import build
from curriculum_env.data.build import build_task_data
from curriculum_env.data.cache import CacheRebuiltWarning, DamagedEntry, cached, payload_of, write_entry
from curriculum_env.data.tasks import Source, Task, resolve_task
from curriculum_env.retrieval.embedder import HashEmbedder, embed_cached
from tests.conftest import TINY

WORDS = [f"w{i}{'abcdefgh'[i % 8]}" for i in range(300)]


def _texts(n: int, seed: int, length: int = 60) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"Document {seed}-{i}. " + " ".join(rng.choice(WORDS, size=length)) for i in range(n)]


def _task() -> Task:
    target = Source("target", texts=tuple(_texts(40, 0)))
    other = Source("other", texts=tuple(_texts(20, 1)))
    return Task("faults", target, ((target, 0.5), (other, 0.25), (Source("shuffled", junk="shuffled"), 0.25)),
                heldout_fraction=0.2, test_fraction=0.2)


def _config(cache_dir) -> EnvConfig:
    return EnvConfig(**{**TINY, "task": _task(), "context_length": 16, "vocab_size": 320,
                        "cache_dir": str(cache_dir)})


def _fresh(cfg) -> build.TaskData:
    """``build_task_data`` with an empty in-process memo, so the disk cache is what is read."""
    with mock.patch.object(build, "_MEMO", {}):
        return build_task_data(cfg)


def _snapshot(data) -> dict:
    out = {f"stream/{k}": p.ids.copy() for k, p in data.stream_pools.items()}
    out.update(heldout=data.heldout.ids.copy(), test=data.test.ids.copy())
    out["tokenizer"] = data.tokenizer.backend_tokenizer.to_str()
    out["eos"] = data.tokenizer.eos_token_id
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def _one(folder, pattern):
    files = sorted(folder.glob(pattern))
    assert len(files) == 1, (pattern, files)
    return files[0]


@pytest.fixture(scope="module")
def clean_cache(tmp_path_factory):
    """A cache folder holding one clean build of the tiny task, and what that build returned."""
    folder = tmp_path_factory.mktemp("clean-cache")
    return folder, _snapshot(_fresh(_config(folder)))


@pytest.fixture
def cache(clean_cache, tmp_path):
    folder, snapshot = clean_cache
    shutil.copytree(folder, tmp_path / "cache")
    return tmp_path / "cache", snapshot


def _truncate(path):
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _flip(path):
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 8] = bytes(b ^ 0xFF for b in raw[mid : mid + 8])
    path.write_bytes(bytes(raw))


def _garbage(path):
    path.write_bytes(b'{"version": "1.0", "model": {garbled \x00\xff')


def _empty(path):
    path.write_bytes(b"")


def test_the_cache_holds_one_verified_file_per_entry_and_a_hit_reads_it(cache):
    folder, clean = cache
    assert sorted(p.name.split("-")[0] for p in folder.iterdir()) == ["bpe", "task", "tokenizer"]  # no temp files
    for path in folder.iterdir():
        payload_of(path.read_bytes())  # each carries a checksum that matches
    with np.load(_one(folder, "task-*.npz")) as f:  # still a plain .npz to numpy
        assert np.array_equal(f["heldout"], clean["heldout"])
    with mock.patch.object(build, "tokenize_pools", side_effect=AssertionError("rebuilt a verified entry")), \
            mock.patch.object(build, "_tokenizer", side_effect=AssertionError("retrained a verified tokenizer")), \
            warnings.catch_warnings():
        warnings.simplefilter("error", CacheRebuiltWarning)
        _assert_same(_snapshot(_fresh(_config(folder))), clean)


@pytest.mark.parametrize("pattern, damage", [
    ("task-*.npz", _truncate), ("task-*.npz", _flip), ("task-*.npz", _garbage), ("task-*.npz", _empty),
    ("tokenizer-*.json", _garbage), ("tokenizer-*.json", _flip), ("tokenizer-*.json", _truncate),
], ids=["npz-truncated", "npz-flipped", "npz-garbage", "npz-empty", "tokenizer-garbage", "tokenizer-flipped",
        "tokenizer-truncated"])
def test_a_damaged_cache_file_is_named_rebuilt_and_gives_the_same_data(cache, pattern, damage):
    folder, clean = cache
    damaged = _one(folder, pattern)
    damage(damaged)
    calls = {"build": 0}
    real_build = build.tokenize_pools

    def counting_build(*args):
        calls["build"] += 1
        return real_build(*args)

    with mock.patch.object(build, "tokenize_pools", counting_build), pytest.warns(CacheRebuiltWarning) as record:
        data = _fresh(_config(folder))
    messages = [str(w.message) for w in record if issubclass(w.category, CacheRebuiltWarning)]
    assert len(messages) == 1 and str(damaged) in messages[0] and "rebuilt" in messages[0], messages
    assert calls["build"] == (1 if pattern.startswith("task") else 0)  # the tokenizer comes back from bpe-*.json
    _assert_same(_snapshot(data), clean)
    payload_of(damaged.read_bytes())  # the rebuilt entry verifies ...
    with warnings.catch_warnings():  # ... so the next run reads it without a word
        warnings.simplefilter("error", CacheRebuiltWarning)
        _assert_same(_snapshot(_fresh(_config(folder))), clean)


def test_both_tokenizer_files_damaged_retrains_the_same_tokenizer(cache):
    folder, clean = cache
    tok, bpe = _one(folder, "tokenizer-*.json"), _one(folder, "bpe-*.json")
    _garbage(tok)
    _flip(bpe)
    with pytest.warns(CacheRebuiltWarning) as record:
        data = _fresh(_config(folder))
    messages = [str(w.message) for w in record if issubclass(w.category, CacheRebuiltWarning)]
    assert sorted(str(p) for p in (tok, bpe) if any(str(p) in m for m in messages)) == sorted([str(tok), str(bpe)])
    _assert_same(_snapshot(data), clean)


def test_an_entry_that_verifies_but_does_not_fit_the_task_is_rebuilt(cache):
    folder, clean = cache
    path = _one(folder, "task-*.npz")
    import io

    buf = io.BytesIO()
    np.savez(buf, heldout=clean["heldout"][:, :8])  # a checksum that matches, content that does not fit
    write_entry(path, buf.getvalue())
    with pytest.warns(CacheRebuiltWarning, match="does not load"):
        data = _fresh(_config(folder))
    _assert_same(_snapshot(data), clean)


def test_entries_written_before_checksums_are_rebuilt_quietly(cache):
    folder, clean = cache
    task, tok, bpe = (_one(folder, p) for p in ("task-*.npz", "tokenizer-*.json", "bpe-*.json"))
    with np.load(task) as f:  # the old format: a plain .npz, plain tokenizer JSON, no checksum
        arrays = {k: f[k] for k in f.files}
    np.savez(task, **arrays)
    tok.write_text(clean["tokenizer"])
    bpe.write_text(clean["tokenizer"])
    for path in (task, tok, bpe):
        with pytest.raises(DamagedEntry):
            payload_of(path.read_bytes())
    (folder / f"{tok.stem}").mkdir()  # the old tokenizer cache was a save_pretrained folder; it is ignored
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheRebuiltWarning)
        data = _fresh(_config(folder))
    _assert_same(_snapshot(data), clean)
    for path in (task, tok, bpe):
        payload_of(path.read_bytes())  # rewritten with a checksum


def test_a_failed_write_leaves_no_entry_and_no_temporary_file(tmp_path, monkeypatch):
    from curriculum_env.data import cache as cache_module

    def crash(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(cache_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        cached(tmp_path / "entry.npz", lambda: b"payload", bytes)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert cached(tmp_path / "entry.npz", lambda: b"payload", bytes) == b"payload"
    assert [p.name for p in tmp_path.iterdir()] == ["entry.npz"]


def test_concurrent_writers_of_one_entry_never_expose_a_file_that_fails_verification(tmp_path):
    """Builders that write the same entry at once, each with different bytes (the worst case: the payload
    and its checksum are one file, so they cannot be mixed), while readers verify it."""
    path = tmp_path / "entry.bin"
    write_entry(path, b"first")
    errors = []
    stop = threading.Event()

    def writer(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(25):
                write_entry(path, rng.bytes(int(rng.integers(1, 300_000))))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def reader():
        reads = 0
        while not stop.is_set() or reads < 10:
            try:
                payload_of(path.read_bytes())
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
                return
            reads += 1

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors
    assert [p.name for p in tmp_path.iterdir()] == ["entry.bin"]  # no temporary file left behind


@pytest.mark.parametrize("damage", [_truncate, _flip, _garbage], ids=["truncated", "flipped", "garbage"])
def test_a_damaged_embedding_cache_is_named_and_recomputed(tmp_path, damage):
    texts = [f"window {i} of some text" for i in range(10)]
    emb = HashEmbedder(8)
    clean = embed_cached(emb, texts, str(tmp_path), batch_size=4, progress=False)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("embed-") and files[0].suffix == ".npy"
    np.testing.assert_array_equal(np.load(files[0]), clean)  # still a plain .npy to numpy
    damage(files[0])
    with mock.patch.object(emb, "encode", wraps=emb.encode) as encode, \
            pytest.warns(CacheRebuiltWarning, match=str(files[0])):
        again = embed_cached(emb, texts, str(tmp_path), batch_size=4, progress=False)
    assert encode.call_count == 3  # recomputed, in batches of 4
    np.testing.assert_array_equal(again, clean)
    assert list(tmp_path.iterdir()) == files  # one file, no sidecar or temporary file
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheRebuiltWarning)
        np.testing.assert_array_equal(embed_cached(emb, texts, str(tmp_path), progress=False), clean)


def test_an_embedding_cache_of_the_wrong_shape_is_recomputed(tmp_path):
    import io

    texts = ["a b c", "d e f"]
    emb = HashEmbedder(8)
    clean = embed_cached(emb, texts, str(tmp_path), progress=False)
    path = next(tmp_path.iterdir())
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 8), dtype=np.float32))
    write_entry(path, buf.getvalue())
    with pytest.warns(CacheRebuiltWarning, match="expected float32"):
        np.testing.assert_array_equal(embed_cached(emb, texts, str(tmp_path), progress=False), clean)


# ------------------------------------------------------------------------------------------------
# Task files


def _docs(folder, n=40):
    folder.mkdir(exist_ok=True)
    for i, text in enumerate(_texts(n, 2, length=80)):
        (folder / f"doc{i}.txt").write_text(text)


def _toml(tmp_path, body: str):
    path = tmp_path / "task.toml"
    path.write_text(body)
    return path


SPLITS = 'target = "docs"\nheldout_fraction = 0.2\ntest_fraction = 0.2\n'
GOOD_DOCS = '[sources.docs]\nfiles = ["docs/*.txt"]\nweight = 0.5\n'


@pytest.mark.parametrize("body, label, phrase", [
    ('target = "docs"\n[sources.docs]\nfiles = ["docs/*.txt"]\nweight = "heavy"\n', "docs",
     "weight = 'heavy' must be a finite number > 0"),
    ('target = "docs"\n[sources.docs]\nfiles = ["docs/*.txt"]\nweight = -0.25\n', "docs",
     "weight = -0.25 must be a finite number > 0"),
    ('target = "docs"\n[sources.docs]\nfiles = ["docs/*.txt"]\nweight = 0\n', "docs", "weight = 0 must be"),
    ('target = "docs"\n[sources.docs]\nfiles = ["docs/*.txt"]\nweight = nan\n', "docs", "weight = nan must be"),
    ('target = "docs"\n[sources.docs]\nfiles = ["docs/*.txt"]\nweight = true\n', "docs", "weight = True must be"),
    ('target = "docs"\n[sources.docs]\nfiles = ["docs"]\n', "docs",
     "files pattern 'docs' matched the directory"),
    ('target = "docs"\n[sources.docs]\nfiles = 3\n', "docs", "files = 3 must be a glob or a non-empty list of globs"),
    ('target = "docs"\n[sources.docs]\nfiles = ["docs/*.txt", 7]\n', "docs", "must be a glob or a non-empty list"),
    ('target = "docs"\n[sources.docs]\nfiles = []\n', "docs", "files = [] must be a glob or a non-empty list"),
    ('target = "docs"\n' + GOOD_DOCS + '[sources.notes]\ntexts = [1, 2]\n', "notes",
     "texts = [1, 2] must be a string or a non-empty list of strings"),
    ('target = "docs"\n' + GOOD_DOCS + '[sources.lib]\nbuiltin = 3\n', "lib", "builtin = 3 must be a non-empty string"),
    ('target = "docs"\n' + GOOD_DOCS + '[sources.lib]\nbuiltin = "poetry"\n', "lib", "unknown builtin corpus"),
    ('target = "docs"\n' + GOOD_DOCS + '[sources.bad]\njunk = "noise"\n', "bad", "unknown junk kind"),
    ('target = "docs"\n' + GOOD_DOCS + '[sources.bad]\nweight = 0.5\n', "bad", "give exactly one of"),
    ('target = "docs"\n' + GOOD_DOCS + '[sources.hub]\ndataset = "x"\nmax_documents = "10"\n', "hub",
     "max_documents = '10' must be a whole number > 0"),
    ('target = "docs"\n' + GOOD_DOCS + '[sources.hub]\ndataset = "x"\ndataset_split = 1\n', "hub",
     "dataset_split = 1 must be a non-empty string"),
    ('target = "docs"\nsources = {docs = {files = ["docs/*.txt"]}, other = 3}\n', "other",
     "sources.other must be a table of fields"),
], ids=["weight-string", "weight-negative", "weight-zero", "weight-nan", "weight-bool", "files-directory",
        "files-number", "files-mixed-list", "files-empty", "texts-numbers", "builtin-number", "builtin-unknown",
        "junk-unknown", "no-kind", "max-documents-string", "split-number", "source-not-a-table"])
def test_a_bad_source_in_a_task_file_names_the_file_and_the_source(tmp_path, body, label, phrase):
    _docs(tmp_path / "docs")
    path = _toml(tmp_path, body)
    with pytest.raises(ValueError) as err:
        resolve_task(str(path))
    message = str(err.value)
    assert str(path) in message and label in message and phrase in message, message


def test_a_directory_glob_says_files_are_expected(tmp_path):
    _docs(tmp_path / "docs")
    path = _toml(tmp_path, 'target = "docs"\n[sources.docs]\nfiles = ["*"]\n')  # matches task.toml and docs/
    with pytest.raises(ValueError, match=r"matched the directory .*docs'; files are expected") as err:
        resolve_task(str(path))
    assert str(path) in str(err.value) and "sources.docs" in str(err.value)


@pytest.mark.parametrize("body, phrase", [
    ('target = ["docs"]\n' + GOOD_DOCS, "target = ['docs'] must be the label (a string) of one of its sources"),
    ('target = "docs"\nneedle = "yes"\n' + GOOD_DOCS, "needle = 'yes' must be true or false"),
    ('target = "docs"\nheldout_fraction = "0.1"\n' + GOOD_DOCS, "heldout_fraction = '0.1' must be a number in [0, 1)"),
    ('target = "docs"\ntest_fraction = -0.1\n' + GOOD_DOCS, "test_fraction = -0.1 must be a number in [0, 1)"),
    ('target = "docs"\nname = 3\n' + GOOD_DOCS, "name = 3 must be a non-empty string"),
    ('target = "docs"\nneedle = true\n' + GOOD_DOCS, "a needle task streams exactly the target and one filler"),
    ('target = "noise"\n' + GOOD_DOCS + '[sources.noise]\njunk = "random"\n', "the target source 'noise' is junk"),
], ids=["target-list", "needle-string", "fraction-string", "fraction-negative", "name-number", "needle-one-source",
        "target-junk"])
def test_a_bad_top_level_key_names_the_file(tmp_path, body, phrase):
    _docs(tmp_path / "docs")
    path = _toml(tmp_path, body)
    with pytest.raises(ValueError) as err:
        resolve_task(str(path))
    assert str(path) in str(err.value) and phrase in str(err.value), str(err.value)


def test_a_json_task_file_that_is_not_an_object_is_named(tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps([{"target": "docs"}]))
    with pytest.raises(ValueError, match="must hold a table of keys") as err:
        resolve_task(str(path))
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content", ["", "   \n\n  "], ids=["empty", "whitespace"])
def test_a_source_whose_files_hold_no_text_names_the_file_and_the_source(tmp_path, content):
    _docs(tmp_path / "docs")
    (tmp_path / "empty.txt").write_text(content)
    path = _toml(tmp_path, SPLITS + GOOD_DOCS + '[sources.empty]\nfiles = ["empty.txt"]\n')
    cfg = EnvConfig(**{**TINY, "task": str(path), "context_length": 16, "vocab_size": 320,
                       "cache_dir": str(tmp_path / "cache")})
    with mock.patch.object(build, "_MEMO", {}), pytest.raises(ValueError) as err:
        build_task_data(cfg)
    message = str(err.value)
    assert str(path) in message and "source 'empty' has no window of 16 tokens" in message, message
    assert "no text in any of its 1 document)" in message and "split has no window" not in message
    assert not list((tmp_path / "cache").glob("task-*"))  # nothing half-built is cached


def test_a_target_with_no_text_names_the_file_and_the_target(tmp_path):
    (tmp_path / "docs").mkdir()
    for i in range(10):
        (tmp_path / "docs" / f"doc{i}.txt").write_text("")
    path = _toml(tmp_path, SPLITS + GOOD_DOCS + '[sources.lib]\ntexts = ' + json.dumps(_texts(20, 3)) + '\n')
    cfg = EnvConfig(**{**TINY, "task": str(path), "context_length": 16, "vocab_size": 320,
                       "cache_dir": str(tmp_path / "cache")})
    with mock.patch.object(build, "_MEMO", {}), pytest.raises(ValueError) as err:
        build_task_data(cfg)
    message = str(err.value)
    assert str(path) in message and "source 'docs' has no window of 16 tokens in the held-out set D" in message, \
        message
    assert "no text in any of its 10 documents" in message


def test_the_task_file_is_not_part_of_the_tasks_identity_or_cache_key(tmp_path):
    from curriculum_env.data.tasks import task_key

    _docs(tmp_path / "docs")
    a = _toml(tmp_path, 'name = "same"\ntarget = "docs"\n' + GOOD_DOCS)
    (tmp_path / "b.toml").write_text(a.read_text())
    ta, tb = resolve_task(str(a)), resolve_task(str(tmp_path / "b.toml"))
    assert ta.origin == str(a) and tb.origin == str(tmp_path / "b.toml")
    assert ta == tb and hash(ta) == hash(tb) and task_key(ta) == task_key(tb)


def test_any_altered_byte_of_an_entry_fails_its_checksum():
    from curriculum_env.data.cache import seal

    raw = seal(bytes(range(256)) * 4)
    assert payload_of(raw) == bytes(range(256)) * 4
    for i in (0, 1, 500, len(raw) - 80, len(raw) - 2):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        with pytest.raises(DamagedEntry):
            payload_of(bytes(bad))
    for cut in (1, 64, len(raw) // 2):
        with pytest.raises(DamagedEntry):
            payload_of(raw[:-cut])
