# ruff: noqa: E741  (K and L are the papers' names for the two Gram matrices)
"""HSIC estimators, kernels and independence tests against exact answers.

Exact identities (float64, to 1e-10): the biased estimator with linear kernels is the squared
Frobenius norm of the sample cross-covariance; every estimator matches a definitional matrix
reference; the unbiased estimator's expectation, by enumeration of all m-tuples of a discrete
joint law, equals the population HSIC. Statistical checks state their failure rate and use the
suite's fixed seed.
"""

import itertools
import math

import pytest
import torch
from scipy import stats

from vaekit.hsic import (
    center_gram,
    cka,
    gaussian_gram,
    hsic_biased,
    hsic_gamma_test,
    hsic_permutation_test,
    hsic_unbiased,
    linear_gram,
    median_bandwidth,
    nhsic,
    squared_distances,
)

D = torch.float64


def _pair(m=12, dx=3, dy=2, batch=()):
    x = torch.randn(*batch, m, dx, dtype=D)
    y = x[..., :dy] * 0.7 + 0.5 * torch.randn(*batch, m, dy, dtype=D)
    return x, y


def _h(m):
    return torch.eye(m, dtype=D) - torch.full((m, m), 1.0 / m, dtype=D)


# ---------------------------------------------------------------- exact identities and references


def test_biased_linear_equals_squared_frobenius_norm_of_the_sample_cross_covariance():
    x, y = _pair(m=15)
    c = (x - x.mean(0)).T @ (y - y.mean(0)) / (15 - 1)  # [dx, dy]
    got = hsic_biased(linear_gram(x), linear_gram(y))
    assert torch.allclose(got, (c**2).sum(), rtol=1e-12, atol=0)


def test_every_estimator_matches_its_definitional_matrix_formula():
    m = 9
    x, y = _pair(m=m)
    k, l = gaussian_gram(x, 1.3), gaussian_gram(y)
    h = _h(m)
    assert torch.allclose(hsic_biased(k, l), torch.trace(k @ h @ l @ h) / (m - 1) ** 2, rtol=1e-10)
    kt, lt, one = k - torch.diag(torch.diag(k)), l - torch.diag(torch.diag(l)), torch.ones(m, dtype=D)
    ref_u = (
        torch.trace(kt @ lt)
        + (one @ kt @ one) * (one @ lt @ one) / ((m - 1) * (m - 2))
        - 2.0 / (m - 2) * (one @ kt @ lt @ one)
    ) / (m * (m - 3))
    assert torch.allclose(hsic_unbiased(k, l), ref_u, rtol=1e-10)
    eps = 1e-3
    rx = h @ k @ h @ torch.linalg.inv(h @ k @ h + eps * m * torch.eye(m, dtype=D))
    ry = h @ l @ h @ torch.linalg.inv(h @ l @ h + eps * m * torch.eye(m, dtype=D))
    assert torch.allclose(nhsic(k, l, eps), torch.trace(rx @ ry), rtol=1e-8)
    kc, lc = h @ k @ h, h @ l @ h
    assert torch.allclose(cka(k, l), (kc * lc).sum() / (kc.norm() * lc.norm()), rtol=1e-10)
    assert torch.allclose(center_gram(k), kc, atol=1e-12)


def test_gaussian_gram_median_heuristic_and_distances():
    x = torch.randn(6, 4, dtype=D)  # 15 pairs: an odd count, so the lower median is the median
    loop = torch.tensor([[((x[i] - x[j]) ** 2).sum() for j in range(6)] for i in range(6)], dtype=D)
    assert torch.allclose(squared_distances(x), loop, atol=1e-12)
    pd = [loop[i, j].sqrt().item() for i in range(6) for j in range(i + 1, 6)]
    sigma = sorted(pd)[7]
    assert math.isclose(median_bandwidth(x).item(), sigma, rel_tol=1e-12)
    assert torch.allclose(gaussian_gram(x), torch.exp(-loop / (2 * sigma**2)), atol=1e-12)
    assert gaussian_gram(torch.zeros(5, 2, dtype=D)).eq(1).all()  # coinciding points: no 0/0


def test_batched_over_layers_equals_one_call_per_layer_and_keeps_dtype():
    x, y = _pair(m=10, batch=(3,))
    ks, l = gaussian_gram(x), gaussian_gram(y[0])  # [3, m, m] against one [m, m]
    for fn in (hsic_biased, hsic_unbiased, nhsic, cka):
        batched = fn(ks, l)
        assert batched.shape == (3,) and batched.dtype == D
        assert torch.allclose(batched, torch.stack([fn(ks[i], l) for i in range(3)]), rtol=1e-10)
    assert hsic_biased(ks.float(), l.float()).dtype == torch.float32


@pytest.mark.parametrize("fn", [hsic_biased, hsic_unbiased, nhsic, cka])
def test_gradients_through_the_kernels_match_finite_differences(fn):
    x, y = _pair(m=7)
    x.requires_grad_(True)
    l = gaussian_gram(y, 1.0)
    assert torch.autograd.gradcheck(lambda v: fn(gaussian_gram(v, 0.9), l), (x,))


@pytest.mark.parametrize("fn", [hsic_biased, hsic_unbiased, nhsic, cka])
def test_symmetry_and_permutation_invariance(fn):
    x, y = _pair(m=11)
    k, l = gaussian_gram(x), gaussian_gram(y)
    p = torch.randperm(11)
    assert torch.allclose(fn(k, l), fn(l, k), rtol=1e-10)
    assert torch.allclose(fn(k, l), fn(k[p][:, p], l[p][:, p]), rtol=1e-10)


def test_cka_in_unit_interval_and_invariant_to_isotropic_scaling():
    x, y = _pair(m=20, batch=(50,))
    for k, l in ((linear_gram(x), linear_gram(y)), (gaussian_gram(x), gaussian_gram(y))):
        c = cka(k, l)
        assert ((c >= 0) & (c <= 1 + 1e-12)).all()
    assert torch.allclose(cka(linear_gram(3.7 * x), linear_gram(0.2 * y)), cka(linear_gram(x), linear_gram(y)))
    assert torch.allclose(cka(linear_gram(x), linear_gram(x)), torch.ones(50, dtype=D))


def _discrete_law():
    """Support of a joint law of (x, y) in R^2 x R^1, with probabilities; x and y dependent."""
    xs = torch.tensor([[0.0, 1.0], [1.0, -0.5], [2.0, 0.3]], dtype=D)
    ys = torch.tensor([[0.1], [1.2], [-0.7]], dtype=D)
    probs = torch.tensor([0.2, 0.5, 0.3], dtype=D)
    return xs, ys, probs


def _population_hsic(kx, ky, probs):
    """HSIC = E k l + E k E l - 2 E_{xy}[E_x' k E_y' l] (Gretton et al. 2005, Lemma 1) on a finite support."""
    pp = probs[:, None] * probs[None, :]
    return (pp * kx * ky).sum() + (pp * kx).sum() * (pp * ky).sum() - 2 * (probs * (kx @ probs) * (ky @ probs)).sum()


@pytest.mark.parametrize("m", [4, 5])
@pytest.mark.parametrize("kernel", ["linear", "gaussian"])
def test_unbiased_estimator_expectation_equals_population_hsic_by_enumeration(m, kernel):
    xs, ys, probs = _discrete_law()
    gram = linear_gram if kernel == "linear" else (lambda v: gaussian_gram(v, 0.8))
    idx = torch.tensor(list(itertools.product(range(3), repeat=m)))  # [3^m, m]: every ordered m-tuple
    weights = probs[idx].prod(-1)  # [3^m]
    expectation = (weights * hsic_unbiased(gram(xs[idx]), gram(ys[idx]))).sum()
    truth = _population_hsic(gram(xs), gram(ys), probs)
    if kernel == "linear":  # population HSIC with linear kernels is ||Sigma_xy||_F^2
        mx, my = probs @ xs, probs @ ys
        sxy = ((xs - mx).T * probs) @ (ys - my)
        assert torch.allclose(truth, (sxy**2).sum(), rtol=1e-12)
    assert torch.allclose(expectation, truth, rtol=1e-10, atol=1e-14)
    biased = (weights * hsic_biased(gram(xs[idx]), gram(ys[idx]))).sum()
    assert not torch.allclose(biased, truth, rtol=1e-3)  # the enumeration does see the V-statistic's bias


# ------------------------------------------------------------------------------- statistical checks
# Each compares a mean over R independent repetitions with its target: |mean - target| < 4 standard
# errors fails with probability about 6e-5 when the estimator is unbiased (normal approximation).


def _assert_mean(values, target):
    se = values.std() / math.sqrt(values.numel())
    assert abs(values.mean().item() - float(target)) < 4 * se.item(), (values.mean().item(), float(target), se.item())


def test_unbiased_linear_hsic_is_unbiased_for_the_cross_covariance_norm_and_zero_when_independent():
    r, m = 400, 30
    a = torch.tensor([[1.0, 0.5], [0.0, -0.8], [0.3, 0.0]], dtype=D)  # y = x a + noise, x ~ N(0, I_3)
    x = torch.randn(r, m, 3, dtype=D)
    y = x @ a + torch.randn(r, m, 2, dtype=D)
    _assert_mean(hsic_unbiased(linear_gram(x), linear_gram(y)), (a**2).sum())  # Sigma_xy = a
    _assert_mean(hsic_unbiased(linear_gram(x), linear_gram(torch.randn(r, m, 2, dtype=D))), 0.0)


def gaussian_population_hsic(cov, dx, sigma_x, sigma_y):
    """Population HSIC of Gaussian kernels for jointly Gaussian (x, y) ~ N(0, cov), cov ``[dx+dy, dx+dy]``.

    Derivation. HSIC = E[k(x,x') l(y,y')] + E[k(x,x')] E[l(y,y')] - 2 E_{x,y}[E_x'[k(x,x')] E_y'[l(y,y')]]
    (Gretton, Bousquet, Smola, Schoelkopf 2005, Lemma 1), with (x', y') an independent copy and,
    in the last term, x' and y' drawn independently. Each term is E[exp(-u^T A u / 2)] for a centred
    Gaussian u ~ N(0, S) and A = blockdiag(I / sigma_x^2, I / sigma_y^2), which equals
    det(I + S A)^(-1/2) (the Gaussian integral; e.g. Mathai & Provost 1992, Quadratic Forms in
    Random Variables, Thm 3.2a.1, the moment-generating function at -1/2). The covariances are:
    u = (x - x', y - y') has S = 2 cov; x - x' alone 2 cov_xx (and y - y' 2 cov_yy); in the cross
    term u = (x - x', y - y'') with x', y'' independent copies has S = cov + blockdiag(cov_xx, cov_yy).
    """
    n = cov.shape[0]
    a = torch.diag(torch.tensor([sigma_x**-2] * dx + [sigma_y**-2] * (n - dx), dtype=D))
    eye = torch.eye(n, dtype=D)
    det = lambda s, aa, e: torch.linalg.det(e + s @ aa) ** -0.5  # noqa: E731
    block = torch.zeros_like(cov)
    block[:dx, :dx], block[dx:, dx:] = cov[:dx, :dx], cov[dx:, dx:]
    t1 = det(2 * cov, a, eye)
    t2 = det(2 * cov[:dx, :dx], a[:dx, :dx], eye[:dx, :dx]) * det(2 * cov[dx:, dx:], a[dx:, dx:], eye[dx:, dx:])
    t3 = det(cov + block, a, eye)
    return t1 + t2 - 2 * t3


def test_gaussian_population_formula_is_zero_for_independent_blocks():
    cov = torch.diag(torch.tensor([1.0, 2.0, 0.5], dtype=D))
    assert abs(gaussian_population_hsic(cov, 2, 1.0, 1.5).item()) < 1e-15


def test_unbiased_gaussian_hsic_matches_the_closed_form_population_hsic_on_jointly_gaussian_data():
    r, m, sx, sy = 300, 60, 1.2, 0.9
    cov = torch.tensor([[1.0, 0.3, 0.6], [0.3, 1.5, -0.4], [0.6, -0.4, 1.0]], dtype=D)  # (x1, x2, y)
    z = torch.randn(r, m, 3, dtype=D) @ torch.linalg.cholesky(cov).T  # [r, m, 3] ~ N(0, cov)
    values = hsic_unbiased(gaussian_gram(z[..., :2], sx), gaussian_gram(z[..., 2:], sy))
    truth = gaussian_population_hsic(cov, 2, sx, sy)
    assert truth > 0.01  # a dependence the test can see
    _assert_mean(values, truth)


def _binomial_band(n, lo_rate, hi_rate, tail=1e-4):
    """Counts outside [ppf(tail; n, lo_rate), isf(tail; n, hi_rate)] occur with probability < 2e-4
    whenever the true rejection rate lies in [lo_rate, hi_rate]."""
    return stats.binom.ppf(tail, n, lo_rate), stats.binom.isf(tail, n, hi_rate)


def test_gamma_test_type_one_error_is_close_to_its_level_and_it_has_power():
    r, m, alpha = 400, 100, 0.05
    x, y = torch.randn(r, m, 2), torch.randn(r, m, 1)
    p = hsic_gamma_test(gaussian_gram(x), gaussian_gram(y)).p_value
    rejections = (p < alpha).sum().item()
    lo, hi = _binomial_band(r, 0.03, 0.07)  # the gamma law is an approximation: a true size in [3%, 7%]
    assert lo <= rejections <= hi, rejections
    dependent = hsic_gamma_test(gaussian_gram(x[:50]), gaussian_gram(x[:50, :, :1] ** 2)).p_value
    assert (dependent < alpha).float().mean() > 0.9  # y = x1^2: uncorrelated with x, yet dependent


def test_permutation_test_type_one_error_is_its_level():
    r, m, alpha = 300, 25, 0.05
    x, y = torch.randn(r, m, 1, dtype=D), torch.randn(r, m, 1, dtype=D)
    g = torch.Generator().manual_seed(1)
    res = hsic_permutation_test(gaussian_gram(x), gaussian_gram(y), n_permutations=99, generator=g)
    assert res.statistic.shape == (r,) and ((res.p_value > 0) & (res.p_value <= 1)).all()
    lo, hi = _binomial_band(r, alpha, alpha)  # exact: P(p <= 0.05) = 5/100 under H0
    assert lo <= (res.p_value <= alpha).sum().item() <= hi


def test_permutation_and_gamma_p_values_agree_on_one_dataset():
    x = torch.randn(80, 2, dtype=D)
    y = x[:, :1] + 2.0 * torch.randn(80, 1, dtype=D)
    k, l = gaussian_gram(x), gaussian_gram(y)
    perm = hsic_permutation_test(k, l, n_permutations=2000, generator=torch.Generator().manual_seed(0)).p_value
    gamma = hsic_gamma_test(k, l).p_value
    assert abs(perm.item() - gamma.item()) < 0.05 + 0.5 * gamma.item()


# -------------------------------------------------------------------------------------- bad input


def test_bad_gram_matrices_raise_clear_errors():
    k = torch.eye(5)
    with pytest.raises(ValueError, match="square"):
        hsic_biased(torch.ones(5, 4), k)
    with pytest.raises(ValueError, match="same m"):
        hsic_biased(k, torch.eye(6))
    with pytest.raises(ValueError, match="m >= 4"):
        hsic_unbiased(torch.eye(3), torch.eye(3))
    with pytest.raises(ValueError, match="m >= 6"):
        hsic_gamma_test(k, k)
    with pytest.raises(ValueError, match="non-finite"):
        nhsic(k, torch.full((5, 5), float("nan")))
    with pytest.raises(TypeError, match="torch.Tensor"):
        cka(k, [[1.0]])
    with pytest.raises(ValueError, match="non-finite"):
        gaussian_gram(torch.tensor([[0.0], [float("inf")]]))
    with pytest.raises(ValueError, match="bandwidth"):
        gaussian_gram(torch.randn(4, 2), bandwidth=0.0)
    with pytest.raises(ValueError, match="n_permutations"):
        hsic_permutation_test(k, k, n_permutations=0)
