"""The ``gpt2-124m`` preset, bf16 precision and the step-phase benchmark, on shapes two CPU cores afford."""

import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest

from curriculum_env.config import GPT2_124M, PRESETS, EnvConfig
from studies.step_phases import extrapolate, measure, table
from tests.conftest import TINY, make_tiny

# The preset's width and heads (the observation is [N, 768]) with one block, short windows, few candidates
# and the tokenizer the rest of the suite uses, so one step costs well under a second on 2 cores.
SMALL = dict(preset="gpt2-124m", device="cpu", n_layer=1, context_length=32, num_candidates=4, reward_batch=4,
             heldout_size=64, test_size=64, vocab_size=4096, code_chars=2_000_000)


def test_preset_values_are_the_documented_ones():
    cfg = EnvConfig.from_preset("gpt2-124m")
    assert (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.context_length) == (12, 12, 768, 1024)
    assert (cfg.num_candidates, cfg.reward_batch, cfg.heldout_size) == (64, 256, 1024)
    assert cfg.heldout_size >= cfg.reward_batch and cfg.train_batch is None  # the paper's all-N mixture
    assert (cfg.vocab_size, cfg.code_chars, cfg.lr) == (50257, 12_000_000, 6e-4)
    assert (cfg.precision, cfg.dtype, cfg.device, cfg.fused_forward) == ("bf16", "float32", "auto", False)
    assert (cfg.micro_batch_size, cfg.eval_micro_batch_size) == (16, 32)
    assert PRESETS["paper"] is GPT2_124M
    assert EnvConfig.from_preset("paper").replace() == EnvConfig.from_preset("paper")
    paper = vars(EnvConfig.from_preset("paper"))
    assert {**paper, "preset": "gpt2-124m"} == vars(cfg)


def test_the_constructor_refuses_a_preset_it_would_not_apply():
    with pytest.raises(TypeError, match=r"EnvConfig.from_preset\('gpt2-124m', ...\)"):
        EnvConfig(preset="gpt2-124m")
    with pytest.raises(ValueError, match="unknown preset"):
        EnvConfig.from_preset("gpt3")
    cfg = EnvConfig.from_preset("gpt2-124m", n_layer=2)
    assert cfg.replace(n_layer=3).n_layer == 3  # replace() keeps the applied preset
    with pytest.raises(TypeError, match="from_preset"):
        dataclasses.replace(cfg, n_layer=3)  # around replace(): refused like the constructor
    assert EnvConfig.from_kwargs(preset=None, n_layer=3).n_layer == 3 and EnvConfig().preset is None


def test_explicit_arguments_win_over_the_preset():
    cfg = EnvConfig.from_kwargs(preset="gpt2-124m", n_layer=2, context_length=64, precision="fp32")
    assert (cfg.n_layer, cfg.context_length, cfg.precision) == (2, 64, "fp32")  # 2 and 64 are the class defaults
    assert (cfg.n_embd, cfg.num_candidates) == (768, 64)
    again = cfg.replace(num_candidates=8)  # replace keeps every other field, the preset name included
    assert (again.n_layer, again.context_length, again.num_candidates, again.preset) == (2, 64, 8, "gpt2-124m")
    with pytest.raises(ValueError, match="cannot switch preset"):
        cfg.replace(preset="paper")


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown preset 'gpt3'.*\['gpt2-124m', 'paper'\]"):
        EnvConfig.from_kwargs(preset="gpt3")
    with pytest.raises(ValueError, match="unknown preset"):
        gym.make("CurriculumSelect-v0", preset="gpt3")


def test_preset_env_steps_on_cpu():
    env = gym.make("CurriculumSelect-v0", **SMALL)
    obs, info = env.reset(seed=0)
    assert obs.shape == (4, 768) and obs.dtype == np.float32
    obs, reward, terminated, truncated, info = env.step(np.ones(4, dtype=np.float32))
    assert obs.shape == (4, 768) and np.all(np.isfinite(obs))
    assert math.isfinite(reward) and -20 < reward < 0 and not terminated
    learner = env.unwrapped.learner
    assert learner.model.config._attn_implementation == "sdpa"
    assert learner.model.config.n_head == 12 and learner.eval_micro_batch_size == 32
    env.close()


def test_a_heldout_set_smaller_than_m_is_refused_with_or_without_a_preset():
    with pytest.raises(ValueError, match=r"preset .*64 held-out windows of 32 tokens, fewer than reward_batch=128"):
        gym.make("CurriculumSelect-v0", **{**SMALL, "reward_batch": 128})
    with pytest.raises(ValueError, match=r"^task 'prose' has 64 held-out windows .* reward_batch<=64"):
        make_tiny(reward_batch=100)
    env = make_tiny(reward_batch=64, heldout_size=10**6)  # |D| is an upper bound: the task holds what it has
    env.reset(seed=0)
    assert len(env.unwrapped.data.heldout) < 10**6
    assert math.isfinite(env.step(np.ones(TINY["num_candidates"], np.float32))[1])
    env.close()
    needle = make_tiny(task="needle", reward_batch=8)  # the needle's D is one window by design: M is 1
    needle.reset(seed=0)
    assert math.isfinite(needle.step(np.ones(TINY["num_candidates"], np.float32))[1])
    needle.close()


def test_bf16_runs_on_cpu_close_to_fp32_and_reproducibly():
    def run(**kw):
        env = make_tiny(**kw)
        obs, _ = env.reset(seed=1)
        rewards, observations = [], [obs]
        for _ in range(2):
            obs, reward, *_ = env.step(np.ones(TINY["num_candidates"], dtype=np.float32))
            rewards.append(reward)
            observations.append(obs)
        env.close()
        return np.array(rewards), np.stack(observations)

    r32, o32 = run()
    r16, o16 = run(precision="bf16")
    assert np.all(np.isfinite(r16)) and np.all(np.isfinite(o16)) and o16.dtype == np.float32
    np.testing.assert_allclose(r16, r32, rtol=0, atol=0.02)  # rewards ~ -8.3 nats
    np.testing.assert_allclose(o16, o32, rtol=0.05, atol=0.05)
    assert not np.array_equal(o16, o32)  # bf16 really ran
    r16b, o16b = run(precision="bf16")
    assert np.array_equal(r16, r16b) and np.array_equal(o16, o16b)  # bit-reproducible on CPU
    with pytest.raises(ValueError, match="precision='bf16'.*dtype='bfloat16'"):
        make_tiny(precision="bf16", dtype="bfloat16")


def test_eval_micro_batch_size_chunks_the_no_grad_passes_only():
    a, b = make_tiny(train_batch=2), make_tiny(train_batch=2, eval_micro_batch_size=3)
    (oa, _), (ob, _) = a.reset(seed=2), b.reset(seed=2)
    np.testing.assert_allclose(oa, ob, rtol=1e-5, atol=1e-6)
    ra, rb = a.step(np.ones(8, np.float32))[1], b.step(np.ones(8, np.float32))[1]
    assert ra == pytest.approx(rb, abs=1e-6)
    with pytest.raises(ValueError, match="eval_micro_batch_size"):
        make_tiny(eval_micro_batch_size=0)


def test_a_pretrained_model_needs_enough_positions(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=4096, n_positions=16, n_layer=1, n_embd=32, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)
    shapeless = {k: v for k, v in TINY.items() if k not in ("n_layer", "n_head", "n_embd")}  # the model's own
    env = gym.make("CurriculumSelect-v0", **shapeless, model=str(tmp_path))  # context_length 32 > 16 positions
    with pytest.raises(ValueError, match="16 positions, fewer than context_length=32"):
        env.reset(seed=0)


def test_step_phases_reports_every_promised_field():
    tiny = {k: v for k, v in TINY.items() if k != "num_candidates"}
    res = measure(None, device="cpu", steps=1, warmup=0, task="prose", num_candidates=4, **tiny)
    assert set(res) >= {"config", "env", "reference", "ratio", "peak_flops", "memory"}
    env, ref = res["env"], res["reference"]
    for part, phases in ((env, ("forward", "update", "reward")), (ref, ("extract", "update", "reward"))):
        for key in (*phases, "step", "tokens_per_s", "train_tokens_per_s", "flops", "peak_mem_bytes"):
            assert math.isfinite(part[key]) and part[key] > 0, key
        assert part["mfu"] is None  # no peak FLOP/s on CPU unless given
    assert res["ratio"] == pytest.approx(env["step"] / ref["step"])
    assert res["config"]["trained_per_step"] == 4 and res["config"]["params_P"] < res["config"]["params_total"]
    L = TINY["context_length"]
    assert env["train_tokens_per_s"] == pytest.approx(4 * L / env["step"])
    with_peak = measure(None, device="cpu", steps=1, warmup=0, task="prose", num_candidates=4, train_batch=2,
                        peak_flops=1e12, reference=False, **tiny)
    assert with_peak["reference"] is None and 0 < with_peak["env"]["mfu"] < 1
    assert with_peak["config"]["trained_per_step"] == 2
    assert "env step / reference step" in table(res)
    est = extrapolate(res, 8, 16)
    assert est["env"]["reward"] == pytest.approx(res["env"]["reward"] * 2)
    assert est["reference"]["extract"] == pytest.approx(res["reference"]["extract"] * 2)
