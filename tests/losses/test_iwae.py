"""IWAE: unbiased for the exact IWAE_K gradient (score function on the enumerable SBN; pathwise and
score function on the linear-Gaussian model, IWAE_K there by Gauss-Hermite quadrature), against its
float64 loop reference, its value, and the ordering ELBO <= IWAE_K <= IWAE_2K <= log p(x).

Statistical asserts: each has a family-wise failure rate of FAILURE_RATE (Bonferroni over the
gradient coordinates) for an unbiased estimator; seeds are fixed (derandomized hypothesis).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaekit import IWAE, Reinforce, iwae_estimate
from vaekit.testing import (
    assert_gradient_unbiased,
    assert_loss_matches_reference,
    assert_matches_reference,
    assert_unbiased,
    exact_elbo,
    exact_elbo_gaussian,
    exact_iwae,
    exact_iwae_gaussian,
    exact_log_marginal,
    iwae_reference,
    linear_gaussian,
    tiny_sbn,
)
from vaekit.testing.strategies import tiny_models

FAILURE_RATE = 1e-4
N_DRAWS, REPLICAS = 300, 50  # each row averages 50 independent estimator calls
QUADRATURE_TOL = 1e-4  # documented accuracy of exact_iwae_gaussian for K*H <= 3


@settings(max_examples=6)
@given(tiny_models(min_k=1, max_k=3, kinds=("sbn",)))
def test_iwae_score_function_gradient_is_unbiased_on_the_sbn(spec):
    torch.manual_seed(spec.seed)
    q, p, x = spec.build()
    k = spec.n_samples
    assert_gradient_unbiased(
        IWAE(q, p, n_samples=k),
        x,
        lambda: exact_iwae(q, p, x, k),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        name=f"IWAE {spec}",
    )


@settings(max_examples=6)
@given(tiny_models(min_k=1, max_k=3, kinds=("gaussian", "gaussian_score"), max_latent_dim=1))
def test_iwae_gradient_is_unbiased_on_the_linear_gaussian_model(spec):
    torch.manual_seed(spec.seed)
    q, p, x = spec.build()
    k = spec.n_samples
    loss_fn = IWAE(q, p, n_samples=k)
    assert q.has_rsample == (spec.kind == "gaussian")  # pathwise exactly when q has rsample
    assert_gradient_unbiased(
        loss_fn,
        x,
        lambda: exact_iwae_gaussian(q, p, x, k),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        atol=QUADRATURE_TOL,
        name=f"IWAE {spec}",
    )


@settings(max_examples=20)
@given(
    b=st.integers(1, 3),
    k=st.integers(1, 5),
    spread=st.sampled_from([0.1, 1.0, 30.0, 1e3]),
    seed=st.integers(0, 2**16),
    score=st.booleans(),
)
def test_iwae_estimate_matches_the_float64_loop_reference(b, k, spread, seed, score):
    g = torch.Generator().manual_seed(seed)
    log_p = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    log_q = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    assert_matches_reference(
        lambda lp, lq: iwae_estimate(lp, lq, score_function=score),
        lambda lp, lq: iwae_reference(lp, lq, score_function=score),
        [log_p, log_q],
        rtol=1e-12,
        atol=1e-9,
        generator=g,
    )


@pytest.mark.parametrize("kind", ["sbn-score", "gaussian-pathwise", "gaussian-score"])
def test_iwae_module_matches_reference_on_the_same_draw(kind):
    """Replaying the RNG, the module's value and parameter gradients equal those of -mean(reference) on the same z."""
    if kind == "sbn-score":
        q, p, x = tiny_sbn(3, 2, batch=3, seed=1)
    else:
        q, p, x = linear_gaussian(2, 2, batch=3, seed=1, rsample=kind == "gaussian-pathwise")
    score = kind != "gaussian-pathwise"
    assert_loss_matches_reference(
        IWAE(q, p, n_samples=4),
        x,
        lambda m, x: iwae_reference(*m.draw(x, x, reparam=not score)[1:], score_function=score),
        seed=3,
    )


@settings(max_examples=10)
@given(tiny_models(min_k=1, max_k=3, kinds=("sbn",)))
def test_elbo_le_iwae_k_le_iwae_2k_le_log_marginal_on_the_sbn(spec):
    q, p, x = spec.build()
    k = spec.n_samples
    chain = [exact_elbo(q, p, x), exact_iwae(q, p, x, k), exact_iwae(q, p, x, 2 * k), exact_log_marginal(p, x)]
    for lo, hi in zip(chain, chain[1:]):
        assert (lo <= hi + 1e-12).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_elbo_le_iwae_k_le_iwae_2k_le_log_marginal_on_the_linear_gaussian_model(seed):
    q, p, x = linear_gaussian(2, 1, batch=2, seed=seed)
    chain = [
        exact_elbo_gaussian(q, p, x),
        exact_iwae_gaussian(q, p, x, 2),
        exact_iwae_gaussian(q, p, x, 4),
        p.log_marginal(x),
    ]
    for lo, hi in zip(chain, chain[1:]):
        assert (lo < hi - 1e-3).all()  # strict beyond the quadrature error (<= 1e-3 at K*H = 4)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_iwae_loss_value_is_unbiased_for_minus_the_bound(k):
    q, p, x = tiny_sbn(3, 2, batch=2, seed=4)
    loss_fn = IWAE(q, p, n_samples=k)
    with torch.no_grad():
        values = torch.stack([loss_fn(x.repeat(20, 1)) for _ in range(200)])  # [N]: each the mean of 20 draws
        assert_unbiased(values, -exact_iwae(q, p, x, k).mean(), failure_rate=FAILURE_RATE)


def test_iwae_with_one_sample_is_the_elbo():
    q, p, x = tiny_sbn(seed=2)
    iwae, elbo = IWAE(q, p, n_samples=1), Reinforce(q, p, n_samples=1)  # binary q: the score-function ELBO
    torch.manual_seed(5)
    a = iwae(x)
    g_a = torch.autograd.grad(a, list(iwae.parameters()))
    torch.manual_seed(5)
    b = elbo(x)
    g_b = torch.autograd.grad(b, list(elbo.parameters()))
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    for u, v in zip(g_a, g_b):
        assert torch.allclose(u, v, rtol=1e-10, atol=1e-12)
