"""Build a task's windows (stream pools, held-out set D, test split), cached on disk and in memory."""

from __future__ import annotations

import functools
import hashlib
import threading

import numpy as np

from curriculum_env.data import corpora, stdlib_corpora
from curriculum_env.data.cache import cached, load_npz, npz_bytes
from curriculum_env.data.tasks import Source, Task, TaskData, resolve_task, split_of, task_key
from curriculum_env.data.tokenizer import bpe_from_json, cache_root, load_pretrained, tokenizer_json, train_bpe
from curriculum_env.data.windows import (
    WindowPool,
    dedupe_against,
    make_pool,
    tokenize_documents,
    unigram_surprisal,
)

MAX_SYNTHETIC = 20_000
_MEMO: dict[str, TaskData] = {}
_LOCK = threading.Lock()


def load_documents(src: Source, code_chars: int) -> list[corpora.Document]:
    """The documents of a non-synthetic source."""
    if src.builtin is not None:
        return list(builtin_documents(src.builtin, code_chars))
    if src.texts is not None:
        return corpora.from_strings(src.texts, prefix=src.label)
    if src.files is not None:
        return corpora.from_files(src.files, text_field=src.text_field)
    if src.dataset is not None:
        return corpora.from_dataset(src.dataset, src.dataset_config, src.dataset_split, src.text_field,
                                    src.max_documents)
    raise ValueError(f"source {src.label!r} is synthetic junk and has no documents")


@functools.lru_cache(maxsize=8)
def builtin_documents(name: str, code_chars: int) -> tuple[corpora.Document, ...]:
    """An offline corpus, read once per process (this interpreter's files do not change while it runs;
    several tasks share a corpus, and reading one parses hundreds of files)."""
    if name == "prose":
        return tuple(corpora.offline_prose())
    if name == "code":
        return tuple(corpora.offline_code(code_chars))
    return tuple(stdlib_corpora.read(name, code_chars))


def _split_docs(docs, task: Task):
    out = {"stream": [], "heldout": [], "test": []}
    for d in docs:
        out[split_of(d.name, task.heldout_fraction, task.test_fraction)].append(d)
    return out


def _rng(label: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "little"))


def make_junk(kind: str, base: np.ndarray, tokenizer, vocab_size: int, label: str) -> np.ndarray:
    """Synthetic junk windows shaped like ``base`` [P, L] (at most ``MAX_SYNTHETIC`` of them)."""
    rng = _rng(label)
    n, length = min(len(base), MAX_SYNTHETIC), base.shape[1]
    if kind == "random":
        return rng.integers(0, vocab_size, size=(n, length))
    if kind == "constant":
        return np.repeat(rng.integers(0, vocab_size, size=(n, 1)), length, axis=1)
    rows = base[rng.choice(len(base), size=n, replace=len(base) < n)]
    if kind == "repeat":
        out = np.empty((n, length), dtype=np.int64)
        for i, row in enumerate(rows):
            k = int(rng.integers(1, 5))
            start = int(rng.integers(0, length - k + 1))
            out[i] = np.resize(row[start : start + k], length)
        return out
    # shuffled: the words of a real window in random order, re-tokenised to the same length
    texts = tokenizer.batch_decode(rows.tolist())
    shuffled = []
    for text in texts:
        words = text.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words) or text)
    encoded = tokenizer(shuffled, add_special_tokens=False)["input_ids"]
    return np.stack([np.resize(np.asarray(e or [tokenizer.eos_token_id], dtype=np.int64), length) for e in encoded])


def _tokenizer_sources(task: Task) -> tuple[Source, ...]:
    """The sources the default BPE learns from: the task's choice, else its real (non-junk) sources."""
    return task.tokenizer_sources or tuple(s for s, _ in task.stream if s.junk is None) or (task.target,)


def _tokenizer(task: Task, cfg, docs_of):
    if cfg.tokenizer is not None:
        return load_pretrained(cfg.tokenizer)
    sources = _tokenizer_sources(task)
    texts = []
    for src in sources:
        texts += [d.text for d in _split_docs(docs_of(src), task)["stream"]]
    if not texts:
        raise ValueError(f"{task.where}: no text to train the tokenizer on (the stream documents of sources "
                         f"{[s.label for s in sources]} are empty)")
    return train_bpe(texts, cfg.vocab_size, cfg.cache_dir)


def _cap(pool_ids: np.ndarray, size: int, label: str) -> np.ndarray:
    if len(pool_ids) <= size:
        return pool_ids
    return pool_ids[np.sort(_rng(label).choice(len(pool_ids), size=size, replace=False))]


def _no_window(task: Task, label: str, what: str, length: int, docs=None, all_docs=None, windows: int = 0,
               repeats: str = "D or the test split") -> ValueError:
    """The error for a source (or split) with no window of ``length`` tokens, naming the task (its file) and
    the source, and saying why when it can tell: ``docs`` the source's documents there (of ``all_docs``),
    ``windows`` the windows it had there before those repeating ``repeats`` were dropped."""
    why = ""
    if all_docs is not None and not any(d.text.strip() for d in all_docs):
        n = len(all_docs)
        why = f" (no text in any of its {n} document{'s' * (n != 1)})" if n else " (it has no document)"
    elif docs is not None and not docs:
        why = (f" (none of its {len(all_docs)} documents falls there: each document goes to the stream, D or "
               "the test split by a hash of its name)")
    elif windows:
        why = f" (all of its {windows} windows there repeat windows of {repeats})"
    return ValueError(f"{task.where}: source {label!r} has no window of {length} tokens in {what}{why}; "
                      "give the source more (or longer) documents or lower context_length")


def tokenize_pools(task: Task, cfg, tokenizer, docs_of) -> dict[str, np.ndarray]:
    """Token ids of every pool: ``stream/<label>``, ``heldout``, ``test``."""
    length, vocab = cfg.context_length, len(tokenizer)
    target = task.target.label
    target_split = _split_docs(docs_of(task.target), task)
    heldout = tokenize_documents(target_split["heldout"], tokenizer, length)
    test = tokenize_documents(target_split["test"], tokenizer, length)
    target_stream = tokenize_documents(target_split["stream"], tokenizer, length)
    if not task.needle and not len(heldout):
        raise _no_window(task, target, "the held-out set D (its 'heldout' split)", length, target_split["heldout"],
                         docs_of(task.target))
    n_test = len(test)
    test = test[dedupe_against(test, heldout)]
    if not len(test):
        raise _no_window(task, target, "the test split", length, target_split["test"], docs_of(task.target),
                         n_test, repeats="D")
    heldout, test = _cap(heldout, cfg.heldout_size, "heldout"), _cap(test, cfg.test_size, "test")
    junk = [src.label for src, _ in task.stream if src.junk is not None]
    if not len(target_stream) and (junk or task.needle):
        made = f"the needle and junk {junk}" if task.needle else f"junk sources {junk}"
        raise _no_window(task, target, f"its stream split, which the {made} are made from", length,
                         target_split["stream"], docs_of(task.target))
    stream: dict[str, np.ndarray] = {}
    for src, _ in task.stream:
        docs = None
        if src.junk is not None:
            ids = make_junk(src.junk, target_stream, tokenizer, vocab, f"{task.name}/{src.label}")
        elif src == task.target:
            ids, docs = target_stream, target_split["stream"]
        else:
            docs = _split_docs(docs_of(src), task)["stream"]
            ids = tokenize_documents(docs, tokenizer, length)
        kept = ids[dedupe_against(ids, heldout, test)]
        if not len(kept) and not (task.needle and src == task.target):
            raise _no_window(task, src.label, "its stream split", length, docs,
                             docs_of(src) if docs is not None else None, len(ids))
        stream[src.label] = kept
    if task.needle:
        # one valuable window; it is also the whole held-out set D
        needle = target_stream[_rng(f"{task.name}/needle").integers(len(target_stream))][None]
        stream = {"needle": needle, **{k: v for k, v in stream.items() if k != task.target.label}}
        heldout = needle.copy()
    arrays = {f"stream/{k}": v for k, v in stream.items()}
    arrays.update(heldout=heldout, test=test)
    return arrays


def _task_arrays(arrays: dict[str, np.ndarray], task: Task, length: int, vocab: int) -> dict[str, np.ndarray]:
    """``arrays`` if they are what :func:`tokenize_pools` makes for ``task``, else ``ValueError`` (a cache entry
    that does not fit is rebuilt)."""
    labels = [src.label for src, _ in task.stream]
    if task.needle:
        labels = ["needle"] + [k for k in labels if k != task.target.label]
    expected = {f"stream/{k}" for k in labels} | {"heldout", "test"}
    if set(arrays) != expected:
        raise ValueError(f"holds {sorted(arrays)}, expected {sorted(expected)}")
    for name, ids in arrays.items():
        if ids.ndim != 2 or ids.dtype.kind not in "iu" or ids.shape[1] != length or not len(ids):
            raise ValueError(f"{name!r} is {ids.dtype}{list(ids.shape)}, expected non-empty integer [P, {length}]")
        if ids.min() < 0 or ids.max() >= vocab:
            raise ValueError(f"{name!r} holds token ids outside the tokenizer's {vocab}")
    return arrays


def _pools(arrays: dict[str, np.ndarray], tokenizer) -> tuple[dict[str, WindowPool], WindowPool, WindowPool]:
    stream_ids = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("stream/")}
    surprisal = unigram_surprisal(np.concatenate(list(stream_ids.values())), len(tokenizer))
    pools = {k: make_pool(v, k, tokenizer, surprisal) for k, v in stream_ids.items()}
    heldout = make_pool(arrays["heldout"], "heldout", tokenizer, surprisal)
    test = make_pool(arrays["test"], "test", tokenizer, surprisal)
    for pool in [*pools.values(), heldout, test]:
        for arr in (pool.ids, pool.rarity, pool.length):
            arr.setflags(write=False)  # shared between envs: nobody may write
    return pools, heldout, test


def build_task_data(cfg) -> TaskData:
    """The built data of ``cfg.task`` under ``cfg``'s data fields (memoised per process, cached on disk)."""
    task = resolve_task(cfg.task)
    params = dict(
        context_length=cfg.context_length, tokenizer=cfg.tokenizer,
        vocab_size=cfg.vocab_size if cfg.tokenizer is None else None,
        heldout_size=cfg.heldout_size, test_size=cfg.test_size, code_chars=cfg.code_chars,
    )
    key = task_key(task, **params)
    with _LOCK:
        if key in _MEMO:
            return _MEMO[key]
        doc_cache: dict[Source, list] = {}

        def docs_of(src: Source):
            if src not in doc_cache:
                doc_cache[src] = load_documents(src, cfg.code_chars)
            return doc_cache[src]

        tok_sources = _tokenizer_sources(task)
        tok_key = task_key(Task("tok", tok_sources[0], tuple((s, 1.0) for s in tok_sources),
                                heldout_fraction=task.heldout_fraction, test_fraction=task.test_fraction),
                           vocab_size=cfg.vocab_size, tokenizer=cfg.tokenizer, code_chars=cfg.code_chars)
        root = cache_root(cfg.cache_dir)
        if cfg.tokenizer is not None:
            tokenizer = load_pretrained(cfg.tokenizer)
        else:  # keyed by the sources, so a hit skips reading the documents
            tokenizer = cached(root / f"tokenizer-{tok_key}.json",
                               lambda: tokenizer_json(_tokenizer(task, cfg, docs_of)), bpe_from_json)
        arrays = cached(root / f"task-{key}.npz", lambda: npz_bytes(tokenize_pools(task, cfg, tokenizer, docs_of)),
                        lambda payload: _task_arrays(load_npz(payload), task, cfg.context_length, len(tokenizer)))
        pools, heldout, test = _pools(arrays, tokenizer)
        weights = {src.label: float(w) for src, w in task.stream}
        if task.needle:
            weights = {"needle": 0.0, **{k: 1.0 for k in pools if k != "needle"}}
        data = TaskData(task, tokenizer, pools, weights, heldout, test)
        _MEMO[key] = data
        return data
