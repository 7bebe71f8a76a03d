"""Vector envs: the async vector env works with gymnasium's default start method after torch ran in
the parent (it used to hang forever: forked workers blocked in the parent's OpenMP pool)."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import torch
    torch.randn(512, 512) @ torch.randn(512, 512)  # any torch op in the parent, as every training script does
    import gymnasium as gym
    import curriculum_env
    envs = gym.make_vec("CurriculumSelect-v0", num_envs=2, vectorization_mode="async", num_candidates=4,
                        n_layer=1, n_embd=32, context_length=32, heldout_size=32, test_size=32, reward_batch=4)
    obs, info = envs.reset(seed=0)
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert obs.shape == (2, 4, 32) and reward.shape == (2,) and (reward < 0).all()
    envs.close()
    print("vector ok")
""")


@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method is gymnasium's default on Linux")
def test_async_vector_env_steps_after_torch_ran_in_the_parent():
    try:
        proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.fail("the async vector env hung (forked workers blocked in the parent's OpenMP pool)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "vector ok" in proc.stdout

