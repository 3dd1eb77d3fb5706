"""The test kit checked against independent computations: brute-force loops over latent states,
hand-derived sigmoid-belief-net probabilities, quadrature, Monte Carlo with standard errors, and
a power check (assert_unbiased must reject a biased estimator)."""

import itertools
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from vaekit import IWAE, VIMCO, Reinforce
from vaekit.testing import (
    LinearGaussianModel,
    TinyModel,
    assert_less_equal_stat,
    assert_unbiased,
    enumerate_binary,
    exact_elbo,
    exact_elbo_gaussian,
    exact_gradients,
    exact_iwae,
    exact_iwae_gaussian,
    exact_log_marginal,
    flat,
    gauss_hermite,
    gradient_samples,
    linear_gaussian,
    tiny_sbn,
)

FAILURE_RATE = 1e-3  # family-wise, per statistical assert below


def _bern_logpmf(v, logits):
    """log Bernoulli(v; sigmoid(logits)) summed: written from the formula, not torch.distributions."""
    return (v * F.logsigmoid(logits) + (1 - v) * F.logsigmoid(-logits)).sum(-1)


def _sbn_log_joint(p, x_row, z):
    """log p(x, z) of a SigmoidBeliefNet from its parameters."""
    return _bern_logpmf(z, p.prior_logits) + _bern_logpmf(x_row, p.net(z))


def _sbn_log_q(q, x_row, z):
    return _bern_logpmf(z, q.net(x_row))


def test_enumerate_binary_lists_every_vector_once():
    for n in range(4):
        z = enumerate_binary(n, dtype=torch.float32, device="cpu")
        assert z.shape == (2**n, n) and z.dtype == torch.float32
        assert len({tuple(r) for r in z.tolist()}) == 2**n
        assert set(z.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="non-negative int"):
        enumerate_binary(-1)


def test_tiny_sbn_is_seeded_random_and_typed():
    q1, p1, x1 = tiny_sbn(3, 2, batch=4, seed=5)
    q2, p2, x2 = tiny_sbn(3, 2, batch=4, seed=5)
    q3, p3, _ = tiny_sbn(3, 2, batch=4, seed=6)
    for a, b in zip(list(q1.parameters()) + list(p1.parameters()), list(q2.parameters()) + list(p2.parameters())):
        assert torch.equal(a, b) and a.dtype == torch.float64
    assert not torch.equal(p1.prior_logits, p3.prior_logits)
    assert (p1.prior_logits != 0).all() and (p1.net.bias != 0).all()  # away from the symmetric init
    assert torch.equal(x1, x2) and x1.shape == (4, 3) and set(x1.unique().tolist()) <= {0.0, 1.0}
    q, p, x = tiny_sbn(dtype=torch.float32)
    assert x.dtype == torch.float32 and p.prior_logits.dtype == torch.float32
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        tiny_sbn(3, 0)


@pytest.mark.parametrize("seed,data_dim,latent_dim", [(0, 3, 2), (1, 2, 3), (2, 1, 1)])
def test_exact_log_marginal_and_elbo_match_brute_force(seed, data_dim, latent_dim):
    q, p, x = tiny_sbn(data_dim, latent_dim, batch=3, seed=seed, scale=1.5)
    states = [torch.tensor(s, dtype=torch.float64) for s in itertools.product([0.0, 1.0], repeat=latent_dim)]
    for b in range(x.shape[0]):
        joint = torch.stack([_sbn_log_joint(p, x[b], z) for z in states])
        log_q = torch.stack([_sbn_log_q(q, x[b], z) for z in states])
        assert torch.allclose(exact_log_marginal(p, x)[b], torch.logsumexp(joint, 0), atol=1e-12)
        elbo = sum(math.exp(lq) * (lj - lq) for lj, lq in zip(joint.tolist(), log_q.tolist()))
        assert exact_elbo(q, p, x)[b].item() == pytest.approx(elbo, abs=1e-12)


def test_exact_iwae_matches_brute_force_over_k_tuples():
    q, p, x = tiny_sbn(2, 2, batch=2, seed=3)
    states = [torch.tensor(s, dtype=torch.float64) for s in itertools.product([0.0, 1.0], repeat=2)]
    k = 3
    for b in range(x.shape[0]):
        total = 0.0
        for tup in itertools.product(states, repeat=k):
            log_w = [(_sbn_log_joint(p, x[b], z) - _sbn_log_q(q, x[b], z)).item() for z in tup]
            prob = math.exp(sum(_sbn_log_q(q, x[b], z).item() for z in tup))
            total += prob * math.log(sum(math.exp(v) for v in log_w) / k)
        assert exact_iwae(q, p, x, k)[b].item() == pytest.approx(total, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_iwae_orders_elbo_iwae_and_log_marginal(seed):
    q, p, x = tiny_sbn(3, 2, batch=3, seed=seed)
    elbo = exact_elbo(q, p, x)
    assert torch.allclose(exact_iwae(q, p, x, 1), elbo, atol=1e-12)
    bounds = [elbo] + [exact_iwae(q, p, x, k) for k in (2, 3, 4, 6)] + [exact_log_marginal(p, x)]
    for lo, hi in zip(bounds, bounds[1:]):
        assert (lo <= hi + 1e-12).all()
    # Away from the optimum the gaps are real, so the ordering above is not trivially equality.
    assert ((bounds[-1] - elbo) > 1e-3).all()


def test_exact_objectives_are_differentiable_in_both_models():
    q, p, x = tiny_sbn(seed=4)
    params = list(q.parameters()) + list(p.parameters())
    for f in (lambda: exact_elbo(q, p, x).sum(), lambda: exact_iwae(q, p, x, 2).sum()):
        grads = exact_gradients(f, params)
        assert all(g.shape == w.shape and torch.isfinite(g).all() for g, w in zip(grads, params))
        assert all(g.abs().sum() > 0 for g in grads)
    grads = exact_gradients(lambda: exact_log_marginal(p, x).sum(), params)
    assert all((g == 0).all() for g in grads[:2]) and all(g.abs().sum() > 0 for g in grads[2:])
    with pytest.raises(ValueError, match="scalar"):
        exact_gradients(exact_elbo(q, p, x), params)


def test_exact_elbo_gradient_matches_finite_differences():
    q, p, x = tiny_sbn(seed=5)
    w = p.net.weight
    grad = exact_gradients(lambda: exact_iwae(q, p, x, 2).sum(), [w])[0]
    h = 1e-6
    with torch.no_grad():
        w[0, 1] += h
        up = exact_iwae(q, p, x, 2).sum().item()
        w[0, 1] -= 2 * h
        down = exact_iwae(q, p, x, 2).sum().item()
        w[0, 1] += h
    assert grad[0, 1].item() == pytest.approx((up - down) / (2 * h), abs=1e-7)


def test_gauss_hermite_integrates_normal_moments():
    t, w = gauss_hermite(10)
    assert w.sum().item() == pytest.approx(1.0, abs=1e-13)
    for m in range(10):  # exact for polynomial degree < 20
        expected = float(math.prod(range(1, 2 * m, 2)))  # E eps^(2m) = (2m-1)!!
        assert (w * t ** (2 * m)).sum().item() == pytest.approx(expected, rel=1e-10, abs=1e-10)
        assert (w * t ** (2 * m + 1)).sum().item() == pytest.approx(0.0, abs=1e-8 * max(1.0, expected))


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_linear_gaussian_log_marginal_matches_quadrature_over_the_prior(latent_dim):
    # Default scale 0.5 keeps sigma near 1, so p(x|z) is smooth enough for a 60-point rule over the prior.
    _, p, x = linear_gaussian(3, latent_dim, batch=2, seed=1)
    t, w = gauss_hermite(60)
    grid = torch.cartesian_prod(*[t] * latent_dim).reshape(-1, latent_dim)  # [T, H]
    log_wt = torch.cartesian_prod(*[w.log()] * latent_dim).reshape(-1, latent_dim).sum(-1)  # [T]
    lik = torch.distributions.Normal(grid @ p.weight.T + p.bias, p.log_sigma.exp())
    log_lik = lik.log_prob(x.unsqueeze(1)).sum(-1)  # [B, T]
    assert torch.allclose(p.log_marginal(x), torch.logsumexp(log_wt + log_lik, -1), atol=1e-9)


def test_linear_gaussian_marginal_and_elbo_against_monte_carlo():
    q, p, x = linear_gaussian(2, 2, batch=2, seed=2)
    n = 20000
    with torch.no_grad():
        z = q(x).sample(n)  # [B, N, H]
        log_w = p(x, z).log_prob(x, z) - q.log_prob(z)  # [B, N]
        log_px = p.log_marginal(x)
        # E_q[w / p(x)] = 1 and E_q[log w] = ELBO: unbiased Monte Carlo checks of both closed forms.
        assert_unbiased((log_w - log_px.unsqueeze(-1)).exp().T, torch.ones(2), failure_rate=FAILURE_RATE)
        assert_unbiased(log_w.T, exact_elbo_gaussian(q, p, x), failure_rate=FAILURE_RATE)
    assert (exact_elbo_gaussian(q, p, x) < log_px).all()


def test_exact_iwae_gaussian_quadrature_is_exact_at_k1_and_converged_at_k2():
    for h in (1, 2):
        q, p, x = linear_gaussian(2, h, batch=2, seed=3)
        params = list(q.parameters()) + list(p.parameters())
        assert torch.allclose(exact_iwae_gaussian(q, p, x, 1), exact_elbo_gaussian(q, p, x), atol=1e-10)
        g_closed = flat(exact_gradients(lambda: exact_elbo_gaussian(q, p, x).sum(), params))  # noqa: B023 (called at once)
        g_quad = flat(exact_gradients(lambda: exact_iwae_gaussian(q, p, x, 1).sum(), params))  # noqa: B023 (called at once)
        assert torch.allclose(g_quad, g_closed, atol=1e-9)
        # The documented accuracy of the default rule, checked by refinement (gradients for K*H = 2
        # only, to keep the test fast).
        fine_nodes, tol = (24, 1e-3) if h == 2 else (96, 1e-8)
        coarse = exact_iwae_gaussian(q, p, x, 2)
        assert torch.allclose(coarse, exact_iwae_gaussian(q, p, x, 2, n_nodes=fine_nodes), atol=tol)
        if h == 1:
            g_coarse = flat(exact_gradients(lambda: exact_iwae_gaussian(q, p, x, 2).sum(), params))  # noqa: B023 (called at once)
            g_fine = flat(exact_gradients(lambda: exact_iwae_gaussian(q, p, x, 2, n_nodes=fine_nodes).sum(), params))  # noqa: B023 (called at once)
            assert torch.allclose(g_coarse, g_fine, atol=tol)
        log_px = p.log_marginal(x)
        assert (exact_elbo_gaussian(q, p, x) < coarse).all() and (coarse < log_px).all()
    q, p, x = linear_gaussian(2, 1, batch=2, seed=3)
    assert (exact_iwae_gaussian(q, p, x, 2) < exact_iwae_gaussian(q, p, x, 4)).all()
    with pytest.raises(ValueError, match="pass n_nodes"):
        exact_iwae_gaussian(*linear_gaussian(2, 2), 3)


def test_exact_iwae_gaussian_against_monte_carlo():
    q, p, x = linear_gaussian(2, 1, batch=2, seed=4)
    with torch.no_grad():
        z = q(x).sample(3 * 20000)  # [B, 3N, H]
        log_w = (p(x, z).log_prob(x, z) - q.log_prob(z)).reshape(2, 20000, 3)  # [B, N, 3]
        iwae3 = torch.logsumexp(log_w, -1) - math.log(3)  # [B, N]
    assert_unbiased(iwae3.T, exact_iwae_gaussian(q, p, x, 3), failure_rate=FAILURE_RATE, atol=1e-4)


def test_gradient_samples_rows_are_unbiased_and_replicas_shrink_variance():
    q, p, x = tiny_sbn(seed=0)
    params = list(q.parameters()) + list(p.parameters())
    loss_fn = VIMCO(q, p, n_samples=3)
    exact = exact_gradients(lambda: -exact_iwae(q, p, x, 3).mean(), params)
    one = gradient_samples(loss_fn, x, params, 400)
    many = gradient_samples(loss_fn, x, params, 400, replicas=16)
    assert one.shape == many.shape == (400, sum(w.numel() for w in params))
    assert_unbiased(one, exact, failure_rate=FAILURE_RATE, name="VIMCO, replicas=1")
    assert_unbiased(many, exact, failure_rate=FAILURE_RATE, name="VIMCO, replicas=16")
    # Variance ratio 16 in expectation; 4 leaves a margin far beyond sampling noise at N=400.
    assert (one.var(0).sum() / many.var(0).sum()).item() > 4
    with pytest.raises(ValueError, match="n_draws"):
        gradient_samples(loss_fn, x, params, 0)


def test_gradient_samples_passes_target_and_zero_fills_unused_params():
    q, p, x = tiny_sbn(seed=0)
    unused = torch.zeros(3, requires_grad=True)
    seen = []

    def loss_fn(xb, target=None):
        seen.append(None if target is None else tuple(target.shape))
        return Reinforce(q, p)(xb, target=target)  # the score-function ELBO

    rows = gradient_samples(loss_fn, x, [unused] + list(p.parameters()), 3, target=x.flip(0), replicas=2)
    assert seen == [(4, 3)] * 3 and (rows[:, :3] == 0).all() and rows.shape == (3, 14)


def test_assert_unbiased_has_power_against_a_biased_estimator():
    """Score-function IWAE_2 gradients are unbiased for IWAE_2, and biased for the ELBO's gradient."""
    q, p, x = tiny_sbn(seed=0)
    params = list(q.parameters()) + list(p.parameters())
    samples = gradient_samples(IWAE(q, p, n_samples=2), x, params, 800, replicas=4)
    assert_unbiased(samples, exact_gradients(lambda: -exact_iwae(q, p, x, 2).mean(), params), failure_rate=FAILURE_RATE)
    with pytest.raises(AssertionError, match="looks biased") as err:
        assert_unbiased(
            samples,
            exact_gradients(lambda: -exact_elbo(q, p, x).mean(), params),
            failure_rate=FAILURE_RATE,
            name="IWAE_2 vs ELBO",
        )
    assert "IWAE_2 vs ELBO" in str(err.value) and "exact=" in str(err.value) and "se=" in str(err.value)


def test_assert_unbiased_statistics_and_tolerances():
    g = torch.Generator().manual_seed(0)
    s = 1.0 + torch.randn(4000, 5, generator=g, dtype=torch.float64)
    summary = assert_unbiased(s, torch.ones(5), failure_rate=1e-3, name="normal")
    assert summary.n == 4000 and summary.n_coords == 5 and summary.max_abs_z < summary.critical_z
    # Bonferroni: the two-sided critical value for 1e-3 over 5 coordinates is Phi^-1(1 - 1e-4).
    assert summary.critical_z == pytest.approx(3.7190164854556804, rel=1e-9)
    with pytest.raises(AssertionError, match="1/5 coordinates"):
        assert_unbiased(s, torch.tensor([1.0, 1.0, 1.2, 1.0, 1.0]))  # 0.2 / (1/sqrt(4000)) = 12.6 se
    exact = torch.tensor([2.0, 0.0])
    assert_unbiased(exact.expand(10, 2) * (1 + 1e-9), exact)  # zero variance: rtol absorbs rounding
    with pytest.raises(AssertionError):
        assert_unbiased(exact.expand(10, 2) * (1 + 1e-5), exact)
    with pytest.raises(ValueError, match="coordinates"):
        assert_unbiased(s, torch.ones(4))


def test_assert_less_equal_stat():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(1000, 2, generator=g, dtype=torch.float64)
    assert_less_equal_stat(s, torch.zeros(2))  # equal means pass: one-sided test at the boundary
    assert_less_equal_stat(torch.tensor(1.0), torch.tensor(1.0 + 1e-12))
    with pytest.raises(AssertionError, match="lhs > rhs"):
        assert_less_equal_stat(s + 0.5, torch.zeros(2))  # 0.5 / 0.032 = 16 se
    with pytest.raises(AssertionError):
        assert_less_equal_stat(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 1.5]))


def test_tiny_model_recipes_build_every_kind():
    for kind in ("sbn", "gaussian", "gaussian_score"):
        q, p, x = TinyModel(data_dim=2, latent_dim=1, batch=3, kind=kind).build(torch.float32)
        assert x.shape == (3, 2) and x.dtype == torch.float32
        assert q.has_rsample == (kind == "gaussian")
        assert isinstance(p, LinearGaussianModel) == (kind != "sbn")
    with pytest.raises(ValueError, match="kind"):
        TinyModel(kind="flow").build()


def test_strategies_draw_valid_recipes():
    from hypothesis import given

    from vaekit.testing.strategies import tiny_models

    drawn = []

    @given(tiny_models(min_k=2, max_k=3, kinds=("sbn", "gaussian")))
    def check(spec):
        drawn.append(spec)
        assert 1 <= spec.data_dim <= 3 and 1 <= spec.latent_dim <= 2 and 1 <= spec.batch <= 2
        assert 2 <= spec.n_samples <= 3 and spec.kind in ("sbn", "gaussian")
        q, p, x = spec.build()
        assert x.shape == (spec.batch, spec.data_dim)

    check()
    assert len(drawn) >= 5
    with pytest.raises(ValueError, match="min_k"):
        tiny_models(min_k=3, max_k=2)


def test_importing_the_kit_does_not_import_hypothesis():
    code = "import sys, vaekit.testing; assert 'hypothesis' not in sys.modules, 'hypothesis imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loop_references_against_hand_derived_gradients():
    """d/d log q_k of each reference, from the papers' formulas, on one example with K = 2."""
    from vaekit.testing import elbo_reference, iwae_reference, vimco_reference

    lp0 = torch.tensor([[-1.0, -3.0]], dtype=torch.float64)
    lq0 = torch.tensor([[-0.5, -2.0]], dtype=torch.float64)
    lw = (lp0 - lq0)[0]
    bound = math.log((lw.exp().sum() / 2).item())
    wt = torch.softmax(lw, 0)
    expected = {
        "elbo": (lw.mean().item(), (-1 + lw) / 2),  # (1/K)(-1 + log w_k)
        "iwae": (bound, -wt + bound),  # -wt_k + L
        # K = 2: L_{-1} = log((w_2 + w_2) / 2) = log w_2, so the signal of sample 1 is L - log w_2.
        "vimco": (bound, -wt + bound - lw.flip(0)),
    }
    refs = {
        "elbo": lambda a, b: elbo_reference(a, b, score_function=True),
        "iwae": lambda a, b: iwae_reference(a, b, score_function=True),
        "vimco": vimco_reference,
    }
    for name, fn in refs.items():
        lp, lq = lp0.clone().requires_grad_(), lq0.clone().requires_grad_()
        out = fn(lp, lq)
        out.sum().backward()
        value, grad_q = expected[name]
        assert out.item() == pytest.approx(value, abs=1e-12), name
        assert torch.allclose(lq.grad[0], grad_q, atol=1e-12), name
        assert torch.allclose(lp.grad[0], wt if name != "elbo" else torch.full((2,), 0.5, dtype=torch.float64)), name
