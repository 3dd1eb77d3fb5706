"""Float64 loop references for the mutual-information bounds of vaekit.mi.

Plain Python over i and j, written from the papers' equations (see each bound's docstring),
with sums of exponentials accumulated directly (no log-sum-exp tricks: the test matrices are
moderate). Each returns a scalar whose value is the estimate and whose autograd gradient is the
training objective's, like the vectorised bounds, so both can be compared to 1e-6.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit._math import with_grad

__all__ = [
    "infonce_reference",
    "nwj_reference",
    "dv_reference",
    "mine_reference",
    "js_reference",
    "smile_reference",
    "tuba_reference",
    "alpha_tuba_reference",
    "flo_reference",
    "ba_reference",
    "doe_reference",
    "club_reference",
    "l1out_reference",
]


def _sum(items) -> Tensor:
    """A plain loop sum of scalar tensors (typed as a Tensor)."""
    total = torch.zeros((), dtype=torch.float64)
    for item in items:
        total = total + item
    return total


def _softplus(t: Tensor) -> Tensor:
    return torch.log(1 + torch.exp(t))


def _marginal_mean(f, n: int) -> Tensor:
    """1/(N(N-1)) sum_{i != j} f(i, j)."""
    return _sum(f(i, j) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))


def infonce_reference(s: Tensor) -> Tensor:
    """van den Oord et al. 2018: 1/N sum_i log( e^{f_ii} / (1/N sum_j e^{f_ij}) )."""
    n = s.shape[0]
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        denom = _sum(torch.exp(s[i, j]) for j in range(n)) / n
        total = total + torch.log(torch.exp(s[i, i]) / denom)
    return total / n


def nwj_reference(s: Tensor) -> Tensor:
    """1 + E_p f - E_q e^f (Nguyen et al. 2010 with f shifted by 1)."""
    n = s.shape[0]
    return 1 + _sum(s[i, i] for i in range(n)) / n - _marginal_mean(lambda i, j: torch.exp(s[i, j]), n)


def dv_reference(s: Tensor) -> Tensor:
    """E_p f - log E_q e^f (Donsker-Varadhan)."""
    n = s.shape[0]
    return _sum(s[i, i] for i in range(n)) / n - torch.log(_marginal_mean(lambda i, j: torch.exp(s[i, j]), n))


def mine_reference(s: Tensor, ema: float) -> Tensor:
    """DV value; gradient of E_p f - E_q e^f / ema (Belghazi et al. 2018)."""
    n = s.shape[0]
    joint = _sum(s[i, i] for i in range(n)) / n
    z = _marginal_mean(lambda i, j: torch.exp(s[i, j]), n)
    return with_grad(joint - torch.log(z), joint - z / ema)


def js_reference(s: Tensor) -> Tensor:
    """NWJ value, gradient of E_p[-softplus(-f)] - E_q[softplus(f)] (Poole et al. 2019)."""
    n = s.shape[0]
    obj = _sum(-_softplus(-s[i, i]) for i in range(n)) / n - _marginal_mean(lambda i, j: _softplus(s[i, j]), n)
    return with_grad(nwj_reference(s), obj)


def smile_reference(s: Tensor, tau: float) -> Tensor:
    """E_p f - log E_q clip(e^f, e^-tau, e^tau), JS gradient (Song and Ermon 2020)."""
    n = s.shape[0]
    clipped = _marginal_mean(lambda i, j: torch.clamp(torch.exp(s[i, j]), math.exp(-tau), math.exp(tau)), n)
    value = _sum(s[i, i] for i in range(n)) / n - torch.log(clipped)
    return with_grad(value, js_reference(s))  # js_reference carries the JS objective's gradient


def tuba_reference(s: Tensor, log_a: Tensor) -> Tensor:
    """E_p f - E_p(y)[E_p(x) e^f / a(y) + log a(y) - 1] (Poole et al. 2019, eq. 5)."""
    n = s.shape[0]
    joint = _sum(s[i, i] for i in range(n)) / n
    marg = _marginal_mean(lambda i, j: torch.exp(s[i, j]) / torch.exp(log_a[j]), n)
    return joint - marg - _sum(log_a[j] for j in range(n)) / n + 1


def alpha_tuba_reference(s: Tensor, log_a: Tensor, alpha: float) -> Tensor:
    """Poole et al. 2019 eq. 12 with K = N - 1 leave-one-out sets (see vaekit.mi.alpha_tuba)."""
    n = s.shape[0]

    def norm(j: int, k: int) -> Tensor:  # alpha m(y_j; x without x_k) + (1 - alpha) a(y_j)
        m = _sum(torch.exp(s[i, j]) for i in range(n) if i != k) / (n - 1)
        return alpha * m + (1 - alpha) * torch.exp(log_a[j])

    joint = _marginal_mean(lambda j, k: torch.log(torch.exp(s[j, j]) / norm(j, k)), n)
    marg = _marginal_mean(lambda i, j: torch.exp(s[i, j]) / norm(j, j), n)
    return 1 + joint - marg


def flo_reference(s: Tensor, u: Tensor) -> Tensor:
    """1 + E_p[ l - e^{l} E_y'[e^{g(x,y') - g(x,y)}] ] (Guo et al. 2022), l the second critic."""
    n = s.shape[0]
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        inner = _sum(torch.exp(s[i, j] - s[i, i]) for j in range(n) if j != i) / (n - 1)
        total = total + u[i] - torch.exp(u[i]) * inner
    return 1 + total / n


def ba_reference(lq: Tensor, h: float) -> Tensor:
    """H(Y) + E_p log q(y|x) (Barber and Agakov 2003)."""
    n = lq.shape[0]
    return h + _sum(lq[i, i] for i in range(n)) / n


def doe_reference(lq: Tensor, lm: Tensor) -> Tensor:
    """E log q(y|x) - E log q(y); gradient of their sum (McAllester and Stratos 2020)."""
    n = lq.shape[0]
    c = _sum(lq[i, i] for i in range(n)) / n
    m = _sum(lm[i] for i in range(n)) / n
    return with_grad(c - m, c + m)


def club_reference(lq: Tensor) -> Tensor:
    """E_p log q(y|x) - E_p(x)p(y) log q(y|x); gradient of the log-likelihood (Cheng et al. 2020)."""
    n = lq.shape[0]
    c = _sum(lq[i, i] for i in range(n)) / n
    return with_grad(c - _marginal_mean(lambda i, j: lq[i, j], n), c)


def l1out_reference(lq: Tensor) -> Tensor:
    """1/N sum_i log( q(y_i|x_i) / (1/(N-1) sum_{j != i} q(y_i|x_j)) ); log-likelihood gradient."""
    n = lq.shape[0]
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        mix = _sum(torch.exp(lq[i, j]) for j in range(n) if j != i) / (n - 1)
        total = total + lq[i, i] - torch.log(mix)
    c = _sum(lq[i, i] for i in range(n)) / n
    return with_grad(total / n, c)
