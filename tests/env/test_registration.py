import subprocess
import sys

import gymnasium as gym
import pytest

from curriculum_env.config import EnvConfig
from tests.conftest import TINY


def test_import_is_cheap_and_registers():
    code = (
        "import sys, curriculum_env, gymnasium as gym\n"
        "assert 'CurriculumSelect-v0' in gym.registry\n"
        "heavy = [m for m in ('torch', 'transformers', 'tokenizers', 'datasets') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import curriculum_env pulled in {out.stdout.strip()}"


def test_module_prefixed_id_works_without_prior_import():
    code = (
        "import gymnasium as gym\n"
        f"env = gym.make('curriculum_env:CurriculumSelect-v0', **{TINY!r})\n"
        "obs, info = env.reset(seed=0)\n"
        "print(obs.shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"({TINY['num_candidates']}, {TINY['n_embd']})"


def test_registration_uses_string_entry_point_and_truncates():
    spec = gym.spec("CurriculumSelect-v0")
    assert spec.entry_point == "curriculum_env.env:CurriculumSelectEnv"
    assert spec.max_episode_steps == 1000


def test_make_kwargs_are_config_fields():
    env = gym.make("CurriculumSelect-v0", **TINY)
    cfg = env.unwrapped.config
    assert isinstance(cfg, EnvConfig)
    assert cfg.num_candidates == TINY["num_candidates"] and cfg.n_embd == TINY["n_embd"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task": "nope"}, "unknown task 'nope'"),
        ({"action_mode": "pick"}, "action_mode must be one of"),
        ({"num_candidates": 0}, "num_candidates must be a positive integer"),
        ({"lr": -1.0}, "lr must be a positive finite number"),
        ({"lr": float("inf")}, "lr must be a positive finite number"),
        ({"weight_decay": float("inf")}, "weight_decay must be a finite number"),
        ({"lr_schedule": "step"}, "lr_schedule must be one of"),
        ({"lr_final": 1.5}, "lr_final is a fraction"),
        ({"compute_reward": False, "paired_reward": True}, "compute_reward=False skips the reward"),
        ({"observation": "logits"}, "observation must be one of"),
        ({"difficulty": "hard"}, "difficulty must be one of"),
        ({"n_embd": 30, "n_head": 4}, "divisible by n_head"),
        ({"device": "cuda:7"}, "CUDA is not available"),
    ],
)
def test_bad_config_values_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("CurriculumSelect-v0", **{**TINY, **kwargs})


def test_unknown_argument_is_named():
    with pytest.raises(TypeError, match="unknown CurriculumSelect-v0 argument.*'colour'"):
        gym.make("CurriculumSelect-v0", colour="red")
