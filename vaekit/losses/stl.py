"""STL, "sticking the landing" (Roeder et al. 2017): pathwise ELBO/IWAE gradients without the score term."""
from __future__ import annotations

from torch import Tensor

from vaekit._math import logmeanexp, self_normalized_weights, with_grad
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["STL", "stl_estimate"]

_OBJECTIVES = ("elbo", "iwae")


def stl_estimate(log_p: Tensor, log_q_stopped: Tensor, *, objective: str = "elbo") -> Tensor:
    """Per-example STL estimate: value = the ELBO or IWAE_K estimate, gradient = STL's.

    With z_k = g(eps_k, phi) and log w_k = log p(x, z_k) - log q_phi(z_k|x), the total derivative is
    d log w_k / d phi = (d log w_k / d z_k)(d z_k / d phi) - grad_phi log q_phi(z_k|x); STL drops the
    last (score) term by evaluating log q with its parameters stopped:
    ELBO:  (1/K) sum_k [ grad_theta log p(x, z_k) + (d log w_k / d z_k)(d z_k / d phi) ]. The
           dropped term has mean zero, so this is unbiased, and it vanishes when q = p(z|x).
    IWAE:  sum_k wt_k [ same ],  wt_k = w_k / sum_j w_j (detached). Unbiased in theta, BIASED in phi
           for K > 1: E[sum_k wt_k grad_phi log q(z_k|x)] != 0 (Tucker et al. 2018); prefer DReG.

    Shapes:
        log_p, log_q_stopped: ``[B, K]``; returns ``[B]``.

    Args:
        log_p: log p(x, z_k) with z_k from rsample.
        log_q_stopped: log q(z_k|x) of the same z_k under detached parameters
            (``InfNet.log_prob_detached``); its value is log q(z_k|x).
        objective: "elbo" or "iwae".

    References:
        Roeder, Wu & Duvenaud, "Sticking the Landing: Simple, Lower-Variance Gradient Estimators
        for Variational Inference", NeurIPS 2017; Tucker, Lawson, Gu & Maddison, ICLR 2019.

    Example:
        >>> import torch
        >>> stl_estimate(torch.zeros(2, 3), torch.ones(2, 3)).tolist()
        [-1.0, -1.0]
    """
    if objective not in _OBJECTIVES:
        raise ValueError(f"stl_estimate: objective must be one of {_OBJECTIVES}; got {objective!r}")
    log_w = log_p - log_q_stopped  # [B, K]: the value of log w, the gradient of the path only
    if objective == "elbo":
        return log_w.mean(dim=-1)  # [B]
    bound = logmeanexp(log_w, dim=-1)  # [B]
    surrogate = (self_normalized_weights(log_w) * log_w).sum(dim=-1)  # [B]
    return with_grad(bound, surrogate)


class STL(Loss):
    """Negative ELBO or IWAE_K with the sticking-the-landing gradient; needs a reparameterisable q.

    Objective and gradient: see :func:`stl_estimate`. ``loss = -mean_b bound(x_b)``. Construction
    raises ValueError if ``inf_net.has_rsample`` is False.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x), with rsample.
        gen_model: p(x, z).
        n_samples: K >= 1.
        objective: "elbo" (unbiased) or "iwae" (biased in phi; see :func:`stl_estimate`).
        check_finite: see :class:`~vaekit.losses.base.Loss`.

    References:
        Roeder, Wu & Duvenaud, NeurIPS 2017.

    Example:
        >>> import torch
        >>> from vaekit.latents import GaussianEncoder, BernoulliDecoder
        >>> loss_fn = STL(GaussianEncoder(6, 2), BernoulliDecoder(2, 6), n_samples=3)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, n_samples: int = 1, objective: str = "elbo",
                 check_finite: bool = True):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite)
        if objective not in _OBJECTIVES:
            raise ValueError(f"STL: objective must be one of {_OBJECTIVES}; got {objective!r}")
        self.require_rsample("STL")
        self.objective = objective

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        z, log_p, _ = self.draw(x, target, reparam=True)
        log_q_stopped = self.inf_net.log_prob_detached(z)  # [B, K]
        return -stl_estimate(log_p, log_q_stopped, objective=self.objective).mean(dim=0)

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, objective={self.objective!r}"
