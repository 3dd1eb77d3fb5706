"""ELBO (pathwise) and the score-function ELBO (``Reinforce()`` without baselines, the one place vaekit
defines it): unbiased for the exact ELBO gradient (score function on the enumerable SBN; pathwise
and score function on the linear-Gaussian model), against the float64 loop reference, and the value.

Statistical asserts: each has a family-wise failure rate of FAILURE_RATE (Bonferroni over the
gradient coordinates) for an unbiased estimator; seeds are fixed (derandomized hypothesis).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaekit import ELBO, Reinforce, elbo_estimate, reinforce_estimate
from vaekit.testing import (
    assert_gradient_unbiased,
    assert_loss_matches_reference,
    assert_matches_reference,
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
    # pathwise exactly when q has rsample: ELBO; otherwise the score-function ELBO, Reinforce()
    loss_fn = ELBO(q, p, n_samples=spec.n_samples) if q.has_rsample else Reinforce(q, p, n_samples=spec.n_samples)
    assert q.has_rsample == (spec.kind == "gaussian")
    assert_gradient_unbiased(
        loss_fn,
        x,
        _exact(spec, q, p, x),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        name=f"{type(loss_fn).__name__} {spec}",
    )


def test_score_function_elbo_on_a_reparameterisable_family_is_unbiased():
    """Reinforce() draws with sample (no gradient path) even when q has rsample."""
    q, p, x = linear_gaussian(2, 2, seed=11)
    assert_gradient_unbiased(
        Reinforce(q, p, n_samples=2),
        x,
        lambda: exact_elbo_gaussian(q, p, x),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
    )


@settings(max_examples=20)
@given(
    b=st.integers(1, 3),
    k=st.integers(1, 5),
    spread=st.sampled_from([0.1, 1.0, 30.0, 1e3]),
    seed=st.integers(0, 2**16),
    score=st.booleans(),
)
def test_elbo_estimate_matches_the_float64_loop_reference(b, k, spread, seed, score):
    g = torch.Generator().manual_seed(seed)
    log_p = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    log_q = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    estimate = (lambda lp, lq: reinforce_estimate(lp, lq)) if score else elbo_estimate
    assert_matches_reference(
        estimate,
        lambda lp, lq: elbo_reference(lp, lq, score_function=score),
        [log_p, log_q],
        rtol=1e-12,
        atol=1e-9,
        generator=g,
    )


@pytest.mark.parametrize("kind", ["sbn-score", "gaussian-pathwise", "gaussian-score"])
def test_elbo_module_matches_reference_on_the_same_draw(kind):
    """Replaying the RNG, the module's value and parameter gradients equal those of -mean(reference) on the same z."""
    if kind == "sbn-score":
        q, p, x = tiny_sbn(3, 2, batch=3, seed=1)
    else:
        q, p, x = linear_gaussian(2, 2, batch=3, seed=1, rsample=kind == "gaussian-pathwise")
    score = kind != "gaussian-pathwise"
    loss_fn = Reinforce(q, p, n_samples=4) if score else ELBO(q, p, n_samples=4)

    def reference(m, x):
        _, lp, lq = m.draw(x, x, reparam=not score)
        return elbo_reference(lp, lq, score_function=score)

    assert_loss_matches_reference(loss_fn, x, reference, seed=3)


@pytest.mark.parametrize("k", [1, 3])
def test_elbo_loss_value_is_unbiased_for_minus_the_elbo(k):
    q, p, x = tiny_sbn(3, 2, batch=2, seed=4)
    loss_fn = Reinforce(q, p, n_samples=k)  # the score-function ELBO: binary latents
    with torch.no_grad():
        values = torch.stack([loss_fn(x.repeat(20, 1)) for _ in range(200)])  # [N]: each the mean of 20 draws
        assert_unbiased(values, -exact_elbo(q, p, x).mean(), failure_rate=FAILURE_RATE)


def test_elbo_is_pathwise_and_rejects_a_q_without_rsample_pointing_to_reinforce():
    q, p, _ = linear_gaussian(rsample=True)
    assert q.has_rsample
    ELBO(q, p)
    q2, p2, _ = tiny_sbn()
    with pytest.raises(ValueError, match="has_rsample is False; use Reinforce"):
        ELBO(q2, p2)
    with pytest.raises(TypeError, match="pathwise"):
        ELBO(q, p, pathwise=False)  # no mode switch: the score-function ELBO is Reinforce


def test_score_function_elbo_is_reinforce_without_baselines_on_the_same_draws():
    """Value and gradients of Reinforce() equal the score-function ELBO reference formula exactly."""
    q, p, x = tiny_sbn(3, 2, batch=3, seed=2)
    loss_fn = Reinforce(q, p, n_samples=3)
    assert len(loss_fn.baselines) == 0
    assert_loss_matches_reference(
        loss_fn, x, lambda m, x: elbo_reference(*m.draw(x, x, reparam=False)[1:], score_function=True), seed=5
    )
