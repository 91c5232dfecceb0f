"""Heads by name: C51's shapes and means, its dueling split per atom, float32 under bf16 autocast,
and which layers noisy nets make noisy."""

import pytest
import torch
import torch.nn as nn

from dqn.agent.heads import HEADS
from dqn.agent.networks import QNetwork, ResidualBlock, cnn_body
from dqn.agent.noisy import NoisyLinear

C51_OPTIONS = dict(n_atoms=11, v_min=-5.0, v_max=5.0)


@pytest.mark.parametrize("obs_shape", [(5,), (4, 84, 84)])
@pytest.mark.parametrize("head", ["c51", "c51-dueling"])
def test_c51_heads_give_logits_and_their_means_as_q_values(obs_shape, head):
    net = QNetwork(obs_shape, 3, hidden_sizes=(8,), head=head, cnn="nips", head_options=C51_OPTIONS)
    obs = torch.rand(2, *obs_shape)
    output = net(obs)
    assert output.logits.shape == (2, 3, 11) and output.q_values.shape == (2, 3)
    assert torch.equal(output.support, torch.linspace(-5.0, 5.0, 11))
    assert torch.allclose(output.q_values, (torch.softmax(output.logits, dim=-1) * output.support).sum(-1), atol=1e-6)
    output.q_values.sum().backward()  # acting and the loss reach the weights through the logits
    assert all(p.grad is not None for p in net.head.parameters())


def test_c51_dueling_adds_a_value_per_atom_to_centred_advantages():
    net = QNetwork((5,), 3, hidden_sizes=(8,), head="c51-dueling", head_options=C51_OPTIONS)
    features = net.body(torch.randn(6, 5))
    logits = net.head(features).logits
    # logits - V has zero mean over actions, atom by atom
    assert torch.allclose(logits.mean(dim=1), net.head.value(features), atol=1e-6)


@pytest.mark.parametrize("head", list(HEADS))
def test_heads_stay_in_float32_under_bf16_autocast(head):
    net = QNetwork((4, 36, 36), 3, head=head, cnn="nips")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = net(torch.randint(0, 256, (2, 4, 36, 36), dtype=torch.uint8))
    assert all(value.dtype == torch.float32 for value in output if value.is_floating_point())


@pytest.mark.parametrize("obs_shape", [(5,), (4, 84, 84)])
def test_noisy_makes_the_feature_layer_and_the_heads_layers_noisy(obs_shape):
    net = QNetwork(obs_shape, 3, hidden_sizes=(8, 8), head="c51-dueling", cnn="nips",
                   noisy_sigma0=0.3)
    dense = [m for m in net.body if isinstance(m, (nn.Linear, NoisyLinear))]
    assert [isinstance(m, NoisyLinear) for m in dense] == [False] * (len(dense) - 1) + [True]
    assert all(isinstance(m, NoisyLinear) and m.sigma0 == 0.3 for m in net.head.children())


def test_a_plain_q_head_keeps_the_weight_names_of_older_checkpoints():
    assert {"head.weight", "head.bias"} <= set(QNetwork((5,), 3).state_dict())


def test_the_impala_encoder_has_15_convolutions_and_keeps_84x84_frames_to_32x11x11():
    body, width = cnn_body("impala", 4, 84, 84)
    assert width == 256
    assert sum(isinstance(m, nn.Conv2d) for m in body.modules()) == 15  # 3 stacks: 1 + 2 blocks of 2
    assert body[:-2](torch.zeros(1, 4, 84, 84)).shape == (1, 32 * 11 * 11)  # up to the dense layer


def test_a_residual_block_whose_last_convolution_is_zero_passes_its_input_through():
    block = ResidualBlock(3)
    nn.init.zeros_(block.conv2.weight)
    nn.init.zeros_(block.conv2.bias)
    x = torch.randn(2, 3, 5, 5)
    assert torch.equal(block(x), x)
