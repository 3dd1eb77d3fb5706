"""TVO: float64 loop reference, the one-interval partition is the ELBO (value exactly; gradient in
expectation, with the documented (K-1)/K factor on phi), the exact TVO's ordering, the estimator
unbiased for its own exact expectation (enumeration of K-tuples) and its bias shrinking with K,
partition errors.

Statistical asserts: each has a family-wise failure rate of FAILURE_RATE (Bonferroni over the
gradient coordinates) for an unbiased estimator; seeds are fixed.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaekit import TVO, elbo_estimate, log_uniform_partition, tvo_estimate
from vaekit.testing import (
    assert_gradient_unbiased,
    assert_loss_matches_reference,
    assert_matches_reference,
    assert_unbiased,
    exact_elbo,
    exact_gradients,
    exact_log_marginal,
    exact_tvo,
    exact_tvo_estimator_mean,
    gradient_samples,
    tiny_sbn,
    tvo_reference,
)

FAILURE_RATE = 1e-4
N_DRAWS, REPLICAS = 300, 50
PARTITIONS = [[0.0, 1.0], [0.0, 0.5, 1.0], [0.0, 0.01, 0.1, 0.6, 1.0]]


@settings(max_examples=25)
@given(
    b=st.integers(1, 3),
    k=st.integers(1, 5),
    spread=st.sampled_from([0.1, 1.0, 10.0, 300.0]),
    seed=st.integers(0, 2**16),
    partition=st.sampled_from(PARTITIONS + [log_uniform_partition().tolist()]),
)
def test_tvo_estimate_matches_the_float64_loop_reference(b, k, spread, seed, partition):
    g = torch.Generator().manual_seed(seed)
    log_p = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    log_q = (spread * torch.randn(b, k, generator=g, dtype=torch.float64)).requires_grad_()
    part = torch.tensor(partition, dtype=torch.float64)
    assert_matches_reference(
        lambda lp, lq: tvo_estimate(lp, lq, part),
        lambda lp, lq: tvo_reference(lp, lq, partition),
        [log_p, log_q],
        rtol=1e-10,
        atol=1e-9,
        generator=g,
    )


def test_one_interval_partition_gives_the_elbo_value_exactly():
    g = torch.Generator().manual_seed(0)
    log_p, log_q = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    got = tvo_estimate(log_p, log_q, torch.tensor([0.0, 1.0]))
    assert torch.allclose(got, elbo_estimate(log_p, log_q), rtol=0, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3])
def test_one_interval_partition_gradient_is_the_elbo_gradient_with_phi_scaled_by_k_minus_1_over_k(k):
    """At beta = 0 the covariance is centred on the sample mean (itself included): theta's gradient is
    unbiased for grad ELBO, phi's for (K-1)/K grad ELBO (the documented bias)."""
    q, p, x = tiny_sbn(3, 2, batch=2, seed=5)
    phi, theta = list(q.parameters()), list(p.parameters())
    exact_phi = exact_gradients(lambda: -exact_elbo(q, p, x).mean(), phi)
    exact_theta = exact_gradients(lambda: -exact_elbo(q, p, x).mean(), theta)
    samples = gradient_samples(
        TVO(q, p, n_samples=k, partition=torch.tensor([0.0, 1.0])), x, phi + theta, N_DRAWS, replicas=REPLICAS
    )
    exact = [g * (k - 1) / k for g in exact_phi] + exact_theta
    assert_unbiased(samples, exact, failure_rate=FAILURE_RATE, name=f"TVO([0, 1]) K={k}")


@pytest.mark.parametrize("partition", PARTITIONS[1:])
@pytest.mark.parametrize("k", [2, 3])
def test_tvo_gradient_is_unbiased_for_its_exact_expectation_on_the_sbn(partition, k):
    q, p, x = tiny_sbn(3, 2, batch=2, seed=k)
    part = torch.tensor(partition, dtype=torch.float64)
    assert_gradient_unbiased(
        TVO(q, p, n_samples=k, partition=part),
        x,
        lambda: exact_tvo_estimator_mean(q, p, x, k, partition),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        name=f"TVO {partition}",
    )


def test_tvo_loss_value_is_unbiased_for_minus_its_exact_expectation():
    q, p, x = tiny_sbn(3, 2, batch=2, seed=4)
    part = torch.tensor(PARTITIONS[2], dtype=torch.float64)
    loss_fn = TVO(q, p, n_samples=3, partition=part)
    with torch.no_grad():
        values = torch.stack([loss_fn(x.repeat(20, 1)) for _ in range(200)])  # [N]: each the mean of 20 draws
        assert_unbiased(values, -exact_tvo_estimator_mean(q, p, x, 3, PARTITIONS[2]).mean(), failure_rate=FAILURE_RATE)


def test_self_normalisation_bias_shrinks_with_k():
    """The estimator's exact expectation (value and gradient) approaches the exact TVO as K grows."""
    q, p, x = tiny_sbn(3, 2, batch=2, seed=3)
    partition = PARTITIONS[2]
    params = list(q.parameters()) + list(p.parameters())
    target = exact_tvo(q, p, x, partition)
    g_target = torch.cat([g.reshape(-1) for g in exact_gradients(lambda: target.mean(), params)])
    value_gap, grad_gap = [], []
    for k in (1, 2, 4, 6):
        mean = exact_tvo_estimator_mean(q, p, x, k, partition)
        g = torch.cat([t.reshape(-1) for t in exact_gradients(lambda m=mean: m.mean(), params)])
        value_gap.append(float((mean - target).detach().abs().max()))
        grad_gap.append(float((g - g_target).norm()))
    assert all(a > b for a, b in zip(value_gap, value_gap[1:])), value_gap
    assert all(a > b for a, b in zip(grad_gap, grad_gap[1:])), grad_gap


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_tvo_lies_between_elbo_and_log_marginal_and_rises_with_refinement(seed):
    q, p, x = tiny_sbn(3, 2, batch=2, seed=seed)
    with torch.no_grad():
        elbo, log_px = exact_elbo(q, p, x), exact_log_marginal(p, x)
        coarse = exact_tvo(q, p, x, [0.0, 0.5, 1.0])
        fine = exact_tvo(q, p, x, [0.0, 0.25, 0.5, 0.75, 1.0])  # a refinement of the coarse grid
        very_fine = exact_tvo(q, p, x, torch.linspace(0, 1, 2001).tolist())
    torch.testing.assert_close(exact_tvo(q, p, x, [0.0, 1.0]), elbo, rtol=0, atol=1e-12)
    assert (elbo <= coarse + 1e-12).all() and (coarse <= fine + 1e-12).all() and (fine <= log_px + 1e-12).all()
    # The left Riemann sum converges to the thermodynamic integral log p(x) (error O(1/N)).
    assert ((log_px - very_fine) < 1e-2 * (log_px - elbo)).all() and (very_fine <= log_px).all()


def test_tvo_module_matches_the_reference_on_the_same_draw():
    q, p, x = tiny_sbn(3, 2, batch=3, seed=1)
    partition = PARTITIONS[2]
    assert_loss_matches_reference(
        TVO(q, p, n_samples=4, partition=torch.tensor(partition, dtype=torch.float64)),
        x,
        lambda m, x: tvo_reference(*m.draw(x, x, reparam=False)[1:], partition),
        seed=3,
    )


def test_default_partition_is_log_uniform_and_a_buffer():
    q, p, _ = tiny_sbn()
    loss_fn = TVO(q, p)
    part = log_uniform_partition()
    assert torch.equal(loss_fn.partition, part) and "partition" in loss_fn.state_dict()
    assert part[0] == 0 and part[-1] == 1 and part.shape == (6,)
    torch.testing.assert_close(
        part[1:].log().diff(), torch.full((4,), torch.tensor(10.0).log().item() / 4, dtype=torch.float64)
    )


@pytest.mark.parametrize(
    "bad,match",
    [
        (torch.tensor([0.0, 0.5, 1.5]), r"lie in \[0, 1\]"),
        (torch.tensor([-0.1, 0.5, 1.0]), r"lie in \[0, 1\]"),
        (torch.tensor([0.0, 0.6, 0.4, 1.0]), "strictly increasing"),
        (torch.tensor([0.0, 0.5, 0.5, 1.0]), "strictly increasing"),
        (torch.tensor([0.0, 0.5]), "start at 0 and end at 1"),
        (torch.tensor([0.2, 1.0]), "start at 0 and end at 1"),
        (torch.tensor([0.0]), "at least 2 points"),
        (torch.tensor([[0.0, 1.0]]), "1-d"),
        (torch.tensor([0.0, float("nan"), 1.0]), r"lie in \[0, 1\]"),
    ],
)
def test_bad_partitions_raise_value_error(bad, match):
    q, p, _ = tiny_sbn()
    with pytest.raises(ValueError, match=match):
        TVO(q, p, partition=bad)
    with pytest.raises(ValueError, match=match):
        tvo_estimate(torch.zeros(1, 2), torch.zeros(1, 2), bad)


def test_partition_of_the_wrong_type_raises_type_error():
    q, p, _ = tiny_sbn()
    for bad in ([0.0, 1.0], torch.tensor([0, 1])):
        with pytest.raises(TypeError, match="float tensor"):
            TVO(q, p, partition=bad)
    with pytest.raises(ValueError, match="n_intervals"):
        log_uniform_partition(0)
    with pytest.raises(ValueError, match="beta_min"):
        log_uniform_partition(3, beta_min=1.0)
