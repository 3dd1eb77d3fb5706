"""Local DisARM: DisARM for the multi-sample (IWAE) bound, one antithetic pair per sample (Dong et al. 2020)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit._math import logmeanexp, loo_logsumexp, with_grad
from vaekit.latents.discrete import discrete_logits, is_one_hot, possible, score_latents
from vaekit.latents.noise import uniform_noise
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["LocalDisARM", "local_disarm_estimate"]


def local_disarm_estimate(logits: Tensor, u: Tensor, log_w: Tensor, log_w_anti: Tensor) -> Tensor:
    """Local DisARM for IWAE_n: value = (IWAE_n(b_1..n) + IWAE_n(b~_1..n)) / 2, logit gradient local-DisARM's.

    Pairs:     b_i = 1[u_i < sigmoid(a)], b~_i = 1[u_i > sigmoid(-a)], i = 1..n (n iid antithetic pairs).
    Objective: L(b_1..n) = log (1/n) sum_i w(b_i); both halves are IWAE_n draws, so the value is unbiased for it.
    Gradient:  DisARM applied to sample i with the others held fixed, through the local signal
               d_i = L(b_1..n) - L(b_1..n with b_i replaced by b~_i), and symmetrically for the b~ half:
               g = sum_i 1/4 (d_i - d~_i) (-1)^{b~_i} 1[b_i != b~_i] sigmoid(|a|),
               plus the direct gradient of the value through log w (both models). For n = 1 it is DisARM.
    The swapped bounds reuse the 2n scored log-weights (leave-one-out log-sum-exp): no extra evaluations.

    Shapes:
        logits: ``[B, *z_shape]``; u: ``[B, n, *z_shape]``; log_w, log_w_anti: ``[B, n]``; returns ``[B]``.

    References:
        Dong, Mnih & Tucker, "DisARM: an antithetic gradient estimator for binary latent variables",
        NeurIPS 2020, section 5 (multi-sample bounds).

    Example:
        >>> import torch
        >>> a = torch.zeros(1, 2, requires_grad=True)
        >>> out = local_disarm_estimate(a, torch.rand(1, 3, 2), torch.zeros(1, 3), torch.zeros(1, 3))
        >>> out.tolist()
        [0.0]
    """
    n = log_w.shape[-1]
    value = 0.5 * (logmeanexp(log_w, dim=-1) + logmeanexp(log_w_anti, dim=-1))  # [B]
    lw, lwa = log_w.detach(), log_w_anti.detach()  # [B, n] each
    if n == 1:
        swap, swap_anti = lwa, lw  # [B, 1]
    else:
        swap = torch.logaddexp(loo_logsumexp(lw), lwa) - math.log(n)  # [B, n]: L with b_i -> b~_i
        swap_anti = torch.logaddexp(loo_logsumexp(lwa), lw) - math.log(n)  # [B, n]
    d = logmeanexp(lw, dim=-1, keepdim=True) - swap  # [B, n]
    d_anti = logmeanexp(lwa, dim=-1, keepdim=True) - swap_anti  # [B, n]
    a = logits.detach().unsqueeze(1)  # [B, 1, *z_shape]
    b, b_anti = u < torch.sigmoid(a), u > torch.sigmoid(-a)  # [B, n, *z_shape]
    sign = 1.0 - 2.0 * b_anti.to(a.dtype)
    weight = torch.where(b != b_anti, sign * torch.sigmoid(a.abs()), torch.zeros_like(u))  # [B, n, *z_shape]
    # An impossible latent (log w = -inf) can make a swapped bound -inf and d infinite: such a local
    # signal adds no term, and a half whose samples are all impossible adds no value term (no NaN).
    signal = (0.25 * possible(d - d_anti)).reshape(*d.shape, *([1] * (logits.dim() - 1)))  # [B, n, 1, ...]
    g = (signal * weight).sum(dim=1)  # [B, *z_shape]
    surrogate = 0.5 * (_possible_lme(log_w) + _possible_lme(log_w_anti)) + (g * logits).flatten(1).sum(-1)  # [B]
    return with_grad(value, surrogate)


def _possible_lme(log_w: Tensor) -> Tensor:
    """logmeanexp over the last dim, ``[B]``, read as 0 (with zero gradient, no NaN) where every log w is -inf."""
    ok = torch.isfinite(logmeanexp(log_w.detach(), dim=-1, keepdim=True))  # [B, 1]
    safe = torch.where(ok, log_w, torch.zeros_like(log_w))  # [B, n]
    return torch.where(ok.squeeze(-1), logmeanexp(safe, dim=-1), torch.zeros_like(safe[:, 0]))


class LocalDisARM(Loss):
    """Negative IWAE_n bound with the local-DisARM gradient, Bernoulli latents: 2n evaluations per step.

    See :func:`local_disarm_estimate`. The 2n latents ``[b_1..b_n, b~_1..b~_n]`` are scored in one
    call of each model (``log_p_``, ``log_q_``: ``[B, 2n]``). Compare it with VIMCO at 2n samples.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar.

    Args:
        inf_net: q(z|x) exposing Bernoulli ``params_["logits"]``.
        gen_model: p(x, z).
        n_pairs: n >= 1 antithetic pairs.
        check_finite: see :class:`~vaekit.losses.base.Loss`.

    References:
        Dong, Mnih & Tucker, "DisARM: an antithetic gradient estimator for binary latent variables", NeurIPS 2020.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = LocalDisARM(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), n_pairs=5)
        >>> loss_fn(torch.ones(4, 6)).backward(); tuple(loss_fn.log_p_.shape)
        (4, 10)
    """

    unbiased = True

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, n_pairs: int = 5, check_finite: bool = True):
        if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1:
            raise ValueError(f"LocalDisARM: n_pairs must be an int >= 1; got {n_pairs!r}")
        super().__init__(inf_net, gen_model, n_samples=2 * n_pairs, check_finite=check_finite)
        self.n_pairs = n_pairs

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        logits = discrete_logits(inf, "LocalDisARM")  # [B, *z_shape]
        if is_one_hot(inf):
            raise ValueError("LocalDisARM is for Bernoulli latents; got an InfNet with one_hot = True")
        n = self.n_pairs
        a = logits.detach().unsqueeze(1)  # [B, 1, *z_shape]
        u = uniform_noise((logits.shape[0], n, *logits.shape[1:]), dtype=a.dtype, device=a.device)  # [B, n, *z]
        z = torch.cat([u < torch.sigmoid(a), u > torch.sigmoid(-a)], dim=1).to(a.dtype)  # [B, 2n, *z_shape]
        log_p, log_q = score_latents(inf, self.gen_model, target, z, "LocalDisARM")  # [B, 2n] each
        self.keep_log_weights(log_p, log_q)
        log_w = log_p - log_q  # [B, 2n]
        return local_disarm_estimate(logits, u, log_w[:, :n], log_w[:, n:])

    def extra_repr(self) -> str:
        return f"n_pairs={self.n_pairs}"
