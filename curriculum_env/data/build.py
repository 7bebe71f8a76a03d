"""Build a task's windows (stream pools, held-out set D, test split), cached on disk and in memory."""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from curriculum_env.data import corpora
from curriculum_env.data.tasks import Source, Task, TaskData, atomic_save_npz, resolve_task, split_of, task_key
from curriculum_env.data.tokenizer import cache_root, load_pretrained, train_bpe
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
    if src.builtin == "prose":
        return corpora.offline_prose()
    if src.builtin == "code":
        return corpora.offline_code(code_chars)
    if src.texts is not None:
        return corpora.from_strings(src.texts, prefix=src.label)
    if src.files is not None:
        return corpora.from_files(src.files, text_field=src.text_field)
    if src.dataset is not None:
        return corpora.from_dataset(src.dataset, src.dataset_config, src.dataset_split, src.text_field,
                                    src.max_documents)
    raise ValueError(f"source {src.label!r} is synthetic junk and has no documents")


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


def _tokenizer(task: Task, cfg, docs_of):
    if cfg.tokenizer is not None:
        return load_pretrained(cfg.tokenizer)
    sources = task.tokenizer_sources or tuple(s for s, _ in task.stream if s.junk is None)
    texts = []
    for src in sources:
        texts += [d.text for d in _split_docs(docs_of(src), task)["stream"]]
    if not texts:
        raise ValueError(f"task {task.name!r}: no text to train the tokenizer on")
    return train_bpe(texts, cfg.vocab_size, cfg.cache_dir)


def _cap(pool_ids: np.ndarray, size: int, label: str) -> np.ndarray:
    if len(pool_ids) <= size:
        return pool_ids
    return pool_ids[np.sort(_rng(label).choice(len(pool_ids), size=size, replace=False))]


def _build(task: Task, cfg, tokenizer, docs_of) -> dict[str, np.ndarray]:
    """Token ids of every pool: ``stream/<label>``, ``heldout``, ``test``."""
    length, vocab = cfg.context_length, len(tokenizer)
    target_split = _split_docs(docs_of(task.target), task)
    heldout = tokenize_documents(target_split["heldout"], tokenizer, length)
    test = tokenize_documents(target_split["test"], tokenizer, length)
    target_stream = tokenize_documents(target_split["stream"], tokenizer, length)
    test = test[dedupe_against(test, heldout)]
    heldout, test = _cap(heldout, cfg.heldout_size, "heldout"), _cap(test, cfg.test_size, "test")
    stream: dict[str, np.ndarray] = {}
    for src, _ in task.stream:
        if src.junk is not None:
            ids = make_junk(src.junk, target_stream, tokenizer, vocab, f"{task.name}/{src.label}")
        elif src == task.target:
            ids = target_stream
        else:
            ids = tokenize_documents(_split_docs(docs_of(src), task)["stream"], tokenizer, length)
        stream[src.label] = ids[dedupe_against(ids, heldout, test)]
    if task.needle:
        # one valuable window; it is also the whole held-out set D
        needle = target_stream[_rng(f"{task.name}/needle").integers(len(target_stream))][None]
        stream = {"needle": needle, **{k: v for k, v in stream.items() if k != task.target.label}}
        heldout = needle.copy()
    for name, ids in [("heldout", heldout), ("test", test), *stream.items()]:
        if len(ids) == 0:
            raise ValueError(
                f"task {task.name!r}: the {name!r} split has no window of {length} tokens; "
                "give the source more (or longer) documents or lower context_length"
            )
    arrays = {f"stream/{k}": v for k, v in stream.items()}
    arrays.update(heldout=heldout, test=test)
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

        tok_sources = task.tokenizer_sources or tuple(s for s, _ in task.stream if s.junk is None)
        tok_key = task_key(Task("tok", tok_sources[0], tuple((s, 1.0) for s in tok_sources),
                                heldout_fraction=task.heldout_fraction, test_fraction=task.test_fraction),
                           vocab_size=cfg.vocab_size, tokenizer=cfg.tokenizer, code_chars=cfg.code_chars)
        tok_path = cache_root(cfg.cache_dir) / f"tokenizer-{tok_key}"
        if cfg.tokenizer is None and (tok_path / "tokenizer.json").exists():
            from transformers import PreTrainedTokenizerFast

            tokenizer = PreTrainedTokenizerFast.from_pretrained(str(tok_path))
        else:
            tokenizer = _tokenizer(task, cfg, docs_of)
            if cfg.tokenizer is None:
                tokenizer.save_pretrained(str(tok_path))
        path = cache_root(cfg.cache_dir) / f"task-{key}.npz"
        if path.exists():
            with np.load(path) as f:
                arrays = {k: f[k] for k in f.files}
        else:
            arrays = _build(task, cfg, tokenizer, docs_of)
            atomic_save_npz(path, **arrays)
        pools, heldout, test = _pools(arrays, tokenizer)
        weights = {src.label: float(w) for src, w in task.stream}
        if task.needle:
            weights = {"needle": 0.0, **{k: 1.0 for k in pools if k != "needle"}}
        data = TaskData(task, tokenizer, pools, weights, heldout, test)
        _MEMO[key] = data
        return data
