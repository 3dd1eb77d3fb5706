"""VIMCO: unbiased for the exact IWAE_K gradient (SBN by enumeration of K-tuples; the
linear-Gaussian model with the Normal family by quadrature), against its float64 O(K^2) loop
reference, O(B*K) memory, impossible samples, and its value.

Statistical asserts: each has a family-wise failure rate of FAILURE_RATE (Bonferroni over the
gradient coordinates) for an unbiased estimator; seeds are fixed (derandomized hypothesis).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaekit import VIMCO, vimco_estimate
from vaekit.testing import (
    assert_gradient_unbiased,
    assert_loss_matches_reference,
    assert_matches_reference,
    assert_unbiased,
    exact_iwae,
    exact_iwae_gaussian,
    tiny_sbn,
    vimco_reference,
)
from vaekit.testing.strategies import tiny_models

FAILURE_RATE = 1e-4
N_DRAWS, REPLICAS = 300, 50  # each row averages 50 independent estimator calls
QUADRATURE_TOL = 1e-4  # documented accuracy of exact_iwae_gaussian for K*H <= 3


@settings(max_examples=6)
@given(tiny_models(min_k=2, max_k=3, kinds=("sbn",)))
def test_vimco_gradient_is_unbiased_on_the_sbn(spec):
    torch.manual_seed(spec.seed)
    q, p, x = spec.build()
    k = spec.n_samples
    assert_gradient_unbiased(
        VIMCO(q, p, n_samples=k),
        x,
        lambda: exact_iwae(q, p, x, k),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        name=f"VIMCO {spec}",
    )


@settings(max_examples=4)
@given(tiny_models(min_k=2, max_k=3, kinds=("gaussian_score", "gaussian"), max_latent_dim=1))
def test_vimco_gradient_is_unbiased_on_the_linear_gaussian_model(spec):
    """VIMCO never uses rsample, so it is a score-function estimator on either Normal family."""
    torch.manual_seed(spec.seed)
    q, p, x = spec.build()
    k = spec.n_samples
    assert_gradient_unbiased(
        VIMCO(q, p, n_samples=k),
        x,
        lambda: exact_iwae_gaussian(q, p, x, k),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        atol=QUADRATURE_TOL,
        name=f"VIMCO {spec}",
    )


@settings(max_examples=25)
@given(
    b=st.integers(1, 3), k=st.integers(2, 6), spread=st.sampled_from([0.1, 1.0, 30.0, 1e3]), seed=st.integers(0, 2**16)
)
def test_vimco_estimate_matches_the_float64_loop_reference(b, k, spread, seed):
    g = torch.Generator().manual_seed(seed)
    log_p = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    log_q = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    assert_matches_reference(vimco_estimate, vimco_reference, [log_p, log_q], rtol=1e-10, atol=1e-9, generator=g)


def test_vimco_float32_matches_the_float64_reference():
    g = torch.Generator().manual_seed(0)
    log_p64 = 5 * torch.randn(4, 5, generator=g, dtype=torch.float64)
    log_q64 = 5 * torch.randn(4, 5, generator=g, dtype=torch.float64)
    log_p, log_q = log_p64.float().requires_grad_(), log_q64.float().requires_grad_()
    got = vimco_estimate(log_p, log_q)
    assert got.dtype == torch.float32
    got.sum().backward()
    a, b = log_p64.requires_grad_(), log_q64.requires_grad_()
    ref = vimco_reference(a, b)
    ref.sum().backward()
    assert torch.allclose(got.double(), ref, rtol=1e-5, atol=1e-5)
    assert torch.allclose(log_p.grad.double(), a.grad, atol=1e-5)
    assert torch.allclose(log_q.grad.double(), b.grad, atol=1e-4)


def test_vimco_with_an_impossible_sample_matches_the_reference():
    """log p = -inf is allowed (weight 0): value and gradient stay finite and match the loop reference.

    (With K - 1 impossible samples the leave-one-out baseline of the possible one is -inf and its
    learning signal infinite: a degeneracy of VIMCO itself, not tested here.)
    """
    log_p = torch.tensor([[-math.inf, -1.0, -2.0], [-0.5, -3.0, -math.inf]], dtype=torch.float64)
    log_q = torch.tensor([[-1.0, -0.3, -2.0], [-1.0, -2.0, -0.1]], dtype=torch.float64)
    results = []
    for _ in range(2):
        lp, lq = log_p.clone().requires_grad_(), log_q.clone().requires_grad_()
        out = (vimco_estimate if not results else vimco_reference)(lp, lq)
        out.sum().backward()
        results.append((out.detach(), lp.grad, lq.grad))
    (v, gp, gq), (rv, rgp, rgq) = results
    assert torch.isfinite(v).all() and torch.isfinite(gq).all() and torch.isfinite(gp).all()
    assert torch.allclose(v, rv) and torch.allclose(gp, rgp) and torch.allclose(gq, rgq)


def test_vimco_baseline_memory_is_linear_in_k():
    """K = 200000 would need 320 GB for a [B, K, K] float64 matrix; the O(B*K) form takes milliseconds."""
    g = torch.Generator().manual_seed(0)
    log_p = torch.randn(2, 200_000, generator=g, dtype=torch.float64).requires_grad_()
    out = vimco_estimate(log_p, torch.zeros_like(log_p))
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(log_p.grad).all()
    assert out[0].item() == pytest.approx(torch.logsumexp(log_p[0], 0).item() - math.log(200_000), rel=1e-12)


def test_vimco_module_matches_reference_on_the_same_draw():
    q, p, x = tiny_sbn(3, 2, batch=3, seed=1)
    assert_loss_matches_reference(
        VIMCO(q, p, n_samples=4), x, lambda m, x: vimco_reference(*m.draw(x, x, reparam=False)[1:]), seed=3
    )


def test_vimco_loss_value_is_unbiased_for_minus_the_iwae_bound():
    q, p, x = tiny_sbn(3, 2, batch=2, seed=4)
    loss_fn = VIMCO(q, p, n_samples=3)
    with torch.no_grad():
        values = torch.stack([loss_fn(x.repeat(20, 1)) for _ in range(200)])  # [N]: each the mean of 20 draws
        assert_unbiased(values, -exact_iwae(q, p, x, 3).mean(), failure_rate=FAILURE_RATE)


@pytest.mark.parametrize("k", [0, 1, 2.0, True])
def test_vimco_rejects_fewer_than_two_samples(k):
    q, p, _ = tiny_sbn()
    wrong_type = not isinstance(k, int) or isinstance(k, bool)
    with pytest.raises(
        TypeError if wrong_type else ValueError, match="n_samples must be an int" + ("" if wrong_type else " >= 2")
    ):
        VIMCO(q, p, n_samples=k)
    with pytest.raises(ValueError, match="K >= 2"):
        vimco_estimate(torch.zeros(2, 1), torch.zeros(2, 1))
