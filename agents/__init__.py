"""Curriculum agents: one file per agent, all following :mod:`agents.base`'s protocol.

``make_agent(spec, **kwargs)`` builds an agent from a spec (:mod:`agents.specs`): a registered name
(``AGENTS``; entries are import strings so importing :mod:`agents` stays cheap) or any importable
``module.path:Class``, optionally with constructor options: ``"soft_q@beta=0.3,gamma=0"``,
``"my_pkg.my_mod:MyAgent@lr=1e-3"``. No registration is needed for your own agent; the spec string is
all a worker process needs.
"""

from __future__ import annotations

import importlib
from typing import Any

from agents.base import Agent, missing_methods, rollout, source_mass
from agents.specs import parse_spec

# name -> "module:Class" or ("module:Class", default kwargs). Every name is a row of a measured table (README,
# docs/results.md); other classes and option sets run by spec (agents.specs) without a name here.
# soft_q_lm: Q reads per-candidate features of the scoring forward and of a tiny reference model trained on D;
# every candidate's reward is its learnability with the fresh excess (agents/soft_q_credit.py), in the soft
# Bellman target, gamma = 0.5, beta = 0.05, (x, y) replay.
SOFT_Q = {"credit": "learnability", "inputs": "features", "reference": True, "beta": 0.05, "gamma": 0.5,
          "replay_size": 2000, "replay_updates": 8}
# soft_q_influence: Q(h) on the hidden states amortises the env's influence probes (every 5 steps, all N
# candidates, z-scored), same target and replay.
SOFT_Q_INFLUENCE = {"credit": "influence", "beta": 0.05, "gamma": 0.5, "replay_size": 2000, "replay_updates": 8}

AGENTS: dict[str, str | tuple[str, dict[str, Any]]] = {
    # the default learned agent (agents/soft_q_cheap.py): Q reads cheap inputs of the candidates (token-id
    # features, the online D-vs-stream classifier's logit, the learner's layer-0 embedding mean) and learns from the
    # credit of the B windows it trained (their training-forward losses against a bigram model of D): no LM forward
    # of the N candidates. soft_q_rule: the same inputs and selection with a fixed rule (the classifier's logit).
    "soft_q": "agents.soft_q_cheap:CheapSoftQAgent",
    "soft_q_rule": ("agents.soft_q_cheap:CheapSoftQAgent", {"rule": "classifier", "prior": ""}),
    # the LM-reading soft-Q (agents/soft_q.py): the credit of all N candidates from the learner's and a reference's
    # forwards, or from the env's influence probes
    "soft_q_lm": ("agents.soft_q:SoftQAgent", SOFT_Q),
    "soft_q_influence": ("agents.soft_q:SoftQAgent", SOFT_Q_INFLUENCE),
    # ablations: uniform LM weights (Q still learns), the closed-loop temperature of the note with its
    # constants scaled to the z-scored Q (beta = 0.025 + 0.05 * failure rate, around the fixed 0.05)
    "soft_q_uniform": ("agents.soft_q:SoftQAgent", {**SOFT_Q, "no_q_weighting": True}),
    "soft_q_closed_loop": ("agents.soft_q:SoftQAgent", {**SOFT_Q, "beta": "closed_loop(beta_min=0.025,k=0.05)"}),
    # the paper exactly: mixture, TD on the absolute reward, beta = 1, gamma = 0.9
    "soft_q_paper": "agents.soft_q:SoftQAgent",
    "random": "agents.random_agent:RandomAgent",
    "loss": "agents.loss_based:LossAgent",
    "uncertainty": "agents.uncertainty:UncertaintyAgent",
    "competence": "agents.competence:CompetenceAgent",
    # RHO-LOSS as users can run it: the IL model trains on D (the reward set, what soft_q's reference reads);
    # rho_loss_labelled trains it on stream windows picked by source label -- a reference row, never ranked
    "rho_loss": "agents.rho_loss:RhoLossAgent",
    "rho_loss_labelled": ("agents.rho_loss:RhoLossAgent", {"il_data": "labelled"}),
    # the cheap rules practitioners run (no LM forward): hashed n-gram importance weights (DSIR), a
    # fastText-style classifier of D against the stream, and online domain mixing over source labels (ODM)
    "dsir": "agents.dsir:DSIRAgent",
    "classifier": "agents.classifier:ClassifierAgent",
    "odm": "agents.odm:ODMAgent",
    "oracle": "agents.oracle:OracleAgent",
    # Stable-Baselines3's PPO on the env (agents.sb3_agents:DQNAgent runs DQN the same way, by spec)
    "ppo": "agents.sb3_agents:PPOAgent",
    # retrieval that follows soft-Q's Q (agents/langevin_rag.py), and the paper's Algorithm 2 exactly
    "langevin_rag": "agents.langevin_rag:LangevinRAGAgent",
    "langevin_rag_lm": ("agents.langevin_rag:LangevinRAGAgent", {"chooser": "soft_q_lm"}),  # the LM-reading chooser
    "langevin_rag_paper": "agents.langevin_rag_paper:LangevinRAGPaperAgent",
}


def make_agent(spec: str, **kwargs: Any) -> Any:
    """An agent from ``spec`` (``name[@key=value,...]``, the name registered in ``AGENTS`` or a
    ``module.path:Class``); ``kwargs`` override the spec's options, which override the registry's.

    Raises ValueError for an unknown agent or a bad option, TypeError for an object that lacks part of
    the agent protocol (naming the missing methods). The agent's ``name`` is ``spec`` when it has
    options or is a registered name, so table rows of two option sets differ.
    """
    name, options = parse_spec(spec)
    entry = AGENTS.get(name, name)
    target, defaults = (entry, {}) if isinstance(entry, str) else entry
    module, _, cls_name = target.partition(":")
    if not module or not cls_name:
        raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(sorted(AGENTS))} "
                         "(or module.path:Class for your own)")
    try:
        cls = getattr(importlib.import_module(module), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"agent {name!r}: cannot import {cls_name!r} from {module!r} ({exc})") from exc
    try:
        agent = cls(**{**defaults, **options, **kwargs})
    except TypeError as exc:  # an option the constructor does not take
        raise ValueError(f"agent {spec!r}: {exc}") from exc
    except ValueError as exc:
        if not (defaults and options):
            raise
        raise ValueError(f"agent {spec!r}: {exc} -- the preset {name!r} also sets "
                         f"{', '.join(f'{k}={v!r}' for k, v in defaults.items() if k not in options)}; "
                         f"to choose every option yourself start from {target}@...") from exc
    missing = missing_methods(agent)
    if missing:
        raise TypeError(f"agent {spec!r} ({target}) does not follow the agent protocol: missing "
                        f"{', '.join(missing)} (see agents/base.py)")
    if name in AGENTS or options:
        agent.name = spec.strip()
    elif not isinstance(getattr(agent, "name", None), str):
        agent.name = cls_name
    return agent


__all__ = ["AGENTS", "Agent", "make_agent", "rollout", "source_mass"]
