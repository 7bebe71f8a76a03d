"""An agent's ``env_kwargs`` may ask for what it reads and pays for, never change what the benchmark fixes;
and a run records the tokens auxiliary losses trained."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from agents import AGENTS, make_agent
from benchmarks.runs import AGENT_ENV_FIELDS, RunSpec, agent_env, agent_env_kwargs, execute
from curriculum_env.config import EnvConfig

TINY_BENCH = dict(num_candidates=8, train_batch=2, context_length=32, n_layer=1, n_head=2, n_embd=32,
                  heldout_size=64, test_size=32, reward_batch=8, micro_batch_size=8)


class Greedy:
    """A random agent that also asks the env for a setting of its own choosing."""

    name = "greedy"
    action_mode = "mixture"
    env_kwargs: dict = {}

    def setup(self, env, seed):
        pass

    def act(self, obs, info):
        return [1.0] * len(obs)

    def observe(self, reward, obs, info, terminated, truncated):
        pass


class FasterLR(Greedy):
    env_kwargs = {"lr": 1e-1, "candidate_stats": ()}


class AuxiliaryLoss(Greedy):
    """From its second step on, adds a loss on two of the previous step's candidates to the LM's update (the
    env's ``add_auxiliary_loss``): the tokens it trains are the run's to count."""

    def setup(self, env, seed):
        self.learner, self.previous = env.unwrapped.learner, None

    def act(self, obs, info):
        if self.previous is not None:
            h = self.learner.hidden(input_ids=torch.as_tensor(self.previous), grad=True)
            self.learner.add_auxiliary_loss(0.1 * h.pow(2).mean(), tokens=int(self.previous.size))
        self.previous = np.asarray(info["token_ids"][:2]).copy()
        return super().act(obs, info)


class OwnWeighting(Greedy):
    env_kwargs = {"train_weighting": "action", "grad_clip": 100.0}


@pytest.mark.parametrize("agent, fields", [(FasterLR(), "lr"), (OwnWeighting(), "grad_clip, train_weighting")])
def test_an_agent_that_sets_a_benchmark_field_is_refused_naming_it(agent, fields):
    with pytest.raises(ValueError, match=f"sets the env field\\(s\\) {fields} in its env_kwargs"):
        agent_env(agent, {"train_batch": 2})


@pytest.mark.parametrize("field", ["task", "num_candidates", "train_batch", "reward_batch", "n_layer", "model",
                                   "weight_decay", "lr_schedule", "device", "precision", "heldout_size"])
def test_every_field_outside_the_allow_list_is_refused(field):
    agent = Greedy()
    agent.env_kwargs = {field: None}
    with pytest.raises(ValueError, match=field):
        agent_env_kwargs(agent)


def test_the_allow_list_names_real_fields_and_what_agents_read():
    fields = {f for f in EnvConfig.__dataclass_fields__}
    assert AGENT_ENV_FIELDS <= fields
    agent = Greedy()
    agent.env_kwargs = {"candidate_stats": ("loss",), "compute_reward": False, "observation": "none",
                        "paired_reward": False, "influence_every": 5, "timings": False}
    # the run's own settings win; timings default on; the agent's reads reach the env
    assert agent_env(agent, {"train_batch": 2, "observation": "hidden"}) == {
        "timings": False, "candidate_stats": ("loss",), "compute_reward": False, "observation": "hidden",
        "paired_reward": False, "influence_every": 5, "train_batch": 2}
    agent.env_kwargs = {"action_mode": "select"}
    with pytest.raises(ValueError, match="action_mode"):
        agent_env_kwargs(agent)


@pytest.mark.parametrize("name", ["random", "oracle", "loss", "rho_loss", "soft_q", "soft_q_rule", "soft_q_lm",
                                  "soft_q_influence",
                                  "langevin_rag", "langevin_rag_paper"])
def test_the_registered_agents_ask_only_for_allowed_fields(name):
    assert name in AGENTS
    agent_env_kwargs(make_agent(name))


def test_a_run_is_refused_before_its_env_or_log_exists(tmp_path):
    spec = RunSpec("tests.benchmarks.test_agent_env:FasterLR", "noisy", 0, 2, 2, TINY_BENCH)
    with pytest.raises(ValueError, match="lr"):
        execute(spec, tmp_path)
    assert not (tmp_path / "logs").exists()


def test_a_run_records_the_tokens_auxiliary_losses_trained(tmp_path):
    agent = "tests.benchmarks.test_agent_env:AuxiliaryLoss"
    result = execute(RunSpec(agent, "noisy", 0, 3, 3, TINY_BENCH), tmp_path)
    # from step 2 on each step's auxiliary loss trains two windows' tokens
    assert result["aux_tokens_trained"] == 2 * 2 * 32
    assert result["tokens_trained"] == result["examples_trained"] * 32 + result["aux_tokens_trained"]
    plain = execute(RunSpec("random", "noisy", 0, 3, 3, TINY_BENCH), tmp_path)
    assert plain["aux_tokens_trained"] == 0


def test_the_cli_refuses_such_an_agent_before_any_run(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--agents",
                           "random,tests.benchmarks.test_agent_env:FasterLR", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "sets the env field(s) lr in its env_kwargs" in proc.stderr
    assert not (tmp_path / "runs").exists()
