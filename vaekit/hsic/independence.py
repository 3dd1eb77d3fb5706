"""HSIC independence tests: the gamma approximation and the permutation test, each with a p-value."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from vaekit.hsic.estimators import center_gram, check_grams, hsic_biased, trace_product

__all__ = ["HSICTestResult", "hsic_gamma_test", "hsic_permutation_test"]


class HSICTestResult(NamedTuple):
    """Outcome of an HSIC independence test: the statistic and its p-value (tensors ``[...]``)."""

    statistic: Tensor
    p_value: Tensor


def hsic_gamma_test(k: Tensor, l: Tensor) -> HSICTestResult:  # noqa: E741
    """HSIC independence test with the gamma approximation of the null distribution.

    The statistic is ``T = m HSIC_V = tr(K_bar L_bar) / m`` (the V-statistic with 1/m^2). Under
    H0 (x independent of y) ``T`` is approximated by a Gamma(shape a, scale b) law whose mean and
    variance match the null moments of Gretton et al. (2008):

        E[HSIC_V]   = (1/m) (d_x - mu_x) (d_y - mu_y),
                      d = mean_i K_ii,  mu = sum_{i != j} K_ij / (m (m-1))
        Var[HSIC_V] = 2 (m-4)(m-5) / (m (m-1)(m-2)(m-3)) * sum_{i != j} B_ij / (m (m-1)),
                      B = (K_bar o L_bar)^2 (elementwise)
        a = E^2 / Var,  b = m Var / E,  p = P(Gamma(a, b) >= T) = Q(a, T / b)

    (for kernels with unit diagonal ``d - mu = 1 - mu``, the paper's form). The approximation is
    good for moderate ``m`` (about 50 and up); ``hsic_permutation_test`` is exact at any ``m``.

    Shapes:
        k, l: ``[..., m, m]`` (broadcast), ``m >= 6``; returns statistic and p-value ``[...]``.

    Args:
        k: Gram matrix of x.
        l: Gram matrix of y.

    Returns:
        ``HSICTestResult(statistic, p_value)``; reject independence at level alpha when
        ``p_value < alpha``.

    References:
        Gretton, Fukumizu, Teo, Song, Schoelkopf, Smola (2008). A kernel statistical test of
        independence. NeurIPS.

    Example:
        >>> import torch
        >>> from vaekit.hsic import gaussian_gram
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(200, 1, generator=g)
        >>> bool(hsic_gamma_test(gaussian_gram(x), gaussian_gram(x ** 2)).p_value < 0.01)  # dependent
        True
    """
    m = check_grams(k, l, min_m=6, name="hsic_gamma_test")
    kc, lc = center_gram(k), center_gram(l)  # [..., m, m]
    stat = trace_product(kc, lc) / m  # [...]
    b = (kc * lc) ** 2 / 36.0  # [..., m, m]; the 1/36 and 72 below are the paper's (1/6)^2 and 2 * 36
    off = b.sum((-2, -1)) - torch.diagonal(b, dim1=-2, dim2=-1).sum(-1)
    var = 72.0 * (m - 4) * (m - 5) / (m * (m - 1) * (m - 2) * (m - 3)) * off / (m * (m - 1))

    def centred_mass(g: Tensor) -> Tensor:
        diag = torch.diagonal(g, dim1=-2, dim2=-1)  # [..., m]
        mu = (g.sum((-2, -1)) - diag.sum(-1)) / (m * (m - 1))
        return diag.mean(-1) - mu

    mean = centred_mass(k) * centred_mass(l) / m
    shape = mean**2 / var
    scale = m * var / mean
    p = torch.special.gammaincc(shape, stat / scale)
    return HSICTestResult(stat, p)


def hsic_permutation_test(
    k: Tensor,
    l: Tensor,  # noqa: E741
    *,
    n_permutations: int = 500,
    generator: torch.Generator | None = None,
    chunk: int = 50,
) -> HSICTestResult:
    """HSIC independence test calibrated by permuting the y sample.

    The statistic is ``HSIC_b(K, L)``; each permutation ``pi`` gives ``HSIC_b(K, P L P^T)``, a
    draw from the null when x and y are independent (the pairing is exchangeable). The p-value

        p = (1 + #{ pi : HSIC_b(K, P_pi L P_pi^T) >= HSIC_b(K, L) }) / (1 + n_permutations)

    is valid at every ``m``: ``P(p <= alpha) <= alpha`` under H0. Permutations are evaluated in
    chunks of ``chunk`` so memory is O(chunk m^2); the same permutations serve every batch element.

    Shapes:
        k, l: ``[..., m, m]`` (broadcast), ``m >= 2``; returns statistic and p-value ``[...]``.

    Args:
        k: Gram matrix of x.
        l: Gram matrix of y.
        n_permutations: number of random permutations.
        generator: source of the permutations (default: torch's global RNG).
        chunk: permutations evaluated at once.

    Returns:
        ``HSICTestResult(statistic, p_value)``.

    References:
        Gretton et al. (2008), as ``hsic_gamma_test``.

    Example:
        >>> import torch
        >>> from vaekit.hsic import linear_gram
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(30, 2, generator=g), torch.randn(30, 2, generator=g)
        >>> res = hsic_permutation_test(linear_gram(x), linear_gram(y), n_permutations=99, generator=g)
        >>> 0.01 <= res.p_value.item() <= 1.0
        True
    """
    m = check_grams(k, l, min_m=2, name="hsic_permutation_test")
    for label, value in (("n_permutations", n_permutations), ("chunk", chunk)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"hsic_permutation_test: {label} must be an int >= 1; got {value!r}")
    stat = hsic_biased(k, l)  # [...]
    kc = center_gram(k).unsqueeze(-3)  # [..., 1, m, m]
    exceed = torch.zeros_like(stat)
    done = 0
    while done < n_permutations:
        n = min(chunk, n_permutations - done)
        perm = torch.argsort(torch.rand(n, m, generator=generator), dim=-1).to(k.device)  # [n, m]
        lp = l[..., perm[:, :, None], perm[:, None, :]]  # [..., n, m, m]: L[pi_i, pi_j]
        null = trace_product(kc, lp) / (m - 1) ** 2  # [..., n]
        exceed = exceed + (null >= stat.unsqueeze(-1)).to(stat.dtype).sum(-1)
        done += n
    return HSICTestResult(stat, (1.0 + exceed) / (1.0 + n_permutations))
