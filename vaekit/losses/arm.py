"""ARM: the Augment-REINFORCE-Merge estimator for Bernoulli latents (Yin & Zhou 2019)."""

from __future__ import annotations

import torch
from torch import Tensor

from vaekit._math import with_grad
from vaekit.latents.discrete import discrete_logits, is_one_hot, possible, score_latents
from vaekit.latents.noise import uniform_noise
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["ARM", "arm_estimate"]


def arm_estimate(logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor) -> Tensor:
    """ARM on one antithetic pair: value = (f(b) + f(b~)) / 2, logit gradient = ARM's.

    Pair:      u ~ U(0, 1)^n,  b = 1[u < sigmoid(a)],  b~ = 1[u > sigmoid(-a)]  (both ~ q).
    Gradient:  d/da E_q[f(b)] = E_u[ (f(b~) - f(b)) (u - 1/2) ]        (Yin & Zhou 2019, eq. 5).
    ``f`` and ``f_anti`` may carry gradients into the parameters f depends on directly (the
    generative model); they are averaged for that path. The logit term uses them detached.

    Shapes:
        logits, u: ``[B, *z_shape]``; f, f_anti: ``[B]``; returns ``[B]``.

    References:
        Yin & Zhou, "ARM: Augment-REINFORCE-Merge gradient for stochastic binary networks", ICLR 2019.

    Example:
        >>> import torch
        >>> a = torch.zeros(1, 1, requires_grad=True)
        >>> arm_estimate(a, torch.tensor([[0.9]]), torch.tensor([0.0]), torch.tensor([1.0])).sum().backward()
        >>> round(a.grad.item(), 6)  # (1 - 0) * (0.9 - 0.5)
        0.4
    """
    value = 0.5 * (f + f_anti)  # [B]
    f, f_anti = possible(f), possible(f_anti)  # an impossible latent (-inf) adds no term to the surrogate
    signal = (f_anti - f).detach().reshape(-1, *([1] * (logits.dim() - 1)))  # [B, 1, ...]
    g = signal * (u - 0.5)  # [B, *z_shape]
    surrogate = 0.5 * (f + f_anti) + (g * logits).flatten(1).sum(-1)  # [B]
    return with_grad(value, surrogate)


class ARM(Loss):
    """Negative ELBO with the ARM gradient for factorised Bernoulli latents: two evaluations per step.

    f(b) = log p(x, b) - log q(b|x) is scored for the antithetic pair (b, b~) in one call of each
    model (``log_p_``, ``log_q_``: ``[B, 2]``, column 0 = b). q's parameters get ARM's gradient
    through ``params_["logits"]`` only: the direct term E_q[grad log q] is exactly zero and dropped.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar.

    References:
        Yin & Zhou, "ARM: Augment-REINFORCE-Merge gradient for stochastic binary networks", ICLR 2019.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = ARM(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6))
        >>> loss_fn(torch.ones(4, 6)).backward(); tuple(loss_fn.log_p_.shape)
        (4, 2)
    """

    unbiased = True

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, check_finite: bool = True):
        super().__init__(inf_net, gen_model, n_samples=2, check_finite=check_finite)

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        logits = discrete_logits(inf, "ARM")  # [B, *z_shape]
        if is_one_hot(inf):
            raise ValueError("ARM is for Bernoulli latents; for one-hot categorical latents use IndeCateR or Enumerate")
        u = uniform_noise(logits.shape, dtype=logits.dtype, device=logits.device)  # [B, *z_shape]
        a = logits.detach()
        z = torch.stack([u < torch.sigmoid(a), u > torch.sigmoid(-a)], dim=1).to(logits.dtype)  # [B, 2, *z_shape]
        log_p, log_q = score_latents(inf, self.gen_model, target, z, "ARM", detach_q=True)  # [B, 2] each
        self.keep_log_weights(log_p, log_q)
        f = log_p - log_q  # [B, 2]
        return arm_estimate(logits, u, f[:, 0], f[:, 1])
