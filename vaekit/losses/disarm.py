"""DisARM: ARM with the augmentation integrated out, for Bernoulli latents (Dong, Mnih & Tucker 2020)."""

from __future__ import annotations

import torch
from torch import Tensor

from vaekit._math import with_grad
from vaekit.latents.discrete import discrete_logits, is_one_hot, possible, score_latents
from vaekit.latents.noise import uniform_noise
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["DisARM", "disarm_estimate"]


def disarm_estimate(logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor) -> Tensor:
    """DisARM on one antithetic pair: value = (f(b) + f(b~)) / 2, logit gradient = DisARM's.

    Pair:      u ~ U(0, 1)^n,  b = 1[u < sigmoid(a)],  b~ = 1[u > sigmoid(-a)]  (both ~ q).
    Gradient:  g_i = 1/2 (f(b) - f(b~)) (-1)^{b~_i} 1[b_i != b~_i] sigmoid(|a_i|)
               (Dong, Mnih & Tucker 2020, eq. 7): ARM's estimator with u integrated out given
               (b, b~), hence never of larger variance. ``f``/``f_anti`` gradients (generative
               model) are averaged; the logit term uses them detached.

    Shapes:
        logits, u: ``[B, *z_shape]``; f, f_anti: ``[B]``; returns ``[B]``.

    References:
        Dong, Mnih & Tucker, "DisARM: an antithetic gradient estimator for binary latent variables",
        NeurIPS 2020.

    Example:
        >>> import torch
        >>> a = torch.zeros(1, 1, requires_grad=True)
        >>> disarm_estimate(a, torch.tensor([[0.2]]), torch.tensor([1.0]), torch.tensor([0.0])).sum().backward()
        >>> a.grad.item()  # b = 1, b~ = 0: 1/2 * (1 - 0) * (+1) * sigmoid(0)
        0.25
    """
    value = 0.5 * (f + f_anti)  # [B]
    f, f_anti = possible(f), possible(f_anti)  # an impossible latent (-inf) adds no term to the surrogate
    a = logits.detach()
    b, b_anti = u < torch.sigmoid(a), u > torch.sigmoid(-a)  # [B, *z_shape] each
    sign = 1.0 - 2.0 * b_anti.to(a.dtype)  # (-1)^{b~}
    weight = torch.where(b != b_anti, sign * torch.sigmoid(a.abs()), torch.zeros_like(a))  # [B, *z_shape]
    signal = 0.5 * (f - f_anti).detach().reshape(-1, *([1] * (logits.dim() - 1)))  # [B, 1, ...]
    surrogate = 0.5 * (f + f_anti) + (signal * weight * logits).flatten(1).sum(-1)  # [B]
    return with_grad(value, surrogate)


class DisARM(Loss):
    """Negative ELBO with the DisARM gradient for factorised Bernoulli latents: two evaluations per step.

    f(b) = log p(x, b) - log q(b|x) is scored for the antithetic pair (b, b~) in one call of each
    model (``log_p_``, ``log_q_``: ``[B, 2]``, column 0 = b). q's parameters get DisARM's gradient
    through ``params_["logits"]`` only (the direct term E_q[grad log q] = 0 is dropped).

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar.

    References:
        Dong, Mnih & Tucker, "DisARM: an antithetic gradient estimator for binary latent variables",
        NeurIPS 2020.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = DisARM(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6))
        >>> loss_fn(torch.ones(4, 6)).backward(); tuple(loss_fn.log_p_.shape)
        (4, 2)
    """

    unbiased = True

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, check_finite: bool = True):
        super().__init__(inf_net, gen_model, n_samples=2, check_finite=check_finite)

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        logits = discrete_logits(inf, "DisARM")  # [B, *z_shape]
        if is_one_hot(inf):
            raise ValueError(
                "DisARM is for Bernoulli latents; for one-hot categorical latents use IndeCateR or Enumerate"
            )
        u = uniform_noise(logits.shape, dtype=logits.dtype, device=logits.device)  # [B, *z_shape]
        a = logits.detach()
        z = torch.stack([u < torch.sigmoid(a), u > torch.sigmoid(-a)], dim=1).to(logits.dtype)  # [B, 2, *z_shape]
        log_p, log_q = score_latents(inf, self.gen_model, target, z, "DisARM", detach_q=True)  # [B, 2] each
        self.keep_log_weights(log_p, log_q)
        f = log_p - log_q  # [B, 2]
        return disarm_estimate(logits, u, f[:, 0], f[:, 1])
