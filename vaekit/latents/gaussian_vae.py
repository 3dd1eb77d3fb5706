"""Gaussian latents: a diagonal-Normal encoder and a decoder with a standard-normal prior.

Both models run a lean path by default (no ``torch.distributions`` objects built per call:
contiguous ``[B, K, H]`` draws ``mu + sigma * eps``, closed-form Normal log-densities, the
Bernoulli likelihood as one binary cross-entropy); ``validate_args=True`` switches to the
``torch.distributions`` path with every argument and support check on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, Normal

from vaekit.latents.bernoulli import (
    BinarySupportCheck,
    bernoulli_sample,
    lean_decoder_log_prob,
)
from vaekit.latents.mlp import mlp
from vaekit.models import DistributionGenModel, DistributionInfNet, InfNet, set_plain_attrs

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _normal_log_prob(z: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
    """sum over the last dim of log N(z; loc, scale^2), the formula of torch.distributions.Normal."""
    return (-0.5 * ((z - loc) / scale).square() - scale.log() - _HALF_LOG_2PI).sum(-1)


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
        validate_args: use ``torch.distributions.Normal`` with its argument checks (the lean default
            builds no distribution object per call).
        generator: an explicit ``torch.Generator`` for ``sample``/``rsample`` (lean path only);
            None uses torch's global generator.

    Example:
        >>> import torch
        >>> q = GaussianEncoder(4, 2)
        >>> tuple(q(torch.zeros(3, 4)).rsample(5).shape), q.has_rsample
        ((3, 5, 2), True)
    """

    def __init__(
        self,
        data_dim: int,
        latent_dim: int,
        hidden: int | Sequence[int] | None = None,
        *,
        rsample: bool = True,
        validate_args: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        _check_generator(generator, validate_args, type(self).__name__)
        self.net = mlp(data_dim, 2 * latent_dim, hidden)
        self.allow_rsample = rsample
        self.validate_args = validate_args
        self.generator = generator

    def distribution(self, x: Tensor) -> Normal:
        mu, log_sigma = self.net(x).chunk(2, dim=-1)  # [B, H] each
        return Normal(mu, log_sigma.exp(), validate_args=self.validate_args)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        """True unless built with ``rsample=False``."""
        return bool(self.allow_rsample)

    def forward(self, x: Tensor) -> GaussianEncoder:
        if self.validate_args:
            super().forward(x)
            return self
        mu, log_sigma = self.net(x).chunk(2, dim=-1)  # [B, H] each
        set_plain_attrs(self, params_={"loc": mu, "scale": log_sigma.exp()})
        return self

    def _params(self) -> tuple[Tensor, Tensor]:
        params = getattr(self, "params_", None)
        if params is None:
            raise RuntimeError(f"call {type(self).__name__}(x) before sample/rsample/log_prob")
        return params["loc"], params["scale"]

    def current_dist(self) -> Distribution:
        """q(z|x) of the last batch as a Distribution (built on demand from ``params_`` on the lean path)."""
        if self.validate_args:
            return super().current_dist()
        loc, scale = self._params()
        return Independent(Normal(loc, scale, validate_args=False), 1)

    def _draw(self, n_samples: int) -> Tensor:
        loc, scale = self._params()  # [B, H]
        eps = torch.randn(
            (loc.shape[0], n_samples, loc.shape[1]), generator=self.generator, dtype=loc.dtype, device=loc.device
        )  # [B, K, H], contiguous
        return loc.unsqueeze(1) + scale.unsqueeze(1) * eps  # [B, K, H]

    def sample(self, n_samples: int) -> Tensor:
        if self.validate_args:
            return super().sample(n_samples)
        with torch.no_grad():
            return self._draw(n_samples)

    def rsample(self, n_samples: int) -> Tensor:
        if self.validate_args or not self.has_rsample:
            return super().rsample(n_samples)
        return self._draw(n_samples)

    def log_prob(self, z: Tensor) -> Tensor:
        if self.validate_args:
            return super().log_prob(z)
        loc, scale = self._params()
        return _normal_log_prob(z, loc.unsqueeze(1), scale.unsqueeze(1))  # [B, K]

    def log_prob_detached(self, z: Tensor) -> Tensor:
        if self.validate_args:
            return super().log_prob_detached(z)
        return InfNet.log_prob_detached(self, z)  # log_prob reads params_ only: detaching them is exact


class BernoulliDecoder(DistributionGenModel):
    """p(z) = N(0, I), p(x|z) = prod_d Bernoulli(sigmoid(g(z)_d)): a Gaussian VAE for binary data.

    The data must be 0/1: ``log_prob`` raises ``ValueError`` otherwise (checked on the first call
    and then every 10th (CPU) or 100th (GPU) call; every call with ``validate_args=True``).

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, latent_dim]``; log_prob: ``[B, K]``.

    Args:
        latent_dim: H.
        data_dim: D.
        hidden: None (linear) or hidden widths of the decoder MLP.
        validate_args: use ``torch.distributions`` with every argument and support check on.
        generator: an explicit ``torch.Generator`` for ``sample`` (lean path only); None uses
            torch's global generator.

    Example:
        >>> p = BernoulliDecoder(2, 4)
        >>> x, z = p.sample(3); tuple(x.shape), tuple(z.shape)
        ((3, 4), (3, 2))
    """

    prior_loc: Tensor
    prior_scale: Tensor

    def __init__(
        self,
        latent_dim: int,
        data_dim: int,
        hidden: int | Sequence[int] | None = None,
        *,
        validate_args: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        _check_generator(generator, validate_args, type(self).__name__)
        self.net = mlp(latent_dim, data_dim, hidden)
        self.validate_args = validate_args
        self.generator = generator
        self.data_dim = data_dim
        self.x_shape_ = (data_dim,)  # the likelihood's event shape, what a loss checks the target against
        # Buffers so the prior follows .to(device, dtype) with the model.
        self.register_buffer("prior_loc", torch.zeros(latent_dim))
        self.register_buffer("prior_scale", torch.ones(latent_dim))
        self._support = BinarySupportCheck(type(self).__name__)
        self._lean: tuple[Tensor, Tensor] | None = None

    def prior(self) -> Normal:
        return Normal(self.prior_loc, self.prior_scale, validate_args=self.validate_args)

    def likelihood(self, z: Tensor) -> Bernoulli:
        return Bernoulli(logits=self.net(z), validate_args=self.validate_args)

    def forward(self, x: Tensor, z: Tensor) -> BernoulliDecoder:
        if self.validate_args:
            super().forward(x, z)
            return self
        logits = self.net(z)  # [B, K, D]
        params = {"prior_loc": self.prior_loc, "prior_scale": self.prior_scale, "logits": logits}
        set_plain_attrs(self, _lean=(z, logits), params_=params)  # _lean: one decoder pass per step
        return self

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        if self.validate_args:
            return super().log_prob(x, z)
        return lean_decoder_log_prob(self, x, z)  # [B, K]

    def log_prior(self, z: Tensor) -> Tensor:
        """``log N(z; prior_loc, prior_scale^2)`` of latents ``[B, K, H]`` (any ``[*S, H]``): ``[B, K]``."""
        if self.validate_args:
            return super().log_prior(z)
        return _normal_log_prob(z, self.prior_loc, self.prior_scale)  # [B, K]

    def sample(self, n: int) -> tuple[Tensor, Tensor]:
        if self.validate_args:
            return super().sample(n)
        with torch.no_grad():
            loc = self.prior_loc.expand(n, -1)
            z = loc + self.prior_scale * torch.randn(
                loc.shape, generator=self.generator, dtype=loc.dtype, device=loc.device
            )  # [n, H]
            x = bernoulli_sample(self.net(z), generator=self.generator)  # [n, D]
        return x, z


def _check_generator(generator: object, validate_args: bool, owner: str) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{owner}: generator must be a torch.Generator or None; got {type(generator).__name__}")
    if generator is not None and validate_args:
        raise ValueError(
            f"{owner}: an explicit generator is used by the lean path only; pass validate_args=False "
            "(torch.distributions samplers draw from torch's global generator)"
        )
