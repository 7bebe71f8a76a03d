"""The comparison: every agent x task x seed at equal compute, reported on the test split.

    python -m benchmarks.compare            # the default table (about 10 min on 2 CPU cores; slower machines ~3.5x)
    python -m benchmarks.compare --quick    # a smaller one (a few minutes)
    python -m benchmarks.compare --preset bench-small   # a second model scale (4 layers, d = 128, L = 64; ~1 hour)
    python -m benchmarks.compare --preset warm          # continued pre-training from the built-in base model
    python -m benchmarks.compare --stream-width 128 --tasks noisy,mixed   # the wide track: W = 128 a step
    python -m benchmarks.compare --agents random,oracle,rho_loss,loss --tasks noisy,mixed --seeds 3
    python -m benchmarks.compare --env lr=1e-3 --env lr_schedule=constant   # any EnvConfig field of every run
    python -m benchmarks.compare --all-n --agents soft_q_paper,random   # the paper's all-N mixture
    python -m benchmarks.compare --agents random,soft_q@beta=0.3,gamma=0   # an agent with options
    python -m benchmarks.compare --agents random,my_pkg.my_module:MyAgent   # an agent outside the registry
    python -m benchmarks.compare --tasks noisy,my_task.toml,my_pkg.tasks:make_task   # your own data
    python -m benchmarks.compare --suite generalisation   # the generalisation suite (or --suite tuning/heldout/fresh)

**Presets** (:mod:`benchmarks.presets`) hold every default of a comparison -- the env of its runs, their
length, the agents, the tasks and the output folder -- so that a table is named by one word and its finished
runs are found again: ``bench`` (the default), ``bench-small`` and ``warm``. Options override the preset;
``--env key=value`` sets any field of the env (:class:`curriculum_env.config.EnvConfig`).

**Agents** are specs (:mod:`agents.specs`): a registered name or ``module.path:Class``, with
constructor options after ``@``. **Tasks** are built-in names, task files (``.toml``/``.json``, see
:func:`curriculum_env.data.tasks.task_from_file`) or ``module.path:function`` returning a ``Task``.
``--suite`` runs the generalisation suite (:mod:`curriculum_env.data.suite`) instead: both halves
(``generalisation``) or one (``tuning``, ``heldout``), into the preset's suite folder (``results/compare-suite``
for ``bench``); the report gives the held-out half its own table, since only that half says whether a method
generalises. Both are checked before any run starts; worker processes (and Ray workers) rebuild them from the
string, so nothing needs registering.

**Equal compute.** Every step streams N = 16 candidates and trains exactly B = 4 of them
(``--env train_batch=B``), so every agent trains the same examples with the same gradient steps and streams the same
windows; the report checks both and refuses to compare runs of a task that differ. **The wide track**,
``--stream-width W`` (JEST's super-batch): every agent sees W candidates a step (N = W) and still trains B;
agents that read the LM pay for scoring all W, and a retrieval ring fills from the same W; its runs go to
``OUT-w<W>`` by default. ``--all-n`` trains every candidate with non-zero weight instead (the paper's
mixture): only agents that weight all N then compare. Every run of a task and seed streams the same candidates
(the stream depends only on the seed). Finished runs are written atomically to
``OUT/runs/<task>__<agent>__<seed>.json``; rerunning the same command skips them, so an interrupted comparison
resumes where it stopped. Outputs: ``results.md`` (printed too), ``summary.csv``/``summary.json``,
``aggregate.csv``, ``curves.csv``, ``curves.png``, ``efficiency.png``, ``needle.png``,
``soft_q_diagnostics.png`` and per-step JSONL logs in ``logs/``.
"""

from __future__ import annotations

import pathlib
import sys
import time

from benchmarks.compare_args import Args, parse


def parse_args(argv: list[str] | None = None) -> Args:
    """The comparison's options (:mod:`benchmarks.compare_args`), with this module's docstring as ``--help``."""
    return parse(argv, description=__doc__)


def build_specs(args: Args) -> list:
    """Every run of the comparison: each task x seed x agent, all sharing the env of ``args``."""
    from benchmarks.runs import RunSpec

    env = args.run_env()
    return [RunSpec(agent, task, seed, args.steps, args.eval_every, env, args.choice_every, args.choices,
                    args.export_models)
            for task in args.tasks for seed in range(args.seeds) for agent in args.agents]


def _run_ray(todo, out, address, on_done, tensorboard=False):
    try:
        import ray
    except ImportError as exc:
        raise SystemExit("--ray needs Ray: pip install -c constraints.txt 'curriculum-select[ray]'") from exc
    from benchmarks.runs import execute

    ray.init(address=address or None, ignore_reinit_error=True)
    remote = ray.remote(num_cpus=1)(execute)
    pending = [remote.remote(spec, out, False, tensorboard) for spec in todo]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        on_done(ray.get(done[0]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from benchmarks.folder_lock import FolderInUse, FolderLock

    out = pathlib.Path(args.out)
    try:
        with FolderLock(out):
            return _compare(args, out)
    except FolderInUse as exc:
        print(f"No comparison: {exc}", file=sys.stderr)
        return 2


def _compare(args: Args, out: pathlib.Path) -> int:
    """Run what is missing of this command's runs, then report all of them (exit status 2: no comparison)."""
    from benchmarks import report
    from benchmarks.report_markdown import markdown

    specs = build_specs(args)
    t0 = time.perf_counter()
    _run_missing(args, out, specs)
    results = _results_of(out, specs)
    if results is None:
        return 2
    try:
        summary = report.summarise(results)
    except report.UnequalComputeError as exc:
        print(f"No comparison: {exc}. Every agent of a task must train the same examples "
              "(use the default budget, or with --all-n only agents that weight all N candidates).", file=sys.stderr)
        return 2
    md = markdown(summary, wall_time=time.perf_counter() - t0)
    report.write_tables(out, summary, results, md)
    if not args.no_plots:
        report.plot(out, summary, results)
    print(md)
    print(f"Written to {out}/ (results.md, summary.csv, summary.json, curves.csv, *.png, logs/"
          f"{', tensorboard/' if args.tensorboard else ''})")
    if args.tensorboard:
        print(f"    tensorboard --logdir {out / 'tensorboard'}")
    return 0


def _run_missing(args: Args, out: pathlib.Path, specs: list) -> None:
    """Run the specs not yet finished in ``out`` (in worker processes or on Ray), each saved as it finishes."""
    from tqdm.auto import tqdm

    from benchmarks.runs import execute, is_done, save_result
    from benchmarks.workers import run_all

    todo = [s for s in specs if not is_done(out, s)]
    print(f"{len(specs)} runs ({len(specs) - len(todo)} already finished in {out}); "
          f"{args.steps} steps each, {args.workers} worker(s)", flush=True)
    if not todo:
        return
    _prebuild(specs)
    bar = tqdm(total=len(todo), desc="runs", unit="run")

    def on_done(result):
        save_result(out, result)
        bar.set_postfix_str(f"{result['spec']['task']}/{result['spec']['agent']} NLL {result['final_test_nll']:.3f}")
        bar.update(1)

    if args.ray is not None:
        _run_ray(todo, out, args.ray, on_done, args.tensorboard)
    else:
        show = args.workers <= 1  # per-step bars only in this process
        run_all(todo, execute, lambda spec: (spec, out, show, args.tensorboard), args.workers, on_done,
                f"{out}/runs/")
    bar.close()


def _results_of(out: pathlib.Path, specs: list) -> list[dict] | None:
    """The finished runs of exactly these specs (by fingerprint: the full spec, never another command's runs);
    None, with the missing ones named, when any is not in ``out``."""
    from benchmarks.runs import load_results

    wanted = {s.fingerprint(): s for s in specs}
    results = [r for r in load_results(out) if r.get("fingerprint") in wanted]
    missing = sorted(set(wanted) - {r["fingerprint"] for r in results})
    if missing:
        names = ", ".join(wanted[f].run_id for f in missing[:5]) + (" ..." if len(missing) > 5 else "")
        print(f"No comparison: {len(missing)} run(s) of this command are not in {out}/runs/ ({names}); "
              "rerun the same command to compute them", file=sys.stderr)
        return None
    return results


def _prebuild(specs) -> None:
    """Build each task's data (and the base model a warm run starts from) once here, so workers only read the
    disk cache."""
    from curriculum_env.base_model import base_model_for
    from curriculum_env.config import EnvConfig
    from curriculum_env.data.build import build_task_data

    for task in sorted({s.task for s in specs}):
        cfg = EnvConfig(task=task, **specs[0].env)
        data = build_task_data(cfg)
        if cfg.init == "base":  # pretrained here once per tokenizer, so the workers read it from the cache
            base_model_for(cfg, data.tokenizer)


if __name__ == "__main__":
    sys.exit(main())
