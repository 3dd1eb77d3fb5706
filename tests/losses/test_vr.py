"""VR (Rényi bound): float64 loop references, alpha = 0 is IWAE/VIMCO exactly, the alpha -> 1 limit is the
ELBO, monotonicity in alpha (per draw and exactly by enumeration), unbiased gradients for VR_alpha,K
(score function on the enumerable SBN, pathwise on the linear-Gaussian model by quadrature), errors.

Statistical asserts: each has a family-wise failure rate of FAILURE_RATE (Bonferroni over the
gradient coordinates) for an unbiased estimator; seeds are fixed.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaekit import VIMCO, VR, VRScore, elbo_estimate, iwae_estimate, vimco_estimate, vr_estimate, vr_score_estimate
from vaekit.testing import (
    assert_gradient_unbiased,
    assert_loss_matches_reference,
    assert_matches_reference,
    exact_elbo,
    exact_iwae,
    exact_log_marginal,
    exact_renyi_bound,
    exact_vr,
    exact_vr_gaussian,
    linear_gaussian,
    tiny_sbn,
    vr_reference,
)

FAILURE_RATE = 1e-4
N_DRAWS, REPLICAS = 300, 50
QUADRATURE_TOL = 1e-4  # documented accuracy of the Gauss-Hermite oracle for K*H <= 3
ALPHAS = [-1.0, -0.5, 0.0, 0.3, 0.5, 0.9, 1.0, 1.5, 3.0]


def _inputs(b, k, spread, seed):
    g = torch.Generator().manual_seed(seed)
    log_p = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    log_q = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    return g, log_p, log_q


@settings(max_examples=25)
@given(
    b=st.integers(1, 3),
    k=st.integers(2, 5),
    spread=st.sampled_from([0.1, 1.0, 10.0, 300.0]),
    seed=st.integers(0, 2**16),
    alpha=st.sampled_from(ALPHAS),
    score=st.booleans(),
)
def test_vr_estimates_match_the_float64_loop_reference(b, k, spread, seed, alpha, score):
    g, log_p, log_q = _inputs(b, k, spread, seed)
    fn = vr_score_estimate if score else vr_estimate
    assert_matches_reference(
        lambda lp, lq: fn(lp, lq, alpha=alpha),
        lambda lp, lq: vr_reference(lp, lq, alpha=alpha, score_function=score),
        [log_p, log_q],
        rtol=1e-10,
        atol=1e-9,
        generator=g,
    )


@pytest.mark.parametrize("spread", [0.5, 30.0])
def test_alpha_zero_is_iwae_and_vimco_exactly(spread):
    g, log_p, log_q = _inputs(3, 4, spread, 0)
    for ours, theirs in (
        (lambda: vr_estimate(log_p, log_q, alpha=0.0), lambda: iwae_estimate(log_p, log_q, score_function=False)),
        (lambda: vr_score_estimate(log_p, log_q, alpha=0.0), lambda: vimco_estimate(log_p, log_q)),
    ):
        a, b = ours(), theirs()
        assert torch.equal(a, b)
        ga = torch.autograd.grad(a.sum(), [log_p, log_q])
        gb = torch.autograd.grad(b.sum(), [log_p, log_q])
        assert all(torch.equal(u, v) for u, v in zip(ga, gb))


def test_vrscore_alpha_zero_module_is_vimco_on_the_same_draw():
    q, p, x = tiny_sbn(3, 2, batch=3, seed=1)
    vr, vimco = VRScore(q, p, alpha=0.0, n_samples=4), VIMCO(q, p, n_samples=4)
    torch.manual_seed(2)
    a = vr(x)
    ga = torch.autograd.grad(a, list(q.parameters()) + list(p.parameters()))
    torch.manual_seed(2)
    b = vimco(x)
    gb = torch.autograd.grad(b, list(q.parameters()) + list(p.parameters()))
    assert a.item() == b.item() and all(torch.equal(u, v) for u, v in zip(ga, gb))


@pytest.mark.parametrize("score", [False, True])
def test_alpha_one_is_the_elbo_limit_and_nearby_alphas_converge_to_it(score):
    g, log_p, log_q = _inputs(3, 5, 3.0, 1)
    fn = vr_score_estimate if score else vr_estimate
    elbo = elbo_estimate(log_p, log_q)
    at_one = fn(log_p, log_q, alpha=1.0)
    torch.testing.assert_close(at_one, elbo, rtol=0, atol=1e-13)
    g_one = torch.autograd.grad(at_one.sum(), [log_p])[0]
    torch.testing.assert_close(g_one, torch.full_like(g_one, 1 / 5), rtol=0, atol=1e-13)  # uniform weights
    var = (log_p - log_q).detach().var(dim=-1, unbiased=False)  # [B]
    for eps in (1e-3, 1e-6, 1e-9, 1e-12):
        for alpha in (1 - eps, 1 + eps):
            v = fn(log_p, log_q, alpha=alpha)
            # (1/t) log mean exp(t lw) = mean lw + t var / 2 + O(t^2): the error is linear in t, with no
            # eps/t blow-up from evaluating the formula near t = 0.
            expected = elbo + (1 - alpha) * var / 2
            torch.testing.assert_close(v, expected, rtol=0, atol=10 * eps**2 * 100 + 1e-13)


@settings(max_examples=15)
@given(k=st.integers(1, 6), spread=st.sampled_from([0.1, 3.0, 100.0]), seed=st.integers(0, 2**16))
def test_vr_estimate_is_non_increasing_in_alpha_on_every_draw(k, spread, seed):
    """A power mean of order 1 - alpha is non-decreasing in its order (for any fixed weights)."""
    _, log_p, log_q = _inputs(2, k, spread, seed)
    values = torch.stack([vr_estimate(log_p, log_q, alpha=a) for a in ALPHAS]).detach()  # [A, B]
    assert (values[1:] <= values[:-1] + 1e-9 * (1 + values.abs()[:-1])).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_vr_is_monotone_in_alpha_between_iwae_and_elbo_on_the_sbn(seed):
    q, p, x = tiny_sbn(3, 2, batch=2, seed=seed)
    with torch.no_grad():
        vr_k = torch.stack([exact_vr(q, p, x, 3, a) for a in ALPHAS])  # [A, B]
        renyi = torch.stack([exact_renyi_bound(q, p, x, a) for a in ALPHAS])  # [A, B]
        log_px, elbo = exact_log_marginal(p, x), exact_elbo(q, p, x)
        iwae = exact_iwae(q, p, x, 3)
    assert (vr_k[1:] <= vr_k[:-1] + 1e-12).all() and (renyi[1:] <= renyi[:-1] + 1e-12).all()
    i0, i1 = ALPHAS.index(0.0), ALPHAS.index(1.0)
    torch.testing.assert_close(vr_k[i0], iwae, rtol=0, atol=1e-12)
    torch.testing.assert_close(vr_k[i1], elbo, rtol=0, atol=1e-12)
    torch.testing.assert_close(renyi[i0], log_px, rtol=0, atol=1e-12)
    torch.testing.assert_close(renyi[i1], elbo, rtol=0, atol=1e-12)
    assert (renyi[:i0] >= log_px - 1e-12).all()  # alpha < 0: an upper bound on log p(x)
    # Jensen on log: the K-sample estimate lies below L_alpha for alpha < 1 and above it for alpha > 1.
    below = torch.tensor([a <= 1 for a in ALPHAS]).unsqueeze(-1)  # [A, 1]
    assert torch.where(below, vr_k <= renyi + 1e-12, vr_k >= renyi - 1e-12).all()


@pytest.mark.parametrize("alpha,k,seed", [(0.5, 2, 0), (-0.5, 3, 1), (1.0, 2, 2), (2.0, 3, 3)])
def test_vrscore_gradient_is_unbiased_on_the_sbn(alpha, k, seed):
    q, p, x = tiny_sbn(3, 2, batch=2, seed=seed)
    assert_gradient_unbiased(
        VRScore(q, p, alpha=alpha, n_samples=k),
        x,
        lambda: exact_vr(q, p, x, k, alpha),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        name=f"VRScore a={alpha}",
    )


@pytest.mark.parametrize("alpha,k,seed", [(0.5, 2, 0), (-0.5, 2, 1), (1.0, 3, 2)])
def test_vr_pathwise_gradient_is_unbiased_on_the_linear_gaussian_model(alpha, k, seed):
    q, p, x = linear_gaussian(2, 1, batch=2, seed=seed)
    assert_gradient_unbiased(
        VR(q, p, alpha=alpha, n_samples=k),
        x,
        lambda: exact_vr_gaussian(q, p, x, k, alpha),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        atol=QUADRATURE_TOL,
        name=f"VR a={alpha}",
    )


@pytest.mark.parametrize("alpha", [0.5, -1.0])
def test_vr_modules_match_the_reference_on_the_same_draw(alpha):
    q, p, x = linear_gaussian(2, 2, batch=3, seed=1)
    assert_loss_matches_reference(
        VR(q, p, alpha=alpha, n_samples=4),
        x,
        lambda m, x: vr_reference(*m.draw(x, x, reparam=True)[1:], alpha=alpha, score_function=False),
        seed=3,
    )
    q, p, x = tiny_sbn(3, 2, batch=3, seed=1)
    assert_loss_matches_reference(
        VRScore(q, p, alpha=alpha, n_samples=4),
        x,
        lambda m, x: vr_reference(*m.draw(x, x, reparam=False)[1:], alpha=alpha, score_function=True),
        seed=3,
    )


def test_vr_errors():
    q, p, x = tiny_sbn()
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite"):
            VRScore(q, p, alpha=bad)
        with pytest.raises(ValueError, match="finite"):
            vr_estimate(torch.zeros(1, 2), torch.zeros(1, 2), alpha=bad)
    for bad in ("0.5", None, True, torch.tensor(0.5)):
        with pytest.raises(TypeError, match="alpha must be a float"):
            VRScore(q, p, alpha=bad)
    with pytest.raises(ValueError, match="rsample"):
        VR(q, p, alpha=0.5)  # a Bernoulli q has no reparameterised sampler
    with pytest.raises(ValueError, match="n_samples must be an int >= 2"):
        VRScore(q, p, alpha=0.5, n_samples=1)
    with pytest.raises(ValueError, match="K >= 2"):
        vr_score_estimate(torch.zeros(2, 1), torch.zeros(2, 1), alpha=0.5)
    with pytest.raises(TypeError):
        VRScore(q, p)  # alpha has no default: which bound is meant must be said
