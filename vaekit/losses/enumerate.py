"""Enumerate: the exact ELBO and its exact gradient by summing over every discrete configuration."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit._math import with_grad
from vaekit.latents.discrete import discrete_logits, is_one_hot, possible, score_latents
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["Enumerate", "enumerate_estimate", "all_configurations"]


def enumerate_estimate(log_p: Tensor, log_q: Tensor) -> Tensor:
    """The exact ELBO from the log-weights of ALL M configurations: value and gradient exact.

    ELBO(x) = sum_z q(z|x) [log p(x, z) - log q(z|x)], summed over every configuration z; autograd
    of this sum is the exact gradient for both models (no sampling).

    Shapes:
        log_p, log_q: ``[B, M]``, one column per configuration (q summing to 1 over M); returns ``[B]``.

    Example:
        >>> import math, torch
        >>> round(enumerate_estimate(torch.zeros(1, 2), torch.full((1, 2), math.log(0.5))).item(), 4)  # log 2
        0.6931
    """
    # exp(log_q) > 0 for finite logits, so no 0 * (-inf) when log p = -inf; such a configuration makes
    # the value -inf and adds no term to the gradient (no NaN).
    q = log_q.exp()  # [B, M]
    return with_grad((q * (log_p - log_q)).sum(dim=-1), (q * possible(log_p - log_q)).sum(dim=-1))  # [B]


def all_configurations(
    z_shape: tuple[int, ...],
    one_hot: bool,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Every configuration of factorised binary (``one_hot=False``) or one-hot latents of shape ``z_shape``.

    Binary: ``2**n`` vectors, n = prod(z_shape). One-hot: ``C**V`` configurations of the V =
    prod(z_shape[:-1]) variables with C = z_shape[-1] classes. Mixed-radix counting order.

    Shapes:
        returns ``[M, *z_shape]``.

    Example:
        >>> all_configurations((2,), False).tolist()
        [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    """
    radix = z_shape[-1] if one_hot else 2
    n = math.prod(z_shape[:-1]) if one_hot else math.prod(z_shape)
    codes = torch.arange(radix**n, device=device)  # [M]
    powers = radix ** torch.arange(n - 1, -1, -1, device=device)  # [n]
    digits = (codes.unsqueeze(-1) // powers) % radix  # [M, n]
    z = F.one_hot(digits, radix) if one_hot else digits  # [M, n(, C)]
    return z.to(dtype).reshape(radix**n, *z_shape)  # [M, *z_shape]


class Enumerate(Loss):
    """Negative exact ELBO, summed over all latent configurations (what Pyro's ``TraceEnum_ELBO`` gives).

    For a factorised Bernoulli q (2**n configurations) or one-hot categorical q (C**V), following
    the discrete-latent protocol of :mod:`vaekit.latents.discrete`. Every configuration is scored
    in one vectorised call of each model; the loss is deterministic and its gradient exact: the
    reference every sampling estimator is compared with on small models. ``n_samples`` and
    ``log_p_``/``log_q_`` (``[B, M]``) report the M configurations of the last call.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar.

    Args:
        inf_net: q(z|x) exposing ``params_["logits"]``.
        gen_model: p(x, z).
        max_configurations: ValueError when the latent space has more configurations than this.
        check_finite: see :class:`~vaekit.losses.base.Loss`.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = Enumerate(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6))
        >>> loss = loss_fn(torch.ones(4, 6)); loss.backward(); loss_fn.n_samples
        8
    """

    unbiased = True

    def __init__(
        self, inf_net: InfNet, gen_model: GenModel, *, max_configurations: int = 2**16, check_finite: bool = True
    ):
        super().__init__(inf_net, gen_model, n_samples=1, check_finite=check_finite)
        if isinstance(max_configurations, bool) or not isinstance(max_configurations, int) or max_configurations < 1:
            raise ValueError(f"Enumerate: max_configurations must be a positive int; got {max_configurations!r}")
        self.max_configurations = max_configurations

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        inf = self.inf_net(x)
        logits = discrete_logits(inf, "Enumerate")  # [B, *z_shape]
        z_shape, one_hot = tuple(logits.shape[1:]), is_one_hot(inf)
        n = math.prod(z_shape[:-1]) if one_hot else math.prod(z_shape)
        radix = z_shape[-1] if one_hot else 2
        if n * math.log(radix) > math.log(self.max_configurations):
            raise ValueError(
                f"Enumerate: {n} {'categorical' if one_hot else 'binary'} latents have {radix}**{n} configurations, "
                f"more than max_configurations={self.max_configurations}; use a sampling estimator or raise the limit"
            )
        z = all_configurations(z_shape, one_hot, dtype=logits.dtype, device=logits.device)  # [M, *z_shape]
        z = z.unsqueeze(0).expand(x.shape[0], *z.shape)  # [B, M, *z_shape]
        self.n_samples = z.shape[1]  # M: the "samples" are the configurations (shape errors name [B, M])
        log_p, log_q = score_latents(inf, self.gen_model, target, z, "Enumerate")  # [B, M] each
        self.keep_log_weights(log_p, log_q)
        return enumerate_estimate(log_p, log_q)

    def extra_repr(self) -> str:
        return f"max_configurations={self.max_configurations}"
