"""Downstream metrics that need no download: multiple-choice continuation, in the spirit of HellaSwag, and
greedy completion (:func:`completion_accuracy`).

From windows of the test split: each item is a window's first half (the *prefix*) and ``k + 1``
candidate second halves -- its own (the true continuation) and those of ``k`` other test windows,
drawn at random. The LM picks the candidate with the highest log-likelihood given the prefix (all
candidates have the same number of tokens, so summed and length-normalised scores choose alike), and
the metric is the share of items where that is the true one; chance is ``1 / (k + 1)``. The items
come from a generator of their own (``seed``), so every run of a task is scored on the same items.

:func:`write_lm_eval_task` writes the same items as a local task of lm-evaluation-harness (``lm_eval
--include_path``), so a model exported with :meth:`CurriculumSelectEnv.export_model
<curriculum_env.env.CurriculumSelectEnv.export_model>` can be scored by the tool researchers use.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import numpy as np
import torch

from curriculum_env.models import token_nll


@dataclass(frozen=True)
class ChoiceItems:
    """Multiple-choice items: ``ids`` [Q, k + 1, L] (each row the prefix then one continuation),
    ``label`` [Q] (the row holding the true continuation), ``split`` (the prefix's length in tokens)."""

    ids: np.ndarray
    label: np.ndarray
    split: int

    @property
    def num_choices(self) -> int:
        return int(self.ids.shape[1])

    @property
    def chance(self) -> float:
        """Accuracy of a uniform guess."""
        return 1.0 / self.num_choices


def choice_items(windows: np.ndarray, num_choices: int = 4, max_items: int | None = None,
                 seed: int = 0) -> ChoiceItems:
    """Items from ``windows`` [W, L] (the test split): the first ``max_items`` windows (all by default)
    as prefixes, each with its true second half and ``num_choices - 1`` second halves of other windows."""
    windows = np.asarray(windows)
    if windows.ndim != 2 or windows.shape[1] < 2:
        raise ValueError(f"windows must be [W, L] with L >= 2, got shape {windows.shape}")
    count, length = windows.shape
    if not 2 <= num_choices <= count:
        raise ValueError(f"num_choices must lie in [2, {count}] (the windows there are), got {num_choices!r}")
    q = count if max_items is None else min(int(max_items), count)
    if q < 1:
        raise ValueError(f"max_items must be positive, got {max_items!r}")
    split = length // 2
    rng = np.random.default_rng(seed)
    ids = np.empty((q, num_choices, length), dtype=np.int64)
    label = rng.integers(num_choices, size=q)
    for i in range(q):
        others = rng.choice(np.delete(np.arange(count), i), size=num_choices - 1, replace=False)
        donors = np.insert(others, label[i], i)  # [k + 1]: the true continuation at position label[i]
        ids[i, :, :split] = windows[i, :split]
        ids[i, :, split:] = windows[donors, split:]
    return ChoiceItems(ids, label, split)


def choice_accuracy(learner, items: ChoiceItems) -> tuple[float, np.ndarray]:
    """The LM's accuracy on ``items`` and whether each item was answered right ([Q] bool)."""
    q, k, length = items.ids.shape
    scores = continuation_log_prob(learner, items.ids.reshape(q * k, length), items.split).reshape(q, k)
    correct = scores.argmax(1) == items.label
    return float(correct.mean()), correct


def completion_accuracy(learner, windows: np.ndarray) -> float:
    """Greedy completion accuracy of ``windows`` [W, L] (the test split): the share of the tokens of each
    window's second half (the continuations the multiple-choice items score) that the LM's most likely next
    token, given the true tokens before it, gets right. Teacher-forced greedy decoding: a completion of the
    second half is exact where every one of its tokens is a hit. Chance is about ``1 / V``; unlike the test
    NLL it counts only the top guess, so a model that spreads its mass better without changing its guesses
    does not move it."""
    windows = np.asarray(windows)
    if windows.ndim != 2 or windows.shape[1] < 2 or not len(windows):
        raise ValueError(f"windows must be a non-empty [W, L] with L >= 2, got shape {windows.shape}")
    return float(top1_hits(learner, windows, windows.shape[1] // 2).mean())


def continuation_log_prob(learner, ids, start: int) -> np.ndarray:
    """Summed log-probability [B] of the tokens at positions ``start ..`` of each window ``ids`` [B, L], each
    predicted from the tokens before it (the multiple-choice score)."""
    # token_nll's entry t scores token t + 1
    return _continuation(learner, ids, start, lambda logits, chunk: -token_nll(logits, chunk)[:, start - 1:]
                         .double().sum(-1))


def top1_hits(learner, ids, start: int) -> np.ndarray:
    """Whether each token at positions ``start ..`` of each window ``ids`` [B, L] is the LM's most likely next token
    given the tokens before it ([B, L - start] bool; the completion metric)."""
    return _continuation(learner, ids, start, lambda logits, chunk: logits[:, start - 1:-1].argmax(-1)
                         == chunk[:, start:])


def _continuation(learner, ids, start: int, score) -> np.ndarray:
    """``score(logits, chunk)`` of each chunk of the learner's evaluation pass over windows ``ids`` [B, L],
    concatenated."""
    length = np.shape(ids)[1]
    if not 1 <= start < length:
        raise ValueError(f"start must lie in [1, {length}), got {start!r}")
    return torch.cat([score(logits, chunk) for chunk, logits in learner.eval_logits(ids)]).cpu().numpy()


def write_lm_eval_task(items: ChoiceItems, tokenizer, folder: str | pathlib.Path,
                       name: str = "curriculum_choice") -> pathlib.Path:
    """Write ``items`` as an lm-evaluation-harness task (``<name>.jsonl`` and ``<name>.yaml`` in
    ``folder``); run it with ``lm_eval --include_path FOLDER --tasks NAME``. Returns the YAML's path.

    The text is the tokenizer's decoding of each prefix and continuation; lm-eval re-tokenizes it, so
    its scores can differ slightly from :func:`choice_accuracy`'s where a token straddles the split."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{name}.jsonl"
    rows = []
    for i in range(len(items.label)):
        prefix = tokenizer.decode(items.ids[i, 0, :items.split].tolist())
        choices = [tokenizer.decode(row[items.split:].tolist()) for row in items.ids[i]]
        rows.append(json.dumps({"prefix": prefix, "choices": choices, "label": int(items.label[i])}))
    data.write_text("\n".join(rows) + "\n")
    spec = folder / f"{name}.yaml"
    spec.write_text(
        f"task: {name}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        "  data_files:\n"
        f"    test: {json.dumps(str(data.resolve()))}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "{{prefix}}"\n'
        'doc_to_choice: "{{choices}}"\n'
        'doc_to_target: "{{label}}"\n'
        "target_delimiter: \"\"\n"
        "metric_list:\n"
        "  - metric: acc\n"
    )
    return spec
