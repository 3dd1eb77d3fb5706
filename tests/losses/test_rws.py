"""RWS: loop reference, unbiasedness of wake-theta / wake-phi / sleep-phi / their mixture and of the
DReG wake-phi, and the bias of wake-phi shrinking with K toward -grad KL(p(z|x) || q(z|x))."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from vaekit import RWS, RWSDReG
from vaekit.losses import rws_dreg_estimate, rws_estimate
from vaekit.testing import (
    assert_matches_reference,
    assert_unbiased,
    exact_gradients,
    exact_iwae,
    exact_iwae_gaussian,
    exact_posterior_fit,
    exact_rws_wake_phi,
    exact_rws_wake_phi_gaussian,
    exact_sleep_objective,
    flat,
    gradient_samples,
    linear_gaussian,
    rws_dreg_reference,
    rws_reference,
    tiny_sbn,
)
from vaekit.testing.strategies import tiny_models


@pytest.mark.parametrize("wake_weight, dreg", [(1.0, False), (0.0, False), (0.3, False), (1.0, True), (0.6, True)])
def test_rws_estimate_matches_loop_reference(wake_weight, dreg):
    g = torch.Generator().manual_seed(0)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)

    for k in (1, 4):
        if dreg:  # (log_p, log_q_stopped, log_p_fixed_z, sleep_log_q)
            ins = [rnd(3, k), rnd(3, k), rnd(3, k), rnd(5)]
            estimate, reference = rws_dreg_estimate, rws_dreg_reference
        else:  # (log_p, log_q, sleep_log_q)
            ins = [rnd(3, k), rnd(3, k), rnd(5)]
            estimate, reference = rws_estimate, rws_reference
        assert_matches_reference(
            lambda *a: estimate(*a, wake_weight=wake_weight),  # noqa: B023 (called at once)
            lambda *a: reference(*a, wake_weight=wake_weight),
            ins,
            generator=g,
        )  # noqa: B023 (called at once)


@settings(max_examples=3)
@given(spec=tiny_models(min_k=1, max_k=3))
def test_wake_theta_wake_phi_sleep_phi_mixture_unbiased(spec):
    """wake_weight=0.3. theta: E[grad] == -grad_theta IWAE_K (K-tuples enumerated);
    phi: E[grad] == -(0.3 E[sum_k wt_k grad log q(z_k|x)] + 0.7 grad E_{p(x,z)} log q(z|x)), both
    exact by enumeration (K-tuples of z; all x and z). z-test, family-wise failure rate 1e-3."""
    q, p, x = spec.build()
    k = spec.n_samples
    phi, theta = list(q.parameters()), list(p.parameters())
    exact_phi = exact_gradients(
        lambda: -(0.3 * exact_rws_wake_phi(q, p, x, k).mean() + 0.7 * exact_sleep_objective(q, p, spec.data_dim)), phi
    )
    exact_theta = exact_gradients(lambda: -exact_iwae(q, p, x, k).mean(), theta)
    loss_fn = RWS(q, p, n_samples=k, wake_weight=0.3)
    samples = gradient_samples(loss_fn, x, phi + theta, 300, replicas=20)
    assert_unbiased(samples, exact_phi + exact_theta, failure_rate=1e-3, name="RWS-mixture")


def test_wake_phi_bias_shrinks_monotonically_with_k():
    """The exact expectation of wake-phi (all K-tuples enumerated) approaches the gradient of
    -KL(p(z|x) || q(z|x)) (exact posterior by enumeration) as K grows. Measured gaps
    ||E[g_K] - target|| on tiny_sbn(seed=0): 0.353, 0.190, 0.092, 0.043 for K = 1, 2, 4, 8
    (K = 1 is ||target||, as E_q[grad log q] = 0); asserted strictly decreasing, and the RWS
    module's wake-phi at K = 2 is checked unbiased for its exact expectation."""
    q, p, x = tiny_sbn(seed=0)
    phi = list(q.parameters())
    target = flat(exact_gradients(lambda: exact_posterior_fit(q, p, x).mean(), phi))
    gaps = []
    for k in (1, 2, 4, 8):
        expected = flat(exact_gradients(lambda: exact_rws_wake_phi(q, p, x, k).mean(), phi))  # noqa: B023 (called at once)
        gaps.append(float((expected - target).norm()))
    assert gaps[0] == pytest.approx(float(target.norm()), rel=1e-9)
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    exact = exact_gradients(lambda: -exact_rws_wake_phi(q, p, x, 2).mean(), phi)
    samples = gradient_samples(RWS(q, p, n_samples=2), x, phi, 300, replicas=20)
    assert_unbiased(samples, exact, failure_rate=1e-3, name="RWS wake-phi")


def test_dreg_wake_phi_unbiased_on_linear_gaussian():
    """RWSDReG on linear_gaussian(latent_dim=1), K = 2: phi's gradient matches the exact
    expectation of the ordinary wake-phi update (Gauss-Hermite quadrature, 40 nodes per dim) and
    theta's matches -grad_theta IWAE_2 (quadrature). z-test, family-wise failure rate 1e-3."""
    q, p, x = linear_gaussian(latent_dim=1, seed=1)
    phi, theta = list(q.parameters()), list(p.parameters())
    exact = exact_gradients(lambda: -exact_rws_wake_phi_gaussian(q, p, x, 2).mean(), phi) + exact_gradients(
        lambda: -exact_iwae_gaussian(q, p, x, 2).mean(), theta
    )
    samples = gradient_samples(RWSDReG(q, p, n_samples=2), x, phi + theta, 300, replicas=20)
    assert_unbiased(samples, exact, failure_rate=1e-3, name="RWS-DReG")


def test_construction_errors_and_value():
    q, p, x = tiny_sbn()
    with pytest.raises(ValueError, match="reparameterisable"):
        RWSDReG(q, p)
    qg, pg, _ = linear_gaussian()
    with pytest.raises(ValueError, match="RWSDReG: wake_weight must be in \\(0, 1\\].*use RWS"):
        RWSDReG(qg, pg, wake_weight=0.0)
    with pytest.raises(TypeError, match="phi_update"):
        RWS(q, p, phi_update="both")  # no string modes: wake_weight says it
    with pytest.raises(TypeError, match="wake_weight must be a float; got str"):
        RWS(q, p, wake_weight="mixture")
    with pytest.raises(ValueError, match="wake_weight must be in \\[0, 1\\]; got 1.5"):
        RWS(q, p, wake_weight=1.5)
    with pytest.raises(ValueError, match="needs sleep_log_q"):
        rws_estimate(torch.zeros(2, 3), torch.zeros(2, 3), wake_weight=0.5)
    loss_fn = RWS(q, p, n_samples=3, wake_weight=0.0)
    loss = loss_fn(x)
    iwae_3 = torch.logsumexp(loss_fn.log_p_ - loss_fn.log_q_, -1).sub(torch.log(torch.tensor(3.0)))
    torch.testing.assert_close(loss, -iwae_3.mean())
    with pytest.raises(ValueError, match="target == x"):
        loss_fn(x, target=x.clone())
