"""ELBO: the single- or multi-sample evidence lower bound, pathwise or score-function."""
from __future__ import annotations

from torch import Tensor

from vaekit._math import with_grad
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["ELBO", "elbo_estimate"]


def elbo_estimate(log_p: Tensor, log_q: Tensor, *, score_function: bool) -> Tensor:
    """Per-example ELBO estimate whose value is the bound and whose gradient is the estimator's.

    Objective:   ELBO(x) = E_{q(z|x)}[ log p(x, z) - log q(z|x) ],  estimated by
                 (1/K) sum_k log w_k,  log w_k = log p(x, z_k) - log q(z_k|x).
    Gradient:    pathwise (z_k = g(eps_k, phi)): (1/K) sum_k grad log w_k;
                 score function (REINFORCE, no baseline):
                 (1/K) sum_k [ grad log w_k + log w_k * grad log q(z_k|x) ].

    Shapes:
        log_p, log_q: ``[B, K]``; returns ``[B]``.

    Args:
        log_p: log p(x, z_k); for the pathwise form it must depend on z through rsample.
        log_q: log q(z_k|x).
        score_function: add the REINFORCE term (for latents drawn with no gradient path).

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (pathwise).
        Williams, "Simple statistical gradient-following algorithms", 1992 (score function).

    Example:
        >>> import torch
        >>> elbo_estimate(torch.zeros(2, 3), torch.ones(2, 3), score_function=True).tolist()
        [-1.0, -1.0]
    """
    log_w = log_p - log_q  # [B, K]
    bound = log_w.mean(dim=-1)  # [B]
    if not score_function:
        return bound
    surrogate = bound + (log_w.detach() * log_q).mean(dim=-1)  # [B]
    return with_grad(bound, surrogate)


class ELBO(Loss):
    """Negative ELBO with the pathwise gradient when q has ``rsample``, else the score function.

    Objective and gradient: see :func:`elbo_estimate`. ``loss = -mean_b ELBO_K(x_b)``.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z).
        n_samples: K >= 1 samples per data point (averaged).
        pathwise: None (default) picks pathwise iff ``inf_net.has_rsample``; True forces it
            (ValueError at construction without rsample); False forces the score function.
        check_finite: see :class:`~vaekit.losses.base.Loss`.
        beta: weight of the KL term (beta-VAE / variational information bottleneck):
            ELBO_beta = E_q[ log p(x|z) ] - beta * KL(q(z|x) || p(z)), estimated with
            log w_k = log p(x|z_k) + beta * (log p(z_k) - log q(z_k|x)). ``beta=1`` is the plain
            ELBO exactly. ``beta != 1`` needs ``gen_model.log_prior(z)`` (DistributionGenModel
            derives it; ValueError at construction otherwise). beta is ELBO-only: inside IWAE's
            importance weights it would give p(x|z) p(z)^beta / q(z|x)^beta, which bounds no
            log-likelihood for beta != 1, so IWAE has no beta.

    References:
        Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014; Williams 1992.
        Higgins et al., "beta-VAE", ICLR 2017; Alemi et al., "Deep Variational Information
        Bottleneck", ICLR 2017 (beta).

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = ELBO(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), n_samples=2)
        >>> loss = loss_fn(torch.bernoulli(torch.full((4, 6), 0.5)))
        >>> loss.backward(); loss.dim()
        0
    """

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, n_samples: int = 1,
                 pathwise: bool | None = None, check_finite: bool = True, beta: float = 1.0):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite)
        if pathwise:
            self.require_rsample("ELBO(pathwise=True)")
        self.pathwise = pathwise
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise ValueError(f"ELBO: beta must be a float >= 0; got {beta!r}")
        if beta != 1 and not callable(getattr(gen_model, "log_prior", None)):
            raise ValueError(
                f"ELBO(beta={beta}) needs gen_model.log_prior(z) to weight the KL term; "
                f"{type(gen_model).__name__} has none (DistributionGenModel provides it)"
            )
        self.beta = float(beta)

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        reparam = self.inf_net.has_rsample if self.pathwise is None else self.pathwise
        z, log_p, log_q = self.draw(x, target, reparam=reparam)
        if self.beta != 1:
            # log p(x|z) + beta (log p(z) - log q) = log p(x, z) + (beta - 1)(log p(z) - log q).
            log_p = log_p + (self.beta - 1) * (self.gen_model.log_prior(z) - log_q)  # [B, K]
        return -elbo_estimate(log_p, log_q, score_function=not reparam).mean(dim=0)
