"""Unbiased discrete-latent estimators (issue 12) against exact gradients by enumeration.

Models: tiny_sbn (2 binary latents) and tiny_categorical (2 variables x 3 classes), both started
from random parameters (away from any optimum); the toy f(b) = (b - 0.49)^2 whose logit gradient
is (1 - 2 * 0.49) p (1 - p). Every statistical assert has a family-wise failure rate of
FAILURE_RATE for a correct estimator (Bonferroni over coordinates), with the suite's fixed seeds.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from vaekit import ARM, ARMS, REBAR, RELAX, CategoricalDisARM, DisARM, Enumerate, IndeCateR, LocalDisARM
from vaekit.latents import conditional_logistic, uniform_noise
from vaekit.losses import (
    all_configurations,
    arm_estimate,
    arms_estimate,
    dirichlet_copula_uniforms,
    disarm_estimate,
    indecater_estimate,
    local_disarm_estimate,
    rebar_logit_gradient,
    stick_breaking_logits,
    stick_breaking_one_hot,
)
from vaekit.testing import (
    assert_gradient_unbiased,
    assert_less_equal_stat,
    assert_unbiased,
    exact_elbo,
    exact_iwae,
    gradient_samples,
    tiny_categorical,
    tiny_sbn,
)

FAILURE_RATE = 1e-4
N_DRAWS, REPLICAS = 200, 20


def _params(q, p):
    return [w for w in list(q.parameters()) + list(p.parameters()) if w.requires_grad]


# -- Enumerate: the oracle itself, against independent references -------------------------------------


def test_enumerate_matches_the_binary_oracle_value_and_gradient():
    q, p, x = tiny_sbn(3, 3, seed=3)
    params = _params(q, p)
    loss = Enumerate(q, p)(x)
    ref = -exact_elbo(q, p, x).mean()
    assert loss.item() == pytest.approx(ref.item(), abs=1e-12)
    for a, b in zip(torch.autograd.grad(loss, params), torch.autograd.grad(ref, params)):
        assert torch.allclose(a, b, atol=1e-12)


def test_enumerate_matches_a_float64_loop_over_categorical_configurations():
    q, p, x = tiny_categorical(seed=4)
    value = Enumerate(q, p)(x)
    logits = q(x).params_["logits"]  # [B, 2, 3]
    total = torch.zeros((), dtype=torch.float64)
    for b in range(x.shape[0]):
        for cs in itertools.product(range(3), repeat=2):
            z = torch.zeros(1, 1, 2, 3, dtype=torch.float64)
            for d, c in enumerate(cs):
                z[0, 0, d, c] = 1.0
            log_q = sum(torch.log_softmax(logits[b, d], -1)[c] for d, c in enumerate(cs))
            log_p = p(x[b : b + 1], z).log_prob(x[b : b + 1], z)[0, 0]
            total = total + log_q.exp() * (log_p - log_q)
    assert value.item() == pytest.approx(-(total / x.shape[0]).item(), abs=1e-12)


def test_all_configurations_counts_and_rows():
    assert all_configurations((3,), False).shape == (8, 3)
    z = all_configurations((2, 3), True)
    assert z.shape == (9, 2, 3) and torch.all(z.sum(-1) == 1) and len({tuple(r.flatten().tolist()) for r in z}) == 9


def test_enumerate_refuses_too_many_configurations():
    q, p, x = tiny_sbn(3, 5)
    with pytest.raises(ValueError, match=r"2\*\*5 configurations, more than max_configurations=16"):
        Enumerate(q, p, max_configurations=16)(x)


# -- Unbiasedness on tiny models, both models' parameters ---------------------------------------------

BERNOULLI = {
    "ARM": (lambda q, p: ARM(q, p), lambda q, p, x: exact_elbo(q, p, x)),
    "DisARM": (lambda q, p: DisARM(q, p), lambda q, p, x: exact_elbo(q, p, x)),
    "LocalDisARM-2": (lambda q, p: LocalDisARM(q, p, n_pairs=2), lambda q, p, x: exact_iwae(q, p, x, 2)),
    "ARMS-3": (lambda q, p: ARMS(q, p, n_samples=3), lambda q, p, x: exact_elbo(q, p, x)),
    "IndeCateR": (lambda q, p: IndeCateR(q, p), lambda q, p, x: exact_elbo(q, p, x)),
    "REBAR": (lambda q, p: REBAR(q, p), lambda q, p, x: exact_elbo(q, p, x)),
    "RELAX": (lambda q, p: RELAX(q, p, control=torch.nn.Linear(2, 1).double()), lambda q, p, x: exact_elbo(q, p, x)),
    "CategoricalDisARM-on-Bernoulli": (lambda q, p: CategoricalDisARM(q, p), lambda q, p, x: exact_elbo(q, p, x)),
}


@pytest.mark.parametrize("name", list(BERNOULLI))
def test_gradient_is_unbiased_on_the_tiny_sbn(name):
    make, objective = BERNOULLI[name]
    q, p, x = tiny_sbn(3, 2, seed=5)
    assert_gradient_unbiased(
        make(q, p),
        x,
        lambda: objective(q, p, x),
        _params(q, p),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        name=name,
    )


@pytest.mark.parametrize(
    "make",
    [lambda q, p: IndeCateR(q, p, n_samples=2), lambda q, p: CategoricalDisARM(q, p)],
    ids=["IndeCateR", "CategoricalDisARM"],
)
def test_categorical_estimators_are_unbiased_on_the_tiny_categorical_model(make):
    q, p, x = tiny_categorical(seed=6)
    oracle = Enumerate(q, p)
    assert_gradient_unbiased(
        make(q, p),
        x,
        lambda: -oracle(x).expand(x.shape[0]),
        _params(q, p),
        n_draws=N_DRAWS,
        replicas=REPLICAS,
        failure_rate=FAILURE_RATE,
        name="IndeCateR",
    )


# -- The toy f(b) = (b - 0.49)^2 on pure functions ---------------------------------------------------------

N_TOY = 20_000
A0 = 0.5  # the logit; the exact gradient 0.02 p (1 - p) is positive, the optimum is at -infinity


def _toy(b):
    return (b - 0.49).pow(2).sum(-1)


def _toy_exact():
    p = torch.sigmoid(torch.tensor(A0, dtype=torch.float64))
    return (1 - 2 * 0.49) * p * (1 - p)


def _logit_rows(n=N_TOY):
    return torch.full((n, 1), A0, dtype=torch.float64, requires_grad=True)


def _pair(a, u):
    return (u < torch.sigmoid(a.detach())).double(), (u > torch.sigmoid(-a.detach())).double()


@pytest.mark.parametrize("estimate", [arm_estimate, disarm_estimate], ids=["ARM", "DisARM"])
def test_antithetic_pair_estimators_on_the_toy(estimate):
    a = _logit_rows()
    u = uniform_noise(a.shape, dtype=a.dtype)
    b, bt = _pair(a, u)
    estimate(a, u, _toy(b), _toy(bt)).sum().backward()
    assert_unbiased(a.grad, _toy_exact().reshape(1), failure_rate=FAILURE_RATE)


def test_arms_on_the_toy():
    a = _logit_rows()
    u = dirichlet_copula_uniforms(tuple(a.shape), 4, dtype=a.dtype)  # [N, 4, 1]
    b = (u < torch.sigmoid(a.detach()).unsqueeze(1)).double()
    arms_estimate(a, b, _toy(b)).sum().backward()
    assert_unbiased(a.grad, _toy_exact().reshape(1), failure_rate=FAILURE_RATE)


def test_copula_uniforms_are_uniform_and_antithetic_for_two():
    u = dirichlet_copula_uniforms((50_000, 1), 5, dtype=torch.float64)
    assert_unbiased(u.reshape(-1, 5), torch.full((5,), 0.5), failure_rate=FAILURE_RATE)
    assert_unbiased(u.reshape(-1, 5).pow(2), torch.full((5,), 1 / 3), failure_rate=FAILURE_RATE)
    u2 = dirichlet_copula_uniforms((10, 3), 2, dtype=torch.float64)
    assert torch.allclose(u2[:, 0] + u2[:, 1], torch.ones(10, 3, dtype=torch.float64))


def test_local_disarm_on_the_toy_iwae():
    """log w(b) = -(b - 0.49)^2; IWAE_2 exact by enumerating the 4 pairs of samples."""
    a = _logit_rows()
    u = uniform_noise((N_TOY, 2, 1), dtype=torch.float64)
    b = (u < torch.sigmoid(a.detach()).unsqueeze(1)).double()
    bt = (u > torch.sigmoid(-a.detach()).unsqueeze(1)).double()
    local_disarm_estimate(a, u, -_toy(b), -_toy(bt)).sum().backward()
    a0 = torch.tensor(A0, dtype=torch.float64, requires_grad=True)
    p = torch.sigmoid(a0)
    lw = {0: -(0.49**2), 1: -(0.51**2)}
    exact = sum(
        (p if i else 1 - p) * (p if j else 1 - p) * math.log((math.exp(lw[i]) + math.exp(lw[j])) / 2)
        for i in (0, 1)
        for j in (0, 1)
    )
    (grad,) = torch.autograd.grad(exact, a0)
    assert_unbiased(a.grad, grad.reshape(1), failure_rate=FAILURE_RATE)


def test_indecater_on_the_toy_is_exact():
    a = torch.tensor([[A0]], dtype=torch.float64, requires_grad=True)
    p1 = torch.sigmoid(a).unsqueeze(-1)  # [1, 1, 1]
    probs = torch.cat([1 - p1, p1], -1)  # [1, V=1, C=2]
    f = torch.tensor([0.49**2, 0.51**2], dtype=torch.float64).reshape(1, 1, 1, 2)
    indecater_estimate(probs, f, f[..., 0, 0]).sum().backward()
    assert a.grad.item() == pytest.approx(_toy_exact().item(), rel=1e-12)


def test_rebar_control_on_the_toy():
    """c(z) = eta f(sigmoid(z / lambda)) with the toy f: unbiased for any eta and lambda."""
    a = _logit_rows()
    u = uniform_noise(a.shape, dtype=a.dtype)
    z = a + torch.log(u) - torch.log1p(-u)
    b = (z > 0).double().detach()
    zt = conditional_logistic(a, b, uniform_noise(a.shape, dtype=a.dtype))
    eta, lam = 0.8, 0.4
    c = eta * _toy(torch.sigmoid(torch.cat([z, zt], -1).unsqueeze(-1) / lam))  # [N, 2]
    g = rebar_logit_gradient(a, b, _toy(b), c[:, 0], c[:, 1])
    assert_unbiased(g.detach(), _toy_exact().reshape(1), failure_rate=FAILURE_RATE)


# -- Variance ordering ------------------------------------------------------------------------------------


def test_disarm_variance_is_below_arm_on_an_enumerable_model():
    """Per-draw variance of the encoder-logit gradient (summed over q's parameters), 400 draws each;
    a one-sided test of var(DisARM) <= var(ARM) on the per-draw squared deviations (failure rate 1e-4)."""
    q, p, x = tiny_sbn(3, 2, seed=7, scale=2.0)
    params = list(q.parameters())
    draws = {}
    for name, make in (("ARM", ARM), ("DisARM", DisARM)):
        s = gradient_samples(make(q, p), x, params, 400)
        draws[name] = (s - s.mean(0)).pow(2).sum(1, keepdim=True)  # [N, 1]: per-draw squared deviation
    assert draws["DisARM"].mean() < draws["ARM"].mean()
    assert_less_equal_stat(draws["DisARM"], draws["ARM"], failure_rate=FAILURE_RATE)


# -- Learned control variates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda q, p: REBAR(q, p, eta=0.7, temperature=0.3),
        lambda q, p: RELAX(q, p, control=torch.nn.Linear(2, 1).double(), eta=0.7),
    ],
    ids=["REBAR", "RELAX"],
)
def test_control_parameters_get_gradients_and_round_trip_through_state_dict(make):
    q, p, x = tiny_sbn(3, 2, seed=8)
    loss_fn = make(q, p)
    loss_fn(x).backward()
    ctrl = loss_fn.parameters_of_control()
    assert all(w.grad is not None and torch.isfinite(w.grad).all() for w in ctrl)
    assert any(w.grad.abs().sum() > 0 for w in ctrl)
    with torch.no_grad():
        loss_fn.eta.add_(0.3)
        loss_fn.log_temperature.sub_(0.2)
    other = make(*tiny_sbn(3, 2, seed=9)[:2])
    other.load_state_dict(loss_fn.state_dict())
    assert other.eta.item() == loss_fn.eta.item() and other.log_temperature.item() == loss_fn.log_temperature.item()


def test_rebar_control_descends_the_squared_gradient():
    """One small step of eta along the loss's gradient lowers the mean |g|^2 computed from the same noise."""
    q, p, x = tiny_sbn(3, 2, seed=10)
    loss_fn = REBAR(q, p, eta=0.2)

    def mean_sq():
        torch.manual_seed(123)
        gs = gradient_samples(loss_fn, x.repeat(50, 1), list(q.parameters()), 20)
        return gs.pow(2).sum(1).mean().item()

    before = mean_sq()
    torch.manual_seed(123)
    total = torch.zeros(())
    for _ in range(20):
        (g_eta,) = torch.autograd.grad(loss_fn(x.repeat(50, 1)), [loss_fn.eta])
        total = total + g_eta
    with torch.no_grad():
        loss_fn.eta.sub_(0.05 * total.sign())
    assert mean_sq() < before


def test_stick_breaking_coding_draws_the_categorical_distribution():
    """Frequencies of the coded class from 100000 independent binary draws (z-test, failure rate 1e-4)."""
    a = torch.tensor([[0.5, -1.0, 2.0, 0.0, -0.3]], dtype=torch.float64)
    beta = stick_breaking_logits(a)  # [1, 4]
    b = torch.bernoulli(torch.sigmoid(beta).expand(100_000, 4))
    z = stick_breaking_one_hot(b).double()  # [N, 5]
    assert torch.all(z.sum(-1) == 1)
    assert_unbiased(z, torch.softmax(a, -1)[0], failure_rate=FAILURE_RATE)
