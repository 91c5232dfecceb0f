"""NoisyLinear: mean weights in evaluation, fresh noise only on reset_noise, and the noise's
statistics measured through the layer's outputs."""

import math

import torch
import torch.nn as nn

from dqn.agent.noisy import NoisyLinear, reset_noise

IN, OUT = 6, 8


def effective_weights(layer: NoisyLinear) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias the layer applies now, read from its outputs: y(0) = b, y(e_j) - b = W[:, j]."""
    bias = layer(torch.zeros(1, IN))[0]
    return (layer(torch.eye(IN)) - bias).T, bias


def test_init_as_in_the_paper():
    layer = NoisyLinear(IN, OUT)
    bound = 1 / math.sqrt(IN)
    assert layer.weight_mu.abs().max() <= bound and layer.bias_mu.abs().max() <= bound
    assert torch.all(layer.weight_sigma == 0.5 * bound) and torch.all(layer.bias_sigma == 0.5 * bound)


def test_eval_uses_the_mean_weights_only():
    torch.manual_seed(0)
    layer = NoisyLinear(IN, OUT).eval()
    plain = nn.Linear(IN, OUT)
    plain.load_state_dict({"weight": layer.weight_mu, "bias": layer.bias_mu})
    x = torch.randn(5, IN)
    first = layer(x)
    reset_noise(layer)
    assert torch.equal(layer(x), first) and torch.equal(first, plain(x))


def test_train_outputs_change_only_after_reset_noise():
    torch.manual_seed(0)
    model = nn.Sequential(NoisyLinear(IN, OUT), nn.ReLU(), NoisyLinear(OUT, 3))
    x = torch.randn(5, IN)
    first = model(x)
    assert torch.equal(model(x), first)
    reset_noise(model)
    second = model(x)
    assert not torch.allclose(second, first)
    assert not torch.allclose(second, model.eval()(x))
    for layer in (model[0], model[2]):  # reset_noise reached both layers
        assert torch.count_nonzero(layer.noise_in) and torch.count_nonzero(layer.noise_out)


def test_noise_statistics():
    """W = mu + sigma * f(e_i) f(e_j) and b = mu_b + sigma_b * f(e_i), with f(e) = sign(e) sqrt|e|.
    E f(e) = 0 by symmetry and E f(e)^2 = E|e| = sqrt(2/pi), so over resamples the weight noise
    has mean 0 and std sigma * sqrt(2/pi) (a product of two independent f's), the bias noise
    std sigma_b * (2/pi)^(1/4); and each sample's weight noise is a rank-one matrix."""
    torch.manual_seed(0)
    layer = NoisyLinear(IN, OUT)
    samples = 4_000
    weight_noise, bias_noise = torch.empty(samples, OUT, IN), torch.empty(samples, OUT)
    with torch.no_grad():
        for k in range(samples):
            layer.reset_noise()
            weight, bias = effective_weights(layer)
            weight_noise[k] = (weight - layer.weight_mu) / layer.weight_sigma
            bias_noise[k] = (bias - layer.bias_mu) / layer.bias_sigma
    assert weight_noise.mean().abs() < 0.02 and bias_noise.mean().abs() < 0.03
    assert abs(weight_noise.std() / math.sqrt(2 / math.pi) - 1) < 0.02
    assert abs(bias_noise.std() / (2 / math.pi) ** 0.25 - 1) < 0.02
    assert torch.linalg.matrix_rank(weight_noise[0], atol=1e-4) == 1
    # entries of one row share f(e_i): E[eps_ij^2 eps_ik^2] = E f^4 (E f^2)^2 = 1 * 2/pi, where
    # independent noise would give (2/pi)^2
    row_pairs = (weight_noise[:, :, 0] ** 2 * weight_noise[:, :, 1] ** 2).mean()
    assert abs(row_pairs / (2 / math.pi) - 1) < 0.1


def test_gradients_reach_mu_and_sigma():
    layer = NoisyLinear(IN, OUT)
    layer(torch.randn(5, IN)).square().sum().backward()
    for name in ("weight_mu", "weight_sigma", "bias_mu", "bias_sigma"):
        assert getattr(layer, name).grad.abs().sum() > 0, name


def test_state_dict_round_trip_keeps_the_noise():
    torch.manual_seed(0)
    layer = NoisyLinear(IN, OUT)
    copy = NoisyLinear(IN, OUT)  # other weights and other noise
    copy.load_state_dict(layer.state_dict())
    x = torch.randn(5, IN)
    assert torch.equal(copy(x), layer(x))  # train mode: the same noise came along
    assert torch.equal(copy.eval()(x), layer.eval()(x))
    assert set(layer.state_dict()) == {"weight_mu", "weight_sigma", "bias_mu", "bias_sigma",
                                       "noise_in", "noise_out"}
