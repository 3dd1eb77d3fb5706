"""NVIL with per-layer learning signals: float64 loop reference, equality with Reinforce +
nvil_baselines on one-layer models, unbiased for grad ELBO on a three-layer SBN (exact enumeration),
per-layer baselines that depend on the layer below only, errors.

Statistical asserts have a family-wise failure rate of FAILURE_RATE; seeds are fixed.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from vaekit import NVIL, LayeredBernoulliEncoder, LayeredSigmoidBeliefNet, Reinforce, nvil_baselines, nvil_estimate
from vaekit.testing import (
    assert_matches_reference,
    assert_unbiased,
    exact_elbo,
    exact_gradients,
    gradient_samples,
    nvil_reference,
    tiny_layered_sbn,
    tiny_sbn,
)

FAILURE_RATE = 1e-4
N_DRAWS, REPLICAS = 300, 50


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_layers", [1, 3])
def test_nvil_estimate_matches_the_float64_loop_reference(seed, n_layers):
    g = torch.Generator().manual_seed(seed)
    lp = (3 * torch.randn(2, 4, n_layers + 1, generator=g, dtype=torch.float64)).requires_grad_()
    lq = (3 * torch.randn(2, 4, n_layers, generator=g, dtype=torch.float64)).requires_grad_()
    base = torch.randn(2, 4, n_layers, generator=g, dtype=torch.float64)
    scale = 1 + torch.rand(n_layers, generator=g, dtype=torch.float64)
    assert_matches_reference(
        lambda a, b: nvil_estimate(a, b, base, scale=scale),
        lambda a, b: nvil_reference(a, b, base, scale),
        [lp, lq],
        rtol=1e-10,
        atol=1e-10,
        generator=g,
    )


def test_nvil_on_a_one_layer_model_is_reinforce_with_nvil_baselines():
    q, p, x = tiny_sbn(4, 3, batch=6, seed=2)
    net = nn.Linear(4, 1).to(torch.float64)
    ours = NVIL(q, p, n_samples=3, baseline_nets=[net])
    theirs = Reinforce(copy.deepcopy(q), copy.deepcopy(p), n_samples=3, baselines=nvil_baselines(copy.deepcopy(net)))
    for step in range(3):
        torch.manual_seed(step)
        a = ours(x)
        ga = torch.autograd.grad(a, list(ours.parameters()))
        torch.manual_seed(step)
        b = theirs(x)
        gb = torch.autograd.grad(b, list(theirs.parameters()))
        assert a.item() == pytest.approx(b.item(), rel=1e-12)
        for u, v in zip(ga, gb):
            torch.testing.assert_close(u, v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.mean[0], theirs.baselines[0].value)
    torch.testing.assert_close(ours.variance[0], theirs.baselines[2].variance)


@pytest.mark.parametrize("with_nets", [False, True])
def test_per_layer_signals_are_unbiased_on_a_three_layer_sbn(with_nets):
    q, p, x = tiny_layered_sbn(2, (1, 1, 1), batch=2, seed=11)
    nets = [nn.Linear(2, 1), nn.Linear(1, 1), nn.Linear(1, 1)] if with_nets else None
    loss_fn = NVIL(q, p, n_samples=2, baseline_nets=nets, variance_normalization=False).to(torch.float64)
    if nets is not None:
        with torch.no_grad():
            for net in nets:
                net.weight.normal_()  # baselines that really depend on the layer below
    loss_fn(x)  # a non-zero running mean
    params = list(q.parameters()) + list(p.parameters())
    exact = exact_gradients(lambda: -exact_elbo(q, p, x, latent_shape=(3,)).mean(), params)
    samples = gradient_samples(loss_fn, x, params, N_DRAWS, replicas=REPLICAS)
    assert_unbiased(samples, exact, failure_rate=FAILURE_RATE, name="NVIL per-layer")


def test_per_layer_signals_drop_only_upstream_terms():
    """The loss's gradient on one draw equals the reference built from the per-layer log-densities."""
    q, p, x = tiny_layered_sbn(3, (2, 1, 1), batch=3, seed=1)
    loss_fn = NVIL(q, p, n_samples=4, variance_normalization=False)
    params = list(q.parameters()) + list(p.parameters())
    torch.manual_seed(3)
    loss = loss_fn(x)
    g_mod = torch.autograd.grad(loss, params)
    torch.manual_seed(3)
    z, _, _ = loss_fn.draw(x, x, reparam=False)
    lq, lp = q.log_prob_layers(z), p.log_prob_layers(x, z)
    ref = -nvil_reference(lp, lq, torch.zeros_like(lq), torch.ones(3, dtype=torch.float64)).mean()
    for a, b in zip(g_mod, torch.autograd.grad(ref, params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_nvil_errors():
    q, p = LayeredBernoulliEncoder(5, (3, 2)), LayeredSigmoidBeliefNet((3, 2), 5)
    with pytest.raises(ValueError, match="2 nn.Modules"):
        NVIL(q, p, baseline_nets=[nn.Linear(5, 1)])
    with pytest.raises(ValueError, match="decay"):
        NVIL(q, p, decay=1.0)
    with pytest.raises(ValueError, match="do not chain"):
        NVIL(q, LayeredSigmoidBeliefNet((2, 3), 5))
    from vaekit import SigmoidBeliefNet

    with pytest.raises(ValueError, match="log_prob_layers"):
        NVIL(q, SigmoidBeliefNet(5, 5))
    loss_fn = NVIL(q, p, baseline_nets=[nn.Linear(5, 1), nn.Linear(3, 2)])
    with pytest.raises(ValueError, match=r"baseline_nets\[1\]"):
        loss_fn(torch.bernoulli(torch.full((2, 5), 0.5)))


def test_running_state_follows_the_models_dtype_and_updates_only_when_training_with_grad():
    q, p = LayeredBernoulliEncoder(5, (3, 2)), LayeredSigmoidBeliefNet((3, 2), 5)
    loss_fn = NVIL(q.double(), p.double(), n_samples=2, baseline_nets=[nn.Linear(5, 1), nn.Linear(3, 1)]).double()
    assert loss_fn.mean.dtype == torch.float64 and loss_fn.variance.dtype == torch.float64
    x = torch.bernoulli(torch.full((4, 5), 0.5, dtype=torch.float64))
    loss_fn.eval()
    loss_fn(x)
    with torch.no_grad():
        loss_fn.train()(x)
    assert int(loss_fn.n_updates) == 0 and not loss_fn.mean.any()
    loss_fn.train()(x)
    assert int(loss_fn.n_updates) == 1 and loss_fn.mean.dtype == torch.float64 and loss_fn.mean.abs().sum() > 0
    # float32 models built in float32: the state starts (and stays) in float32
    q32, p32 = LayeredBernoulliEncoder(5, (3, 2)), LayeredSigmoidBeliefNet((3, 2), 5)
    assert NVIL(q32, p32).mean.dtype == torch.float32
