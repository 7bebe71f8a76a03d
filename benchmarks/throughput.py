"""Step-time and memory figures, each a ratio of two things measured interleaved in one run.

    python -m benchmarks.throughput                 # all ratios on the default tiny config
    python -m benchmarks.throughput --rss-steps 2000  # plus RSS growth over 2,000 steps

Printed:
- per-phase step time (forward / update / reward) of the default mixture env;
- fused forward vs the paper's separate no-grad forward + fwd/bwd (goal <= 0.85);
- soft-Q agent step vs a uniform-mixture step (goal <= 1.05);
- loss- and uncertainty-based agents vs random (goal <= 1.05);
- RSS growth over N steps (goal <= 5%).

Machines here are shared and noisy: the variants run in alternating blocks and the medians of
per-step times are compared, so drift hits both sides alike.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

import curriculum_env  # noqa: F401


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stepper:
    """An env plus an agent, stepped one step at a time with the step's wall time recorded."""

    def __init__(self, env_kwargs: dict, agent: str | None, seed: int = 0):
        from agents import make_agent

        self.env = gym.make("CurriculumSelect-v0", **env_kwargs)
        self.agent = make_agent(agent) if agent else None
        if self.agent is not None:
            self.agent.setup(self.env, seed)
        self.obs, self.info = self.env.reset(seed=seed)
        self.times: list[float] = []
        self.phases: dict[str, list[float]] = {"forward": [], "update": [], "reward": []}

    def step(self) -> None:
        t0 = time.perf_counter()
        if self.agent is None:
            action = np.ones(self.env.action_space.shape, dtype=np.float32)
        else:
            action = self.agent.act(self.obs, self.info)
        self.obs, reward, term, trunc, self.info = self.env.step(action)
        if self.agent is not None:
            self.agent.observe(reward, self.obs, self.info, term, trunc)
        self.times.append(time.perf_counter() - t0)
        for k in self.phases:
            self.phases[k].append(float(self.info[f"time/{k}"]))
        if term or trunc:
            self.obs, self.info = self.env.reset()


def interleaved(steppers: dict[str, Stepper], rounds: int, block: int, warmup: int = 5) -> dict[str, float]:
    """Median seconds per step of each stepper, run in alternating blocks."""
    for s in steppers.values():
        for _ in range(warmup):
            s.step()
        s.times.clear()
        for v in s.phases.values():
            v.clear()
    for _ in range(rounds):
        for s in steppers.values():
            for _ in range(block):
                s.step()
    return {name: statistics.median(s.times) for name, s in steppers.items()}


def ratio_line(label: str, num: float, den: float, goal: float) -> str:
    r = num / den
    verdict = "meets" if r <= goal else "misses"
    return f"{label:<48} {num * 1e3:8.2f} ms / {den * 1e3:8.2f} ms = {r:5.3f}  (goal <= {goal}; {verdict})"


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> dict[str, float]:
    torch.set_num_threads(args.threads)
    base = dict(task=args.task, num_candidates=args.num_candidates)
    results: dict[str, float] = {}

    fused = Stepper({**base, "fused_forward": True}, None)
    separate = Stepper({**base, "fused_forward": False}, None)
    t = interleaved({"fused": fused, "separate": separate}, args.rounds, args.block)
    out(f"torch threads: {args.threads}; task {args.task}; N={args.num_candidates}; "
        f"{args.rounds} rounds x {args.block} steps per variant")
    out("per-phase median step time, fused mixture env:")
    for k, v in fused.phases.items():
        out(f"  {k:<8} {statistics.median(v) * 1e3:8.2f} ms")
    out(ratio_line("fused vs separate forward (mixture step)", t["fused"], t["separate"], 0.85))
    results.update(fused_ms=t["fused"] * 1e3, separate_ms=t["separate"] * 1e3,
                   fused_ratio=t["fused"] / t["separate"])

    if not args.skip_agents:
        pairs = {"uniform": None, "soft_q": "soft_q", "random": "random", "loss": "loss", "uncertainty": "uncertainty"}
        steppers = {}
        for name, agent in pairs.items():
            try:
                steppers[name] = Stepper(base, agent)
            except (ImportError, AttributeError) as exc:  # an agent not built yet: say so, don't hide it
                out(f"  (skipping {name}: {exc})")
        t = interleaved(steppers, args.rounds, args.block)
        if "soft_q" in t:
            out(ratio_line("soft-Q agent vs uniform mixture step", t["soft_q"], t["uniform"], 1.05))
            results["soft_q_ratio"] = t["soft_q"] / t["uniform"]
        for name in ("loss", "uncertainty"):
            if name in t and "random" in t:
                out(ratio_line(f"{name}-based agent vs random", t[name], t["random"], 1.05))
                results[f"{name}_ratio"] = t[name] / t["random"]

    if args.rss_steps:
        s = Stepper(base, None)
        warmup = max(20, args.rss_steps // 10)  # allocator pools fill during the first few hundred steps
        for _ in range(warmup):
            s.step()
        start = _rss_mib()
        out(f"RSS baseline after {warmup} warm-up steps: {start:.1f} MiB")
        for i in range(args.rss_steps):
            s.step()
            if (i + 1) % max(1, args.rss_steps // 10) == 0:
                out(f"  step {i + 1:>5}: RSS {_rss_mib():8.1f} MiB")
        end = _rss_mib()
        growth = (end - start) / start
        out(f"RSS over {args.rss_steps} steps: {start:.1f} -> {end:.1f} MiB, growth {growth:+.2%} "
            f"(goal <= 5%; {'meets' if growth <= 0.05 else 'misses'})")
        results["rss_growth"] = growth
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="prose", help="task of the measured env")
    p.add_argument("--num-candidates", type=int, default=16, help="N candidates per step")
    p.add_argument("--rounds", type=int, default=8, help="alternating rounds per comparison")
    p.add_argument("--block", type=int, default=10, help="steps per variant per round")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--rss-steps", type=int, default=0, help="also measure RSS growth over this many steps")
    p.add_argument("--skip-agents", action="store_true", help="only the env figures")
    return p.parse_args(argv)


if __name__ == "__main__":
    run(parse_args(sys.argv[1:]))
