"""Agent specs: one syntax for names, classes and options (agents/specs.py, make_agent)."""

import pytest

from agents import make_agent
from agents.base import missing_methods
from agents.specs import parse_options, parse_spec, split_specs


def test_options_are_python_literals_or_bare_strings():
    assert parse_options("beta=0.3,gamma=0,replay=True,mode=closed_loop,stats=('loss', 'entropy'),x=None") == {
        "beta": 0.3, "gamma": 0, "replay": True, "mode": "closed_loop", "stats": ("loss", "entropy"), "x": None}
    assert parse_spec("pkg.mod:Cls@lr=1e-3") == ("pkg.mod:Cls", {"lr": 1e-3})
    assert parse_spec("random") == ("random", {})


def test_a_list_splits_on_agents_not_on_their_options_or_brackets():
    assert split_specs("soft_q@beta=0.3,gamma=0,random,m:C@s=(1,2),t='a,b',oracle") == [
        "soft_q@beta=0.3,gamma=0", "random", "m:C@s=(1,2),t='a,b'", "oracle"]


@pytest.mark.parametrize("text, message", [
    ("beta", "not key=value"), ("beta=1,beta=2", "given twice"), ("1x=2", "not key=value"),
    ("s=(1,2", "unbalanced"),
])
def test_malformed_options_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        parse_options(text)


def test_make_agent_applies_options_over_the_registry_and_kwargs_over_options():
    agent = make_agent("loss@top_k=2,soft=True,temperature=0.5", temperature=0.25)
    assert (agent.config.top_k, agent.config.soft, agent.config.temperature) == (2, True, 0.25)
    assert agent.name == "loss@top_k=2,soft=True,temperature=0.5"
    assert make_agent("loss").name == "loss"


class Partial:
    action_mode = "mixture"

    def setup(self, env, seed):
        pass


def test_protocol_gaps_are_named():
    assert missing_methods(Partial()) == ["act", "observe"]
    with pytest.raises(TypeError, match="missing act, observe"):
        make_agent(f"{__name__}:Partial")
    with pytest.raises(ValueError, match="unexpected keyword argument 'top_kk'"):
        make_agent("loss@top_kk=2")
