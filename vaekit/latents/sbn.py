"""Bernoulli latents: a factorised Bernoulli encoder and a sigmoid belief net (Neal 1992).

Both models run a lean path by default: latents drawn as contiguous ``[B, K, H]`` tensors with
``rand < sigmoid(logits)``, log-densities as ``z * l - softplus(l)`` (a binary cross-entropy, the
prior by a matrix-vector product), no ``torch.distributions`` objects built per call (see
``vaekit.latents.bernoulli``). ``validate_args=True`` switches to the ``torch.distributions``
path with every argument and support check on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent

from vaekit.latents.bernoulli import (
    BinarySupportCheck,
    bernoulli_log_prob,
    bernoulli_sample,
    lean_decoder_log_prob,
)
from vaekit.latents.mlp import mlp
from vaekit.models import DistributionGenModel, DistributionInfNet, InfNet, set_plain_attrs

__all__ = ["BernoulliEncoder", "SigmoidBeliefNet"]


def _check_generator(generator: object, validate_args: bool, owner: str) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{owner}: generator must be a torch.Generator or None; got {type(generator).__name__}")
    if generator is not None and validate_args:
        raise ValueError(
            f"{owner}: an explicit generator is used by the lean path only; pass validate_args=False "
            "(torch.distributions samplers draw from torch's global generator)"
        )


class BernoulliEncoder(DistributionInfNet):
    """q(z|x) = prod_h Bernoulli(z_h; sigmoid(f(x)_h)), f linear or an MLP. No ``rsample``.

    log q(z|x) = sum_h z_h l_h - softplus(l_h), with l = f(x) the logits, kept after ``q(x)`` in
    ``params_["logits"]`` (``[B, latent_dim]``), the attribute estimators that need the logits read.

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, latent_dim]`` (contiguous); log_prob: ``[B, K]``.

    Args:
        data_dim: input width D.
        latent_dim: number of binary latents H.
        hidden: None for a linear map, or hidden widths of a tanh MLP (e.g. 200).
        validate_args: use ``torch.distributions.Bernoulli`` with its argument and support checks
            (the lean default builds no distribution object and checks nothing per call).
        generator: an explicit ``torch.Generator`` for ``sample`` (lean path only); None uses
            torch's global generator.

    Example:
        >>> import torch
        >>> q = BernoulliEncoder(4, 3)
        >>> tuple(q(torch.zeros(2, 4)).sample(5).shape), q.has_rsample
        ((2, 5, 3), False)
    """

    def __init__(
        self,
        data_dim: int,
        latent_dim: int,
        hidden: int | Sequence[int] | None = None,
        *,
        validate_args: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        _check_generator(generator, validate_args, type(self).__name__)
        self.net = mlp(data_dim, latent_dim, hidden)
        self.validate_args = validate_args
        self.generator = generator

    def distribution(self, x: Tensor) -> Bernoulli:
        return Bernoulli(logits=self.net(x), validate_args=self.validate_args)  # batch [B, H] -> event [H]

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        """Always False: Bernoulli latents have no reparameterised sampler."""
        return False

    def forward(self, x: Tensor) -> BernoulliEncoder:
        if self.validate_args:
            super().forward(x)
            return self
        set_plain_attrs(self, params_={"logits": self.net(x)})  # [B, H]
        return self

    def _logits(self) -> Tensor:
        params = getattr(self, "params_", None)
        if params is None:
            raise RuntimeError(f"call {type(self).__name__}(x) before sample/log_prob")
        return params["logits"]

    def current_dist(self) -> Distribution:
        """q(z|x) of the last batch as a Distribution (built on demand from ``params_`` on the lean path)."""
        if self.validate_args:
            return super().current_dist()
        return Independent(Bernoulli(logits=self._logits(), validate_args=False), 1)

    def sample(self, n_samples: int) -> Tensor:
        if self.validate_args:
            return super().sample(n_samples)
        return bernoulli_sample(self._logits(), (n_samples,), generator=self.generator)  # [B, K, H]

    def log_prob(self, z: Tensor) -> Tensor:
        if self.validate_args:
            return super().log_prob(z)
        return bernoulli_log_prob(self._logits().unsqueeze(1), z)  # [B, 1, H] with [B, K, H] -> [B, K]

    def log_prob_detached(self, z: Tensor) -> Tensor:
        if self.validate_args:
            return super().log_prob_detached(z)
        return InfNet.log_prob_detached(self, z)  # log_prob reads params_ only: detaching them is exact


class SigmoidBeliefNet(DistributionGenModel):
    """p(z) p(x|z) with p(z) = prod_h Bernoulli(sigmoid(b_h)) and p(x|z) = prod_d Bernoulli(sigmoid(g(z)_d)).

    A one-stochastic-layer sigmoid belief net (linear ``g``) or, with ``hidden``, its nonlinear
    variant with a tanh MLP decoder:

        log p(x, z) = z . b - sum_h softplus(b_h) + sum_d [x_d g(z)_d - softplus(g(z)_d)]

    The data must be 0/1: ``log_prob`` raises ``ValueError`` otherwise (checked on the first call
    and then every 10th (CPU) or 100th (GPU) call; every call with ``validate_args=True``).

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, latent_dim]``; log_prob: ``[B, K]``.

    Args:
        latent_dim: H.
        data_dim: D.
        hidden: None (linear) or hidden widths of the decoder MLP.
        validate_args: use ``torch.distributions.Bernoulli`` with its argument and support checks.
        generator: an explicit ``torch.Generator`` for ``sample`` (lean path only); None uses
            torch's global generator.

    References:
        Neal, "Connectionist learning of belief networks", Artificial Intelligence 1992.

    Example:
        >>> p = SigmoidBeliefNet(3, 4)
        >>> x, z = p.sample(2); tuple(x.shape), tuple(z.shape)
        ((2, 4), (2, 3))
    """

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
        self.prior_logits = nn.Parameter(torch.zeros(latent_dim))
        self.net = mlp(latent_dim, data_dim, hidden)
        self.validate_args = validate_args
        self.generator = generator
        self.data_dim = data_dim
        self.x_shape_ = (data_dim,)  # the likelihood's event shape, what a loss checks the target against
        self._support = BinarySupportCheck(type(self).__name__)
        self._lean: tuple[Tensor, Tensor] | None = None

    def prior(self) -> Bernoulli:
        return Bernoulli(logits=self.prior_logits, validate_args=self.validate_args)

    def likelihood(self, z: Tensor) -> Bernoulli:
        return Bernoulli(logits=self.net(z), validate_args=self.validate_args)

    def forward(self, x: Tensor, z: Tensor) -> SigmoidBeliefNet:
        if self.validate_args:
            super().forward(x, z)
            return self
        logits = self.net(z)  # [B, K, D]
        # _lean: reused by log_prob for the same z (one decoder pass per step)
        set_plain_attrs(self, _lean=(z, logits), params_={"prior_logits": self.prior_logits, "logits": logits})
        return self

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        if self.validate_args:
            return super().log_prob(x, z)
        return lean_decoder_log_prob(self, x, z)  # [B, K]

    def log_prior(self, z: Tensor) -> Tensor:
        """``log p(z) = z . b - sum_h softplus(b_h)`` of latents ``[B, K, H]`` (any ``[*S, H]``): ``[B, K]``."""
        if self.validate_args:
            return super().log_prior(z)
        b = self.prior_logits
        return z @ b - F.softplus(b).sum()  # [B, K]

    def sample(self, n: int) -> tuple[Tensor, Tensor]:
        if self.validate_args:
            return super().sample(n)
        with torch.no_grad():
            z = bernoulli_sample(
                self.prior_logits, (n,), dim=0, generator=self.generator
            )  # [n, H]: sigmoid of [H] once
            x = bernoulli_sample(self.net(z), generator=self.generator)  # [n, D]
        return x, z
