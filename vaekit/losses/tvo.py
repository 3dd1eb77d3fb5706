"""TVO: the thermodynamic variational objective (Masrani, Le & Wood 2019)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit._math import with_grad
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["TVO", "tvo_estimate", "log_uniform_partition"]


def log_uniform_partition(n_intervals: int = 5, *, beta_min: float = 0.1, dtype: torch.dtype = torch.float64) -> Tensor:
    """The partition ``[0, beta_min, ..., 1]``: 0, then ``n_intervals`` points log-uniform from beta_min to 1.

    Shapes:
        returns ``[n_intervals + 1]``.

    Example:
        >>> [round(b, 3) for b in log_uniform_partition(3, beta_min=0.01).tolist()]
        [0.0, 0.01, 0.1, 1.0]
    """
    if isinstance(n_intervals, bool) or not isinstance(n_intervals, int) or n_intervals < 1:
        raise ValueError(f"log_uniform_partition: n_intervals must be an int >= 1; got {n_intervals!r}")
    if not 0 < beta_min < 1:
        raise ValueError(f"log_uniform_partition: beta_min must be in (0, 1); got {beta_min!r}")
    if n_intervals == 1:
        return torch.tensor([0.0, 1.0], dtype=dtype)
    inner = torch.logspace(math.log10(beta_min), 0.0, n_intervals, dtype=dtype)  # [N]
    return torch.cat([torch.zeros(1, dtype=dtype), inner])


def _check_partition(owner: str, partition: object) -> Tensor:
    if not isinstance(partition, Tensor) or not partition.is_floating_point():
        raise TypeError(f"{owner}: partition must be a float tensor; got {type(partition).__name__}")
    p = partition.detach()
    if p.dim() != 1 or p.numel() < 2:
        raise ValueError(
            f"{owner}: partition must be 1-d with at least 2 points [0, ..., 1]; got shape {tuple(p.shape)}"
        )
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()) or bool((p > 1).any()):
        raise ValueError(f"{owner}: partition points must lie in [0, 1]; got {p.tolist()}")
    if float(p[0]) != 0.0 or float(p[-1]) != 1.0:
        raise ValueError(f"{owner}: partition must start at 0 and end at 1; got {p.tolist()}")
    if not bool((p[1:] > p[:-1]).all()):
        raise ValueError(f"{owner}: partition must be strictly increasing; got {p.tolist()}")
    return p


def tvo_estimate(log_p: Tensor, log_q: Tensor, partition: Tensor) -> Tensor:
    """Per-example TVO estimate (left Riemann sum) with the covariance-form score-function gradient.

    Objective:  TVO(x) = sum_{n=0}^{N-1} (beta_{n+1} - beta_n) E_{pi_{beta_n}}[ log w ],  0 = beta_0 < ... < beta_N = 1,
                pi_beta(z) proportional to q(z|x)^(1-beta) p(x, z)^beta = q(z|x) w^beta.  ELBO <= TVO <= log p(x).
    Estimate:   E_{pi_beta}[f] ~ sum_k pi_bk f_k,  pi_bk = w_k^beta / sum_j w_j^beta  (self-normalised IS from z_k ~ q).
    Gradient:   grad E_{pi_beta}[f] = E_pi[grad f] + Cov_pi[grad log (q w^beta), f],  f = log w, z held fixed,
                each expectation by the same self-normalised weights:
                sum_k pi_bk [ grad log w_k + (f_k - fbar_b) (grad log q_k + beta grad log w_k) ].
    Bias: self-normalised importance sampling is biased for finite K, in value and gradient (consistent
    as K -> inf). At beta = 0 the covariance uses the sample mean, so the one-interval partition
    ``[0, 1]`` gives the ELBO's value with its score term scaled by (K-1)/K.
    A row with an impossible sample (log p = -inf) has the value -inf (the beta = 0 segment is an
    ELBO) and contributes no gradient.

    Shapes:
        log_p, log_q: ``[B, K]``; partition: ``[N + 1]``; returns ``[B]``.

    References:
        Masrani, Le & Wood, "The Thermodynamic Variational Objective", NeurIPS 2019, eqs. (9), (12) and sec. 4.

    Example:
        >>> import torch
        >>> lp, lq = torch.zeros(1, 3), torch.zeros(1, 3)
        >>> tvo_estimate(lp, lq, torch.tensor([0.0, 0.5, 1.0])).tolist()
        [0.0]
    """
    return _tvo(log_p, log_q, _check_partition("tvo_estimate", partition))


def _tvo(log_p: Tensor, log_q: Tensor, partition: Tensor) -> Tensor:
    """:func:`tvo_estimate` on a partition already checked (no host sync on the hot path)."""
    beta = partition.to(dtype=log_p.dtype, device=log_p.device)  # [N + 1]
    left, width = beta[:-1].view(-1, 1, 1), (beta[1:] - beta[:-1]).view(-1, 1, 1)  # [N, 1, 1] each
    log_w = log_p - log_q  # [B, K]
    # An impossible sample (log p = -inf) makes the bound -inf (the beta = 0 segment is an ELBO):
    # the value says so, and the row contributes no gradient (its surrogate is built on zeros).
    ok = torch.isfinite(log_w.detach()).all(dim=-1, keepdim=True)  # [B, 1]
    impossible = torch.where(ok.squeeze(-1), torch.zeros_like(log_w[:, 0]), torch.full_like(log_w[:, 0], -math.inf))
    log_w = torch.where(ok, log_w, torch.zeros_like(log_w))
    log_q = torch.where(ok, log_q, torch.zeros_like(log_q))
    lw = log_w.detach()  # [B, K]
    # w^0 = 1 even where log w = -inf (0 * -inf would be NaN).
    tempered = torch.where(left == 0, torch.zeros_like(lw), left * lw)  # [N, B, K]
    pi = torch.softmax(tempered, dim=-1)  # [N, B, K]
    terms = torch.where(pi > 0, pi * lw, torch.zeros_like(pi))  # [N, B, K]
    fbar = terms.sum(dim=-1, keepdim=True)  # [N, B, 1]
    value = (width * fbar).sum(dim=0).squeeze(-1)  # [B]
    cov = torch.where(pi > 0, pi * (lw - fbar), torch.zeros_like(pi))  # [N, B, K]
    coef_w = (width * (pi + left * cov)).sum(dim=0)  # [B, K]: multiplies grad log w_k
    coef_q = (width * cov).sum(dim=0)  # [B, K]: multiplies grad log q_k
    surrogate = (coef_w * log_w + coef_q * log_q).sum(dim=-1)  # [B]
    return with_grad(value + impossible, surrogate)


class TVO(Loss):
    """Negative thermodynamic variational objective with the covariance score-function gradient: any q.

    Objective, gradient and bias: see :func:`tvo_estimate`. ``loss = -mean_b TVO(x_b)``. Latents are
    drawn with ``sample`` (no gradient path), so discrete latents work and no rsample is needed.
    The default partition is :func:`log_uniform_partition` ``[0, 0.1, ..., 1]`` (5 intervals),
    kept as a buffer (it follows ``.to(device)``).

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z).
        n_samples: K >= 1 (the covariance needs K >= 2 to give phi any gradient).
        partition: a float tensor ``0 = beta_0 < ... < beta_N = 1`` (TypeError if not a float
            tensor; ValueError outside [0, 1], not strictly increasing, or not from 0 to 1).
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Masrani, Le & Wood, "The Thermodynamic Variational Objective", NeurIPS 2019.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = TVO(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), n_samples=5)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 5,
        partition: Tensor | None = None,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        part = log_uniform_partition() if partition is None else partition
        self.partition: Tensor
        self.register_buffer("partition", _check_partition("TVO", part).clone())

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        _, log_p, log_q = self.draw(x, target, reparam=False)
        return _tvo(log_p, log_q, self.partition)  # [B]

    def extra_repr(self) -> str:
        points = [round(float(b), 4) for b in self.partition]
        return f"n_samples={self.n_samples}, partition={points}"
