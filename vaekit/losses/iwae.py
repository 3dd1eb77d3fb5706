"""IWAE: the K-sample importance-weighted bound (Burda et al. 2015)."""

from __future__ import annotations

from torch import Tensor

from vaekit._math import logmeanexp, with_grad
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["IWAE", "iwae_estimate"]


def iwae_estimate(log_p: Tensor, log_q: Tensor, *, score_function: bool) -> Tensor:
    """Per-example IWAE_K estimate: value = the bound's estimate, gradient = the estimator's.

    Objective:   IWAE_K(x) = E_{z_1..K ~ q}[ L ],  L = log (1/K) sum_k w_k,  w_k = p(x, z_k) / q(z_k|x).
    Gradient:    pathwise: sum_k wt_k grad log w_k,  wt_k = w_k / sum_j w_j;
                 score function (no baseline): sum_k wt_k grad log w_k + L * sum_k grad log q(z_k|x).

    Shapes:
        log_p, log_q: ``[B, K]``; returns ``[B]``.

    References:
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (arXiv 2015).

    Example:
        >>> import torch
        >>> iwae_estimate(torch.zeros(1, 2), torch.log(torch.tensor([[0.5, 2.0]])), score_function=False)
        tensor([0.2231])
    """
    log_w = log_p - log_q  # [B, K]
    bound = logmeanexp(log_w, dim=-1)  # [B]
    if not score_function:
        return bound
    surrogate = bound + bound.detach() * log_q.sum(dim=-1)  # [B]
    return with_grad(bound, surrogate)


class IWAE(Loss):
    """Negative importance-weighted bound; pathwise when q has ``rsample``, else score function.

    Objective and gradient: see :func:`iwae_estimate`. ``loss = -mean_b IWAE_K(x_b)``.
    With K = 1 it equals the ELBO. For the score-function case, VIMCO is the same objective with
    a far lower-variance gradient.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z).
        n_samples: K >= 1.
        pathwise: None (default) picks pathwise iff ``inf_net.has_rsample``; True forces it
            (ValueError at construction without rsample); False forces the score function.
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.

    Example:
        >>> import torch
        >>> from vaekit.latents import GaussianEncoder, BernoulliDecoder
        >>> loss_fn = IWAE(GaussianEncoder(6, 2), BernoulliDecoder(2, 6), n_samples=5)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 5,
        pathwise: bool | None = None,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        if pathwise:
            self.require_rsample("IWAE(pathwise=True)")
        self.pathwise = pathwise

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        reparam = self.inf_net.has_rsample if self.pathwise is None else self.pathwise
        _, log_p, log_q = self.draw(x, target, reparam=reparam)
        return iwae_estimate(log_p, log_q, score_function=not reparam)

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, pathwise={self.pathwise}"
