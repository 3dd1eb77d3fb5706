"""WakeSleep: loop reference, wake-theta and sleep-phi unbiased against exact enumeration, validation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from vaekit import WakeSleep
from vaekit.losses import wake_sleep_estimate
from vaekit.testing import (
    assert_matches_reference,
    assert_unbiased,
    exact_elbo,
    exact_gradients,
    exact_sleep_objective,
    gradient_samples,
    tiny_sbn,
    wake_sleep_reference,
)
from vaekit.testing.strategies import tiny_models


def test_wake_sleep_estimate_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    for k in (1, 3):
        log_p = torch.randn(2, k, generator=g, dtype=torch.float64, requires_grad=True)
        log_q = torch.randn(2, k, generator=g, dtype=torch.float64, requires_grad=True)
        sleep = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
        assert_matches_reference(wake_sleep_estimate, wake_sleep_reference, [log_p, log_q, sleep], generator=g)


@settings(max_examples=3)
@given(spec=tiny_models(min_k=1, max_k=3))
def test_wake_theta_and_sleep_phi_are_unbiased(spec):
    """theta: E[grad] == -grad_theta ELBO (enumeration over z); phi: E[grad] == -grad_phi
    E_{p(x,z)}[log q(z|x)] (enumeration over x and z). z-test, family-wise failure rate 1e-3."""
    q, p, x = spec.build()
    phi, theta = list(q.parameters()), list(p.parameters())
    exact = exact_gradients(lambda: -exact_sleep_objective(q, p, spec.data_dim), phi) + exact_gradients(
        lambda: -exact_elbo(q, p, x).mean(), theta
    )
    samples = gradient_samples(WakeSleep(q, p, n_samples=spec.n_samples), x, phi + theta, 300, replicas=20)
    assert_unbiased(samples, exact, failure_rate=1e-3, name="WakeSleep")


def test_value_is_the_wake_elbo_and_validation():
    q, p, x = tiny_sbn(batch=3)
    loss_fn = WakeSleep(q, p, n_samples=2, n_sleep=7)
    loss = loss_fn(x)
    torch.testing.assert_close(loss, -(loss_fn.log_p_ - loss_fn.log_q_).mean())
    with pytest.raises(ValueError, match="target == x"):
        loss_fn(x, target=x.clone())
    with pytest.raises(ValueError, match="n_sleep"):
        WakeSleep(q, p, n_sleep=0)
