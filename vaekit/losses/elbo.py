"""ELBO: the single- or multi-sample evidence lower bound with the pathwise gradient."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from torch import Tensor

from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["ELBO", "elbo_estimate"]


def elbo_estimate(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Per-example pathwise ELBO estimate: value = the bound's estimate, gradient = its autograd gradient.

    Objective:   ELBO(x) = E_{q(z|x)}[ log p(x, z) - log q(z|x) ],  estimated by
                 (1/K) sum_k log w_k,  log w_k = log p(x, z_k) - log q(z_k|x).
    Gradient:    pathwise (z_k = g(eps_k, phi)): (1/K) sum_k grad log w_k.
    The score-function ELBO (latents with no gradient path) is :func:`~vaekit.losses.reinforce_estimate`
    without a baseline, and its module is ``Reinforce(q, p)``.

    Shapes:
        log_p, log_q: ``[B, K]``; returns ``[B]``.

    Args:
        log_p: log p(x, z_k), depending on z_k through rsample.
        log_q: log q(z_k|x) of the same z_k.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; Rezende, Mohamed &
        Wierstra, ICML 2014.

    Example:
        >>> import torch
        >>> elbo_estimate(torch.zeros(2, 3), torch.ones(2, 3)).tolist()
        [-1.0, -1.0]
    """
    return (log_p - log_q).mean(dim=-1)  # [B]


class ELBO(Loss):
    """Negative ELBO with the pathwise (reparameterisation) gradient; needs a reparameterisable q.

    Objective and gradient: see :func:`elbo_estimate`. ``loss = -mean_b ELBO_K(x_b)``.
    For a q without ``rsample`` (discrete latents), the score-function ELBO is ``Reinforce(q, p)``
    (with baselines for a useful variance); construction raises ValueError here.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x), with rsample.
        gen_model: p(x, z).
        n_samples: K >= 1 samples per data point (averaged).
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.
        beta: weight of the KL term (beta-VAE / variational information bottleneck):
            ELBO_beta = E_q[ log p(x|z) ] - beta * KL(q(z|x) || p(z)), estimated with
            log w_k = log p(x|z_k) + beta * (log p(z_k) - log q(z_k|x)). ``beta=1`` is the plain
            ELBO exactly. ``beta != 1`` needs ``gen_model.log_prior(z)`` (DistributionGenModel
            derives it; ValueError at construction otherwise). beta is ELBO-only: inside IWAE's
            importance weights it would give p(x|z) p(z)^beta / q(z|x)^beta, which bounds no
            log-likelihood for beta != 1, so IWAE has no beta.

    References:
        Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014.
        Higgins et al., "beta-VAE", ICLR 2017; Alemi et al., "Deep Variational Information
        Bottleneck", ICLR 2017 (beta).

    Example:
        >>> import torch
        >>> from vaekit.latents import GaussianEncoder, BernoulliDecoder
        >>> loss_fn = ELBO(GaussianEncoder(6, 3), BernoulliDecoder(3, 6), n_samples=2)
        >>> loss = loss_fn(torch.bernoulli(torch.full((4, 6), 0.5)))
        >>> loss.backward(); loss.dim()
        0
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 1,
        beta: float = 1.0,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        if not inf_net.has_rsample:
            raise ValueError(
                f"ELBO is the pathwise ELBO and needs a reparameterisable q(z|x), but "
                f"{type(inf_net).__name__}.has_rsample is False; use Reinforce(inf_net, gen_model) for the "
                "score-function ELBO (with baselines, e.g. baselines=[LeaveOneOut()])"
            )
        if isinstance(beta, bool) or not isinstance(beta, (int, float)):
            raise TypeError(f"ELBO: beta must be a float; got {type(beta).__name__}")
        if not beta >= 0:
            raise ValueError(f"ELBO: beta must be a float >= 0; got {beta!r}")
        if beta != 1 and not callable(getattr(gen_model, "log_prior", None)):
            raise ValueError(
                f"ELBO(beta={beta}) needs gen_model.log_prior(z) to weight the KL term; "
                f"{type(gen_model).__name__} has none (DistributionGenModel provides it)"
            )
        self.beta = float(beta)

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        z, log_p, log_q = self.draw(x, target, reparam=True)
        if self.beta != 1:
            # log p(x|z) + beta (log p(z) - log q) = log p(x, z) + (beta - 1)(log p(z) - log q).
            log_prior = cast(Callable[[Tensor], Tensor], self.gen_model.log_prior)  # checked at construction
            log_p = log_p + (self.beta - 1) * (log_prior(z) - log_q)  # [B, K]
        return elbo_estimate(log_p, log_q)

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, beta={self.beta}"
