"""The two KL terms of the NVIB regulariser: Gaussian (per component) and Dirichlet (mixture weights).

Per batch element, over the K0 unmasked components (the prior component and kappa copies
included), with n = K0 / kappa, alpha0_q = sum of the unmasked alpha_i, pibar_i = alpha_i / alpha0_q
and alpha0_p = alpha_p + delta * (n - 1):

    KL_G = kappa * 1/2 * sum_i pibar_i * mean_h [ s_ih + (mu_ih - mu_p,h)^2 / sigma^2_p,h - 1 - log s_ih ],
           s_ih = sigma^2_ih / sigma^2_p,h;
    KL_D = (1/n) * [ lgamma(alpha0_q) - lgamma(alpha0_p)
                     + (alpha0_q - alpha0_p) * (digamma(alpha0_q / K0) - digamma(alpha0_q))
                     + K0 * (lgamma(alpha0_p / K0) - lgamma(alpha0_q / K0)) ],

KL_D being the KL between symmetric Dirichlets of total masses alpha0_q and alpha0_p over K0
components, divided by n, computed in float64.

References:
    Henderson & Fehr, "A VAE for Transformers with Nonparametric Variational Information
    Bottleneck", ICLR 2023.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["kl_gaussian", "kl_dirichlet"]


def kl_gaussian(mu: Tensor, logvar: Tensor, log_alpha: Tensor, key_padding_mask: Tensor, *,
                prior_mu: Tensor | float = 0.0, prior_var: Tensor | float = 1.0, kappa: int = 1) -> Tensor:
    """KL_G of the module docstring: the pibar-weighted Gaussian KL to the prior component, ``[B]``.

    Shapes:
        mu, logvar: ``[B, K0, P]``; log_alpha, key_padding_mask (True = padding): ``[B, K0]``;
        prior_mu, prior_var: scalars or ``[P]``; returns ``[B]``.

    Example:
        >>> import torch
        >>> kl_gaussian(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.zeros(1, 2),
        ...             torch.zeros(1, 2, dtype=torch.bool)).tolist()
        [0.0]
    """
    _check(log_alpha, key_padding_mask, "kl_gaussian")
    if tuple(mu.shape) != tuple(logvar.shape) or tuple(mu.shape[:-1]) != tuple(log_alpha.shape):
        raise ValueError(
            f"kl_gaussian: mu and logvar must be [B, K0, P] matching log_alpha [B, K0] = {tuple(log_alpha.shape)}; "
            f"got mu {tuple(mu.shape)}, logvar {tuple(logvar.shape)}"
        )
    valid = ~key_padding_mask
    prior_mu = torch.as_tensor(prior_mu, dtype=mu.dtype, device=mu.device)
    prior_logvar = torch.as_tensor(prior_var, dtype=mu.dtype, device=mu.device).log()
    log_s = logvar - prior_logvar  # [B, K0, P]
    per = (log_s.exp() + (mu - prior_mu) ** 2 / prior_logvar.exp() - 1 - log_s).mean(-1)  # [B, K0]: mean over h
    pibar = torch.softmax(torch.where(valid, log_alpha, log_alpha.new_full((), -math.inf)), dim=-1)  # [B, K0]
    return kappa * 0.5 * torch.where(valid, pibar * per, per.new_zeros(())).sum(-1)  # [B]


def kl_dirichlet(log_alpha: Tensor, key_padding_mask: Tensor, *, prior_alpha: Tensor | float = 1.0,
                 delta: float = 1.0, kappa: int = 1) -> Tensor:
    """KL_D of the module docstring, computed in float64 and returned in log_alpha's dtype, ``[B]``.

    Zero when the posterior mass alpha0_q equals the prior mass alpha0_p.

    Shapes:
        log_alpha, key_padding_mask (True = padding): ``[B, K0]``; returns ``[B]``.

    Example:
        >>> import torch
        >>> kl_dirichlet(torch.zeros(1, 2), torch.zeros(1, 2, dtype=torch.bool)).tolist()  # masses 2 and 2
        [0.0]
    """
    _check(log_alpha, key_padding_mask, "kl_dirichlet")
    valid = ~key_padding_mask
    la = log_alpha.to(torch.float64)
    k0 = valid.sum(-1).to(torch.float64)  # [B]
    n = k0 / kappa
    a0q = torch.where(valid, la, la.new_full((), -math.inf)).logsumexp(-1).exp()  # [B]
    a0p = torch.as_tensor(prior_alpha, dtype=torch.float64, device=la.device) + delta * (n - 1)  # [B]
    kl = (torch.lgamma(a0q) - torch.lgamma(a0p)
          + (a0q - a0p) * (torch.digamma(a0q / k0) - torch.digamma(a0q))
          + k0 * (torch.lgamma(a0p / k0) - torch.lgamma(a0q / k0))) / n  # [B]
    return kl.to(log_alpha.dtype)


def _check(log_alpha: Tensor, mask: Tensor, where: str) -> None:
    if not isinstance(log_alpha, Tensor) or log_alpha.dim() != 2:
        got = tuple(log_alpha.shape) if isinstance(log_alpha, Tensor) else type(log_alpha).__name__
        raise ValueError(f"{where}: log_alpha must be [B, K0]; got {got}")
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != tuple(log_alpha.shape):
        got = f"{mask.dtype} tensor of shape {tuple(mask.shape)}" if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"{where}: key_padding_mask must be a bool tensor of shape {tuple(log_alpha.shape)}; got {got}")
