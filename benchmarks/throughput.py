"""Step-time and memory figures, each a ratio of two things measured interleaved in one run.

    python -m benchmarks.throughput                      # everything on the default configs
    python -m benchmarks.throughput --only floor         # the budgeted step against its compute floor
    python -m benchmarks.throughput --only floor --budget 4 --rounds 10 --block 10
    python -m benchmarks.throughput --rss-steps 2000     # plus RSS growth over 2,000 steps

A preset's step (the paper's scale) is timed phase by phase against the reference way by
``python -m studies.step_phases --preset gpt2-124m --device cuda`` (:mod:`studies.step_phases`).

Sections (``--only`` picks some, comma-separated; the default runs all, ``rss`` only with ``--rss-steps``):

- ``fused``: per-phase step time (forward / update / reward) of the default mixture env, and the
  fused forward vs the paper's separate no-grad forward + fwd/bwd (goal <= 0.85);
- ``agents``: soft-Q agent step vs a uniform-mixture step (goal <= 1.05); loss- and
  uncertainty-based agents vs random (goal <= 1.05);
- ``floor``: the budgeted env step (``train_batch=B``, ``candidate_stats=()``, uniform weights, the
  benchmark's model ``benchmarks.presets.BENCH_ENV``) vs its compute floor timed as raw model calls
  on a copy of the same model and windows of the same data: ``model(ids_N)`` under no_grad (full LM
  forward, logits included), ``model(ids_B)`` -> per-token cross-entropy -> backward ->
  ``clip_grad_norm_`` -> AdamW step, then ``model(ids_M)`` under no_grad + cross-entropy (goal <= 1.15);
  the same step with ``candidate_stats=("loss",)`` and ``("loss", "entropy")`` vs the same floor
  (the cost of the extras, no goal); and the per-phase medians of all four (``other`` = step time
  minus the three phases: action, info, wrappers);
- ``plain``: each agent's env step as the harness makes it (``--agents``; the env computes only what
  the agent declares it reads) and with the reward forward and observation forced on (what every agent
  paid before agents declared them), against plain training on B random windows of the same stream
  (one ``learner.update``, no scoring, no reward), on the default comparison's model, as mean step times
  (a probe every K steps is part of the cost; a median would hide it); goal <= 1.6 for
  agents that do not read the reward; with each agent's model FLOPs per step ÷ plain's, and the
  reward and next observation from one pass vs two;
- ``rss``: RSS growth over ``--rss-steps`` steps (goal <= 5%).

Machines here are shared and noisy: the variants run in alternating blocks (``--rounds`` rounds of
``--block`` steps each, after a few warm-up steps) and the medians of per-step times are compared,
so drift hits both sides alike. ``--rounds`` x ``--block`` is the number of measured steps per variant.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import torch

import curriculum_env  # noqa: F401
from benchmarks.allocator import keep_freed_memory
from benchmarks.memory import resident_bytes
from benchmarks.timers import PHASES, FloorStepper, PlainStepper, Stepper, interleaved, phase_medians

SECTIONS = ("fused", "agents", "floor", "plain", "rss")
FLOOR_GOAL = 1.15
PLAIN_GOAL = 1.6  # env step / plain training, agents that do not read the reward


def _rss_mib() -> float:
    """Resident memory now, in MiB (the process's peak where the current value is not reported)."""
    rss = resident_bytes()
    return rss / 2**20 if rss is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


PLAIN_AGENTS = ("random", "oracle", "competence", "loss", "rho_loss", "soft_q", "soft_q_paper", "soft_q_closed_loop")


def measure_plain(env_kwargs: dict, agents: tuple[str, ...], rounds: int, block: int, warmup: int = 5,
                  out: Callable[[str], None] = print) -> dict[str, float]:
    """Each agent's env step as the harness makes it (its own ``env_kwargs``: only the reward, observation
    and statistics it reads) and as every agent paid before agents declared what they read (reward
    forward and observation on), against plain training on B random windows; all interleaved in one run.
    Also the reward and next observation from one pass vs two (the learner calls alone). Keys:
    ``{agent}_ms``, ``{agent}_full_ms``, ``plain_ms``, ``{agent}_ratio`` / ``{agent}_full_ratio`` (÷ plain),
    ``{agent}_flops_ratio`` (model FLOPs per step ÷ plain's), ``one_pass_ratio``."""
    budget = env_kwargs["train_batch"]
    steppers = _plain_steppers(env_kwargs, agents, budget)
    # the mean, not the median: a probe every K steps is a cost the median of step times would hide
    t = interleaved(steppers, rounds, block, warmup, stat=statistics.fmean)
    n, length = env_kwargs.get("num_candidates"), env_kwargs.get("context_length")
    out(f"mean step time, env step vs plain training (B={budget} random windows, no scoring, no reward): task "
        f"{env_kwargs.get('task')}; N={n}, B={budget}, M={env_kwargs.get('reward_batch')}, L={length}, "
        f"n_layer={env_kwargs.get('n_layer')}, n_embd={env_kwargs.get('n_embd')}; {rounds} rounds x {block} steps")
    results: dict[str, float] = {"plain_ms": t["plain"] * 1e3}
    for name in agents:
        results.update(_agent_vs_plain(name, steppers[name], t, budget, length, out))
    med = _one_pass_vs_two(steppers[agents[0]].env.unwrapped, rounds * block)
    out(ratio_line("reward + next observation: one pass vs two", med["one"], med["two"]))
    results["one_pass_ratio"] = med["one"] / med["two"]
    for s in steppers.values():
        if isinstance(s, Stepper):
            s.env.close()
    return results


def _plain_steppers(env_kwargs: dict, agents: tuple[str, ...], budget: int) -> dict:
    """The plain section's variants: each agent's step as declared (``{agent}``) and with the reward forward and
    observation forced on (``{agent}_full``), and plain training on ``budget`` random windows (``plain``)."""
    from agents import make_agent
    from benchmarks.runs import agent_env_kwargs

    steppers: dict = {}
    for name in agents:
        declared = {**env_kwargs, **agent_env_kwargs(make_agent(name))}  # refuses a field the benchmark fixes
        steppers[name] = Stepper(declared, name)
        steppers[f"{name}_full"] = Stepper({**declared, "compute_reward": True, "observation": "hidden"}, name)
    plain_env = gym.make("CurriculumSelect-v0", **env_kwargs)
    plain_env.reset(seed=0)
    steppers["plain"] = PlainStepper(plain_env, budget)
    return steppers


def _agent_vs_plain(name: str, stepper: Stepper, t: dict[str, float], budget: int, length: int,
                    out: Callable[[str], None]) -> dict[str, float]:
    """Print and return one agent's step times against plain training's (as declared, against the goal unless it
    reads the reward, and with reward and observation on) and its model FLOPs per step ÷ plain's, which trains
    ``budget`` windows of ``length`` tokens a step."""
    reads = stepper.env.unwrapped.config.compute_reward
    goal = None if reads else PLAIN_GOAL
    out(ratio_line(f"{name} ({'reads' if reads else 'no'} reward) vs plain", t[name], t["plain"], goal))
    out(ratio_line(f"{name}, reward + observation on, vs plain", t[f"{name}_full"], t["plain"]))
    u = stepper.env.unwrapped
    flops = u.learner.flops.total / max(1, u.steps_taken) / u.learner.flop_model.train(budget * length)
    out(f"{'':<4}model FLOPs per step vs plain: {flops:.3f}")
    return {f"{name}_ms": t[name] * 1e3, f"{name}_full_ms": t[f"{name}_full"] * 1e3,
            f"{name}_ratio": t[name] / t["plain"], f"{name}_full_ratio": t[f"{name}_full"] / t["plain"],
            f"{name}_flops_ratio": flops}


def _one_pass_vs_two(u: Any, steps: int) -> dict[str, float]:
    """Median time of the reward and next observation from one learner pass (``one``) and from two (``two``), on
    env ``u``'s current candidates and reward batch: each timed ``steps`` times, in two alternating rounds."""
    ids, ref = u.candidates.ids, u.data.heldout.ids[: u.config.reward_batch]
    one = lambda: u.learner.score_and_log_prob(ids, ref)  # noqa: E731
    two = lambda: (u.learner.score(ids, with_grad=False, stats=()), u.learner.log_prob(ref))  # noqa: E731
    med = {}
    for name, fn in (("one", one), ("two", two)) * 2:
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        med[name] = statistics.median(times)
    return med


def ratio_line(label: str, num: float, den: float, goal: float | None = None) -> str:
    r = num / den
    tail = "(informative)" if goal is None else f"(goal <= {goal}; {'meets' if r <= goal else 'misses'})"
    return f"{label:<48} {num * 1e3:8.2f} ms / {den * 1e3:8.2f} ms = {r:5.3f}  {tail}"


def bench_env(task: str, num_candidates: int, budget: int, **overrides) -> dict:
    """Env kwargs of the budgeted step: ``benchmarks.presets.BENCH_ENV`` with ``train_batch=budget``."""
    from benchmarks.presets import BENCH_ENV

    return {**BENCH_ENV, "task": task, "num_candidates": num_candidates, "train_batch": budget,
            "candidate_stats": (), **overrides}


def measure_floor(env_kwargs: dict, rounds: int, block: int, warmup: int = 5,
                  out: Callable[[str], None] = print) -> dict[str, float]:
    """The budgeted step (``env_kwargs``, ``candidate_stats=()`` expected) with stats (), ("loss",) and
    ("loss", "entropy") against its floor, all four interleaved in one run; prints and returns ms and ratios.

    Keys: ``{variant}_ms`` and ``{variant}_{phase}_ms`` for variants ``budget``, ``budget_loss``,
    ``budget_loss_entropy``, ``floor`` and phases ``forward``, ``update``, ``reward``, ``other``;
    ``floor_ratio`` (budget / floor), ``loss_ratio``, ``loss_entropy_ratio``.
    """
    budget = env_kwargs["train_batch"]
    variants = {"budget": (), "budget_loss": ("loss",), "budget_loss_entropy": ("loss", "entropy")}
    steppers: dict = {name: Stepper({**env_kwargs, "candidate_stats": stats}, None)
                      for name, stats in variants.items()}
    steppers["floor"] = FloorStepper(steppers["budget"].env, budget)
    steppers["floor_body"] = FloorStepper(steppers["budget"].env, budget, body_only=True)
    t = interleaved(steppers, rounds, block, warmup)
    n = env_kwargs.get("num_candidates")
    out(f"budgeted step vs compute floor: task {env_kwargs.get('task')}; N={n}, B={budget}, "
        f"M={env_kwargs.get('reward_batch')}, L={env_kwargs.get('context_length')}, "
        f"n_layer={env_kwargs.get('n_layer')}, n_embd={env_kwargs.get('n_embd')}; "
        f"{rounds} rounds x {block} steps per variant")
    out(ratio_line(f"budget step (stats=()) vs floor, B={budget} of N={n}", t["budget"], t["floor"], FLOOR_GOAL))
    out(ratio_line("budget step (stats=()) vs body-only floor", t["budget"], t["floor_body"]))
    out(ratio_line("budget step stats=(loss,) vs floor", t["budget_loss"], t["floor"]))
    out(ratio_line("budget step stats=(loss,entropy) vs floor", t["budget_loss_entropy"], t["floor"]))
    out("per-phase medians (ms; other = step - phases: action, info, wrappers):")
    out(f"  {'variant':<24}" + "".join(f"{k:>10}" for k in (*PHASES, "other", "step")))
    results: dict[str, float] = {}
    for name, s in steppers.items():
        med = phase_medians(s)
        out(f"  {name:<24}" + "".join(f"{med[k] * 1e3:10.2f}" for k in (*PHASES, "other")) + f"{t[name] * 1e3:10.2f}")
        results[f"{name}_ms"] = t[name] * 1e3
        results.update({f"{name}_{k}_ms": v * 1e3 for k, v in med.items()})
    results.update(floor_ratio=t["budget"] / t["floor"], body_floor_ratio=t["budget"] / t["floor_body"],
                   loss_ratio=t["budget_loss"] / t["floor"],
                   loss_entropy_ratio=t["budget_loss_entropy"] / t["floor"])
    for s in steppers.values():
        if isinstance(s, Stepper):
            s.env.close()
    return results


def measure_fused(base: dict, rounds: int, block: int, out: Callable[[str], None] = print) -> dict[str, float]:
    """Section ``fused``: per-phase step time of the default mixture env, and its fused forward against
    the paper's separate no-grad forward + fwd/bwd (goal <= 0.85)."""
    fused = Stepper({**base, "fused_forward": True}, None)
    separate = Stepper({**base, "fused_forward": False}, None)
    t = interleaved({"fused": fused, "separate": separate}, rounds, block)
    out(f"task {base['task']}; N={base['num_candidates']}; {rounds} rounds x {block} steps per variant")
    out("per-phase median step time, fused mixture env:")
    for k, v in fused.phases.items():
        out(f"  {k:<8} {statistics.median(v) * 1e3:8.2f} ms")
    out(ratio_line("fused vs separate forward (mixture step)", t["fused"], t["separate"], 0.85))
    return {"fused_ms": t["fused"] * 1e3, "separate_ms": t["separate"] * 1e3, "fused_ratio": t["fused"] / t["separate"]}


def measure_agents(base: dict, rounds: int, block: int, out: Callable[[str], None] = print) -> dict[str, float]:
    """Section ``agents``: the soft-Q agent's step against a uniform-mixture step, and the loss- and
    uncertainty-based agents' against random's (goals <= 1.05)."""
    pairs = {"uniform": None, "soft_q": "soft_q_paper", "random": "random", "loss": "loss",
             "uncertainty": "uncertainty"}
    steppers, results = {}, {}
    for name, agent in pairs.items():
        try:
            steppers[name] = Stepper(base, agent)
        except (ImportError, AttributeError, ValueError) as exc:  # an agent not built yet: say so, don't hide it
            out(f"  (skipping {name}: {exc})")
    t = interleaved(steppers, rounds, block)
    if "soft_q" in t:
        out(ratio_line("soft-Q agent vs uniform mixture step", t["soft_q"], t["uniform"], 1.05))
        results["soft_q_ratio"] = t["soft_q"] / t["uniform"]
    for name in ("loss", "uncertainty"):
        if name in t and "random" in t:
            out(ratio_line(f"{name}-based agent vs random", t[name], t["random"], 1.05))
            results[f"{name}_ratio"] = t[name] / t["random"]
    return results


def measure_rss(base: dict, steps: int, out: Callable[[str], None] = print) -> dict[str, float]:
    """Section ``rss``: resident memory growth over ``steps`` mixture steps after a warm-up (goal <= 5%)."""
    s = Stepper(base, None)
    warmup = max(20, steps // 10)  # allocator pools fill during the first few hundred steps
    for _ in range(warmup):
        s.step()
    start = _rss_mib()
    out(f"RSS baseline after {warmup} warm-up steps: {start:.1f} MiB")
    for i in range(steps):
        s.step()
        if (i + 1) % max(1, steps // 10) == 0:
            out(f"  step {i + 1:>5}: RSS {_rss_mib():8.1f} MiB")
    end = _rss_mib()
    growth = (end - start) / start
    out(f"RSS over {steps} steps: {start:.1f} -> {end:.1f} MiB, growth {growth:+.2%} "
        f"(goal <= 5%; {'meets' if growth <= 0.05 else 'misses'})")
    return {"rss_growth": growth}


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> dict[str, float]:
    """The sections ``args.only`` names, in order; every figure they print, by name."""
    torch.set_num_threads(args.threads)
    allocator = "glibc, freed memory kept" if keep_freed_memory() else "default"
    sections = set(args.only)
    base = dict(task=args.task, num_candidates=args.num_candidates)
    out(f"torch threads: {args.threads}; allocator: {allocator}; "
        f"sections: {', '.join(s for s in SECTIONS if s in sections)}")
    budgeted = bench_env(args.task, args.num_candidates, args.budget)
    runs = {"fused": lambda: measure_fused(base, args.rounds, args.block, out),
            "agents": lambda: measure_agents(base, args.rounds, args.block, out),
            "floor": lambda: measure_floor(budgeted, args.rounds, args.block, out=out),
            "plain": lambda: measure_plain(budgeted, tuple(args.agents), args.rounds, args.block, out=out),
            "rss": lambda: measure_rss(base, args.rss_steps, out) if args.rss_steps else {}}
    results: dict[str, float] = {}
    for name in SECTIONS:
        if name in sections:
            results.update(runs[name]())
    return results


def _sections(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = sorted(set(names) - set(SECTIONS))
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown section(s) {bad or text!r}; choose from {', '.join(SECTIONS)}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", type=_sections, default=list(SECTIONS), metavar="SECTIONS",
                   help=f"comma-separated sections to run, of {', '.join(SECTIONS)} (default: all; "
                        "rss needs --rss-steps)")
    p.add_argument("--task", default="prose", help="task of the measured envs (default prose)")
    p.add_argument("--num-candidates", type=int, default=16, help="N candidates per step (default 16)")
    p.add_argument("--budget", type=int, default=4,
                   help="B = train_batch of the budgeted step in the floor section (default 4)")
    p.add_argument("--rounds", type=int, default=8, help="alternating rounds per comparison (default 8)")
    p.add_argument("--block", type=int, default=10,
                   help="steps per variant per round (default 10); rounds x block = measured steps per variant")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--rss-steps", type=int, default=0, help="also measure RSS growth over this many steps")
    p.add_argument("--agents", type=lambda t: [a.strip() for a in t.split(",") if a.strip()],
                   default=list(PLAIN_AGENTS), help="agents of the plain section (comma-separated)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    run(parse_args(argv))


if __name__ == "__main__":
    main()
