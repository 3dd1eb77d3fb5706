"""Bernoulli latents: a factorised Bernoulli encoder and a sigmoid belief net (Neal 1992)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli

from vaekit.latents.mlp import mlp
from vaekit.models import DistributionGenModel, DistributionInfNet

__all__ = ["BernoulliEncoder", "SigmoidBeliefNet"]


class BernoulliEncoder(DistributionInfNet):
    """q(z|x) = prod_h Bernoulli(z_h; sigmoid(f(x)_h)), f linear or an MLP. No ``rsample``.

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, latent_dim]``; log_prob: ``[B, K]``.

    Args:
        data_dim: input width D.
        latent_dim: number of binary latents H.
        hidden: None for a linear map, or hidden widths of a tanh MLP (e.g. 200).
        validate_args: let torch.distributions check parameters and the support of scored values
            (off by default: the parameters come from networks, a NaN log-probability is caught by
            the loss's ``check_finite``, and the checks cost about a fifth of a training step;
            turn it on to catch, e.g., data that is not 0/1).

    Example:
        >>> import torch
        >>> q = BernoulliEncoder(4, 3)
        >>> tuple(q(torch.zeros(2, 4)).sample(5).shape), q.has_rsample
        ((2, 5, 3), False)
    """

    def __init__(self, data_dim: int, latent_dim: int, hidden: int | Sequence[int] | None = None, *,
                 validate_args: bool = False):
        super().__init__()
        self.net = mlp(data_dim, latent_dim, hidden)
        self.validate_args = validate_args

    def distribution(self, x: Tensor) -> Bernoulli:
        return Bernoulli(logits=self.net(x), validate_args=self.validate_args)  # batch [B, H] -> event [H]


class SigmoidBeliefNet(DistributionGenModel):
    """p(z) p(x|z) with p(z) = prod_h Bernoulli(sigmoid(b_h)) and p(x|z) = prod_d Bernoulli(sigmoid(g(z)_d)).

    A one-stochastic-layer sigmoid belief net (linear ``g``) or, with ``hidden``, its nonlinear
    variant with a tanh MLP decoder.

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, latent_dim]``; log_prob: ``[B, K]``.

    Args:
        latent_dim: H.
        data_dim: D.
        hidden: None (linear) or hidden widths of the decoder MLP.
        validate_args: let torch.distributions check parameters and the support of scored values
            (off by default: the parameters come from networks, a NaN log-probability is caught by
            the loss's ``check_finite``, and the checks cost about a fifth of a training step;
            turn it on to catch, e.g., data that is not 0/1).

    References:
        Neal, "Connectionist learning of belief networks", Artificial Intelligence 1992.

    Example:
        >>> p = SigmoidBeliefNet(3, 4)
        >>> x, z = p.sample(2); tuple(x.shape), tuple(z.shape)
        ((2, 4), (2, 3))
    """

    def __init__(self, latent_dim: int, data_dim: int, hidden: int | Sequence[int] | None = None, *,
                 validate_args: bool = False):
        super().__init__()
        self.prior_logits = nn.Parameter(torch.zeros(latent_dim))
        self.net = mlp(latent_dim, data_dim, hidden)
        self.validate_args = validate_args

    def prior(self) -> Bernoulli:
        return Bernoulli(logits=self.prior_logits, validate_args=self.validate_args)

    def likelihood(self, z: Tensor) -> Bernoulli:
        return Bernoulli(logits=self.net(z), validate_args=self.validate_args)
