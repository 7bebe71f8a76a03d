"""Does the reference model's data limit the learnability signal, and does self-training lift the limit?

Usage::

    python -m studies.reference_data mixed gen/code-in-english [--steps 60] [--pool 1600] [--picks 128]

The soft-Q agent's reference model trains on the env's held-out set D (256 windows of a few documents), while
RHO-LOSS's trains on 512 target windows it takes from the labelled stream. This study trains the agent's
reference (same shape, steps and seed) on four sets of windows and asks how well each separates the target
from each distractor, by the signals the agent ranks with:

- ``D``: the agent's reference;
- ``D+self``: D plus the ``--picks`` windows of an unlabelled stream pool (``--pool`` windows, as many as the
  agent sees in ``--pool / 16`` steps) with the lowest loss under the D reference, among those with at least
  80% new transitions (:data:`NOVEL_MIN`; repeated n-grams would otherwise top the pick). Self-training: what
  an agent could add to D without a label;
- ``D+moore-lewis``: the same, picked by the cross-entropy difference (D-reference loss minus the loss of a
  bigram model of the pool; Moore & Lewis, 2010);
- ``labelled``: RHO-LOSS's IL data (``RhoLossAgent.reserve_holdout``: target windows the study takes with
  their labels). A ceiling that no agent of this package may reach for; it says what the data is worth.

The LM trains ``--steps`` steps on uniformly random candidates, then each reference scores an evaluation sample
of stream windows (``--per-task``, drawn apart from the pool). Each row: the pick's precision (the target share
of the windows added to D; only this study reads the labels), and for ``reducible`` (learner loss - reference
loss) and ``reducible+fresh`` (the registered soft-Q reward) the AUC of target against each distractor and
the target share of a top-B-of-N pick (:mod:`studies.signal_separation`). Writes ``<out>/<task>.csv``.
"""

from __future__ import annotations

import argparse

import numpy as np

from agents.ngram_model import HashedBigram
from agents.reference_model import ReferenceModel
from agents.rho_loss import RhoLossAgent
from agents.soft_q_inputs import first_occurrences
from studies.signal_separation import (
    auc,
    learner_token_losses,
    random_run_env,
    run_tasks,
    signals,
    stream_sample,
    top_share,
)

NOVEL_MIN = 0.8
"""The least share of a window's transitions that are new in it for the window to be picked."""
REFERENCES = ("D", "D+self", "D+moore-lewis", "labelled")
"""The reference models compared, by the data they train on (module doc)."""
SIGNALS = ("reducible", "reducible+fresh")
"""The signals each reference is judged by (:func:`studies.signal_separation.signals`)."""


def pick(score: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    """The indices of the ``k`` lowest-scoring windows of ``pool`` [P, L] among those with at least
    :data:`NOVEL_MIN` new transitions (fewer when fewer qualify)."""
    novel = first_occurrences(pool).mean(axis=1) >= NOVEL_MIN
    order = np.argsort(np.where(novel, score, np.inf), kind="stable")
    return order[: min(k, int(novel.sum()))]


def training_sets(env, pool: np.ndarray, picks: int, seed: int,
                  reference_steps: int) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Each reference's training windows and the indices of the pool windows added to D (``None``: no pick)."""
    data = env.unwrapped.data
    d = data.heldout.ids
    base = ReferenceModel(steps=reference_steps)
    base.fit(d, data.tokenizer, seed, np.random.default_rng(seed))
    own = base.losses(pool)
    stream = HashedBigram(len(data.tokenizer))
    stream.update(pool)
    chosen = {"D+self": pick(own, pool, picks), "D+moore-lewis": pick(own - stream.losses(pool), pool, picks)}
    labelled = RhoLossAgent().reserve_holdout(env, np.random.default_rng(seed))
    sets = {"D": (d, None), "labelled": (labelled, None)}
    sets.update({name: (np.concatenate([d, pool[idx]]), idx) for name, idx in chosen.items()})
    return {name: sets[name] for name in REFERENCES}


def measure(task: str, steps: int, pool_size: int, picks: int, per_task: int, seed: int,
            reference_steps: int = ReferenceModel().steps) -> list[dict]:
    """The table's rows for ``task``: one per reference and signal."""
    env = random_run_env(task, steps, seed)
    u = env.unwrapped
    data = u.data
    pool, pool_labels = stream_sample(data, pool_size, np.random.default_rng([seed, 1]))
    ids, labels = stream_sample(data, per_task, np.random.default_rng([seed, 2]))
    targets = data.task.target_labels
    is_target = np.isin(labels, targets)
    n, b = u.config.num_candidates, u.config.trained_per_step
    sets = training_sets(env, pool, picks, seed, reference_steps)
    for _ in range(steps):
        env.step(np.ones(n, dtype=np.float32))  # equal weights: the env trains B at random
    learner = learner_token_losses(u.learner, ids)
    env.close()
    rows = []
    for name, (windows, added) in sets.items():
        reference = ReferenceModel(steps=reference_steps)
        reference.fit(windows, data.tokenizer, seed, np.random.default_rng(seed))
        scores = signals(learner, reference.token_losses(ids), ids)
        precision = float(np.isin(pool_labels[added], targets).mean()) if added is not None and len(added) else None
        for signal in SIGNALS:
            row = {"task": task, "reference": name, "windows": len(windows), "signal": signal,
                   "pick_precision": precision, "pool_target_share": float(np.isin(pool_labels, targets).mean()),
                   f"top{b}of{n}_target_share": top_share(scores[signal], is_target, n, b, np.random.default_rng(seed))}
            for label in sorted(set(labels[~is_target])):
                row[f"auc_vs_{label}"] = auc(scores[signal][is_target], scores[signal][labels == label])
            rows.append(row)
    return rows


def describe(row: dict) -> str:
    """One printed line of the table."""
    precision = "" if row["pick_precision"] is None else (
        f"  pick precision {row['pick_precision']:.2f} (pool {row['pool_target_share']:.2f})")
    top = next(v for k, v in row.items() if k.startswith("top"))
    aucs = " ".join(f"{k.removeprefix('auc_vs_')} {v:.2f}" for k, v in row.items() if k.startswith("auc_vs_"))
    return (f"{row['task']}  {row['reference']:<14} {row['windows']:>4} windows  {row['signal']:<16} "
            f"top-B target share {top:.2f}  AUC vs {aucs}{precision}")


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("tasks", nargs="+", help="task names (built-in, suite or module:function)")
    p.add_argument("--steps", type=int, default=60, help="random-training steps before the signals are measured")
    p.add_argument("--pool", type=int, default=1600, help="unlabelled stream windows the picks are made from")
    p.add_argument("--picks", type=int, default=128, help="pool windows added to D by each pick")
    p.add_argument("--per-task", type=int, default=800, help="stream windows in the evaluation sample")
    p.add_argument("--reference-steps", type=int, default=ReferenceModel().steps,
                   help="training steps of every reference model (default: the soft-Q agent's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/reference_data", help="folder for <task>.csv")
    args = p.parse_args(argv)
    for flag in ("steps", "pool", "picks", "per_task", "reference_steps"):
        if getattr(args, flag) < 1:
            raise SystemExit(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    return run_tasks(args.tasks, args.out, lambda task: measure(task, args.steps, args.pool, args.picks,
                                                                args.per_task, args.seed, args.reference_steps),
                     describe)


if __name__ == "__main__":
    main()
