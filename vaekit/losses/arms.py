"""ARMS: antithetic REINFORCE with M copula-coupled samples, for Bernoulli latents (Dimitriev & Zhou 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit._math import loo_mean, with_grad
from vaekit.latents.discrete import discrete_logits, is_one_hot, possible, score_latents
from vaekit.latents.noise import uniform_noise
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["ARMS", "arms_estimate", "dirichlet_copula_uniforms"]


def dirichlet_copula_uniforms(
    shape: tuple[int, ...], m: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """M negatively dependent U(0, 1) draws per coordinate: ``u_j = 1 - (1 - d_j)^(M-1)``, d ~ Dirichlet(1_M).

    Each ``d_j`` is Beta(1, M - 1), whose CDF maps it to a uniform. For M = 2, u_2 = 1 - u_1.

    Shapes:
        returns ``[shape[0], M, *shape[1:]]``.
    """
    e = -torch.log(uniform_noise((shape[0], m, *shape[1:]), dtype=dtype, device=device))  # [B, M, ...]: Exp(1)
    d = e / e.sum(dim=1, keepdim=True)  # [B, M, ...]
    return -torch.expm1((m - 1) * torch.log1p(-d))  # [B, M, ...]


def _one_minus_rho(logits: Tensor, m: int) -> Tensor:
    """1 - corr(b_i, b_j) of two coupled indicators b = 1[u < p], in float64 without cancellation.

    P(u_i < p, u_j >= p) = (1 - p) - (1 - 2a)_+^(M-1) with a = 1 - (1 - p)^(1/(M-1)) (the joint of two
    Dirichlet(1_M) coordinates), and 1 - rho = P(u_i < p, u_j >= p) / (p (1 - p)).
    """
    a64 = logits.detach().to(torch.float64)
    log_1mp = F.logsigmoid(-a64)  # log(1 - p)
    a = -torch.expm1(log_1mp / (m - 1))  # [..]
    t = 1 - 2 * a
    l2 = (m - 1) * torch.log1p(-2 * a.clamp_max(0.5))  # log (1 - 2a)^(M-1) where 1 - 2a > 0
    ratio = torch.where(t > 0, -torch.expm1(l2 - log_1mp), torch.ones_like(a64))  # P(.)/(1 - p)
    return (ratio / torch.sigmoid(a64)).to(logits.dtype)


def arms_estimate(logits: Tensor, b: Tensor, f: Tensor) -> Tensor:
    """ARMS for the ELBO: value = mean_j f(b_j), logit gradient = ARMS's, from M coupled samples.

    Samples:   b_j = 1[u_j < sigmoid(a)], u_1..M from the Dirichlet copula (each b_j ~ q, pairwise
               correlation rho < 0 per coordinate, the same for every pair).
    Gradient:  g = 1 / (M (1 - rho)) sum_j (f(b_j) - mean_{k != j} f(b_k)) (b_j - sigmoid(a)).
               Unbiased because E[f(b_k) (b_j - p)] = rho E[f(b_k) (b_k - p)] for k != j. With iid
               samples (rho = 0) it is leave-one-out REINFORCE; with M = 2 it is DisARM.

    Shapes:
        logits: ``[B, *z_shape]``; b: ``[B, M, *z_shape]``; f: ``[B, M]`` (M >= 2); returns ``[B]``.

    References:
        Dimitriev & Zhou, "ARMS: antithetic-REINFORCE-multi-sample gradient for binary variables", ICML 2021.

    Example:
        >>> import torch
        >>> a = torch.zeros(1, 2, requires_grad=True)
        >>> arms_estimate(a, torch.ones(1, 3, 2), torch.zeros(1, 3)).tolist()
        [0.0]
    """
    m = f.shape[-1]
    if m < 2:
        raise ValueError(f"arms_estimate needs M >= 2 samples; got f of shape {tuple(f.shape)}")
    value = f.mean(dim=-1)  # [B]
    f = possible(f)  # an impossible latent (-inf) adds no term to the surrogate
    fd = f.detach()
    signal = (fd - loo_mean(fd)).reshape(*fd.shape, *([1] * (logits.dim() - 1)))  # [B, M, 1, ...]
    a = logits.detach()
    g = (signal * (b - torch.sigmoid(a).unsqueeze(1))).sum(dim=1) / (m * _one_minus_rho(a, m))  # [B, *z_shape]
    surrogate = f.mean(dim=-1) + (g * logits).flatten(1).sum(-1)  # [B]
    return with_grad(value, surrogate)


class ARMS(Loss):
    """Negative ELBO with the ARMS gradient, Bernoulli latents: M coupled evaluations per step.

    f(b) = log p(x, b) - log q(b|x) for M copula-coupled samples scored in one call of each model
    (``log_p_``, ``log_q_``: ``[B, M]``); q's parameters get the gradient through the logits only.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar.

    Args:
        n_samples: M >= 2.

    References:
        Dimitriev & Zhou, "ARMS: antithetic-REINFORCE-multi-sample gradient for binary variables", ICML 2021.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = ARMS(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), n_samples=4)
        >>> loss_fn(torch.ones(4, 6)).backward(); tuple(loss_fn.log_p_.shape)
        (4, 4)
    """

    unbiased = True
    min_samples = 2

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, n_samples: int = 10, check_finite: bool = True):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite)

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        logits = discrete_logits(inf, "ARMS")  # [B, *z_shape]
        if is_one_hot(inf):
            raise ValueError("ARMS is for Bernoulli latents; got an InfNet with one_hot = True")
        u = dirichlet_copula_uniforms(tuple(logits.shape), self.n_samples, dtype=logits.dtype, device=logits.device)
        z = (u < torch.sigmoid(logits.detach()).unsqueeze(1)).to(logits.dtype)  # [B, M, *z_shape]
        log_p, log_q = score_latents(inf, self.gen_model, target, z, "ARMS", detach_q=True)  # [B, M] each
        self.keep_log_weights(log_p, log_q)
        return arms_estimate(logits, z, log_p - log_q)
