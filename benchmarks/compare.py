"""The comparison: every agent x task x seed at equal compute, reported on the test split.

    python -m benchmarks.compare            # the default comparison (about 15 min on 2 CPU cores)
    python -m benchmarks.compare --stream-width 128 --tasks noisy,mixed   # the wide track: W = 128 a step
    python -m benchmarks.compare --quick    # a smaller one (a few minutes)
    python -m benchmarks.compare --scale small   # a second model scale (4 layers, d = 128, L = 64; ~1 hour)
    python -m benchmarks.compare --scale warm    # continued pre-training from the built-in base model
    python -m benchmarks.compare --agents random,oracle,rho_loss,loss --tasks noisy,mixed --seeds 3
    python -m benchmarks.compare --all-n --agents soft_q_paper,random   # the paper's all-N mixture
    python -m benchmarks.compare --agents random,soft_q@beta=0.3,gamma=0   # an agent with options
    python -m benchmarks.compare --agents random,my_pkg.my_module:MyAgent   # an agent outside the registry
    python -m benchmarks.compare --tasks noisy,my_task.toml,my_pkg.tasks:make_task   # your own data
    python -m benchmarks.compare --suite generalisation   # the generalisation suite (or --suite tuning/heldout/fresh)

**Agents** are specs (:mod:`agents.specs`): a registered name or ``module.path:Class``, with
constructor options after ``@``. **Tasks** are built-in names, task files (``.toml``/``.json``, see
:func:`curriculum_env.data.tasks.task_from_file`) or ``module.path:function`` returning a ``Task``.
``--suite`` runs the generalisation suite (:mod:`curriculum_env.data.suite`) instead: both halves
(``generalisation``) or one (``tuning``, ``heldout``), into ``results/compare-suite`` by default; the report
gives the held-out half its own table, since only that half says whether a method generalises.
Both are checked before any run starts; worker processes (and Ray workers) rebuild them from the
string, so nothing needs registering.

**Equal compute.** Every step streams N = 16 candidates and trains exactly B = 4 of them
(``--train-batch``; the env's ``train_batch``), so every agent trains the same examples with the
same gradient steps and streams the same windows; the report checks both and refuses to compare runs
of a task that differ. **The wide track**, ``--stream-width W`` (JEST's super-batch): every agent sees
W candidates a step (N = W) and still trains B; agents that read the LM pay for scoring all W, and a
retrieval ring fills from the same W; its runs go to ``OUT-w<W>`` by default.
``--all-n`` trains every candidate with non-zero weight instead (the paper's mixture): only agents
that weight all N then compare. Every run of a task and seed streams the same candidates (the
stream depends only on the seed). Finished runs are written atomically to
``OUT/runs/<task>__<agent>__<seed>.json``; rerunning the same command skips them, so an
interrupted comparison resumes where it stopped. Outputs: ``results.md`` (printed too),
``summary.csv``/``summary.json``, ``aggregate.csv``, ``curves.csv``, ``curves.png``,
``efficiency.png``, ``needle.png``, ``soft_q_diagnostics.png`` and per-step JSONL logs in ``logs/``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

from benchmarks.presets import BENCH_ENV, BENCH_SCHEDULE, SCALES, SUITE_OUT

# The default table: the learned agents, the cheap rules practitioners run (dsir, classifier, odm), RHO-LOSS on D,
# the paper's loss and competence baselines, and two reference rows that read labels (oracle, rho_loss_labelled).
# Registered but left out so that the table fits in 15 minutes on two cores (--agents adds them):
# soft_q_closed_loop, soft_q_paper, ppo and uncertainty (each measured in earlier tables, docs/results.md),
# soft_q_uniform (an ablation) and langevin_rag_paper (the paper's Algorithm 2, ~40x random's step).
DEFAULT_AGENTS = ("soft_q", "langevin_rag", "dsir", "classifier", "odm", "rho_loss", "random", "loss", "competence",
                  "oracle", "rho_loss_labelled")
DEFAULT_TASKS = ("prose", "noisy", "mixed", "needle")


def build_specs(args: argparse.Namespace):
    from benchmarks.runs import RunSpec

    env = dict(BENCH_ENV, num_candidates=args.num_candidates, context_length=args.context_length,
               n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, device=args.device,
               train_batch=None if args.all_n else args.train_batch, lr=args.lr, lr_schedule=args.lr_schedule,
               warmup_steps=warmup_steps(args), lr_final=args.lr_final)
    if args.lr_schedule != "constant":
        env["lr_horizon"] = args.steps  # the decay completes within the run
    if args.init != "random":
        env["init"] = args.init  # only when set, so the fingerprints of random-init runs stay what they were
    return [RunSpec(agent, task, seed, args.steps, args.eval_every, env, args.choice_every, args.choices,
                    args.export_models)
            for task in args.tasks for seed in range(args.seeds) for agent in args.agents]


def warmup_steps(args: argparse.Namespace) -> int:
    """``--warmup-steps``, or by default the benchmark's share of ``--steps`` (none for a constant LR)."""
    if args.warmup_steps is not None:
        return args.warmup_steps
    return 0 if args.lr_schedule == "constant" else round(BENCH_SCHEDULE["warmup_fraction"] * args.steps)


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


def _compare(args: argparse.Namespace, out: pathlib.Path) -> int:
    from tqdm.auto import tqdm

    from benchmarks import report
    from benchmarks.runs import execute, is_done, save_result
    from benchmarks.workers import run_all

    specs = build_specs(args)
    todo = [s for s in specs if not is_done(out, s)]
    print(f"{len(specs)} runs ({len(specs) - len(todo)} already finished in {out}); "
          f"{args.steps} steps each, {args.workers} worker(s)", flush=True)
    t0 = time.perf_counter()
    if todo:
        _prebuild(specs)
        bar = tqdm(total=len(todo), desc="runs", unit="run")

        def on_done(result):
            save_result(out, result)
            bar.set_postfix_str(f"{result['spec']['task']}/{result['spec']['agent']} "
                                f"NLL {result['final_test_nll']:.3f}")
            bar.update(1)

        if args.ray is not None:
            _run_ray(todo, out, args.ray, on_done, args.tensorboard)
        else:
            show = args.workers <= 1  # per-step bars only in this process
            run_all(todo, execute, lambda spec: (spec, out, show, args.tensorboard), args.workers, on_done,
                    f"{out}/runs/")
        bar.close()
    wanted = {s.fingerprint(): s for s in specs}  # the full spec, not (task, agent, seed): never another command's
    results = [r for r in report.load_results(out) if r.get("fingerprint") in wanted]
    missing = sorted(set(wanted) - {r["fingerprint"] for r in results})
    if missing:
        names = ", ".join(wanted[f].run_id for f in missing[:5]) + (" ..." if len(missing) > 5 else "")
        print(f"No comparison: {len(missing)} run(s) of this command are not in {out}/runs/ ({names}); "
              "rerun the same command to compute them", file=sys.stderr)
        return 2
    try:
        summary = report.summarise(results)
    except report.UnequalComputeError as exc:
        print(f"No comparison: {exc}. Every agent of a task must train the same examples "
              "(use the default budget, or with --all-n only agents that weight all N candidates).", file=sys.stderr)
        return 2
    md = report.markdown(summary, wall_time=time.perf_counter() - t0)
    report.write_tables(out, summary, results, md)
    if not args.no_plots:
        report.plot(out, summary, results)
    print(md)
    print(f"Written to {out}/ (results.md, summary.csv, summary.json, curves.csv, *.png, logs/"
          f"{', tensorboard/' if args.tensorboard else ''})")
    if args.tensorboard:
        print(f"    tensorboard --logdir {out / 'tensorboard'}")
    return 0


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


def suite_names() -> tuple[str, ...]:
    from curriculum_env.data.suite import SUITES

    return tuple(SUITES)


def suite_defaults(suite: str | None, scale: str = "default") -> dict[str, str]:
    """The options ``--suite`` sets (its tasks and output folder), as defaults that explicit options override;
    none without a suite."""
    if suite is None:
        return {}
    from curriculum_env.data.suite import SUITES

    out = SUITE_OUT if scale == "default" else SUITE_OUT.replace("compare-", f"compare-{scale}-")
    return {"tasks": ",".join(SUITES[suite]), "out": out}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", default=",".join(DEFAULT_AGENTS),
                   help="comma-separated agent specs: name, module.path:Class, either with @key=value,... options")
    p.add_argument("--tasks", default=None,
                   help="comma-separated tasks: built-in names, .toml/.json task files or module.path:function "
                        f"(default: {','.join(DEFAULT_TASKS)})")
    p.add_argument("--suite", choices=suite_names(), default=None,
                   help="run a task suite instead of --tasks: 'generalisation' (its tuning and held-out halves), "
                        "'tuning', 'heldout' or 'fresh' (the second held-out set); output folder "
                        f"{SUITE_OUT} unless --out is given")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..S-1 per agent and task")
    p.add_argument("--steps", type=int, default=300, help="gradient steps per run")
    p.add_argument("--eval-every", type=int, default=20, help="steps between test-split evaluations")
    p.add_argument("--num-candidates", type=int, default=None,
                   help=f"N, candidates streamed per step (default {BENCH_ENV['num_candidates']})")
    p.add_argument("--stream-width", type=int, default=None, metavar="W",
                   help="the wide track: every agent sees W candidates a step (N = W) and trains B; output "
                        "folder OUT-w<W> unless --out is given")
    p.add_argument("--train-batch", type=int, default=BENCH_ENV["train_batch"],
                   help="B, candidates trained per step (equal compute)")
    p.add_argument("--all-n", action="store_true",
                   help="no budget: train every candidate with non-zero weight (the paper's all-N mixture)")
    p.add_argument("--context-length", type=int, default=BENCH_ENV["context_length"], help="tokens per window")
    p.add_argument("--n-layer", type=int, default=BENCH_ENV["n_layer"], help="GPT-2 blocks")
    p.add_argument("--n-embd", type=int, default=BENCH_ENV["n_embd"], help="GPT-2 width d")
    p.add_argument("--n-head", type=int, default=BENCH_ENV["n_head"], help="GPT-2 attention heads")
    p.add_argument("--scale", choices=sorted(SCALES), default="default",
                   help="model scale: 'small' = 4 layers, d = 128, 64-token windows, 600 steps, random/oracle/"
                        "rho_loss/soft_q on noisy and mixed; 'warm' = the default model started from the built-in "
                        "base model (--init base) on noisy, mixed and the held-out half (explicit options win)")
    p.add_argument("--init", choices=("random", "base"), default="random",
                   help="how the LM starts: a random init, or the built-in base model (continued pre-training; "
                        "built once, about 2 minutes, and cached)")
    p.add_argument("--lr", type=float, default=BENCH_SCHEDULE["lr"], help="peak learning rate of the LM")
    p.add_argument("--lr-schedule", default=BENCH_SCHEDULE["lr_schedule"], choices=("constant", "cosine", "linear"),
                   help="LR schedule after the warm-up; a decaying one reaches --lr-final x lr at the last step")
    p.add_argument("--warmup-steps", type=int, default=None,
                   help="linear LR warm-up steps (default: 10%% of --steps; 0 with a constant LR)")
    p.add_argument("--lr-final", type=float, default=BENCH_SCHEDULE["lr_final"],
                   help="floor of a decaying schedule, as a fraction of --lr")
    p.add_argument("--choices", type=int, default=4,
                   help="candidates per multiple-choice item (the downstream metric; chance 1/choices)")
    p.add_argument("--choice-every", type=int, default=100,
                   help="steps between multiple-choice evaluations (also at the first and last step)")
    p.add_argument("--export-models", action="store_true",
                   help="write each run's final LM as a Hugging Face model directory in OUT/models/<run>/")
    p.add_argument("--device", default="cpu", help="torch device for every run")
    p.add_argument("--out", default="results/compare", help="output folder")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster (default: start or join a local one)")
    p.add_argument("--quick", action="store_true", help="2 tasks x 2 seeds x 100 steps (a few minutes)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write every run's per-step metrics as TensorBoard events in OUT/tensorboard/")
    first, _ = p.parse_known_args(argv)  # which scale and suite, and whether --tasks was given
    if first.suite is not None and first.tasks is not None:
        p.error("--tasks and --suite both choose the tasks: give one of them (--suite runs the suite's tasks)")
    p.set_defaults(**{"tasks": ",".join(DEFAULT_TASKS), **SCALES[first.scale],
                      **suite_defaults(first.suite, first.scale)})  # a suite's tasks win over a scale's
    args = p.parse_args(argv)
    default_out = args.out == p.get_default("out")
    if args.stream_width is not None:
        if args.num_candidates not in (None, args.stream_width):
            p.error(f"--stream-width {args.stream_width} and --num-candidates {args.num_candidates} both set N: "
                    "give one")
        if args.stream_width < 1:
            p.error(f"--stream-width must be positive, got {args.stream_width}")
        args.num_candidates = args.stream_width
        if default_out:
            args.out += f"-w{args.stream_width}"
    if args.num_candidates is None:
        args.num_candidates = BENCH_ENV["num_candidates"]
    if args.quick:
        if args.tasks == ",".join(DEFAULT_TASKS):
            args.tasks = "noisy,needle"
        args.seeds, args.steps, args.eval_every = min(args.seeds, 2), min(args.steps, 100), min(args.eval_every, 10)
        if default_out:
            args.out += "-quick"
    from agents import make_agent
    from agents.specs import split_specs
    from curriculum_env.data.tasks import resolve_task

    try:
        args.agents = split_specs(args.agents)
    except ValueError as exc:
        p.error(f"--agents: {exc}")
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if len(set(args.agents)) != len(args.agents) or len(set(args.tasks)) != len(args.tasks):
        p.error("--agents and --tasks must not repeat an entry")
    from benchmarks.runs import agent_env_kwargs

    for a in args.agents:  # build each once here: unknown agents, bad options and env_kwargs fail before any run
        try:
            agent_env_kwargs(make_agent(a))
        except (ValueError, TypeError) as exc:
            p.error(str(exc))
    if args.tensorboard:
        from benchmarks.event_log import require_tensorboard

        require_tensorboard()
    for t in args.tasks:
        try:
            resolve_task(t)
        except ValueError as exc:
            p.error(str(exc))
    if args.steps < 1 or args.seeds < 1 or args.eval_every < 1 or args.choice_every < 1:
        p.error("--steps, --seeds, --eval-every and --choice-every must be positive")
    if args.choices < 2:
        p.error(f"--choices must be at least 2, got {args.choices}")
    if (args.warmup_steps or 0) < 0 or not 0 <= args.lr_final <= 1 or not args.lr > 0:
        p.error("--warmup-steps must be >= 0, --lr-final in [0, 1] and --lr > 0")
    if not args.all_n and not 1 <= args.train_batch <= args.num_candidates:
        p.error(f"--train-batch must lie in [1, --num-candidates={args.num_candidates}], got {args.train_batch}")
    return args


if __name__ == "__main__":
    sys.exit(main())
