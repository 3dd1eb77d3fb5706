"""VIMCO: multi-sample score-function gradients with leave-one-out baselines (Mnih & Rezende 2016)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit._math import logmeanexp, loo_logsumexp, loo_mean
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["VIMCO", "vimco_estimate"]


def vimco_estimate(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Per-example VIMCO estimate: value = the IWAE_K bound, gradient = VIMCO's.

    Objective:   L = log (1/K) sum_k w_k,  w_k = p(x, z_k) / q(z_k|x),  z_k ~ q(z|x) (no rsample).
    Baseline:    L_{-j} = log (1/K) [ sum_{k != j} w_k + wh_{-j} ],  with wh_{-j} the geometric
                 mean of the other K-1 weights, exp( (1/(K-1)) sum_{k != j} log w_k ).
    Gradient:    sum_j (L - L_{-j}) grad log q(z_j|x) + sum_j wt_j grad log w_j,  wt_j = w_j / sum_k w_k.

    L_{-j} is computed for all j by ``loo_logsumexp``: the dense [B, K, K] form for small K, the
    O(B*K) prefix/suffix form above ``DENSE_LOO_MAX_K``; both exact with -inf log-weights.

    Shapes:
        log_p, log_q: ``[B, K]`` with ``K >= 2``; returns ``[B]``.

    References:
        Mnih & Rezende, "Variational inference for Monte Carlo objectives", ICML 2016, eqs. (8)-(10).

    Example:
        >>> import torch
        >>> vimco_estimate(torch.zeros(1, 4), torch.zeros(1, 4))
        tensor([0.])
    """
    k = log_p.shape[-1]
    if k < 2:
        raise ValueError(f"vimco_estimate needs K >= 2 samples; got log_p of shape {tuple(log_p.shape)}")
    log_w = log_p - log_q  # [B, K]
    bound = logmeanexp(log_w, dim=-1)  # [B]
    lw = log_w.detach()  # [B, K]
    log_geo = loo_mean(lw)  # [B, K]: log of the geometric mean of the other K-1 weights
    baseline = torch.logaddexp(loo_logsumexp(lw), log_geo) - math.log(k)  # [B, K]: L_{-j}
    signal = bound.detach().unsqueeze(-1) - baseline  # [B, K]
    # L_{-j} = -inf only when every other weight is 0: the signal is then +inf (or NaN when L is
    # -inf too); such a sample carries no usable score term, so it contributes none.
    signal = torch.nan_to_num(signal, nan=0.0, posinf=0.0, neginf=0.0)  # [B, K]
    score = (signal * log_q).sum(dim=-1)  # [B]
    return bound + (score - score.detach())  # value: the bound; gradient: the bound's plus the score term


class VIMCO(Loss):
    """Negative IWAE_K bound with the VIMCO gradient: for discrete or non-reparameterisable latents.

    Objective and gradient: see :func:`vimco_estimate`. ``loss = -mean_b IWAE_K(x_b)``.
    Latents are drawn with ``sample`` (no gradient path), so any InfNet works.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z).
        n_samples: K >= 2 (the leave-one-out baseline needs another sample); ValueError otherwise.
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Mnih & Rezende, "Variational inference for Monte Carlo objectives", ICML 2016.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = VIMCO(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), n_samples=5)
        >>> loss = loss_fn(torch.bernoulli(torch.full((4, 6), 0.5)))
        >>> loss.backward(); len(loss_fn.loss_history_)
        1
    """

    min_samples = 2

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 5,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        _, log_p, log_q = self.draw(x, target, reparam=False)
        return vimco_estimate(log_p, log_q)
