"""Heads as registry entries: each one's module, inputs, loss, options and memory estimate fit together."""

import dataclasses
import subprocess
import sys

import pytest
import torch

from dqn.agent.heads import HEADS
from dqn.agent.learner import training_bytes
from dqn.agent.networks import CNN_ENCODERS
from dqn.agent.policy import build_agent
from dqn.agent.registry import CNN_ENCODER_NAMES, HEAD_KINDS
from dqn.config import TrainConfig, preset_config
from dqn.errors import ConfigError, UserError

BATCH, N_ACTIONS = 5, 3


@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("double_dqn", [True, False])
def test_every_head_trains_through_its_own_inputs_and_loss(head, double_dqn):
    """Whatever a head is, the learner's three calls work on it: outputs with the inputs of each
    role, a loss and a priority per sample, gradients into every weight of the head."""
    config = preset_config("cartpole", head=head, double_dqn=double_dqn).validate()
    online, target = (build_agent(config, (4,), N_ACTIONS).network for _ in range(2))
    generator = torch.Generator().manual_seed(0)
    obs, next_obs = torch.randn(BATCH, 4), torch.randn(BATCH, 4)
    outputs = HEADS[head].outputs(online, target, obs, next_obs, config, generator)
    assert (outputs[2] is None) == (not double_dqn)
    actions, returns, discounts = torch.tensor([0, 1, 2, 1, 0]), torch.randn(BATCH), torch.full((BATCH,), 0.9)
    losses, priorities = HEADS[head].loss(*outputs, actions, returns, discounts, config)
    assert losses.shape == priorities.shape == (BATCH,) and (priorities >= 0).all()
    assert not priorities.requires_grad
    losses.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in online.head.parameters())
    assert all(p.grad is None for p in target.parameters())


@pytest.mark.parametrize("head", list(HEADS))
def test_a_head_acts_on_its_q_values_without_inputs(head):
    """Evaluation passes no inputs: every head then gives Q-values of (batch, n_actions), the same
    twice over."""
    agent = build_agent(TrainConfig(head=head), (4,), N_ACTIONS).eval()
    obs = torch.randn(BATCH, 4)
    assert agent(obs).shape == (BATCH, N_ACTIONS) and torch.equal(agent(obs), agent(obs))


def test_each_head_option_is_a_config_field_with_its_flag_and_checks():
    fields = TrainConfig.__dataclass_fields__
    for head in HEADS.values():
        for option in head.options:
            assert fields[option.name].default == option.default and fields[option.name].metadata["help"]
    with pytest.raises(UserError, match="c51 atoms need"):
        TrainConfig(head="c51", v_min=1.0, v_max=1.0)
    TrainConfig(head="q", v_min=1.0, v_max=1.0)  # a head's checks bind only when it is chosen


def test_the_registry_declares_each_head_and_encoder_that_is_built():
    """The config is made from registry.py (no torch); each name it allows has its implementation."""
    assert list(HEADS) == list(HEAD_KINDS)
    assert all(head.name == name and head.options == HEAD_KINDS[name].options for name, head in HEADS.items())
    assert list(CNN_ENCODERS) == list(CNN_ENCODER_NAMES)


def test_the_config_is_made_and_checked_without_torch():
    code = ("import sys\nfrom dqn.config import preset_config\n"
            "for name in ('cartpole', 'breakout', 'rainbow'):\n    preset_config(name, head='iqn')\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout == "False\n", result.stderr


def test_a_config_is_checked_as_it_is_made_and_its_error_names_fields_or_flags():
    with pytest.raises(ConfigError) as error:
        TrainConfig(learning_rate=-1.0)
    assert str(error.value) == "learning_rate must be > 0, got -1"
    assert error.value.naming(lambda name: "--" + name.replace("_", "-")) == "--learning-rate must be > 0, got -1"
    with pytest.raises(ConfigError, match="total_steps must be positive, got 0"):
        dataclasses.replace(preset_config("cartpole"), total_steps=0)  # a changed config is a new one, checked


@pytest.mark.parametrize("head", list(HEADS))
def test_the_memory_estimate_counts_each_heads_weights(head):
    config = preset_config("cartpole", hidden_sizes=(300, 400), head=head)
    built = build_agent(config, (4,), N_ACTIONS).network.head
    estimate_bytes, description = training_bytes(config, (4,), N_ACTIONS)
    head_weights = HEADS[head].weights(400, N_ACTIONS, config)
    assert 0.97 < head_weights / sum(p.numel() for p in built.parameters()) <= 1.0
    assert description.endswith(HEADS[head].describe(config))
