"""Reinforce: float64 loop reference, unbiasedness of every baseline and their composition, contract details."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from losses.family_helpers import exact_elbo_any
from vaekit import InputDependentBaseline, LeaveOneOut, MovingAverage, Reinforce, VarianceNormalization
from vaekit.losses import reinforce_estimate
from vaekit.testing import (
    assert_loss_matches_reference,
    assert_matches_reference,
    assert_unbiased,
    elbo_reference,
    exact_gradients,
    gradient_samples,
    reinforce_reference,
    tiny_sbn,
)
from vaekit.testing.strategies import tiny_models


def test_reinforce_estimate_matches_loop_reference():
    """Value and gradient (w.r.t. log_p and log_q) of the vectorised estimate equal the loop's to 1e-6."""
    g = torch.Generator().manual_seed(1)
    for k in (1, 2, 5):
        log_p = torch.randn(3, k, generator=g, dtype=torch.float64, requires_grad=True)
        log_q = torch.randn(3, k, generator=g, dtype=torch.float64, requires_grad=True)
        baseline = torch.randn(3, k, generator=g, dtype=torch.float64)
        for scale in (1.0, 2.5):
            assert_matches_reference(
                lambda lp, lq: reinforce_estimate(lp, lq, baseline, scale=torch.tensor(scale, dtype=torch.float64)),  # noqa: B023 (called at once)
                lambda lp, lq: reinforce_reference(lp, lq, baseline, scale),
                [log_p, log_q],
                generator=g,
            )  # noqa: B023 (called at once)


def test_no_baseline_is_the_score_function_elbo():
    """With no baseline, Reinforce is the score-function ELBO: the same value and gradient as the
    ELBO's score-function loop reference on the same draws (test_elbo.py checks its unbiasedness)."""
    q, p, x = tiny_sbn(batch=3, seed=4)
    assert_loss_matches_reference(
        Reinforce(q, p, n_samples=3),
        x,
        lambda m, x: elbo_reference(*m.draw(x, x, reparam=False)[1:], score_function=True),
        seed=11,
    )


def _baselines(config: str, data_dim: int, k: int):
    def ma():
        m = MovingAverage().double()
        m.value.fill_(-3.0)  # a state far from 0, as after warm-up; frozen for every draw
        m.n_updates.fill_(1)
        return m

    def learned():
        g = torch.Generator().manual_seed(5)
        net = torch.nn.Linear(data_dim, 1).double()
        with torch.no_grad():
            for prm in net.parameters():
                prm.copy_(torch.randn(prm.shape, generator=g, dtype=torch.float64))
        return InputDependentBaseline(net)

    return {
        "moving_average": lambda: [ma()],
        "leave_one_out": lambda: [LeaveOneOut()],
        "learned": lambda: [learned()],
        "nvil_composed": lambda: [ma(), learned(), LeaveOneOut()],
    }[config]()


@pytest.mark.parametrize("config", ["moving_average", "leave_one_out", "learned", "nvil_composed"])
@settings(max_examples=2)
@given(spec=tiny_models(min_k=2, max_k=3, kinds=("sbn", "gaussian_score")))
def test_unbiased_for_elbo_gradient(config, spec):
    """E[gradient] == grad(-ELBO) exactly (enumeration / closed form), z-test at family-wise failure rate 1e-3."""
    q, p, x = spec.build()
    loss_fn = Reinforce(q, p, n_samples=spec.n_samples, baselines=_baselines(config, spec.data_dim, spec.n_samples))
    params = list(q.parameters()) + list(p.parameters())
    exact = exact_gradients(lambda: -exact_elbo_any(q, p, x, spec.kind).mean(), params)
    samples = gradient_samples(loss_fn, x, params, 300, replicas=20)
    assert_unbiased(samples, exact, failure_rate=1e-3, name=f"Reinforce[{config}]")


@settings(max_examples=2)
@given(spec=tiny_models(min_k=1, max_k=3))
def test_variance_normalization_scales_the_score_term(spec):
    """With the divisor s = max(1, sqrt(v)) = 2 frozen: theta's gradient is unbiased for grad(-ELBO),
    phi's for grad_phi(-ELBO) / 2 (the score term is scaled, the zero-mean -grad log q term is not,
    so the expectation is exactly the scaled phi-gradient)."""
    q, p, x = spec.build()
    vn = VarianceNormalization().double()
    vn.variance.fill_(4.0)
    vn.n_updates.fill_(1)
    loss_fn = Reinforce(q, p, n_samples=spec.n_samples, baselines=[vn])
    phi, theta = list(q.parameters()), list(p.parameters())
    exact_phi = [g / 2 for g in exact_gradients(lambda: -exact_elbo_any(q, p, x, spec.kind).mean(), phi)]
    exact_theta = exact_gradients(lambda: -exact_elbo_any(q, p, x, spec.kind).mean(), theta)
    samples = gradient_samples(loss_fn, x, phi + theta, 300, replicas=20)
    assert_unbiased(samples, exact_phi + exact_theta, failure_rate=1e-3, name="Reinforce[variance_normalization]")


def test_baselines_update_after_use_and_validation():
    q, p, x = tiny_sbn(batch=4, seed=1)
    ma = MovingAverage(decay=0.5).double()
    loss_fn = Reinforce(q, p, n_samples=2, baselines=[ma])
    loss_fn(x)
    first = loss_fn.log_p_ - loss_fn.log_q_
    assert ma.value.item() == pytest.approx(first.mean().item())  # first update sets the mean
    with pytest.raises(ValueError, match="LeaveOneOut needs n_samples >= 2"):
        Reinforce(q, p, n_samples=1, baselines=[LeaveOneOut()])
    with pytest.raises(TypeError, match="must be a vaekit.baselines.Baseline"):
        Reinforce(q, p, n_samples=2, baselines=["moving_average"])
    with pytest.raises(TypeError, match="baselines must be a list of vaekit.baselines.Baseline objects; got str"):
        Reinforce(q, p, n_samples=2, baselines="moving_average")
    with pytest.raises(TypeError, match="variance_normalization"):
        Reinforce(q, p, variance_normalization=True)  # removed: the VarianceNormalization() object says it
