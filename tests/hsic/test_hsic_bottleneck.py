"""HSIC-bottleneck training: layer-local gradients, the format step, and a usable classifier."""

import copy

import pytest
import torch
from torch import nn

from vaekit.hsic import HSICBottleneck, gaussian_gram, nhsic


def _blobs(n=240, d=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.randn(classes, d, generator=g)
    y = torch.arange(n) % classes
    return centres[y] + torch.randn(n, d, generator=g), y


def _net(**kw):
    layers = [
        nn.Sequential(nn.Linear(6, 16), nn.Tanh()),
        nn.Sequential(nn.Linear(16, 12), nn.Tanh()),
        nn.Sequential(nn.Linear(12, 8), nn.Tanh()),
    ]
    return HSICBottleneck(layers, n_classes=3, **kw)


def test_layer_loss_is_the_papers_objective():
    x, y = _blobs(n=40)
    net = _net(lambda_x=0.7, lambda_y=20.0, sigma=2.0, epsilon=1e-3)
    z1 = net.layers[0](x)
    kx, kz = gaussian_gram(x, 2.0 * 6**0.5), gaussian_gram(z1, 2.0 * 16**0.5)
    ky = gaussian_gram(nn.functional.one_hot(y, 3).double(), 2.0 * 3**0.5).float()
    expected = 0.7 * nhsic(kz, kx, 1e-3) - 20.0 * nhsic(kz, ky, 1e-3)
    assert torch.allclose(net.layer_losses(x, y)[0], expected, rtol=1e-4)


def test_each_layers_parameters_get_gradient_only_from_its_own_loss():
    x, y = _blobs(n=32)
    net = _net()
    losses = net.layer_losses(x, y)
    for i, loss in enumerate(losses):
        for j, layer in enumerate(net.layers):
            grads = torch.autograd.grad(loss, list(layer.parameters()), retain_graph=True, allow_unused=True)
            if j == i:
                assert all(g is not None and g.abs().sum() > 0 for g in grads)
            else:
                # the batched solve connects the graphs, so autograd may return exact zeros instead of None
                assert all(g is None or g.eq(0).all() for g in grads), f"loss {i} reaches layer {j}"


def test_a_step_moves_each_layer_exactly_as_an_sgd_step_on_its_own_loss():
    x, y = _blobs(n=32)
    lr = 0.05
    net = _net(optimizer=lambda params, lr: torch.optim.SGD(params, lr=lr), lr=lr)
    before = copy.deepcopy(net)
    losses = before.layer_losses(x, y)
    expected = []
    for i, layer in enumerate(before.layers):
        grads = torch.autograd.grad(losses[i], list(layer.parameters()), retain_graph=True)
        expected.append([p - lr * g for p, g in zip(layer.parameters(), grads)])
    net.hsic_step(x, y)
    for layer, exp in zip(net.layers, expected):
        for p, e in zip(layer.parameters(), exp):
            assert torch.allclose(p, e, atol=1e-6)
    assert all(p.grad is None for p in net.head.parameters() if not isinstance(p, nn.parameter.UninitializedParameter))


def test_predict_is_far_above_chance_on_a_separable_problem():
    x, y = _blobs(n=300)
    x_te, y_te = _blobs(n=150, seed=0)
    net = _net(lr=1e-2, format_lr=5e-2)
    with pytest.raises(RuntimeError, match="format"):
        net.predict(x)
    first = net.layer_losses(x[:100], y[:100]).detach()
    net.fit(
        x,
        y,
        epochs=15,
        format_epochs=30,
        batch_size=100,
        format_batch_size=100,
        generator=torch.Generator().manual_seed(0),
    )
    last = net.layer_losses(x[:100], y[:100]).detach()
    assert (last < first).all()  # every local objective went down
    pred = net.predict(x_te)
    assert pred.shape == y_te.shape and pred.dtype == torch.long
    assert (pred == y_te).float().mean() > 0.9  # chance is 1/3


def test_bad_configuration_and_inputs():
    with pytest.raises(ValueError, match="no trainable parameters"):
        HSICBottleneck([nn.Linear(2, 2), nn.ReLU()], n_classes=2)
    with pytest.raises(TypeError, match="sequence"):
        HSICBottleneck(nn.Linear(2, 2), n_classes=2)
    net = _net()
    x, y = _blobs(n=10)
    with pytest.raises(ValueError, match="labels"):
        net.layer_losses(x, y + 3)
    with pytest.raises(TypeError, match="integer"):
        net.layer_losses(x, y.float())
    with pytest.raises(ValueError, match="non-finite"):
        net.layer_losses(x.masked_fill(x > 1, float("nan")), y)
