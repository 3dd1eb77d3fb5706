"""Biased discrete-latent estimators (Gumbel-softmax, straight-through Gumbel, Gumbel-Rao) and the
errors of every discrete estimator (issue 12).

The relaxed objective and the expected straight-through gradient of the toy f(b) = (b - 0.49)^2 are
computed by a midpoint rule over the uniform u behind the logistic noise L = logit(u) (float64,
200000 nodes; the integrands are smooth and bounded, so the rule's error is far below the standard
errors). Statistical asserts: family-wise failure rate FAILURE_RATE, fixed seeds.
"""

from __future__ import annotations

import pytest
import torch

import vaekit
from vaekit import ARM, ARMS, REBAR, RELAX, DisARM, Enumerate, GumbelRao, GumbelSoftmax, IndeCateR, LocalDisARM
from vaekit.latents import (
    BernoulliDecoder,
    CategoricalDecoder,
    CategoricalEncoder,
    ExponentialAnnealing,
    GaussianEncoder,
    SigmoidBeliefNet,
    conditional_logistic,
    uniform_noise,
)
from vaekit.losses import gumbel_rao_latents, gumbel_softmax_latents
from vaekit.testing import (
    assert_gradient_unbiased,
    assert_less_equal_stat,
    assert_unbiased,
    gradient_samples,
    tiny_categorical,
    tiny_sbn,
)

FAILURE_RATE = 1e-4
N_TOY = 20_000
GRID = (torch.arange(200_000, dtype=torch.float64) + 0.5) / 200_000  # midpoints of (0, 1)


def _f(z):
    return (z - 0.49).pow(2)


def _rows(a0, n=N_TOY):
    return torch.full((n, 1, 1), a0, dtype=torch.float64, requires_grad=True)


def _logistic(n):
    u = uniform_noise((n, 1, 1), dtype=torch.float64)
    return torch.log(u) - torch.log1p(-u)


def _expected_st_gradient(a0, tau):
    """E_L[ d/da f(ST(a + L)) ] = E[ 2 (H - 0.49) sigmoid'((a + L)/tau) / tau ], by quadrature."""
    y = a0 + torch.log(GRID) - torch.log1p(-GRID)
    s = torch.sigmoid(y / tau)
    return (2 * ((y > 0).double() - 0.49) * s * (1 - s) / tau).mean()


def test_straight_through_gumbel_gets_the_sign_wrong_at_logit_minus_two():
    """True gradient (1 - 0.98) p (1 - p) > 0; ST-Gumbel's mean is negative (and equals its quadrature)."""
    a = _rows(-2.0)
    z = gumbel_softmax_latents(a, _logistic(N_TOY), 1.0, one_hot=False, straight_through=True)
    _f(z).sum().backward()
    p = torch.sigmoid(torch.tensor(-2.0, dtype=torch.float64))
    true = (1 - 2 * 0.49) * p * (1 - p)
    expected = _expected_st_gradient(-2.0, 1.0)
    assert true > 0 > expected
    assert_unbiased(a.grad.reshape(-1, 1), expected.reshape(1), failure_rate=FAILURE_RATE)
    se = a.grad.std() / N_TOY**0.5
    assert a.grad.mean() + 5 * se < 0  # the measured mean is significantly negative


def test_gumbel_rao_has_the_straight_through_mean_and_lower_variance():
    a = _rows(-2.0)
    y = a.detach() + _logistic(N_TOY)
    hard = (y > 0).double()
    a_rep = a.detach().unsqueeze(2).expand(N_TOY, 1, 16, 1)
    noise = conditional_logistic(a_rep, hard.unsqueeze(2).expand_as(a_rep)) - a_rep
    z = gumbel_rao_latents(a, hard, noise, 1.0, one_hot=False)
    _f(z).sum().backward()
    assert_unbiased(a.grad.reshape(-1, 1), _expected_st_gradient(-2.0, 1.0).reshape(1), failure_rate=FAILURE_RATE)
    b = _rows(-2.0)
    _f(gumbel_softmax_latents(b, _logistic(N_TOY), 1.0, one_hot=False, straight_through=True)).sum().backward()
    ga, gb = a.grad.reshape(-1, 1), b.grad.reshape(-1, 1)
    assert ga.var() < gb.var()
    assert_less_equal_stat((ga - ga.mean()).pow(2), (gb - gb.mean()).pow(2), failure_rate=FAILURE_RATE)


@pytest.mark.parametrize("tau", [0.3, 1.0])
def test_relaxed_gradient_is_exact_for_the_relaxed_objective(tau):
    a = _rows(0.4)
    _f(gumbel_softmax_latents(a, _logistic(N_TOY), tau, one_hot=False)).sum().backward()
    a0 = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    relaxed = _f(torch.sigmoid((a0 + torch.log(GRID) - torch.log1p(-GRID)) / tau)).mean()
    (exact,) = torch.autograd.grad(relaxed, a0)
    assert_unbiased(a.grad.reshape(-1, 1), exact.reshape(1), failure_rate=FAILURE_RATE)


def test_gumbel_softmax_loss_is_unbiased_for_its_relaxed_objective_on_a_one_latent_sbn():
    """Relaxed ELBO E_L[log p(x, z~) - log q(z~|x)] by quadrature through both models; both models' parameters."""
    q, p, x = tiny_sbn(3, 1, seed=11)
    tau = 0.7
    grid = ((torch.arange(4000, dtype=torch.float64) + 0.5) / 4000).reshape(1, -1, 1)

    def relaxed_elbo():
        logits = q(x).params_["logits"].unsqueeze(1)  # [B, 1, 1]
        z = torch.sigmoid((logits + torch.log(grid) - torch.log1p(-grid)) / tau)  # [B, M, 1]
        return (p(x, z).log_prob(x, z) - q.log_prob(z)).mean(-1)  # [B]

    params = list(q.parameters()) + list(p.parameters())
    assert_gradient_unbiased(
        GumbelSoftmax(q, p, temperature=tau),
        x,
        relaxed_elbo,
        params,
        n_draws=200,
        replicas=20,
        failure_rate=FAILURE_RATE,
        atol=1e-5,
        name="GumbelSoftmax",
    )


def test_gumbel_softmax_is_biased_for_the_elbo_on_a_categorical_model():
    q, p, x = tiny_categorical(seed=12)
    params = [w for w in list(q.parameters()) + list(p.parameters()) if w.requires_grad]
    exact = torch.autograd.grad(Enumerate(q, p)(x), params)
    samples = gradient_samples(GumbelSoftmax(q, p, temperature=1.0, n_samples=4), x, params, 200, replicas=10)
    with pytest.raises(AssertionError, match="looks biased"):
        assert_unbiased(samples, exact, failure_rate=FAILURE_RATE)


def test_annealed_temperature_follows_the_schedule_and_the_step_counter():
    q, p, x = tiny_categorical(seed=13)
    loss_fn = GumbelSoftmax(q, p, temperature=ExponentialAnnealing(start=1.0, rate=0.5, minimum=0.2))
    assert loss_fn.current_temperature() == 1.0
    for _ in range(3):
        loss_fn(x)
    assert int(loss_fn.step_) == 3 and loss_fn.current_temperature() == pytest.approx(max(0.2, 2.718281828**-1.5))
    with torch.no_grad():
        loss_fn(x)
    assert int(loss_fn.step_) == 3  # evaluation calls do not advance the schedule


def test_biased_estimators_say_so_and_unbiased_ones_too():
    assert not GumbelSoftmax.unbiased and not GumbelRao.unbiased
    assert all(c.unbiased for c in (Enumerate, ARM, DisARM, LocalDisARM, ARMS, IndeCateR, REBAR, RELAX))


# -- bad input ---------------------------------------------------------------------------------------------

LOGIT_LOSSES = {
    "Enumerate": lambda q, p: Enumerate(q, p),
    "ARM": lambda q, p: ARM(q, p),
    "DisARM": lambda q, p: DisARM(q, p),
    "LocalDisARM": lambda q, p: LocalDisARM(q, p, n_pairs=2),
    "ARMS": lambda q, p: ARMS(q, p, n_samples=3),
    "GumbelSoftmax": lambda q, p: GumbelSoftmax(q, p),
    "GumbelRao": lambda q, p: GumbelRao(q, p),
    "IndeCateR": lambda q, p: IndeCateR(q, p),
    "REBAR": lambda q, p: REBAR(q, p),
    "RELAX": lambda q, p: RELAX(q, p, control=torch.nn.Linear(2, 1)),
    "CategoricalDisARM": lambda q, p: vaekit.CategoricalDisARM(q, p),
    "CategoricalDisARMIW": lambda q, p: vaekit.CategoricalDisARMIW(q, p),
}


@pytest.mark.parametrize("name", list(LOGIT_LOSSES))
def test_an_inf_net_without_logits_is_a_clear_error(name):
    loss_fn = LOGIT_LOSSES[name](GaussianEncoder(4, 2), BernoulliDecoder(2, 4))
    with pytest.raises(ValueError, match=rf"{name} needs the logits .*GaussianEncoder.params_ has keys"):
        loss_fn(torch.ones(3, 4))


@pytest.mark.parametrize("name", ["ARM", "DisARM", "LocalDisARM", "ARMS", "REBAR", "RELAX"])
def test_bernoulli_only_estimators_reject_one_hot_latents(name):
    loss_fn = LOGIT_LOSSES[name](CategoricalEncoder(4, 1, 2), CategoricalDecoder(1, 2, 4))
    with pytest.raises(ValueError, match="Bernoulli latents"):
        loss_fn(torch.ones(3, 4))


@pytest.mark.parametrize(
    "make",
    [
        lambda q, p: GumbelSoftmax(q, p),
        lambda q, p: REBAR(q, p),
        lambda q, p: RELAX(q, p, control=torch.nn.Linear(2, 1)),
    ],
    ids=["GumbelSoftmax", "REBAR", "RELAX"],
)
def test_a_decoder_that_rejects_relaxed_latents_is_a_clear_error(make):
    from vaekit.latents import BernoulliEncoder

    loss_fn = make(BernoulliEncoder(4, 2), SigmoidBeliefNet(2, 4, validate_args=True))
    with pytest.raises(
        ValueError, match="needs a GenModel \\(decoder\\) that accepts relaxed latents.*SigmoidBeliefNet"
    ):
        loss_fn(torch.ones(3, 4))


@pytest.mark.parametrize("bad", [0.0, -0.5, float("inf")])
def test_non_positive_temperatures_are_rejected(bad):
    q, p, _ = tiny_sbn()
    for make in (
        lambda: GumbelSoftmax(q, p, temperature=bad),
        lambda: GumbelRao(q, p, temperature=bad),
        lambda: REBAR(q, p, temperature=bad),
    ):
        with pytest.raises(ValueError, match="temperature must be"):
            make()
    with pytest.raises(TypeError, match="straight_through must be a bool"):
        GumbelSoftmax(q, p, straight_through=1)
