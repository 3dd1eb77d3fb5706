"""ELBO: unbiased for the exact ELBO gradient (score function on the enumerable SBN; pathwise and
score function on the linear-Gaussian model), against its float64 loop reference, and its value.

Statistical asserts: each has a family-wise failure rate of FAILURE_RATE (Bonferroni over the
gradient coordinates) for an unbiased estimator; seeds are fixed (derandomized hypothesis).
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaekit import ELBO, elbo_estimate
from vaekit.testing import (
    assert_loss_matches_reference,
    assert_matches_reference,
    assert_gradient_unbiased,
    assert_unbiased,
    elbo_reference,
    exact_elbo,
    exact_elbo_gaussian,
    linear_gaussian,
    tiny_sbn,
)
from vaekit.testing.strategies import tiny_models

FAILURE_RATE = 1e-4
N_DRAWS, REPLICAS = 300, 50  # each row averages 50 independent estimator calls


def _exact(spec, q, p, x):
    return (lambda: exact_elbo(q, p, x)) if spec.kind == "sbn" else (lambda: exact_elbo_gaussian(q, p, x))


@settings(max_examples=6)
@given(tiny_models(min_k=1, max_k=3, kinds=("sbn", "gaussian", "gaussian_score")))
def test_elbo_gradient_is_unbiased_for_both_models(spec):
    torch.manual_seed(spec.seed)
    q, p, x = spec.build()
    loss_fn = ELBO(q, p, n_samples=spec.n_samples)
    assert loss_fn.inf_net.has_rsample == (spec.kind == "gaussian")  # pathwise exactly when q has rsample
    assert_gradient_unbiased(loss_fn, x, _exact(spec, q, p, x), n_draws=N_DRAWS, replicas=REPLICAS,
                             failure_rate=FAILURE_RATE, name=f"ELBO {spec}")


def test_score_function_elbo_on_a_reparameterisable_family_is_unbiased():
    """pathwise=False forces the score function even when q has rsample."""
    q, p, x = linear_gaussian(2, 2, seed=11)
    assert_gradient_unbiased(ELBO(q, p, n_samples=2, pathwise=False), x, lambda: exact_elbo_gaussian(q, p, x),
                             n_draws=N_DRAWS, replicas=REPLICAS, failure_rate=FAILURE_RATE)


@settings(max_examples=20)
@given(b=st.integers(1, 3), k=st.integers(1, 5), spread=st.sampled_from([0.1, 1.0, 30.0, 1e3]),
       seed=st.integers(0, 2**16), score=st.booleans())
def test_elbo_estimate_matches_the_float64_loop_reference(b, k, spread, seed, score):
    g = torch.Generator().manual_seed(seed)
    log_p = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    log_q = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    assert_matches_reference(lambda lp, lq: elbo_estimate(lp, lq, score_function=score),
                             lambda lp, lq: elbo_reference(lp, lq, score_function=score),
                             [log_p, log_q], rtol=1e-12, atol=1e-9, generator=g)


@pytest.mark.parametrize("kind", ["sbn-score", "gaussian-pathwise", "gaussian-score"])
def test_elbo_module_matches_reference_on_the_same_draw(kind):
    """Replaying the RNG, the module's value and parameter gradients equal those of -mean(reference) on the same z."""
    if kind == "sbn-score":
        q, p, x = tiny_sbn(3, 2, batch=3, seed=1)
    else:
        q, p, x = linear_gaussian(2, 2, batch=3, seed=1, rsample=kind == "gaussian-pathwise")
    score = kind != "gaussian-pathwise"
    assert_loss_matches_reference(ELBO(q, p, n_samples=4), x,
                                  lambda lp, lq: elbo_reference(lp, lq, score_function=score), reparam=not score, seed=3)


@pytest.mark.parametrize("k", [1, 3])
def test_elbo_loss_value_is_unbiased_for_minus_the_elbo(k):
    q, p, x = tiny_sbn(3, 2, batch=2, seed=4)
    loss_fn = ELBO(q, p, n_samples=k)
    with torch.no_grad():
        values = torch.stack([loss_fn(x.repeat(20, 1)) for _ in range(200)])  # [N]: each the mean of 20 draws
        assert_unbiased(values, -exact_elbo(q, p, x).mean(), failure_rate=FAILURE_RATE)


def test_elbo_picks_pathwise_iff_rsample_and_rejects_forced_pathwise_without_it():
    q, p, _ = linear_gaussian(rsample=True)
    assert ELBO(q, p).pathwise is None and q.has_rsample
    q2, p2, _ = tiny_sbn()
    with pytest.raises(ValueError, match="has_rsample is False"):
        ELBO(q2, p2, pathwise=True)
