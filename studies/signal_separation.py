"""Which per-window signal tells the target domain from each distractor? The diagnosis behind the fresh excess.

Usage::

    python -m studies.signal_separation noisy [--steps 300] [--checks 60,200] [--out results/signals]
    python -m studies.signal_separation gen/docstrings-in-junk mixed

For each task the LM trains on uniformly random candidates (the benchmark's model, schedule and budget), and at
each check it scores a fixed sample of stream windows (``--per-task`` of them, in the stream's shares, with
their source labels, which only this study reads) under the learner and under the soft-Q agent's reference
model trained on D. For every signal it prints the AUC of target windows against each distractor's (1: the
signal ranks every target window above every distractor window) and the target share of a top-B-of-N pick
from random batches of the sample (what an agent ranking by the signal would train; the stream's share is the
floor). Signals, each "higher = train it":

- ``-loss``, ``-reference``: the learner's and the reference's window loss, negated;
- ``reducible``: learner loss - reference loss (RHO-LOSS's score, the previous soft-Q reward);
- ``fresh``, ``fresh signed``, ``fresh all``, ``fresh centred``: the fresh excess and its ablations
  (:func:`agents.soft_q_inputs.fresh_excess`);
- ``reducible+fresh``: z(reducible) + z(fresh), the registered soft-Q reward.

Writes ``<out>/<task>.csv`` (one row per check and signal) and prints the same table.
"""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

import curriculum_env  # noqa: F401  (registers CurriculumSelect-v0)
from agents.cheap_inputs import auc
from agents.reference_model import ReferenceModel
from agents.soft_q_inputs import fresh_excess, zscore
from benchmarks.csv_table import write_csv
from curriculum_env.models import token_nll


def top_share(score: np.ndarray, is_target: np.ndarray, n: int, b: int, rng: np.random.Generator,
              batches: int = 400) -> float:
    """Mean target share of the ``b`` highest-scoring of ``n`` windows drawn at random from the sample."""
    shares = []
    for _ in range(batches):
        idx = rng.choice(len(score), n, replace=False)
        shares.append(is_target[idx[np.argsort(-score[idx])[:b]]].mean())
    return float(np.mean(shares))


def signals(learner: np.ndarray, reference: np.ndarray, ids: np.ndarray) -> dict[str, np.ndarray]:
    """The signals of the module doc from per-token losses [S, L-1] of the learner and the reference."""
    reducible = learner.mean(1) - reference.mean(1)
    fresh = fresh_excess(learner, reference, ids)
    return {"-loss": -learner.mean(1), "-reference": -reference.mean(1), "reducible": reducible, "fresh": fresh,
            "fresh signed": fresh_excess(learner, reference, ids, token="signed"),
            "fresh all": fresh_excess(learner, reference, ids, first=False),
            "fresh centred": fresh_excess(learner, reference, ids, token="centred"),
            "reducible+fresh": zscore(reducible) + zscore(fresh)}


def stream_sample(data, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """About ``size`` stream windows [S, L] in the stream's shares (at least 20 a source), and their labels [S]."""
    ids, labels = [], []
    for label, share in data.stream_shares.items():
        pool = data.stream_pools[label]
        k = min(len(pool), max(20, round(size * share)))
        ids.append(pool.ids[rng.choice(len(pool), k, replace=False)])
        labels += [label] * k
    return np.ascontiguousarray(np.concatenate(ids)), np.array(labels)


@torch.no_grad()
def learner_token_losses(learner, ids: np.ndarray, chunk: int = 64) -> np.ndarray:
    """The learner's per-token NLL [S, L-1] of windows ``ids``, without touching its FLOP counters."""
    model = learner.model
    was = model.training
    model.eval()
    out = [token_nll(model(input_ids=x).logits, x).float().numpy()
           for x in torch.from_numpy(ids).to(learner.device).split(chunk)]
    model.train(was)
    return np.concatenate(out)


def random_run_env(task: str, steps: int, seed: int) -> gym.Env:
    """The benchmark's env for ``task`` (model, schedule over ``steps``, budget), reset with ``seed``, without
    reward, observation or candidate statistics: a study steps it with equal weights (B trained at random)."""
    from benchmarks.presets import PRESETS

    env = gym.make("CurriculumSelect-v0", task=task, max_episode_steps=steps + 1, **PRESETS["bench"].run_env(steps),
                   candidate_stats=(), compute_reward=False, observation="none")
    env.reset(seed=seed)
    return env


def measure(task: str, steps: int, checks: list[int], per_task: int, seed: int) -> list[dict]:
    """The table's rows for ``task``: one per check and signal."""
    env = random_run_env(task, steps, seed)
    u = env.unwrapped
    data = u.data
    rng = np.random.default_rng(seed)
    ids, labels = stream_sample(data, per_task, rng)
    is_target = np.isin(labels, data.task.target_labels)
    reference = ReferenceModel()  # the soft-Q agent's default reference, trained on D
    reference.fit(data.heldout.ids, data.tokenizer, seed, np.random.default_rng(seed))
    ref_tokens = reference.token_losses(ids)
    n, b = u.config.num_candidates, u.config.trained_per_step
    rows = []
    for step in range(1, steps + 1):
        env.step(np.ones(n, dtype=np.float32))  # equal weights: the env trains B at random
        if step not in checks:
            continue
        for name, score in signals(learner_token_losses(u.learner, ids), ref_tokens, ids).items():
            row = {"task": task, "step": step, "signal": name,
                   f"top{b}of{n}_target_share": top_share(score, is_target, n, b, np.random.default_rng(step)),
                   "stream_target_share": float(is_target.mean())}
            for label in sorted(set(labels[~is_target])):
                row[f"auc_vs_{label}"] = auc(score[is_target], score[labels == label])
            rows.append(row)
    env.close()
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("tasks", nargs="+", help="task names (built-in, suite or module:function)")
    p.add_argument("--steps", type=int, default=300, help="training steps of the random run")
    p.add_argument("--checks", default="60,200", help="comma-separated steps at which the signals are measured")
    p.add_argument("--per-task", type=int, default=800, help="stream windows in the sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/signals", help="folder for <task>.csv")
    args = p.parse_args(argv)
    checks = [int(c) for c in args.checks.split(",") if c]
    if not checks or min(checks) < 1 or max(checks) > args.steps:
        raise SystemExit(f"--checks must lie in 1..{args.steps}, got {args.checks!r}")
    return run_tasks(args.tasks, args.out, lambda task: measure(task, args.steps, checks, args.per_task, args.seed),
                     describe)


def describe(row: dict) -> str:
    """One printed line of the table."""
    aucs = " ".join(f"{k.removeprefix('auc_vs_')} {v:.2f}" for k, v in row.items() if k.startswith("auc_vs_"))
    top = next(v for k, v in row.items() if k.startswith("top"))
    return (f"{row['task']} step {row['step']:>4}  {row['signal']:<16} top-B target share {top:.2f} "
            f"(stream {row['stream_target_share']:.2f})  AUC vs {aucs}")


def run_tasks(tasks: list[str], out: str, rows_of: Callable[[str], list[dict]],
              line: Callable[[dict], str]) -> list[dict]:
    """For each task, ``rows_of(task)`` written to ``<out>/<task>.csv`` and printed a ``line`` a row, on one
    thread (the benchmark's setting); all the rows."""
    torch.set_num_threads(1)
    folder = pathlib.Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    every = []
    for task in tasks:
        rows = rows_of(task)
        write_csv(folder / f"{task.replace('/', '_')}.csv", rows)
        for row in rows:
            print(line(row), flush=True)
        every += rows
    return every


if __name__ == "__main__":
    main()
