"""STL: loop reference, unbiasedness for the ELBO, its known bias for IWAE, zero variance at the posterior."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from vaekit import ELBO, STL
from vaekit.losses import stl_estimate
from vaekit.testing import (
    assert_matches_reference,
    assert_unbiased,
    exact_elbo_gaussian,
    exact_gradients,
    exact_iwae_gaussian,
    flat,
    gradient_samples,
    linear_gaussian,
)
from vaekit.testing.references_family import exact_rws_wake_phi_gaussian, stl_reference
from vaekit.testing.strategies import tiny_models

from tests.losses.family_helpers import set_q_to_posterior


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_stl_estimate_matches_loop_reference(objective):
    g = torch.Generator().manual_seed(0)
    for k in (1, 4):
        ins = [torch.randn(3, k, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2)]
        assert_matches_reference(lambda *a: stl_estimate(*a, objective=objective),
                                 lambda *a: stl_reference(*a, objective=objective), ins, generator=g)


@settings(max_examples=3)
@given(spec=tiny_models(min_k=1, max_k=3, kinds=("gaussian",)))
def test_stl_elbo_unbiased(spec):
    """E[gradient] == -grad ELBO (closed form, linear-Gaussian). z-test, family-wise failure rate 1e-3."""
    q, p, x = spec.build()
    params = list(q.parameters()) + list(p.parameters())
    exact = exact_gradients(lambda: -exact_elbo_gaussian(q, p, x).mean(), params)
    samples = gradient_samples(STL(q, p, n_samples=spec.n_samples), x, params, 300, replicas=20)
    assert_unbiased(samples, exact, failure_rate=1e-3, name="STL-ELBO")


def test_stl_iwae_expectation_and_bias():
    """STL-IWAE drops E[sum_k wt_k grad_phi log q(z_k|x)], which is not 0 for K > 1: its phi
    expectation is grad_phi IWAE_K + grad_phi E[sum_k wt_k log q(z_k|x)] (both by quadrature),
    theta's is grad_theta IWAE_K. Checked by a z-test (failure rate 1e-3); the bias itself is
    exact: its norm is 0.394 vs ||grad_phi IWAE_2|| = 0.890 on linear_gaussian(latent_dim=1, seed=1),
    and the same samples fail the z-test against grad_phi IWAE_2 alone (5 of 6 coordinates)."""
    q, p, x = linear_gaussian(latent_dim=1, seed=1)
    phi, theta = list(q.parameters()), list(p.parameters())
    iwae_phi = exact_gradients(lambda: -exact_iwae_gaussian(q, p, x, 2).mean(), phi)
    bias = exact_gradients(lambda: -exact_rws_wake_phi_gaussian(q, p, x, 2).mean(), phi)
    exact_theta = exact_gradients(lambda: -exact_iwae_gaussian(q, p, x, 2).mean(), theta)
    assert float(flat(bias).norm()) > 0.1
    samples = gradient_samples(STL(q, p, n_samples=2, objective="iwae"), x, phi + theta, 300, replicas=20)
    assert_unbiased(samples, [a + b for a, b in zip(iwae_phi, bias)] + exact_theta, failure_rate=1e-3, name="STL-IWAE")
    with pytest.raises(AssertionError, match="looks biased"):
        assert_unbiased(samples, iwae_phi + exact_theta, failure_rate=1e-3, name="STL-IWAE vs IWAE")


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_sticks_the_landing_at_the_exact_posterior(objective):
    """With q = p(z|x) exactly (1 latent: the posterior is a diagonal Normal), every STL draw has a
    zero inference-network gradient; the plain pathwise ELBO gradient does not."""
    q, p, x = linear_gaussian(data_dim=3, latent_dim=1, batch=4, seed=2)
    set_q_to_posterior(q, p)
    phi = list(q.parameters())
    stl = flat(gradient_samples(STL(q, p, n_samples=3, objective=objective), x, phi, 20))
    plain = flat(gradient_samples(ELBO(q, p, n_samples=3), x, phi, 20))
    assert float(stl.abs().max()) < 1e-10
    assert float(plain.abs().max()) > 1e-3


def test_requires_rsample():
    q, p, _ = linear_gaussian(rsample=False)
    with pytest.raises(ValueError, match="reparameterisable"):
        STL(q, p)
    with pytest.raises(ValueError, match="objective"):
        STL(*linear_gaussian()[:2], objective="vimco")
