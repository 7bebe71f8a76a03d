"""The built-in base model: a small GPT-2 pretrained once on the offline general corpora, for continued
pre-training (``gym.make(..., init="base")``).

Most users select data for a model that already knows the language (DSIR's and DoGE's continued
pre-training), but offline there is no pretrained checkpoint to give ``model=``. So the package pretrains
one: a GPT-2 of the env's shape (``n_layer``, ``n_head``, ``n_embd``) on the corpus of
:mod:`curriculum_env.data.pretraining` (prose and library code, with every file that any shipped task puts
in D or its test split left out), tokenized with the env's tokenizer, for :data:`RECIPE`'s steps. It is
built once per (tokenizer, shape, positions, ``code_chars``, recipe) and cached as one verified entry
(:mod:`curriculum_env.data.cache`): a damaged entry is rebuilt with a warning naming the file.

The recipe: ``steps`` AdamW updates of ``batch_size`` windows of ``context_length`` tokens, drawn without
replacement from the shuffled corpus (a new shuffle per pass), linear warm-up then cosine decay to
``lr_final`` of the peak, gradient clipping at 1, from the global seed ``seed`` -- the same model on every
machine. Its FLOPs (``6·P`` per token trained, :mod:`curriculum_env.flops`) are recorded with it in
:attr:`BaseModel.meta` and never charged to a run: a run's FLOPs count from the base model, as they count
from a pretrained ``model=``. At the default shape it builds in about 2 minutes on two CPU cores.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from curriculum_env.models import gpt2_model, token_nll

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaseRecipe:
    """How the base model is pretrained (part of its cache key)."""

    steps: int = 1000
    batch_size: int = 32
    context_length: int = 64
    """Tokens per pretraining window, and the model's positions (at least the env's ``context_length``)."""
    lr: float = 3e-3
    warmup_steps: int = 50
    lr_final: float = 0.1
    seed: int = 0


RECIPE = BaseRecipe()
"""The recipe ``init="base"`` uses."""
_MEMO: dict[str, tuple[tuple[int, int] | None, BaseModel]] = {}  # cache file -> (its mtime and size, the model)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class BaseModel:
    """The pretrained weights (``state``, a GPT-2 state dict) and ``meta``: the shape, the recipe, the corpus's
    counts, the tokens and FLOPs of pretraining, its last training losses and the build's wall time."""

    state: dict[str, torch.Tensor]
    meta: dict[str, Any]

    def model(self) -> torch.nn.Module:
        """A GPT-2 holding these weights."""
        m = self.meta
        model = gpt2_model(m["vocab_size"], m["positions"], m["eos_token_id"], m["n_layer"], m["n_head"], m["n_embd"])
        model.load_state_dict(self.state)
        return model


def base_model(tokenizer, n_layer: int, n_head: int, n_embd: int, context_length: int, code_chars: int,
               cache_dir: str | None = None, recipe: BaseRecipe | None = None) -> BaseModel:
    """The base model for ``tokenizer`` and this shape, from the cache or pretrained now (and cached)."""
    from curriculum_env.data.cache import cached
    from curriculum_env.data.tokenizer import cache_root, fingerprint, tokenizer_json

    recipe = recipe or RECIPE
    shape = dict(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id, n_layer=n_layer, n_head=n_head,
                 n_embd=n_embd, positions=max(recipe.context_length, context_length), code_chars=code_chars)
    key = fingerprint([tokenizer_json(tokenizer).decode("utf-8")], sorted(shape.items()), dataclasses.astuple(recipe),
                      "base/1")
    path = cache_root(cache_dir) / f"base-{key}.npz"
    with _LOCK:  # read once per process; again when the file changed (a rebuild, a damaged file)
        stamp = _stamp(path)
        if stamp is None or _MEMO.get(str(path), (None,))[0] != stamp:
            base = cached(path, lambda: _pretrain(tokenizer, shape, recipe), lambda payload: _load(payload, shape))
            _MEMO[str(path)] = (_stamp(path), base)
        return _MEMO[str(path)][1]


def _stamp(path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def base_model_for(cfg, tokenizer) -> BaseModel:
    """The base model an env of :class:`~curriculum_env.config.EnvConfig` ``cfg`` with ``tokenizer`` starts from."""
    return base_model(tokenizer, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.context_length, cfg.code_chars,
                      cfg.cache_dir)


def _pretrain(tokenizer, shape: dict[str, Any], recipe: BaseRecipe) -> bytes:
    from tqdm.auto import tqdm

    from curriculum_env.data.cache import npz_bytes
    from curriculum_env.data.pretraining import pretraining_documents
    from curriculum_env.data.windows import tokenize_documents
    from curriculum_env.flops import FlopModel
    from curriculum_env.schedule import lr_at

    t0 = time.perf_counter()
    log.warning("building the base model (once; about 2 minutes at the default shape on two CPU cores)")
    docs, counts = pretraining_documents(shape["code_chars"])
    windows = tokenize_documents(docs, tokenizer, recipe.context_length)
    if len(windows) < recipe.batch_size:
        raise ValueError(f"the pretraining corpus has {len(windows)} windows of {recipe.context_length} tokens, "
                         f"fewer than a batch of {recipe.batch_size}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        model = gpt2_model(shape["vocab_size"], shape["positions"], shape["eos_token_id"], shape["n_layer"],
                           shape["n_head"], shape["n_embd"])
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.0)
    order = _batches(len(windows), recipe)
    losses = []
    for step in tqdm(range(recipe.steps), desc="base model", unit="step", mininterval=2.0):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, recipe.lr, "cosine", recipe.warmup_steps, recipe.lr_final, recipe.steps)
        ids = torch.from_numpy(windows[order[step]])
        loss = token_nll(model(input_ids=ids).logits, ids).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    tokens = recipe.steps * recipe.batch_size * recipe.context_length
    meta = {**shape, "recipe": dataclasses.asdict(recipe), "corpus": {**counts, "windows": int(len(windows)),
            "tokens": int(windows.size)}, "tokens_trained": tokens, "flops": FlopModel(model).train(tokens),
            "final_train_loss": float(np.mean(losses[-50:])), "build_seconds": time.perf_counter() - t0}
    arrays = {f"state/{k}": v.detach().numpy() for k, v in model.state_dict().items()}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    return npz_bytes(arrays)


def _batches(count: int, recipe: BaseRecipe) -> np.ndarray:
    """[steps, batch_size] window indices: passes over a fresh shuffle each, batches never straddling two."""
    rng = np.random.default_rng(recipe.seed)
    per_pass = count // recipe.batch_size
    passes = -(-recipe.steps // per_pass)
    rows = [rng.permutation(count)[: per_pass * recipe.batch_size].reshape(per_pass, recipe.batch_size)
            for _ in range(passes)]
    return np.concatenate(rows)[: recipe.steps]


def _load(payload: bytes, shape: dict[str, Any]) -> BaseModel:
    """The base model in ``payload``; ``ValueError`` when it is not one of ``shape`` (the cache rebuilds it)."""
    from curriculum_env.data.cache import load_npz

    arrays = load_npz(payload)
    if "meta" not in arrays:
        raise ValueError("no meta record")
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    if any(meta.get(k) != v for k, v in shape.items()):
        raise ValueError(f"its shape {({k: meta.get(k) for k in shape})} is not {shape}")
    state = {k.removeprefix("state/"): torch.from_numpy(v.copy()) for k, v in arrays.items()}
    base = BaseModel(state, meta)
    base.model()  # raises when a tensor is missing or misshapen
    return base
