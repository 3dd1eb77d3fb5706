"""STL: loop reference, unbiasedness for the ELBO, zero variance at the posterior, the once-only
check of log_prob_detached. (STL's IWAE variant, biased in phi and superseded by DReG, was removed.)"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from losses.family_helpers import set_q_to_posterior
from vaekit import ELBO, STL
from vaekit.losses import stl_estimate
from vaekit.testing import (
    assert_matches_reference,
    assert_unbiased,
    exact_elbo_gaussian,
    exact_gradients,
    flat,
    gradient_samples,
    linear_gaussian,
    stl_reference,
)
from vaekit.testing.strategies import tiny_models


def test_stl_estimate_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    for k in (1, 4):
        ins = [torch.randn(3, k, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2)]
        assert_matches_reference(stl_estimate, stl_reference, ins, generator=g)


@settings(max_examples=3)
@given(spec=tiny_models(min_k=1, max_k=3, kinds=("gaussian",)))
def test_stl_elbo_unbiased(spec):
    """E[gradient] == -grad ELBO (closed form, linear-Gaussian). z-test, family-wise failure rate 1e-3."""
    q, p, x = spec.build()
    params = list(q.parameters()) + list(p.parameters())
    exact = exact_gradients(lambda: -exact_elbo_gaussian(q, p, x).mean(), params)
    samples = gradient_samples(STL(q, p, n_samples=spec.n_samples), x, params, 300, replicas=20)
    assert_unbiased(samples, exact, failure_rate=1e-3, name="STL-ELBO")


def test_sticks_the_landing_at_the_exact_posterior():
    """With q = p(z|x) exactly (1 latent: the posterior is a diagonal Normal), every STL draw has a
    zero inference-network gradient; the plain pathwise ELBO gradient does not."""
    q, p, x = linear_gaussian(data_dim=3, latent_dim=1, batch=4, seed=2)
    set_q_to_posterior(q, p)
    phi = list(q.parameters())
    stl = flat(gradient_samples(STL(q, p, n_samples=3), x, phi, 20))
    plain = flat(gradient_samples(ELBO(q, p, n_samples=3), x, phi, 20))
    assert float(stl.abs().max()) < 1e-10
    assert float(plain.abs().max()) > 1e-3


def test_requires_rsample():
    q, p, _ = linear_gaussian(rsample=False)
    with pytest.raises(ValueError, match="reparameterisable"):
        STL(q, p)
    with pytest.raises(TypeError, match="objective"):
        STL(*linear_gaussian()[:2], objective="iwae")  # removed: DReG is the IWAE form
