"""DReG: doubly reparameterised IWAE gradients (Tucker et al. 2018)."""

from __future__ import annotations

from torch import Tensor

from vaekit._math import dreg_path_term, logmeanexp, self_normalized_weights, weighted_sum, with_grad
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["DReG", "dreg_estimate"]


def dreg_estimate(log_p: Tensor, log_q_stopped: Tensor, log_p_fixed_z: Tensor) -> Tensor:
    """Per-example IWAE_K estimate: value = the bound's estimate, gradient = DReG's.

    Objective:  IWAE_K(x) = E[ log (1/K) sum_k w_k ],  z_k = g(eps_k, phi) ~ q(z|x).
    Gradient:   theta: sum_k wt_k grad_theta log p(x, z_k),  wt_k = w_k / sum_j w_j;
                phi:   sum_k wt_k^2 (d log w_k / d z_k)(d z_k / d phi), q's parameters held fixed in
                       log w_k. Applying the reparameterisation identity
                       E[wt_k grad_phi log q(z_k)] = E[(wt_k - wt_k^2)(d log w_k/d z_k)(d z_k/d phi)]
                       to IWAE's score term gives this: unbiased, and its variance does not blow up
                       as K grows (unlike the pathwise IWAE inference-network gradient).

    Shapes:
        log_p, log_q_stopped, log_p_fixed_z: ``[B, K]``; returns ``[B]``.

    Args:
        log_p: log p(x, z_k) with z_k from rsample (gradient through z_k).
        log_q_stopped: log q(z_k|x) of the same z_k under detached parameters (``log_prob_detached``).
        log_p_fixed_z: log p(x, z_k) with z_k detached: theta's gradient.

    References:
        Tucker, Lawson, Gu & Maddison, "Doubly Reparameterized Gradient Estimators for Monte Carlo
        Objectives", ICLR 2019 (arXiv 2018), eq. (6).

    Example:
        >>> import torch
        >>> lp = torch.zeros(1, 2)
        >>> [round(v, 4) for v in dreg_estimate(lp, torch.log(torch.tensor([[0.5, 2.0]])), lp).tolist()]
        [0.2231]
    """
    log_w = log_p - log_q_stopped  # [B, K]
    bound = logmeanexp(log_w, dim=-1)  # [B]
    wt = self_normalized_weights(log_w)  # [B, K]
    surrogate = weighted_sum(wt, log_p_fixed_z) + dreg_path_term(wt.pow(2), log_p, log_p_fixed_z, log_q_stopped)  # [B]
    return with_grad(bound, surrogate)


class DReG(Loss):
    """Negative IWAE_K bound with the doubly reparameterised gradient; needs a reparameterisable q.

    Objective and gradient: see :func:`dreg_estimate`. ``loss = -mean_b IWAE_K(x_b)``. Runs the
    generative model twice per call (at z_k and at detached z_k) to keep theta's and phi's
    gradients apart. Construction raises ValueError if ``inf_net.has_rsample`` is False. For the
    DReG form of RWS's wake-phi update see ``RWSDReG``. At its first call the loss verifies that
    ``inf_net.log_prob_detached`` reaches q's parameters only through z (ValueError otherwise).

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x), with rsample.
        gen_model: p(x, z).
        n_samples: K >= 1 (K = 1 gives STL's ELBO gradient).
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Tucker, Lawson, Gu & Maddison, ICLR 2019.

    Example:
        >>> import torch
        >>> from vaekit.latents import GaussianEncoder, BernoulliDecoder
        >>> loss_fn = DReG(GaussianEncoder(6, 2), BernoulliDecoder(2, 6), n_samples=5)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 5,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        self.require_rsample("DReG")

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        z, log_p, _ = self.draw(x, target, reparam=True)
        log_q_stopped, log_p_fixed_z = self.stopped_terms(z, target)  # [B, K] each
        return dreg_estimate(log_p, log_q_stopped, log_p_fixed_z)
