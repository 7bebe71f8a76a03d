"""Langevin-RAG search costs and effect: ring refresh cost, per-phase step time, target share on ``noisy``.

Usage::

    python -m studies.langevin_search ring   --out results/langevin [--rows 50000 --refresh 100]
    python -m studies.langevin_search phases --out results/langevin [--steps 10]
    python -m studies.langevin_search noisy  --out results/langevin [--steps 40]
    python -m studies.langevin_search all    --out results/langevin

``ring``: time to write ``--refresh`` rows into an ``--rows x 384`` ring buffer in place, against a
full ``faiss.IndexFlatIP`` rebuild and the K-query search, all measured in the same run.
``phases``: mean wall time per phase of a Langevin-RAG step on the tiny test config (real MiniLM).
``noisy``: share of the retrieved windows from the target domain (``prose``) per step, with the
stream's own share for reference (CSV + PNG). Everything runs on one CPU thread.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np
import torch

import curriculum_env  # noqa: F401  (registers CurriculumSelect-v0)
from agents.base import rollout
from agents.langevin_rag_paper import LangevinRAGPaperAgent
from benchmarks.csv_table import write_csv
from benchmarks.timers import StepClock
from curriculum_env.retrieval import RingBuffer
from curriculum_env.wrappers.langevin_rag import LangevinRAG

TINY = dict(num_candidates=8, context_length=32, heldout_size=64, test_size=64, reward_batch=8,
            n_layer=1, n_head=2, n_embd=32, micro_batch_size=8)
PHASES = ("sgld", "retrieval", "ingest", "lm", "reward", "forward")


def _median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def ring_figure(out: pathlib.Path, rows: int, refresh: int, queries: int, reps: int) -> dict[str, float]:
    """In-place ring refresh vs a full IndexFlatIP rebuild vs the K-query search."""
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    d = 384
    ring = RingBuffer(rows, d, 64)
    x = rng.standard_normal((rows, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ring.add(x, np.zeros((rows, 64), np.int64), np.full(rows, "", object), np.full(rows, "a", object),
             np.zeros(rows), np.zeros(rows))
    fresh = x[:refresh].copy()
    ids, texts = np.zeros((refresh, 64), np.int64), np.full(refresh, "", object)
    src, zeros = np.full(refresh, "a", object), np.zeros(refresh)
    q = x[rng.choice(rows, queries, replace=False)] + 0.1 * rng.standard_normal((queries, d)).astype(np.float32)

    def rebuild():
        index = faiss.IndexFlatIP(d)
        index.add(ring.vectors)
        return index

    index = rebuild()
    res = {
        "refresh_vectors_ms": _median_ms(lambda: ring.vectors.__setitem__(slice(0, refresh), fresh), reps),
        "refresh_ms": _median_ms(lambda: ring.add(fresh, ids, texts, src, zeros, zeros), reps),
        "full_rebuild_ms": _median_ms(rebuild, max(5, reps // 20)),
        "search_knn_ms": _median_ms(lambda: ring.search(q, 10), max(5, reps // 20)),
        "search_index_ms": _median_ms(lambda: index.search(q, 10), max(5, reps // 20)),
    }
    print(f"ring {rows} x {d}, refresh {refresh} rows: in-place write of the vectors "
          f"{res['refresh_vectors_ms']:.4f} ms, "
          f"whole add (vectors + ids + texts + content hashes) {res['refresh_ms']:.4f} ms; "
          f"full IndexFlatIP rebuild {res['full_rebuild_ms']:.2f} ms; search of {queries} queries, top-10: "
          f"faiss.knn {res['search_knn_ms']:.2f} ms, IndexFlatIP.search {res['search_index_ms']:.2f} ms")
    write_csv(out / "ring.csv", [res])
    return res


def _agent(embedder: str, buffer_size: int, steps_sgld: int | None) -> LangevinRAGPaperAgent:
    wrapper = dict(embedder=embedder, buffer_size=buffer_size)
    if steps_sgld is not None:
        wrapper["sgld"] = dict(steps=steps_sgld)
    return LangevinRAGPaperAgent(wrapper=wrapper)


def _run(task: str, steps: int, seed: int, agent: LangevinRAGPaperAgent) -> list[dict]:
    """Roll ``agent`` with :func:`agents.base.rollout` on the tiny config wrapped in LangevinRAG; one row
    per step: its wall time (act + env step + observe, :class:`benchmarks.timers.StepClock`), the
    env's phase times, the target domain's share of the retrieved windows, candidates and ring."""
    import gymnasium as gym

    rag = LangevinRAG(gym.make("CurriculumSelect-v0", task=task, timings=True, **TINY), config=agent.config.wrapper)
    rows: list[dict] = []
    t0 = time.perf_counter()

    def on_reset() -> None:  # agent setup and the first reset done
        if not rows:
            print(f"reset (ring of {len(rag.ring)} windows, embeddings cached after the first run): "
                  f"{time.perf_counter() - t0:.1f} s")

    clock = StepClock(rag, on_reset=on_reset)

    def on_step(rec) -> None:
        if not rec.step:  # the reset
            return
        step, reward, info = rec.step, rec.reward, rec.info
        total = clock.elapsed()
        src, sampled = info["source"], info["rag/sampled"]
        ring_src = rag.ring.source[: len(rag.ring)]
        rows.append({
            "step": step, "reward": reward, "total_s": total,
            **{f"time_{k}_s": float(info[f"time/{k}"]) for k in PHASES},
            "prose_share_retrieved": float(np.mean(src[sampled] == "prose")),
            "prose_share_candidates": float(np.mean(src == "prose")),
            "prose_share_ring": float(np.mean(ring_src == "prose")),
            "retrieved": int(info["rag/retrieved"]),
            **{k.replace("/", "_"): float(info[k]) for k in info if k.startswith("langevin/")},
        })
        clock.restart()

    rollout(clock, agent, steps, seed, on_step)
    return rows


def phases_figure(out: pathlib.Path, steps: int, seed: int, embedder: str, buffer_size: int) -> dict[str, float]:
    """Mean wall time per phase of a Langevin-RAG step on the tiny config."""
    rows = _run("prose", steps, seed, _agent(embedder, buffer_size, None))
    write_csv(out / "phases.csv", rows)
    res = {k: float(np.mean([r[f"time_{k}_s"] for r in rows])) for k in PHASES}
    res["total"] = float(np.mean([r["total_s"] for r in rows]))
    print(f"tiny config, per-step wall time (s, mean of {len(rows)} steps): "
          + ", ".join(f"{k} {v:.3f}" for k, v in res.items()))
    return res


def noisy_figure(out: pathlib.Path, steps: int, seed: int, embedder: str, buffer_size: int) -> dict[str, float]:
    """Share of retrieved windows from ``prose`` on the ``noisy`` task against steps."""
    rows = _run("noisy", steps, seed, _agent(embedder, buffer_size, None))
    write_csv(out / "noisy_prose_share.csv", rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps_axis = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps_axis, [r["prose_share_retrieved"] for r in rows], label="retrieved (R sampled)")
    ax.plot(steps_axis, [r["prose_share_candidates"] for r in rows], label="all N candidates", alpha=0.6)
    ax.plot(steps_axis, [r["prose_share_ring"] for r in rows], label="ring buffer (stream)", ls="--")
    ax.set_xlabel("step")
    ax.set_ylabel("share from prose (target)")
    ax.set_ylim(0, 1)
    ax.set_title("Langevin-RAG on noisy: target-domain share")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "noisy_prose_share.png", dpi=120)
    plt.close(fig)
    half = len(rows) // 2
    res = {
        "retrieved_first_half": float(np.mean([r["prose_share_retrieved"] for r in rows[:half]])),
        "retrieved_second_half": float(np.mean([r["prose_share_retrieved"] for r in rows[half:]])),
        "ring": float(np.mean([r["prose_share_ring"] for r in rows])),
        "q_gain": float(np.mean([r["langevin_q_gain"] for r in rows])),
        "q_tokens_minus_random": float(np.mean([r["langevin_q_tokens"] - r["langevin_q_random"] for r in rows])),
    }
    print(f"noisy, {len(rows)} steps: prose share of retrieved windows {res['retrieved_first_half']:.3f} (first half) "
          f"-> {res['retrieved_second_half']:.3f} (second half); ring (stream) share {res['ring']:.3f}; "
          f"mean SGLD Q gain {res['q_gain']:.4f}, Q(tokens) - Q(random) {res['q_tokens_minus_random']:.4f}")
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("figure", choices=["ring", "phases", "noisy", "all"])
    p.add_argument("--out", default="results/langevin", help="folder for CSV/PNG")
    p.add_argument("--rows", type=int, default=50_000, help="ring rows I for the ring figure (paper 50,000)")
    p.add_argument("--refresh", type=int, default=100, help="rows written per refresh (paper n_ingest 100)")
    p.add_argument("--queries", type=int, default=16, help="K queries searched at once")
    p.add_argument("--reps", type=int, default=200, help="repetitions of the refresh timing")
    p.add_argument("--steps", type=int, default=40, help="env steps of the phases/noisy runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--embedder", default="all-MiniLM-L6-v2", help="sentence embedder (all-MiniLM-L6-v2 or hash)")
    p.add_argument("--buffer", type=int, default=2000, help="ring capacity I of the phases/noisy runs")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.figure in ("ring", "all"):
        ring_figure(out, args.rows, args.refresh, args.queries, args.reps)
    if args.figure in ("phases", "all"):
        phases_figure(out, min(args.steps, 10), args.seed, args.embedder, args.buffer)
    if args.figure in ("noisy", "all"):
        noisy_figure(out, args.steps, args.seed, args.embedder, args.buffer)


if __name__ == "__main__":
    main()
