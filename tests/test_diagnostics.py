"""vaekit.diagnostics: gradient statistics agree with an independent computation; state is left alone."""

from __future__ import annotations

import math

import pytest
import torch

from vaekit import VIMCO, LeaveOneOut, MovingAverage, Reinforce, compare_estimators, gradient_stats
from vaekit.testing import exact_elbo, exact_gradients, gradient_samples, tiny_sbn


def test_stats_equal_sample_mean_and_variance_on_the_same_draws():
    """gradient_stats and vaekit.testing.gradient_samples consume the RNG identically, so on the
    same seed their per-parameter mean and unbiased variance agree to rounding."""
    q, p, x = tiny_sbn(batch=3, seed=1)
    loss_fn = VIMCO(q, p, n_samples=3)
    names = [n for n, _ in loss_fn.named_parameters()]
    torch.manual_seed(7)
    stats = gradient_stats(loss_fn, x, n_draws=50)
    torch.manual_seed(7)
    samples = gradient_samples(loss_fn, x, [dict(loss_fn.named_parameters())[n] for n in names], 50)
    offset = 0
    assert list(stats) == names
    for n in names:
        s = stats[n]
        size = s.mean.numel()
        col = samples[:, offset : offset + size]
        offset += size
        torch.testing.assert_close(s.mean.reshape(-1), col.mean(0), atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(s.variance.reshape(-1), col.var(0, unbiased=True), atol=1e-12, rtol=1e-9)
        expected_snr = col.mean(0).abs() / col.std(0)  # 0/0 = NaN where a coordinate never moves (x_d = 0)
        torch.testing.assert_close(s.snr.reshape(-1), expected_snr, atol=1e-9, rtol=1e-9, equal_nan=True)


def test_mean_is_unbiased_and_buffers_history_untouched():
    """The mean gradient of a stateful Reinforce over N draws is unbiased for the exact ELBO
    gradient (z-test from the reported variances, failure rate 1e-3); buffers, .grad and the loss
    history are as before the call."""
    q, p, x = tiny_sbn(batch=2, seed=2)
    ma = MovingAverage().double()
    ma.value.fill_(-2.0)
    loss_fn = Reinforce(q, p, n_samples=3, baselines=[ma, LeaveOneOut()])
    stats = gradient_stats(loss_fn, x, n_draws=1000)
    assert ma.value.item() == -2.0 and int(ma.n_updates) == 0
    assert loss_fn.loss_history_ == []
    assert all(prm.grad is None for prm in loss_fn.parameters())
    params = [dict(loss_fn.named_parameters())[n] for n in stats]
    exact = exact_gradients(lambda: -exact_elbo(q, p, x).mean(), params)
    # z-test per coordinate from the reported mean and variance, Bonferroni over coordinates.
    mean = torch.cat([s.mean.reshape(-1) for s in stats.values()])
    se = torch.cat([s.variance.reshape(-1) for s in stats.values()]).sqrt() / math.sqrt(1000)
    dev = (mean - torch.cat([e.reshape(-1) for e in exact])).abs()
    crit = float(-torch.special.ndtri(torch.tensor(1e-3 / (2 * mean.numel()), dtype=torch.float64)))
    assert bool((dev <= crit * se + 1e-12).all()), (dev / se).max()


def test_compare_estimators_table_and_validation():
    q, p, x = tiny_sbn(batch=4, seed=3)
    table = compare_estimators(
        {"plain": Reinforce(q, p, n_samples=4), "loo": Reinforce(q, p, n_samples=4, baselines=[LeaveOneOut()])},
        x,
        n_draws=30,
    )
    rows = {(r["estimator"], r["parameter"]): r for r in table}
    assert rows[("plain", "inf_net (all)")]["variance_ratio"] == 1.0
    loo = rows[("loo", "inf_net (all)")]
    assert loo["variance_ratio"] == pytest.approx(table.variance("plain", "inf_net (all)") / loo["total_variance"])
    total = sum(r["total_variance"] for r in table if r["estimator"] == "loo" and r["parameter"].startswith("inf_net."))
    assert loo["total_variance"] == pytest.approx(total)
    text = str(table)
    assert "inf_net (all)" in text and "var ratio" in text and len(text.splitlines()) == 2 + len(table)
    with pytest.raises(ValueError, match="n_draws"):
        gradient_stats(Reinforce(q, p), x, n_draws=1)
    with pytest.raises(ValueError, match="unknown parameter"):
        gradient_stats(Reinforce(q, p), x, params=["nope"])
