"""One env step at a given scale, phase by phase, against the same step done the reference way.

    python -m studies.step_phases --preset gpt2-124m --device cuda --steps 5          # the paper's scale
    python -m studies.step_phases --preset gpt2-124m --device cuda --train-batch 16   # equal compute, B = 16
    python -m studies.step_phases --preset gpt2-124m --device cpu --steps 1 \\
        --num-candidates 4 --reward-batch 8 --extrapolate 64,256                         # CPU: small N, M, scaled

**The env's step** (:func:`measure`): the env built from ``preset`` with the overrides, uniform
weights over all N (the paper's mixture) or ``train_batch=B``; per step the env's own phase times
``info["time/forward"]`` (the scoring forward of the next N candidates), ``time/update`` (the LM
update) and ``time/reward`` (the M held-out windows), and the whole ``env.step`` wall time.

**The reference step**, the way the reference implementation does it (~3.9 s on an H100 at the
paper's scale): a separate no-grad extraction pass over the N candidates (the full LM forward with
``output_hidden_states=True``, hidden states to the host), then the forward/backward of the uniform
mixture of all N (micro-batched, accumulated, clipped, AdamW), then the reward pass over M windows.
It runs on the env's own model and optimizer after the env's steps (so both see the same weights,
precision, attention kernels and chunk sizes: only the structure of the step differs), and
``ratio`` = env step / reference step (below 1: the env is faster).

**Figures.** Median seconds over ``steps`` measured steps after ``warmup`` unmeasured ones; on
CUDA every phase the benchmark times itself is bracketed by ``torch.cuda.synchronize()`` (the env's
own phase times end at its host syncs: the AdamW step's kernels may be counted in ``reward``).
*tokens/s*: tokens through the model per second, every pass of the variant counted (scored +
trained + rewarded windows of ``context_length`` tokens; a fused forward+backward counts once);
*train tokens/s*: trained tokens only. *Peak memory*: on CUDA
``torch.cuda.max_memory_allocated`` over the variant's steps; on CPU the highest resident set size
sampled every 10 ms during them (``resource.getrusage``'s ``ru_maxrss``, the process's lifetime
peak, is reported beside it). *MFU* = model FLOPs per step / step time / ``peak_flops``: forward
passes cost 2·P FLOPs per token, forward+backward 6·P, with **P = all parameters except the position
embeddings** (nanoGPT's count: the tied token embedding is counted once, as the LM head's matmul; a
body-only scoring forward, ``candidate_stats=()``, costs 2·(P - V·d)). Attention's own FLOPs
(12·n_layer·d·L per token for fwd+bwd, ~15% more at L = 1,024) are left out, so MFU is a slight
under-estimate. ``peak_flops`` defaults to 989 TFLOP/s on CUDA (H100 SXM, bf16 dense) and to none on
CPU (MFU left blank) unless given.

**Data.** The paper's M = 256 windows of 1,024 tokens need more held-out text than the other built-in
tasks have (23 such windows), so the default task is the built-in ``stdlib``: the standard library's
code as target and stream, 30% of its files held out (683 held-out windows of 1,024 tokens with
``code_chars=12_000_000``, the preset's). Content does not change the timing.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import threading
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import curriculum_env  # noqa: F401  (registers CurriculumSelect-v0)
from benchmarks.allocator import keep_freed_memory
from benchmarks.memory import resident_bytes
from curriculum_env.flops import parameter_counts
from curriculum_env.models import token_nll

H100_BF16_DENSE = 989e12
STDLIB_TASK = "stdlib"  # the built-in task with enough held-out code for the paper's M and L
PHASES = {"env": ("forward", "update", "reward"), "reference": ("extract", "update", "reward")}


# ------------------------------------------------------------------------------------------ helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory over a ``with`` block: CUDA's allocator peak, or on CPU the resident set sampled
    every 10 ms by a thread (``/proc/self/status``; 0 where that file does not exist)."""

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, (resident_bytes() or 0))

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak = (resident_bytes() or 0)
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak = int(torch.cuda.max_memory_allocated(self.device))
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, (resident_bytes() or 0))


def _summary(times: dict[str, list[float]], tokens: int, train_tokens: int, flops: float,
             peak_flops: float | None, peak_mem: int) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in times.items()}
    step = med["step"]
    return {**med, "tokens_per_s": tokens / step, "train_tokens_per_s": train_tokens / step, "flops": flops,
            "mfu": None if not peak_flops else flops / step / peak_flops, "peak_mem_bytes": peak_mem}


# ------------------------------------------------------------------------------------------ the reference step
def reference_step(learner, ids: np.ndarray, heldout: np.ndarray) -> dict[str, float]:
    """One step the reference way on ``learner``'s model and optimizer; seconds per phase.

    ``extract``: no-grad full forward of the N candidates ``ids`` [N, L] with ``output_hidden_states``,
    final-token hidden states to the host; ``update``: forward/backward of the uniform mixture of all N
    in micro-batches, gradient clipping, AdamW; ``reward``: no-grad mean log-prob of ``heldout`` [M, L].
    Same precision (autocast), attention kernels and chunk sizes as the env.
    """
    model, opt, cfg, device = learner.model, learner.optimizer, learner.cfg, learner.device
    ids_t, held_t = learner.as_ids(ids), learner.as_ids(heldout)
    times: dict[str, float] = {}
    _sync(device)
    t0 = time.perf_counter()
    with torch.no_grad(), learner.autocast():
        hs = [model(input_ids=c, output_hidden_states=True).hidden_states[-1][:, -1].float()
              for c in ids_t.split(learner.eval_micro_batch_size)]
    torch.cat(hs).cpu()
    times["extract"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    for c in ids_t.split(cfg.micro_batch_size):
        with learner.autocast():
            logits = model(input_ids=c).logits
        (token_nll(logits, c).mean(-1).sum() / len(ids_t)).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    _sync(device)
    times["update"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    with torch.no_grad():
        for c in held_t.split(learner.eval_micro_batch_size):
            with learner.autocast():
                logits = model(input_ids=c).logits
            total += token_nll(logits, c).sum().double()
    float(total)
    model.train()
    times["reward"] = time.perf_counter() - t0
    times["step"] = sum(times.values())
    return times


# ------------------------------------------------------------------------------------------ the measurement
def measure(preset: str | None = "gpt2-124m", device: str = "auto", steps: int = 3, warmup: int = 1,
            train_batch: int | None = None, peak_flops: float | None = None, reference: bool = True,
            seed: int = 0, task: Any = STDLIB_TASK, candidate_stats: tuple[str, ...] = (),
            **overrides: Any) -> dict[str, Any]:
    """Per-phase step times of the env built from ``preset`` (+ ``overrides``, any env field) and of the
    reference step, in one run.

    Returns ``{"config": {...}, "env": {...}, "reference": {...} | None, "ratio": float | None,
    "peak_flops": float | None, "memory": str}``. ``env`` holds the median seconds of ``forward``,
    ``update``, ``reward`` and ``step``; ``reference`` of ``extract``, ``update``, ``reward`` and
    ``step``; both also ``tokens_per_s``, ``train_tokens_per_s``, ``flops`` (model FLOPs per step),
    ``mfu`` (None without a peak) and ``peak_mem_bytes``; ``ratio`` = env step / reference step.
    ``config`` describes what ran (shape, precision, parameters, attention kernel, ...).
    ``candidate_stats=()`` (default) is an agent that reads the hidden states alone, as the paper's.
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}")
    kwargs = {"task": task, "device": device, "candidate_stats": tuple(candidate_stats), "timings": True,
              **overrides, **({"preset": preset} if preset is not None else {}),
              **({"train_batch": train_batch} if train_batch is not None else {})}
    env = gym.make("CurriculumSelect-v0", **kwargs)
    u = env.unwrapped
    dev = u.learner.device
    if peak_flops is None and dev.type == "cuda":
        peak_flops = H100_BF16_DENSE
    env.reset(seed=seed)  # builds the model
    counts = parameter_counts(u.learner.model)
    times, trained, peak = _time_env_steps(env, steps, warmup)
    length = u.config.context_length
    env_flops, env_tokens = _env_step_cost(u, counts, trained)
    result: dict[str, Any] = {
        "config": _describe(u, preset, counts, trained, steps, warmup),
        "env": _summary(times, env_tokens, trained * length, env_flops, peak_flops, peak),
        "reference": None, "ratio": None, "peak_flops": peak_flops,
        "memory": "torch.cuda.max_memory_allocated" if dev.type == "cuda" else "peak RSS sampled every 10 ms",
    }
    if reference:
        result["reference"] = _time_reference(u, counts["P"], seed, steps, warmup, peak_flops)
        result["ratio"] = result["env"]["step"] / result["reference"]["step"]
    result["process_max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    env.close()
    return result


def _time_env_steps(env: gym.Env, steps: int, warmup: int) -> tuple[dict[str, list[float]], int, int]:
    """Wall time of ``steps`` env steps (after ``warmup``) on the uniform action (the paper's mixture, or a random
    B-subset under a budget), whole and per phase; the windows each trains; the peak memory."""
    u = env.unwrapped
    dev = u.learner.device
    action = np.ones(u.config.num_candidates, dtype=np.float32)
    times: dict[str, list[float]] = {k: [] for k in (*PHASES["env"], "step")}
    trained = 0
    for _ in range(warmup):
        env.step(action)
    with PeakMemory(dev) as mem:
        for _ in range(steps):
            _sync(dev)
            t0 = time.perf_counter()
            _, _, terminated, _, info = env.step(action)
            _sync(dev)
            times["step"].append(time.perf_counter() - t0)
            for k in PHASES["env"]:
                times[k].append(float(info[f"time/{k}"]))
            trained = len(info["trained"])
            if terminated:
                raise RuntimeError(f"the env diverged while measuring: {info.get('termination_reason')}")
    return times, trained, mem.peak


def _reward_windows(u: Any) -> int:
    return min(u.config.reward_batch, len(u.data.heldout))


def _env_step_cost(u: Any, counts: dict[str, int], trained: int) -> tuple[float, int]:
    """Model FLOPs and tokens of one env step: scoring the N candidates (the head only when a statistic or the
    fused step needs logits), training the B, the reward's forward of M windows (twice when paired)."""
    cfg, fused = u.config, u.fused
    p, head, n, length = counts["P"], counts["head"], cfg.num_candidates, cfg.context_length
    score_flops = 2 * (p if (cfg.candidate_stats or fused) else p - head) * n * length
    reward_windows = _reward_windows(u) * (2 if cfg.paired_reward else 1)
    env_flops = score_flops + (4 if fused else 6) * p * trained * length + 2 * p * reward_windows * length
    env_tokens = (n + (0 if fused else trained) + reward_windows) * length  # a fused fwd+bwd counts once
    return env_flops, env_tokens


def _describe(u: Any, preset: str | None, counts: dict[str, int], trained: int, steps: int,
              warmup: int) -> dict[str, Any]:
    """What ran: shape, precision, parameters, attention kernel, threads."""
    cfg, learner = u.config, u.learner
    return {
        "preset": preset, "device": str(learner.device), "precision": cfg.precision, "dtype": cfg.dtype,
        "compile": cfg.compile, "num_candidates": cfg.num_candidates, "reward_batch": _reward_windows(u),
        "context_length": cfg.context_length, "train_batch": cfg.train_batch, "trained_per_step": trained,
        "fused_forward": u.fused, "candidate_stats": list(cfg.candidate_stats),
        "micro_batch_size": cfg.micro_batch_size, "eval_micro_batch_size": learner.eval_micro_batch_size,
        "n_layer": cfg.n_layer, "n_embd": learner.hidden_size, "vocab": int(learner.input_embeddings.shape[0]),
        "params_total": counts["total"], "params_P": counts["P"],
        "attention": getattr(learner.model.config, "_attn_implementation", "?"),
        "torch_threads": torch.get_num_threads(), "steps": steps, "warmup": warmup,
    }


def _time_reference(u: Any, p: int, seed: int, steps: int, warmup: int,
                    peak_flops: float | None) -> dict[str, Any]:
    """The reference step's phase times on the env's learner, fresh candidates from its stream and a fresh
    sample of D each step, summarised as the env step is."""
    u.release()  # the env is done: drop its pending observation (a fused graph holds all N windows)
    rng = np.random.default_rng(seed)
    learner, heldout = u.learner, u.data.heldout
    n, length, m = u.config.num_candidates, u.config.context_length, _reward_windows(u)

    def one_step() -> dict[str, float]:
        return reference_step(learner, u.stream.next_batch().ids, heldout.sample(rng, m))

    for _ in range(warmup):
        one_step()
    ref_times: dict[str, list[float]] = {k: [] for k in (*PHASES["reference"], "step")}
    with PeakMemory(learner.device) as mem:
        for _ in range(steps):
            for k, v in one_step().items():
                ref_times[k].append(v)
    ref_flops = 2 * p * n * length + 6 * p * n * length + 2 * p * m * length
    return _summary(ref_times, (2 * n + m) * length, n * length, ref_flops, peak_flops, mem.peak)


def extrapolate(result: dict[str, Any], num_candidates: int, reward_batch: int) -> dict[str, Any]:
    """Phase times scaled linearly to ``num_candidates`` and ``reward_batch`` (every pass costs the same
    per window at a fixed context length and chunk size): the scoring forward and extraction by N, the
    update by the windows trained (N, or B kept fixed under a budget), the reward by M. A labelled
    estimate for machines where the full step is too slow to run; memory is not extrapolated."""
    c = result["config"]
    fn, fm = num_candidates / c["num_candidates"], reward_batch / c["reward_batch"]
    ft = fn if c["train_batch"] is None else 1.0
    scale = {"env": {"forward": fn, "update": ft, "reward": fm},
             "reference": {"extract": fn, "update": fn, "reward": fm}}
    out = {}
    for variant, factors in scale.items():
        if result.get(variant) is None:
            continue
        phases = {k: result[variant][k] * f for k, f in factors.items()}
        other = result[variant]["step"] - sum(result[variant][k] for k in factors)  # e.g. the env's bookkeeping
        out[variant] = {**phases, "step": sum(phases.values()) + other}
    if "reference" in out:
        out["ratio"] = out["env"]["step"] / out["reference"]["step"]
    return out


# ------------------------------------------------------------------------------------------ the table
def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if value < 100 else f"{value:.0f} s"
    if unit == "GiB":
        return f"{value / 2**30:.2f} GiB"
    if unit == "%":
        return f"{100 * value:.1f}%"
    if unit == "T":
        return f"{value / 1e12:.1f} TFLOP" if value >= 1e11 else f"{value / 1e9:.2f} GFLOP"
    if unit == "/s":
        return f"{value:,.0f}"
    return str(value)


def table(result: dict[str, Any]) -> str:
    """The result as a plain-text table (the config, then env and reference side by side)."""
    c = result["config"]
    peak = "none (MFU blank)" if not result["peak_flops"] else f"{result['peak_flops'] / 1e12:.0f} TFLOP/s"
    lines = [
        f"preset {c['preset']}; device {c['device']}; precision {c['precision']}"
        f"{' (compiled)' if c['compile'] else ''}; attention {c['attention']}; torch threads {c['torch_threads']}",
        f"model: {c['n_layer']} layers, d={c['n_embd']}, vocab {c['vocab']:,}: {c['params_total'] / 1e6:.1f}M params "
        f"(P = {c['params_P'] / 1e6:.1f}M without position embeddings, the MFU count)",
        f"step: N={c['num_candidates']} x L={c['context_length']}, trained {c['trained_per_step']}"
        f" ({'all-N mixture' if c['train_batch'] is None else 'train_batch B=' + str(c['train_batch'])}), "
        f"M={c['reward_batch']}; fused forward {c['fused_forward']}; candidate_stats {c['candidate_stats'] or '()'}; "
        f"micro-batches {c['micro_batch_size']} (grad) / {c['eval_micro_batch_size']} (no-grad)",
        f"median of {c['steps']} steps after {c['warmup']} warm-up; peak FLOP/s for MFU: {peak}; "
        f"memory: {result['memory']}",
        "",
        f"| {'':<22} | {'env':>14} | {'reference':>14} |",
        f"|{'-' * 24}|{'-' * 16}|{'-' * 16}|",
    ]
    env, ref = result["env"], result["reference"] or {}
    rows = [("score / extract N", "forward", "extract", "s"), ("update (fwd/bwd+step)", "update", "update", "s"),
            ("reward M", "reward", "reward", "s"), ("step", "step", "step", "s"),
            ("tokens/s", "tokens_per_s", "tokens_per_s", "/s"),
            ("train tokens/s", "train_tokens_per_s", "train_tokens_per_s", "/s"),
            ("model FLOPs / step", "flops", "flops", "T"), ("MFU", "mfu", "mfu", "%"),
            ("peak memory", "peak_mem_bytes", "peak_mem_bytes", "GiB")]
    for label, ek, rk, unit in rows:
        lines.append(f"| {label:<22} | {_fmt(env.get(ek), unit):>14} | {_fmt(ref.get(rk), unit):>14} |")
    if result["ratio"] is not None:
        lines.append(f"\nenv step / reference step: {result['ratio']:.3f}")
    return "\n".join(lines)


def _extrapolated_table(result: dict[str, Any], n: int, m: int) -> str:
    est = extrapolate(result, n, m)
    c = result["config"]
    lines = [f"EXTRAPOLATED (not measured): phase times scaled linearly from N={c['num_candidates']}, "
             f"M={c['reward_batch']} to N={n}, M={m}",
             f"| {'':<22} | {'env':>14} | {'reference':>14} |", f"|{'-' * 24}|{'-' * 16}|{'-' * 16}|"]
    env, ref = est["env"], est.get("reference", {})
    for label, ek, rk in [("score / extract N", "forward", "extract"), ("update", "update", "update"),
                          ("reward M", "reward", "reward"), ("step", "step", "step")]:
        lines.append(f"| {label:<22} | {_fmt(env.get(ek), 's'):>14} | {_fmt(ref.get(rk), 's'):>14} |")
    if "ratio" in est:
        lines.append(f"\nenv step / reference step (extrapolated): {est['ratio']:.3f}")
    return "\n".join(lines)


def _pair(text: str) -> tuple[int, int]:
    try:
        n, m = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--extrapolate takes N,M (two integers), got {text!r}") from None
    return n, m


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="gpt2-124m", help="env preset (default gpt2-124m; 'none': the env defaults)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default auto)")
    p.add_argument("--steps", type=int, default=3, help="measured steps per variant (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured steps first (default 1)")
    p.add_argument("--train-batch", type=int, default=None,
                   help="B, the equal-compute budget (env train_batch; default: the all-N mixture)")
    p.add_argument("--task", default=STDLIB_TASK, help=f"task (default {STDLIB_TASK})")
    p.add_argument("--num-candidates", type=int, help="N (overrides the preset)")
    p.add_argument("--reward-batch", type=int, help="M (overrides the preset)")
    p.add_argument("--context-length", type=int, help="L (overrides the preset)")
    p.add_argument("--n-layer", type=int, help="transformer blocks (overrides the preset)")
    p.add_argument("--micro-batch-size", type=int, help="fwd/bwd windows per chunk (overrides the preset)")
    p.add_argument("--eval-micro-batch-size", type=int, help="no-grad windows per chunk (overrides the preset)")
    p.add_argument("--precision", choices=("fp32", "bf16"), help="compute precision (overrides the preset)")
    p.add_argument("--compile", action="store_true", help="torch.compile the transformer body")
    p.add_argument("--fused", action="store_true", help="fused_forward=True (the observation forward keeps its graph)")
    p.add_argument("--stats", default="", help="candidate_stats the agent reads, e.g. loss,entropy (default none)")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="peak TFLOP/s for MFU (default: 989 on CUDA, H100 bf16 dense; none on CPU)")
    p.add_argument("--no-reference", action="store_true", help="skip the reference step")
    p.add_argument("--extrapolate", type=_pair, metavar="N,M",
                   help="also print phase times scaled linearly to N candidates and M reward windows")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run :func:`measure` from the command line, print the table; returns the result."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = keep_freed_memory()  # CPU: large temporaries are not page-faulted in afresh every pass
    names = {"num_candidates": args.num_candidates, "reward_batch": args.reward_batch,
             "context_length": args.context_length, "n_layer": args.n_layer,
             "micro_batch_size": args.micro_batch_size, "eval_micro_batch_size": args.eval_micro_batch_size,
             "precision": args.precision}
    overrides = {k: v for k, v in names.items() if v is not None}
    if args.compile:
        overrides["compile"] = True
    if args.fused:
        overrides["fused_forward"] = True
    stats = tuple(s.strip() for s in args.stats.split(",") if s.strip())
    result = measure(None if args.preset.lower() == "none" else args.preset, device=args.device, steps=args.steps,
                     warmup=args.warmup, train_batch=args.train_batch,
                     peak_flops=None if args.peak_tflops is None else args.peak_tflops * 1e12,
                     reference=not args.no_reference, seed=args.seed, task=args.task, candidate_stats=stats,
                     **overrides)
    print(table(result))
    print(f"allocator: {'glibc, freed memory kept' if kept else 'default'}")
    if args.extrapolate:
        print()
        print(_extrapolated_table(result, *args.extrapolate))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
