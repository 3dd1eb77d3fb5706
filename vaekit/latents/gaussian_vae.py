"""Gaussian latents: a diagonal-Normal encoder and a decoder with a standard-normal prior."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Normal

from vaekit.latents.mlp import mlp
from vaekit.models import DistributionGenModel, DistributionInfNet

__all__ = ["GaussianEncoder", "BernoulliDecoder"]


class GaussianEncoder(DistributionInfNet):
    """q(z|x) = N(mu(x), diag sigma^2(x)), reparameterisable (``has_rsample`` True).

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, latent_dim]``; log_prob: ``[B, K]``.

    Args:
        data_dim: input width D.
        latent_dim: H.
        hidden: None (linear heads) or hidden widths of a tanh MLP trunk.
        rsample: set False to use the family through score-function estimators only.
        validate_args: let torch.distributions check parameters and the support of scored values
            (off by default: the parameters come from networks, a NaN log-probability is caught by
            the loss's ``check_finite``, and the checks cost about a fifth of a training step;
            turn it on to catch, e.g., data that is not 0/1).

    Example:
        >>> import torch
        >>> q = GaussianEncoder(4, 2)
        >>> tuple(q(torch.zeros(3, 4)).rsample(5).shape), q.has_rsample
        ((3, 5, 2), True)
    """

    def __init__(self, data_dim: int, latent_dim: int, hidden: int | Sequence[int] | None = None, *, rsample: bool = True,
                 validate_args: bool = False):
        super().__init__()
        self.net = mlp(data_dim, 2 * latent_dim, hidden)
        self.allow_rsample = rsample
        self.validate_args = validate_args

    def distribution(self, x: Tensor) -> Normal:
        mu, log_sigma = self.net(x).chunk(2, dim=-1)  # [B, H] each
        return Normal(mu, log_sigma.exp(), validate_args=self.validate_args)


class BernoulliDecoder(DistributionGenModel):
    """p(z) = N(0, I), p(x|z) = prod_d Bernoulli(sigmoid(g(z)_d)): a Gaussian VAE for binary data.

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

    Example:
        >>> p = BernoulliDecoder(2, 4)
        >>> x, z = p.sample(3); tuple(x.shape), tuple(z.shape)
        ((3, 4), (3, 2))
    """

    prior_loc: Tensor  # buffers, declared for the type checker
    prior_scale: Tensor

    def __init__(self, latent_dim: int, data_dim: int, hidden: int | Sequence[int] | None = None, *,
                 validate_args: bool = False):
        super().__init__()
        self.net = mlp(latent_dim, data_dim, hidden)
        self.validate_args = validate_args
        # Buffers so the prior follows .to(device, dtype) with the model.
        self.register_buffer("prior_loc", torch.zeros(latent_dim))
        self.register_buffer("prior_scale", torch.ones(latent_dim))

    def prior(self) -> Normal:
        return Normal(self.prior_loc, self.prior_scale, validate_args=self.validate_args)

    def likelihood(self, z: Tensor) -> Bernoulli:
        return Bernoulli(logits=self.net(z), validate_args=self.validate_args)
