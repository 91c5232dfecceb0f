"""C51's projection and loss against distributions worked out by hand, plus properties."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dqn.agent.heads.c51 import (atom_support, c51_loss, c51_targets, categorical_projection, expected_q,
                                next_action_probs)

SUPPORT = atom_support(-2.0, 2.0, 5)  # atoms -2, -1, 0, 1, 2: one apart
P = torch.tensor([[0.1, 0.2, 0.3, 0.25, 0.15]])


def project(returns, discounts, probs=P):
    return categorical_projection(probs, torch.tensor([returns]), torch.tensor([discounts]), SUPPORT)[0]


def test_support():
    assert SUPPORT.tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert len(atom_support(-10, 10)) == 51
    with pytest.raises(ValueError):
        atom_support(1.0, 1.0)


def test_projection_between_atoms():
    # 0.3 + 0.5 z = -0.7, -0.2, 0.3, 0.8, 1.3: each splits between its two neighbours by closeness,
    # e.g. -0.7 gives 0.7 of its 0.1 to atom -1 and 0.3 to atom 0
    expected = [0.0,
                0.1 * 0.7 + 0.2 * 0.2,
                0.1 * 0.3 + 0.2 * 0.8 + 0.3 * 0.7 + 0.25 * 0.2,
                0.3 * 0.3 + 0.25 * 0.8 + 0.15 * 0.7,
                0.15 * 0.3]
    assert torch.allclose(project(0.3, 0.5), torch.tensor(expected), atol=1e-6)


def test_projection_on_atoms_and_clipped_above():
    # 1 + z = -1, 0, 1, 2, 3: each lands on an atom (lower == upper), and 3 is clipped to 2
    assert torch.allclose(project(1.0, 1.0), torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4]), atol=1e-6)
    assert torch.allclose(project(0.0, 1.0), P[0], atol=1e-6)  # the identity


def test_projection_clipped_below():
    # -3 + 0.5 z = -4 ... -2: all at or beyond v_min
    assert torch.allclose(project(-3.0, 0.5), torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0]), atol=1e-6)


def test_projection_at_terminals_puts_all_mass_on_the_return():
    assert torch.allclose(project(0.5, 0.0), torch.tensor([0.0, 0.0, 0.5, 0.5, 0.0]), atol=1e-6)
    assert torch.allclose(project(1.0, 0.0), torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(project(7.0, 0.0), torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0]), atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(n_atoms=st.integers(2, 51), v_min=st.floats(-100, 0), width=st.floats(0.1, 200),
       returns=st.lists(st.floats(-300, 300), min_size=1, max_size=8), discount=st.floats(0, 1),
       seed=st.integers(0, 2**31))
def test_projection_is_a_distribution_with_the_clipped_mean(n_atoms, v_min, width, returns, discount, seed):
    support = atom_support(v_min, v_min + width, n_atoms)
    generator = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(len(returns), n_atoms, generator=generator), dim=1)
    returns = torch.tensor(returns)
    discounts = torch.full_like(returns, discount)
    projected = categorical_projection(probs, returns, discounts, support)
    assert (projected >= 0).all()
    assert torch.allclose(projected.sum(dim=1), torch.ones(len(returns)), atol=1e-5)
    # splitting each atom's mass between its neighbours keeps the mean of the clipped atoms
    clipped = (returns[:, None] + discounts[:, None] * support).clamp(support[0], support[-1])
    assert torch.allclose(projected @ support, (probs * clipped).sum(dim=1), atol=1e-4 * (1 + width))


def test_expected_q_is_the_mean_of_each_action():
    logits = torch.randn(3, 4, 5)
    assert torch.allclose(expected_q(logits, SUPPORT), (torch.softmax(logits, dim=-1) * SUPPORT).sum(-1))


def distribution_logits(*means):
    """Logits of one state, one action per mean: nearly all mass on the atom nearest the mean."""
    return torch.stack([10.0 * F.one_hot(torch.tensor(int(m) + 2), 5).float() for m in means])[None]


def test_double_dqn_lets_the_online_network_choose():
    target = distribution_logits(2, -1)  # the target network prefers action 0
    online = distribution_logits(-2, 1)  # the online network prefers action 1
    chosen = next_action_probs(target, SUPPORT)
    double = next_action_probs(target, SUPPORT, online)
    assert torch.allclose(chosen, torch.softmax(target[:, 0], dim=-1))
    assert torch.allclose(double, torch.softmax(target[:, 1], dim=-1))
    # and c51_targets projects that choice
    targets = c51_targets(torch.tensor([0.0]), torch.tensor([1.0]), target, SUPPORT, online)
    assert torch.allclose(targets, double, atol=1e-6)


def test_c51_loss_is_the_cross_entropy_at_the_taken_action():
    torch.manual_seed(0)
    logits = torch.randn(4, 3, 5, requires_grad=True)
    actions = torch.tensor([2, 0, 1, 2])
    targets = torch.softmax(torch.randn(4, 5), dim=1)
    loss = c51_loss(logits, actions, targets)
    expected = torch.stack([-(targets[i] * F.log_softmax(logits[i, actions[i]], dim=-1)).sum() for i in range(4)])
    assert loss.shape == (4,) and torch.allclose(loss, expected)
    loss.sum().backward()
    untaken = torch.ones(4, 3, dtype=torch.bool)
    untaken[torch.arange(4), actions] = False
    assert (logits.grad[untaken] == 0).all() and (logits.grad[~untaken] != 0).any()
