"""The parts' contracts (dqn/contracts.py) against the classes that fill them: each real actor, replay and
playing agent has every member its Protocol names, its methods taking the Protocol's parameters; and a
class that lacks one is told apart. No training, no Ray started."""

import ast
import inspect
import json
import typing
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from dqn.agent.actor import Actor
from dqn.agent.policy import DQNAgent
from dqn.config import preset_config
from dqn.contracts import Actor as ActorContract
from dqn.contracts import PlayingAgent, Replay, SeedableAgent
from dqn.replay.buffer import FrameReplay, PrioritizedFrameReplay
from dqn.train.loading import TrainedAgent

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = [ActorContract, Replay, PlayingAgent, SeedableAgent]
HAS_RAY = find_spec("ray") is not None  # the Ape-X classes' module imports it (and starts nothing)


def members(protocol: type) -> dict[str, object]:
    """A Protocol's members by name, its bases' included: methods, properties, and attributes (annotated)."""
    found: dict[str, object] = {}
    for cls in reversed(protocol.__mro__):
        if cls in (object, typing.Protocol, typing.Generic):
            continue
        found.update(dict.fromkeys(vars(cls).get("__annotations__", {}), "attribute"))
        found.update({name: value for name, value in vars(cls).items()
                      if (inspect.isfunction(value) or isinstance(value, property))
                      and (not name.startswith("_") or name.endswith("__") and not hasattr(object, name))})
    return found


def parameter_mismatches(wanted, given) -> list[str]:
    """How method `given` does not take what a caller of protocol method `wanted` passes: the same
    parameters by name and position, any further ones optional."""
    if not callable(given):
        return ["is not a method"]
    want = list(inspect.signature(wanted).parameters.values())[1:]  # self apart
    have = list(inspect.signature(given).parameters.values())[1:]
    positional = [p for p in have if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    problems = [f"has no parameter {p.name} at position {i + 1}" for i, p in enumerate(want)
                if i >= len(positional) or positional[i].name != p.name]
    problems += [f"requires {p.name}, which callers do not pass" for p in have[len(want):]
                 if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY, p.KEYWORD_ONLY)]
    return problems


def unmet(implementation, protocol: type) -> list[str]:
    """What implementation (an instance, which has the attributes its __init__ sets, or a class) lacks of
    protocol: each member absent, each method whose parameters are not the protocol's. [] if none."""
    cls = implementation if isinstance(implementation, type) else type(implementation)
    problems = []
    for name, member in members(protocol).items():
        if not hasattr(implementation, name):
            problems.append(f"no {name}")
        elif inspect.isfunction(member):
            problems += [f"{name} {problem}" for problem in parameter_mismatches(member, getattr(cls, name))]
    return problems


def notebook_agent_class(notebook: str) -> type:
    """The DQNAgent class that a notebook defines, defined alone (its cell's other code not run)."""
    import torch

    for cell in json.loads((ROOT / notebook).read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "class DQNAgent(" in source:
            [node] = [n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "DQNAgent"]
            namespace = {"nn": torch.nn, "np": np, "torch": torch}
            exec(compile(ast.Module([node], type_ignores=[]), notebook, "exec"), namespace)
            return namespace["DQNAgent"]
    raise AssertionError(f"{notebook} defines no DQNAgent")


@pytest.fixture
def actors():
    one = Actor(preset_config("cartpole", num_envs=2), seed=0)
    found = [one]
    if HAS_RAY:
        from dqn.distributed.workers import ActorFleet

        found.append(ActorFleet(preset_config("cartpole", num_actors=2), replay=None))  # starts no worker
    yield found
    one.close()


def test_the_actors_are_actors(actors):
    for actor in actors:
        assert unmet(actor, ActorContract) == [], type(actor).__name__


def test_the_replays_are_replays(monkeypatch):
    replays = [FrameReplay(64, (4,), np.float32, num_envs=2), PrioritizedFrameReplay(64, (4,), np.float32)]
    if HAS_RAY:
        from dqn.distributed import workers

        class Server:  # what ReplayClient asks of the Ray actor when it is made, answered here
            class layout:
                remote = staticmethod(lambda: (1024, 2, 32))

        monkeypatch.setattr(workers.ray, "get", lambda answer: answer)
        replays.append(workers.ReplayClient(Server(), "dqn-replay-test"))
    for replay in replays:
        assert unmet(replay, Replay) == [], type(replay).__name__


def test_the_agents_play_and_a_protocol_can_seed_them():
    config = preset_config("cartpole")
    for agent in [DQNAgent((4,), 2), TrainedAgent(config, (4,), 2, Path("best.pt"), trained_steps=0)]:
        assert unmet(agent, PlayingAgent) == [], type(agent).__name__
        assert unmet(agent, SeedableAgent) == [], type(agent).__name__


@pytest.mark.parametrize("notebook", ["homework_pytorch_debug.ipynb", "homework_pytorch_main.ipynb"])
def test_the_notebooks_agents_play(notebook):
    """record_game and play_and_log_episode take them (the main notebook films its own agent)."""
    assert unmet(notebook_agent_class(notebook), PlayingAgent) == []


def complete(protocol: type, leave_out: str | None = None):
    """An object with every member of protocol, the protocol's own methods, but leave_out."""
    found = members(protocol)
    namespace = {name: value for name, value in found.items() if value != "attribute" and name != leave_out}
    instance = type(f"Without{leave_out}", (), namespace)()
    for name, value in found.items():
        if value == "attribute" and name != leave_out:
            setattr(instance, name, None)
    return instance


@pytest.mark.parametrize("protocol", CONTRACTS, ids=lambda p: p.__name__)
def test_a_missing_member_is_told(protocol):
    assert unmet(complete(protocol), protocol) == []
    for name in members(protocol):
        assert unmet(complete(protocol, leave_out=name), protocol) == [f"no {name}"]


def test_other_parameters_are_told():
    class Renamed(FrameReplay):
        def load(self, file: Path) -> None: ...

    class Demanding(FrameReplay):
        def save(self, path: Path, compress: bool) -> None: ...

    replay_args = (64, (4,), np.float32)
    assert unmet(Renamed(*replay_args), Replay) == ["load has no parameter path at position 1"]
    assert unmet(Demanding(*replay_args), Replay) == ["save requires compress, which callers do not pass"]
    # extra parameters with defaults, and **kwargs, are fine: DQNAgent.get_qvalues(states, **head_inputs)
    assert unmet(DQNAgent((4,), 2), PlayingAgent) == []


def test_members_finds_every_member():
    """Methods, properties, attributes, __len__ and a base's members: else the checks above would pass
    on members never looked at."""
    assert sorted(members(ActorContract)) == ["close", "episodes", "epsilon", "game_scores", "load_state_dict",
                                              "state_dict", "steps"]
    assert sorted(members(Replay)) == ["__len__", "load", "nbytes", "num_envs", "ring", "save"]
    assert sorted(members(PlayingAgent)) == ["get_qvalues", "sample_actions"]
    assert sorted(members(SeedableAgent)) == ["epsilon", "get_qvalues", "rng", "sample_actions"]
