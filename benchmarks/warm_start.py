"""What the built-in base model knows, and how much room each task leaves it.

    python -m benchmarks.warm_start                      # the base model's cost and its scores, per task
    python -m benchmarks.warm_start --rebuild            # time a fresh build (into a temporary cache)
    python -m benchmarks.warm_start --runs results/compare-warm   # with each task's room (the warm runs)

For the benchmark's model and data (:data:`benchmarks.presets.BENCH_ENV`), it prints the base model's
pretraining (wall time, tokens, FLOPs, its corpus) and, on each task's test split, the test NLL, the
multiple-choice accuracy and the greedy completion accuracy of a random init and of the base model.
With ``--runs FOLDER`` (a ``--preset warm`` comparison) it adds what training from the base model gained:
the oracle's and the best agent's final test NLL against the base model's. A task where the oracle ends
no lower than the base model started leaves continued pre-training nothing to gain: the base model knows
its target already. Writes ``warm_start.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

DEFAULT_TASKS = ("noisy", "mixed", "gen/asyncio-in-code-tests", "gen/comments-in-prose",
                 "gen/multiprocessing-in-reference-junk", "gen/comments-in-tests", "gen/c-headers-in-python",
                 "gen/lint-logs-in-code-docstrings", "gen/jsonl-api-index-in-reference-comments",
                 "gen/xml-in-html-xmlrpc")


def scores(task: str, init: str) -> dict[str, float]:
    """Test NLL, MC accuracy and completion accuracy on ``task``'s test split at the start of a run."""
    import gymnasium as gym

    import curriculum_env  # noqa: F401  (registers the env)
    from benchmarks.presets import BENCH_ENV

    env = gym.make("CurriculumSelect-v0", **{**BENCH_ENV, "task": task, "init": init})
    env.reset(seed=0)
    u = env.unwrapped
    out = {"test_nll": u.evaluate("test"), "choice_accuracy": u.evaluate_choice(4),
           "completion_accuracy": u.evaluate_completion()}
    env.close()
    return out


def build(rebuild: bool) -> dict:
    """The base model's meta (its pretraining); with ``rebuild`` built afresh in a temporary cache and timed."""
    from benchmarks.presets import BENCH_ENV
    from curriculum_env.base_model import base_model_for
    from curriculum_env.config import EnvConfig
    from curriculum_env.data.build import build_task_data

    cache = tempfile.mkdtemp(prefix="base-model-") if rebuild else None
    cfg = EnvConfig(**{**BENCH_ENV, "task": "noisy", "init": "base", "cache_dir": cache})
    tokenizer = build_task_data(cfg).tokenizer
    t0 = time.perf_counter()
    meta = dict(base_model_for(cfg, tokenizer).meta)
    meta["seconds_this_call"] = time.perf_counter() - t0
    return meta


def room(folder: pathlib.Path) -> dict[str, dict[str, float]]:
    """Per task of a warm comparison: the base model's test NLL (every run's step 0), the oracle's final test
    NLL (mean over seeds) and the agent with the lowest mean final test NLL."""
    from benchmarks.runs import load_results

    finals: dict[tuple[str, str], list[float]] = {}
    start: dict[str, float] = {}
    for r in load_results(folder):
        task, agent = r["spec"]["task"], r["spec"]["agent"]
        finals.setdefault((task, agent), []).append(r["final_test_nll"])
        start[task] = r["curve"][0]["test_nll"]
    out = {}
    for task, base in start.items():
        means = {a: sum(v) / len(v) for (t, a), v in finals.items() if t == task}
        agents = {a: v for a, v in means.items() if a not in ("oracle", "rho_loss_labelled")}
        best = min(agents, key=agents.get)
        out[task] = {"base": base, "oracle": means.get("oracle", float("nan")), "best_agent": best,
                     "best_agent_nll": agents[best], "random": means.get("random", float("nan"))}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.warm_start", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help="comma-separated tasks")
    p.add_argument("--rebuild", action="store_true", help="build the base model afresh (timed) in a temporary cache")
    p.add_argument("--runs", default=None, help="a --preset warm comparison folder: add each task's room")
    p.add_argument("--out", default="results", help="folder for warm_start.json")
    args = p.parse_args(argv)
    meta = build(args.rebuild)
    corpus = meta["corpus"]
    print(f"base model: {meta['n_layer']} layers, d = {meta['n_embd']}, {meta['positions']} positions; pretrained "
          f"on {corpus['tokens']:,} tokens ({corpus['documents']} documents, {corpus['documents_left_out']} left out "
          f"as measured text) for {meta['tokens_trained']:,} tokens: {meta['flops']:.3g} FLOPs, "
          f"{meta['build_seconds']:.0f} s to build on {os.cpu_count()} cores (this call: "
          f"{meta['seconds_this_call']:.1f} s); last training loss {meta['final_train_loss']:.3f}")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    table = {t: {init: scores(t, init) for init in ("random", "base")} for t in tasks}
    print("\n| task | init | test NLL | MC accuracy (chance 0.25) | completion accuracy |\n|---|---|---|---|---|")
    for t, by_init in table.items():
        for init, s in by_init.items():
            print(f"| {t} | {init} | {s['test_nll']:.3f} | {s['choice_accuracy']:.3f} | "
                  f"{s['completion_accuracy']:.3f} |")
    gains = room(pathlib.Path(args.runs)) if args.runs else {}
    if gains:
        print("\n| task | base test NLL | random, final | oracle, final | oracle's gain on the base | best agent, "
              "final |\n|---|---|---|---|---|---|")
        for t, g in gains.items():
            print(f"| {t} | {g['base']:.3f} | {g['random']:.3f} | {g['oracle']:.3f} | {g['base'] - g['oracle']:+.3f} "
                  f"| {g['best_agent']} {g['best_agent_nll']:.3f} |")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "warm_start.json").write_text(json.dumps({"base_model": meta, "scores": table, "room": gains}, indent=1))
    print(f"\nWritten to {out / 'warm_start.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
