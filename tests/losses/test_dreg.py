"""DReG: loop reference, unbiasedness for IWAE_K, K = 1 equals STL, lower inference-network variance at K >= 8."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from losses.family_helpers import fit_q, set_q_to_posterior
from vaekit import ELBO, IWAE, STL, DReG
from vaekit.losses import dreg_estimate
from vaekit.testing import (
    assert_less_equal_stat,
    assert_matches_reference,
    assert_unbiased,
    dreg_reference,
    exact_gradients,
    exact_iwae_gaussian,
    gradient_samples,
    linear_gaussian,
)
from vaekit.testing.strategies import tiny_models


def test_dreg_estimate_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    for k in (1, 4):
        ins = [torch.randn(3, k, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3)]
        assert_matches_reference(dreg_estimate, dreg_reference, ins, generator=g)


@settings(max_examples=3)
@given(spec=tiny_models(min_k=1, max_k=3, kinds=("gaussian",), max_latent_dim=1))
def test_dreg_unbiased_for_iwae(spec):
    """E[gradient] == -grad IWAE_K (Gauss-Hermite quadrature over the K reparameterisation draws)
    for every parameter. z-test, family-wise failure rate 1e-3."""
    q, p, x = spec.build()
    params = list(q.parameters()) + list(p.parameters())
    exact = exact_gradients(lambda: -exact_iwae_gaussian(q, p, x, spec.n_samples).mean(), params)
    samples = gradient_samples(DReG(q, p, n_samples=spec.n_samples), x, params, 300, replicas=20)
    assert_unbiased(samples, exact, failure_rate=1e-3, name="DReG")


def test_k1_equals_stl_elbo_on_the_same_draws():
    q, p, x = linear_gaussian(seed=3)
    params = list(q.parameters()) + list(p.parameters())
    out = []
    for loss_fn in (DReG(q, p, n_samples=1), STL(q, p, n_samples=1)):
        torch.manual_seed(5)
        loss = loss_fn(x)
        out.append((loss.detach(), torch.autograd.grad(loss, params)))
    torch.testing.assert_close(out[0][0], out[1][0])
    for a, b in zip(out[0][1], out[1][1]):
        torch.testing.assert_close(a, b)


def test_zero_inference_gradient_at_the_exact_posterior():
    q, p, x = linear_gaussian(data_dim=3, latent_dim=1, batch=4, seed=2)
    set_q_to_posterior(q, p)
    g = gradient_samples(DReG(q, p, n_samples=5), x, list(q.parameters()), 10)
    assert float(g.abs().max()) < 1e-10


@pytest.fixture(scope="module")
def fitted_linear_gaussian():
    torch.manual_seed(0)
    q, p, x = linear_gaussian(data_dim=2, latent_dim=2, batch=4, seed=0)
    fit_q(q, ELBO(q, p, n_samples=8), x, 400)
    return q, p, x


@pytest.mark.parametrize("k", [8, 16])
def test_dreg_lowers_inference_network_variance_vs_iwae(k, fitted_linear_gaussian):
    """linear_gaussian(2, 2, batch=4, seed=0) with q fitted by 400 Adam steps of the 8-sample ELBO
    (theta fixed): the total variance of the inference-network gradient, IWAE pathwise / DReG,
    measured with ``vaekit.compare_estimators`` (N = 400): 151 at K = 8, 289 at K = 16, 1522 at
    K = 64 (and the mean SNR rises from 0.04 to 0.41-0.56). At the random initial q, far from the
    posterior, the same ratio is 0.76 at K = 8: DReG's advantage needs q near p(z|x).
    Asserted: one-sided z-test (failure rate 1e-3) on per-draw squared deviations that
    10 * variance(DReG) < variance(IWAE)."""
    q, p, x = fitted_linear_gaussian
    phi = list(q.parameters())
    spread = []
    for loss_fn in (IWAE(q, p, n_samples=k), DReG(q, p, n_samples=k)):
        g = gradient_samples(loss_fn, x, phi, 400)  # [N, P]
        spread.append((g - g.mean(0)).pow(2).sum(-1, keepdim=True))  # [N, 1]
    assert_less_equal_stat(10 * spread[1], spread[0], failure_rate=1e-3, name=f"DReG variance * 10, K={k}")


def test_requires_rsample():
    q, p, _ = linear_gaussian(rsample=False)
    with pytest.raises(ValueError, match="reparameterisable"):
        DReG(q, p)
