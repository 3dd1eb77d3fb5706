"""assert_matches_reference accepts an estimator equal to its reference and rejects one that differs
in value, or in gradient alone."""

import pytest
import torch

from vaekit.losses import iwae_estimate, vimco_estimate
from vaekit.testing import assert_matches_reference, elbo_reference, iwae_reference, vimco_reference


def _inputs(seed=0, b=3, k=4):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, k, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2)]


def test_accepts_the_matching_pair():
    assert_matches_reference(vimco_estimate, vimco_reference, _inputs())


def test_rejects_a_different_value():
    with pytest.raises(AssertionError, match="values differ"):
        assert_matches_reference(
            lambda lp, lq: iwae_estimate(lp, lq, score_function=False),
            lambda lp, lq: elbo_reference(lp, lq, score_function=False),
            _inputs(),
        )


def test_rejects_the_same_value_with_another_gradient():
    # Score-function IWAE and VIMCO share the value (the bound) but not the gradient w.r.t. log q.
    with pytest.raises(AssertionError, match="gradients w.r.t. input 1 differ"):
        assert_matches_reference(lambda lp, lq: iwae_estimate(lp, lq, score_function=True), vimco_reference, _inputs())
    # And the pathwise form differs from the score-function reference in its log-q gradient too.
    with pytest.raises(AssertionError, match="gradients w.r.t. input 1 differ"):
        assert_matches_reference(
            lambda lp, lq: iwae_estimate(lp, lq, score_function=False),
            lambda lp, lq: iwae_reference(lp, lq, score_function=True),
            _inputs(),
        )


def test_loss_check_accepts_the_right_wiring_and_rejects_the_wrong_one():
    from vaekit import VIMCO, Reinforce
    from vaekit.testing import assert_loss_matches_reference, tiny_sbn

    q, p, x = tiny_sbn(3, 2, batch=3, seed=2)

    def replay(reference):
        return lambda m, x: reference(*m.draw(x, x, reparam=False)[1:])

    assert_loss_matches_reference(VIMCO(q, p, n_samples=3), x, replay(vimco_reference))
    # The score-function ELBO's module scored against the IWAE reference: the values (and gradients) differ for K > 1.
    with pytest.raises(AssertionError, match="values differ"):
        assert_loss_matches_reference(
            Reinforce(q, p, n_samples=3), x, replay(lambda lp, lq: iwae_reference(lp, lq, score_function=True))
        )
    # VIMCO's module against the no-baseline IWAE reference: same value, other inference gradients.
    with pytest.raises(AssertionError, match="gradient of inf_net"):
        assert_loss_matches_reference(
            VIMCO(q, p, n_samples=3), x, replay(lambda lp, lq: iwae_reference(lp, lq, score_function=True))
        )
