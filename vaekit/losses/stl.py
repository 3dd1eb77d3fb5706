"""STL, "sticking the landing" (Roeder et al. 2017): the pathwise ELBO gradient without the score term."""

from __future__ import annotations

from torch import Tensor

from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["STL", "stl_estimate"]


def stl_estimate(log_p: Tensor, log_q_stopped: Tensor) -> Tensor:
    """Per-example STL estimate: value = the K-sample ELBO estimate, gradient = STL's.

    With z_k = g(eps_k, phi) and log w_k = log p(x, z_k) - log q_phi(z_k|x), the total derivative is
    d log w_k / d phi = (d log w_k / d z_k)(d z_k / d phi) - grad_phi log q_phi(z_k|x); STL drops the
    last (score) term by evaluating log q with its parameters stopped:
    gradient: (1/K) sum_k [ grad_theta log p(x, z_k) + (d log w_k / d z_k)(d z_k / d phi) ].
    The dropped term has mean zero, so this is unbiased, and it vanishes when q = p(z|x). (For the
    IWAE objective the same trick is biased in phi for K > 1; DReG is its unbiased form.)

    Shapes:
        log_p, log_q_stopped: ``[B, K]``; returns ``[B]``.

    Args:
        log_p: log p(x, z_k) with z_k from rsample.
        log_q_stopped: log q(z_k|x) of the same z_k under detached parameters
            (``InfNet.log_prob_detached``); its value is log q(z_k|x).

    References:
        Roeder, Wu & Duvenaud, "Sticking the Landing: Simple, Lower-Variance Gradient Estimators
        for Variational Inference", NeurIPS 2017; Tucker, Lawson, Gu & Maddison, ICLR 2019.

    Example:
        >>> import torch
        >>> stl_estimate(torch.zeros(2, 3), torch.ones(2, 3)).tolist()
        [-1.0, -1.0]
    """
    return (log_p - log_q_stopped).mean(dim=-1)  # [B]: the value of log w, phi's gradient along the path only


class STL(Loss):
    """Negative ELBO with the sticking-the-landing gradient; needs a reparameterisable q.

    Objective and gradient: see :func:`stl_estimate`. ``loss = -mean_b ELBO_K(x_b)``. Construction
    raises ValueError if ``inf_net.has_rsample`` is False. At its first call the loss verifies that
    ``inf_net.log_prob_detached`` reaches q's parameters only through z (ValueError otherwise:
    a ``log_prob`` that reads parameters from outside ``params_`` would keep the score term). For
    the IWAE objective use :class:`~vaekit.losses.DReG`.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x), with rsample.
        gen_model: p(x, z).
        n_samples: K >= 1.
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Roeder, Wu & Duvenaud, NeurIPS 2017.

    Example:
        >>> import torch
        >>> from vaekit.latents import GaussianEncoder, BernoulliDecoder
        >>> loss_fn = STL(GaussianEncoder(6, 2), BernoulliDecoder(2, 6), n_samples=3)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 1,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        self.require_rsample("STL")

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        z, log_p, _ = self.draw(x, target, reparam=True)
        return stl_estimate(log_p, self.log_q_stopped(z))
