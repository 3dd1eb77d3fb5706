"""Categorical DisARM: DisARM on the stick-breaking binary coding of categorical latents (Dong, Mnih & Tucker 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit._math import with_grad
from vaekit.latents.discrete import discrete_logits, is_one_hot, possible, score_latents
from vaekit.latents.noise import uniform_noise
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["CategoricalDisARM", "categorical_disarm_estimate", "stick_breaking_logits", "stick_breaking_one_hot"]


def stick_breaking_logits(logits: Tensor) -> Tensor:
    """Logits of the C - 1 binary decisions coding a categorical: beta_j = log pi_j - log sum_{k > j} pi_k.

    Drawing b_j ~ Bernoulli(sigmoid(beta_j)) independently and taking z = the first j with b_j = 1
    (the last class if none) gives P(z = j) = pi_j.

    Shapes:
        logits: ``[..., C]``; returns ``[..., C - 1]``.
    """
    lp = F.log_softmax(logits, dim=-1)  # [..., C]
    suffix = torch.logcumsumexp(lp.flip(-1), dim=-1).flip(-1)  # [..., C]: log sum_{k >= j} pi_k
    return lp[..., :-1] - suffix[..., 1:]  # [..., C - 1]


def stick_breaking_one_hot(b: Tensor) -> Tensor:
    """One-hot class of binary decisions ``b`` ``[..., C - 1]``: the first 1, or the last class: ``[..., C]``."""
    stops = torch.cat([b > 0.5, torch.ones_like(b[..., :1], dtype=torch.bool)], dim=-1)  # [..., C]
    return F.one_hot(stops.to(torch.uint8).argmax(-1), stops.shape[-1])  # argmax returns the first maximum


def categorical_disarm_estimate(
    logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor, *, one_hot: bool = True
) -> Tensor:
    """DisARM on the stick-breaking coding: value = (f(z) + f(z~)) / 2, logit gradient through beta(logits).

    Coding:    beta = stick_breaking_logits(a); b = 1[u < sigmoid(beta)], b~ = 1[u > sigmoid(-beta)],
               z = stick_breaking_one_hot(b), z~ = stick_breaking_one_hot(b~) (both ~ q, coupled through u).
    Gradient:  DisARM for the independent binaries, g_j = 1/2 (f(z) - f(z~)) (-1)^{b~_j} 1[b_j != b~_j]
               sigmoid(|beta_j|), pulled back to the logits by the chain rule through beta(a).
    With ``one_hot=False`` the logits are those of Bernoulli latents (beta = a): plain DisARM.

    Shapes:
        logits: ``[B, *vars, C]``; u: ``[B, *vars, C - 1]``; f, f_anti: ``[B]``; returns ``[B]``
        (Bernoulli: logits and u ``[B, *z_shape]``).

    References:
        Dong, Mnih & Tucker, "Coupled gradient estimators for discrete latent variables", NeurIPS 2021
        (the stick-breaking coding and DisARM on it); Dong, Mnih & Tucker, "DisARM", NeurIPS 2020.

    Example:
        >>> import torch
        >>> a = torch.zeros(1, 1, 3, requires_grad=True)
        >>> categorical_disarm_estimate(a, torch.rand(1, 1, 2), torch.ones(1), torch.ones(1)).tolist()
        [1.0]
    """
    value = 0.5 * (f + f_anti)  # [B]
    f, f_anti = possible(f), possible(f_anti)  # an impossible latent (-inf) adds no term to the surrogate
    beta = stick_breaking_logits(logits) if one_hot else logits  # [B, *vars, C - 1]
    bd = beta.detach()
    b, b_anti = u < torch.sigmoid(bd), u > torch.sigmoid(-bd)
    sign = 1.0 - 2.0 * b_anti.to(bd.dtype)
    weight = torch.where(b != b_anti, sign * torch.sigmoid(bd.abs()), torch.zeros_like(bd))  # [B, *vars, C - 1]
    signal = 0.5 * (f - f_anti).detach().reshape(-1, *([1] * (beta.dim() - 1)))
    surrogate = 0.5 * (f + f_anti) + (signal * weight * beta).flatten(1).sum(-1)  # [B]
    return with_grad(value, surrogate)


class CategoricalDisARM(Loss):
    """Negative ELBO with DisARM on the stick-breaking coding of one-hot categorical latents: two evaluations.

    On Bernoulli latents (an InfNet without ``one_hot = True``) it is DisARM.

    See :func:`categorical_disarm_estimate`. The coupled pair (z, z~) is scored in one call of each
    model (``log_p_``, ``log_q_``: ``[B, 2]``); q's parameters get the gradient through the logits only.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar.

    References:
        Dong, Mnih & Tucker, "Coupled gradient estimators for discrete latent variables", NeurIPS 2021.

    Example:
        >>> import torch
        >>> from vaekit.latents import CategoricalEncoder, CategoricalDecoder
        >>> loss_fn = CategoricalDisARM(CategoricalEncoder(6, 3, 4), CategoricalDecoder(3, 4, 6))
        >>> loss_fn(torch.ones(2, 6)).backward(); tuple(loss_fn.log_p_.shape)
        (2, 2)
    """

    unbiased = True

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, check_finite: bool = True):
        super().__init__(inf_net, gen_model, n_samples=2, check_finite=check_finite)

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        logits = discrete_logits(inf, "CategoricalDisARM")  # [B, *vars, C]
        one_hot = is_one_hot(inf)
        bd = stick_breaking_logits(logits.detach()) if one_hot else logits.detach()  # [B, *vars, C - 1]
        u = uniform_noise(bd.shape, dtype=bd.dtype, device=bd.device)
        pair = [(u < torch.sigmoid(bd)).to(bd.dtype), (u > torch.sigmoid(-bd)).to(bd.dtype)]
        z = torch.stack([stick_breaking_one_hot(b) if one_hot else b for b in pair], dim=1).to(bd.dtype)
        log_p, log_q = score_latents(inf, self.gen_model, target, z, "CategoricalDisARM", detach_q=True)  # [B, 2]
        self.keep_log_weights(log_p, log_q)
        f = log_p - log_q  # [B, 2]
        return categorical_disarm_estimate(logits, u, f[:, 0], f[:, 1], one_hot=one_hot)
