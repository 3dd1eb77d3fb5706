"""VR: the variational Rényi bound (Li & Turner 2016), pathwise (VR) and score-function (VRScore)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit._math import logmeanexp, loo_logsumexp, loo_mean, with_grad
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["VR", "VRScore", "vr_estimate", "vr_score_estimate"]

# Below this |1 - alpha| the bound is evaluated around the mean log-weight (expm1/log1p form):
# the plain (1/t) logmeanexp(t log w) loses about eps/|t| absolute accuracy as t -> 0.
_NEAR_ELBO = 0.5


def _alpha(owner: str, alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"{owner}: alpha must be a float; got {type(alpha).__name__}")
    if not math.isfinite(alpha):
        raise ValueError(f"{owner}: alpha must be a finite float (alpha = 1 is the ELBO limit); got {alpha!r}")
    return float(alpha)


def _power_mean(log_w: Tensor, t: float) -> Tensor:
    """(1/t) log (1/K) sum_k exp(t log w_k) over the last dim; its t -> 0 limit mean_k log w_k at t = 0."""
    if t == 0:
        return log_w.mean(dim=-1)  # [B]
    far = logmeanexp(t * log_w, dim=-1) / t  # [B]
    if abs(t) >= _NEAR_ELBO:
        return far
    m = log_w.mean(dim=-1, keepdim=True)  # [B, 1]
    u = t * (log_w - m)  # [B, K]
    near_ok = torch.isfinite(log_w).all(dim=-1) & (u.abs().amax(dim=-1) <= 1)  # [B]
    u = torch.where(near_ok.unsqueeze(-1), u, torch.zeros_like(u))  # keeps the unused branch's gradient finite
    near = m.squeeze(-1) + torch.log1p(torch.expm1(u).mean(dim=-1)) / t  # [B]
    return torch.where(near_ok, near, far)


def _loo_power_mean(lw: Tensor, t: float) -> Tensor:
    """Entry j: the power mean of the K log-weights with lw_j replaced by the mean of the others, ``[B, K]``."""
    k = lw.shape[-1]
    g = loo_mean(lw)  # [B, K]
    if t == 0:
        return g  # (sum_{i != j} lw_i + g_j) / K = g_j
    far = (torch.logaddexp(loo_logsumexp(t * lw), t * g) - math.log(k)) / t  # [B, K]
    if abs(t) >= _NEAR_ELBO:
        return far
    m = lw.mean(dim=-1, keepdim=True)  # [B, 1]
    d = lw - m  # [B, K]
    near_ok = torch.isfinite(lw).all(dim=-1, keepdim=True) & ((t * d).abs().amax(dim=-1, keepdim=True) <= 1)
    d = torch.where(near_ok, d, torch.zeros_like(d))
    e = torch.expm1(t * d)  # [B, K]; g_j - m = -d_j / (K - 1) exactly
    inner = (e.sum(dim=-1, keepdim=True) - e + torch.expm1(-t * d / (k - 1))) / k  # [B, K]
    return torch.where(near_ok, m + torch.log1p(inner) / t, far)


def vr_estimate(log_p: Tensor, log_q: Tensor, *, alpha: float) -> Tensor:
    """Per-example VR_alpha estimate; its gradient (autograd through reparameterised z) is the pathwise one.

    Objective:  VR_alpha(x) = E_{z_1..K ~ q}[ (1/(1-alpha)) log (1/K) sum_k w_k^(1-alpha) ],  w_k = p(x, z_k)/q(z_k|x).
                alpha = 0 is IWAE_K; alpha -> 1 the ELBO (taken as the limit: alpha = 1 returns (1/K) sum_k log w_k);
                alpha < 0 gives values above IWAE_K (an upper bound on log p(x) in expectation once K is large).
                Non-increasing in alpha for every draw (a power mean of the w_k of order 1 - alpha).
    Gradient:   sum_k wa_k grad log w_k,  wa_k = w_k^(1-alpha) / sum_j w_j^(1-alpha)
                (pathwise when z_k = g(eps_k, phi)).

    Shapes:
        log_p, log_q: ``[B, K]``; returns ``[B]``.

    References:
        Li & Turner, "Rényi Divergence Variational Inference", NeurIPS 2016, eqs. (5) and (11).

    Example:
        >>> import torch
        >>> lp, lq = torch.zeros(1, 2), torch.log(torch.tensor([[0.5, 2.0]]))
        >>> [round(vr_estimate(lp, lq, alpha=a).item(), 4) for a in (0.0, 0.5, 1.0)]
        [0.2231, 0.1178, 0.0]
    """
    t = 1.0 - _alpha("vr_estimate", alpha)
    return _power_mean(log_p - log_q, t)  # [B]


def vr_score_estimate(log_p: Tensor, log_q: Tensor, *, alpha: float) -> Tensor:
    """Per-example VR_alpha estimate with a score-function gradient and leave-one-out baselines.

    Objective:  as :func:`vr_estimate`; L = (1/t) log (1/K) sum_k w_k^t,  t = 1 - alpha.
    Baseline:   L_{-j}: L with w_j replaced by the geometric mean of the other K-1 weights (VIMCO's
                construction, Mnih & Rezende 2016, applied to the power mean); it does not depend on z_j.
    Gradient:   sum_j (L - L_{-j}) grad log q(z_j|x) + sum_k wa_k grad log w_k,  z_k ~ q with no gradient path.
    Unbiased for grad VR_alpha,K. At alpha = 0 it is VIMCO exactly; at alpha = 1 the signal is
    mean_k log w_k minus the mean of the other log-weights. A row whose bound is -inf (alpha >= 1
    with an impossible sample, log p = -inf) has value -inf and contributes no gradient.

    Shapes:
        log_p, log_q: ``[B, K]`` with ``K >= 2``; returns ``[B]``.

    References:
        Li & Turner, NeurIPS 2016; Mnih & Rezende, "Variational inference for Monte Carlo objectives", ICML 2016.

    Example:
        >>> import torch
        >>> vr_score_estimate(torch.zeros(1, 3), torch.zeros(1, 3), alpha=0.5)
        tensor([0.])
    """
    t = 1.0 - _alpha("vr_score_estimate", alpha)
    if log_p.shape[-1] < 2:
        raise ValueError(f"vr_score_estimate needs K >= 2 samples; got log_p of shape {tuple(log_p.shape)}")
    log_w = log_p - log_q  # [B, K]
    value = _power_mean(log_w.detach(), t)  # [B]
    # A row whose bound is -inf (alpha >= 1 and an impossible sample, log p = -inf) contributes no
    # gradient; its surrogate is built on zeros so that it stays finite (no NaN anywhere).
    ok = torch.isfinite(value).unsqueeze(-1)  # [B, 1]
    log_w = torch.where(ok, log_w, torch.zeros_like(log_w))
    log_q = torch.where(ok, log_q, torch.zeros_like(log_q))
    bound = _power_mean(log_w, t)  # [B]
    signal = bound.detach().unsqueeze(-1) - _loo_power_mean(log_w.detach(), t)  # [B, K]
    surrogate = bound + (signal * log_q).sum(dim=-1)  # [B]
    return with_grad(value, torch.where(ok.squeeze(-1), surrogate, torch.zeros_like(surrogate)))


class VR(Loss):
    """Negative variational Rényi bound VR_alpha,K with the pathwise gradient; needs a reparameterisable q.

    Objective and gradient: see :func:`vr_estimate`. ``loss = -mean_b VR_alpha(x_b)``. alpha = 0
    is ``IWAE`` (pathwise), alpha = 1 the pathwise ELBO; alpha in (0, 1) interpolates; alpha < 0
    gives a mass-covering objective whose value lies above IWAE_K (for large K above log p(x):
    not a lower bound, report IWAE for evaluation). Construction raises ValueError without rsample;
    use :class:`VRScore` for discrete latents.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x), with rsample.
        gen_model: p(x, z).
        alpha: any finite float (TypeError for a non-number, ValueError for nan/inf).
        n_samples: K >= 1 (at K = 1 every alpha gives the ELBO).
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Li & Turner, "Rényi Divergence Variational Inference", NeurIPS 2016.

    Example:
        >>> import torch
        >>> from vaekit.latents import GaussianEncoder, BernoulliDecoder
        >>> loss_fn = VR(GaussianEncoder(6, 2), BernoulliDecoder(2, 6), alpha=0.5, n_samples=5)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        alpha: float,
        n_samples: int = 5,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        self.alpha = _alpha(type(self).__name__, alpha)
        self.require_rsample("VR (pathwise)")

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        _, log_p, log_q = self.draw(x, target, reparam=True)
        return vr_estimate(log_p, log_q, alpha=self.alpha)  # [B]

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, n_samples={self.n_samples}"


class VRScore(Loss):
    """Negative VR_alpha,K bound with a score-function gradient (leave-one-out baselines): any q.

    Objective and gradient: see :func:`vr_score_estimate`; ``VRScore(alpha=0)`` is ``VIMCO``.
    Latents are drawn with ``sample`` (no gradient path), so discrete latents work.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z).
        alpha: any finite float.
        n_samples: K >= 2 (the baseline needs another sample); ValueError otherwise.
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Li & Turner, NeurIPS 2016; Mnih & Rezende, ICML 2016.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = VRScore(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), alpha=0.5, n_samples=4)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    min_samples = 2

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        alpha: float,
        n_samples: int = 5,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        self.alpha = _alpha(type(self).__name__, alpha)

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        _, log_p, log_q = self.draw(x, target, reparam=False)
        return vr_score_estimate(log_p, log_q, alpha=self.alpha)  # [B]

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, n_samples={self.n_samples}"
