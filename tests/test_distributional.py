"""C51's projection and loss against distributions worked out by hand, plus properties."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dqn.agent.heads.c51 import (
    atom_support,
    c51_loss,
    c51_targets,
    categorical_projection,
    expected_q,
    next_action_probs,
)

SUPPORT = atom_support(-2.0, 2.0, 5)  # atoms -2, -1, 0, 1, 2: one apart


def test_support():
    assert SUPPORT.tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert len(atom_support(-10, 10)) == 51
    with pytest.raises(ValueError):
        atom_support(1.0, 1.0)


# The projection's cases, worked out by hand on atoms -4, -2, 0, 2, 4, from next-state probabilities
# P = .1, .2, .3, .25, .15. A value z sits at position (z + 4) / 2 (the atoms are two apart and start
# below 0, so a projection that forgot the spacing or v_min gets most of these cases wrong).
# Each shifted atom r + discount * z splits its probability between its two neighbouring atoms,
# the nearer getting more: at position 1.3 it gives 0.7 of it to atom 1 (-2), 0.3 to atom 2 (0).
WIDE = atom_support(-4.0, 4.0, 5)
P = [0.1, 0.2, 0.3, 0.25, 0.15]
PROJECTIONS = {  # (return, discount): the projected probabilities on atoms -4, -2, 0, 2, 4
    # between atoms: 0.6 + 0.5 z = -1.4, -0.4, 0.6, 1.6, 2.6, at positions 1.3, 1.8, 2.3, 2.8, 3.3
    #   -2: .1*.7 + .2*.2 = .11;  0: .1*.3 + .2*.8 + .3*.7 + .25*.2 = .45;  2: .3*.3 + .25*.8 + .15*.7 = .395;
    #   4: .15*.3 = .045
    (0.6, 0.5): [0.0, 0.11, 0.45, 0.395, 0.045],
    # clipped at v_max: 2.4 + 0.9 z = -1.2, 0.6, 2.4, 4.2 -> 4, 6 -> 4, at positions 1.4, 2.3, 3.2, 4, 4
    #   -2: .1*.6 = .06;  0: .1*.4 + .2*.7 = .18;  2: .2*.3 + .3*.8 = .30;  4: .3*.2 + .25 + .15 = .46
    (2.4, 0.9): [0.0, 0.06, 0.18, 0.30, 0.46],
    # clipped at v_min: -4.4 + 0.5 z = -6.4, -5.4, -4.4 (all -> -4), -3.4, -2.4, at positions 0, 0, 0, 0.3, 0.8
    #   -4: .1 + .2 + .3 + .25*.7 + .15*.2 = .805;  -2: .25*.3 + .15*.8 = .195
    (-4.4, 0.5): [0.805, 0.195, 0.0, 0.0, 0.0],
    # exactly on atoms: 2 + 0.5 z = 0, 1, 2, 3, 4: 0, 2 and 4 (v_max itself) keep their whole mass,
    # 1 and 3 (halfway) give half to each side
    #   0: .1 + .2/2 = .2;  2: .2/2 + .3 + .25/2 = .525;  4: .25/2 + .15 = .275
    (2.0, 0.5): [0.0, 0.0, 0.2, 0.525, 0.275],
    # the identity: 0 + 1 z = z, every atom on itself
    (0.0, 1.0): P,
    # terminal (discount 0): every atom shifts to the return 1.3, at position 2.65: .35 to 0, .65 to 2
    (1.3, 0.0): [0.0, 0.0, 0.35, 0.65, 0.0],
    # terminal on an atom: all the mass on -2
    (-2.0, 0.0): [0.0, 1.0, 0.0, 0.0, 0.0],
    # terminal beyond v_max: all the mass on 4
    (9.0, 0.0): [0.0, 0.0, 0.0, 0.0, 1.0],
}


def test_projection_of_cases_worked_out_by_hand():
    returns, discounts = map(torch.tensor, zip(*PROJECTIONS))
    probs = torch.tensor([P] * len(PROJECTIONS))
    projected = categorical_projection(probs, returns, discounts, WIDE)
    for row, (case, expected) in enumerate(PROJECTIONS.items()):
        assert torch.allclose(projected[row], torch.tensor(expected), atol=1e-6), (case, projected[row])


@settings(max_examples=200, deadline=None)
@given(n_atoms=st.integers(2, 51), v_min=st.floats(-100, 0), width=st.floats(0.1, 200),
       returns=st.lists(st.floats(-300, 300), min_size=1, max_size=8), discount=st.floats(0, 1),
       seed=st.integers(0, 2**31))
def test_projection_is_a_distribution(n_atoms, v_min, width, returns, discount, seed):
    support = atom_support(v_min, v_min + width, n_atoms)
    generator = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(len(returns), n_atoms, generator=generator), dim=1)
    returns = torch.tensor(returns)
    discounts = torch.full_like(returns, discount)
    projected = categorical_projection(probs, returns, discounts, support)
    assert (projected >= 0).all()
    assert torch.allclose(projected.sum(dim=1), torch.ones(len(returns)), atol=1e-5)


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
