"""Toy models with exact answers: a tiny enumerable sigmoid belief net and a linear-Gaussian model.

Every parameter (weights, biases, prior logits, noise scale) is drawn from an explicit
``torch.Generator`` so a test that names a seed always gets the same model, and the draw starts
the model away from any optimum of any objective.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import MultivariateNormal, Normal

from vaekit.latents import (
    BernoulliEncoder,
    GaussianEncoder,
    LayeredBernoulliEncoder,
    LayeredSigmoidBeliefNet,
    SigmoidBeliefNet,
)
from vaekit.models import DistributionGenModel, GenModel, InfNet

__all__ = ["tiny_sbn", "linear_gaussian", "LinearGaussianModel", "TinyModel"]


def _randomize(modules: Iterable[nn.Module], gen: torch.Generator, scale: float) -> None:
    """Overwrite every parameter of ``modules`` (in registration order) with ``scale * N(0, 1)``."""
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _check_sizes(**sizes: int) -> None:
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int; got {v!r}")


def tiny_sbn(
    data_dim: int = 3,
    latent_dim: int = 2,
    *,
    batch: int = 2,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    scale: float = 1.0,
) -> tuple[InfNet, GenModel, Tensor]:
    """An enumerable one-layer sigmoid belief net with a linear Bernoulli encoder, and binary data.

    q(z|x) = prod_h Bernoulli(z_h; sigmoid(A x + c)_h)              (BernoulliEncoder)
    p(z)   = prod_h Bernoulli(z_h; sigmoid(b0_h)),
    p(x|z) = prod_d Bernoulli(x_d; sigmoid(W z + b)_d)              (SigmoidBeliefNet)
    Every parameter, prior logits included, is ``scale * N(0, 1)`` from ``Generator(seed)``; ``x``
    is a fair-coin draw from the same generator. With 2**latent_dim latent states, log p(x), the
    ELBO and IWAE_K are exact by enumeration (see :mod:`vaekit.testing.oracle`).

    Shapes:
        x: ``[batch, data_dim]`` of 0/1 in ``dtype``; latents ``[B, K, latent_dim]``.

    Args:
        data_dim: D, the width of x.
        latent_dim: H, the number of binary latents (keep it small: the oracle enumerates 2**H).
        batch: B, rows of x.
        seed: seed of the ``torch.Generator`` every parameter and x are drawn from.
        dtype: dtype of the parameters and of x.
        scale: standard deviation of the parameter draw.

    Returns:
        ``(inf_net, gen_model, x)``.

    Example:
        >>> q, p, x = tiny_sbn(3, 2, batch=4, seed=1)
        >>> tuple(x.shape), x.dtype, tuple(q(x).sample(5).shape)
        ((4, 3), torch.float64, (4, 5, 2))
    """
    _check_sizes(data_dim=data_dim, latent_dim=latent_dim, batch=batch)
    gen = torch.Generator().manual_seed(seed)
    inf_net = BernoulliEncoder(data_dim, latent_dim).to(dtype)
    gen_model = SigmoidBeliefNet(latent_dim, data_dim).to(dtype)
    _randomize([inf_net, gen_model], gen, scale)
    x = torch.bernoulli(torch.full((batch, data_dim), 0.5, dtype=dtype), generator=gen)  # [B, D]
    return inf_net, gen_model, x


class LinearGaussianModel(DistributionGenModel):
    """p(z) = N(0, I_H), p(x|z) = N(W z + b, sigma^2 I_D): a GenModel with a closed-form log p(x).

    Marginally x ~ N(b, W W^T + sigma^2 I), so ``log_marginal(x)`` is exact and differentiable in
    ``weight``, ``bias`` and ``log_sigma``.

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, latent_dim]``; log_prob: ``[B, K]``; log_marginal: ``[B]``.

    Args:
        latent_dim: H.
        data_dim: D.

    Example:
        >>> import torch
        >>> p = LinearGaussianModel(2, 3)
        >>> tuple(p.log_marginal(torch.zeros(4, 3)).shape)
        (4,)
    """

    def __init__(self, latent_dim: int, data_dim: int):
        super().__init__()
        _check_sizes(latent_dim=latent_dim, data_dim=data_dim)
        self.weight = nn.Parameter(torch.zeros(data_dim, latent_dim))
        self.bias = nn.Parameter(torch.zeros(data_dim))
        self.log_sigma = nn.Parameter(torch.zeros(()))
        # Buffers so the prior follows .to(device, dtype) with the model.
        self.register_buffer("prior_loc", torch.zeros(latent_dim))
        self.register_buffer("prior_scale", torch.ones(latent_dim))

    def prior(self) -> Normal:
        return Normal(self.prior_loc, self.prior_scale)  # type: ignore[arg-type]  # buffers: Tensors

    def likelihood(self, z: Tensor) -> Normal:
        loc = z @ self.weight.T + self.bias  # [*S, D]
        return Normal(loc, self.log_sigma.exp().expand_as(loc))

    def log_marginal(self, x: Tensor) -> Tensor:
        """Exact ``log p(x)`` under x ~ N(b, W W^T + sigma^2 I): ``[B]``."""
        d = self.bias.shape[0]
        eye = torch.eye(d, dtype=self.weight.dtype, device=self.weight.device)
        cov = self.weight @ self.weight.T + (2 * self.log_sigma).exp() * eye  # [D, D]
        return MultivariateNormal(self.bias, covariance_matrix=cov).log_prob(x)  # [B]


def linear_gaussian(
    data_dim: int = 2,
    latent_dim: int = 2,
    *,
    batch: int = 2,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    rsample: bool = True,
    scale: float = 0.5,
) -> tuple[InfNet, GenModel, Tensor]:
    """A linear-Gaussian model with a Normal encoder, and data; log p(x) and the ELBO are closed form.

    p(z) = N(0, I), p(x|z) = N(W z + b, sigma^2 I)       (LinearGaussianModel)
    q(z|x) = N(A x + c, diag exp(2 (A' x + c')))          (GaussianEncoder, linear heads)
    ``rsample=False`` switches the Normal family to score-function use only (``has_rsample``
    False), the "family with rsample switched off" of the test kit. Every parameter is
    ``scale * N(0, 1)`` from ``Generator(seed)``; ``x`` is ``N(0, I)`` from the same generator.

    Shapes:
        x: ``[batch, data_dim]``; latents ``[B, K, latent_dim]``.

    Args:
        data_dim: D.
        latent_dim: H.
        batch: B.
        seed: seed of the generator.
        dtype: dtype of parameters and data.
        rsample: whether q exposes its reparameterised sampler.
        scale: standard deviation of the parameter draw.

    Returns:
        ``(inf_net, gen_model, x)``; ``gen_model.log_marginal(x)`` is exact.

    Example:
        >>> q, p, x = linear_gaussian(rsample=False)
        >>> q.has_rsample, tuple(p.log_marginal(x).shape)
        (False, (2,))
    """
    _check_sizes(data_dim=data_dim, latent_dim=latent_dim, batch=batch)
    gen = torch.Generator().manual_seed(seed)
    inf_net = GaussianEncoder(data_dim, latent_dim, rsample=rsample).to(dtype)
    gen_model = LinearGaussianModel(latent_dim, data_dim).to(dtype)
    _randomize([inf_net, gen_model], gen, scale)
    x = torch.randn(batch, data_dim, generator=gen, dtype=dtype)  # [B, D]
    return inf_net, gen_model, x


@dataclass(frozen=True)
class TinyModel:
    """A recipe for a random tiny model (what the hypothesis strategies draw).

    ``build()`` returns ``(inf_net, gen_model, x)`` from :func:`tiny_sbn` (``kind="sbn"``) or
    :func:`linear_gaussian` (``kind="gaussian"`` / ``"gaussian_score"``, the latter without rsample).
    ``n_samples`` is the K a test should use.

    Example:
        >>> spec = TinyModel(data_dim=2, latent_dim=1, batch=1, n_samples=2, seed=3)
        >>> q, p, x = spec.build(); tuple(x.shape)
        (1, 2)
    """

    data_dim: int = 3
    latent_dim: int = 2
    batch: int = 2
    n_samples: int = 2
    seed: int = 0
    scale: float = 1.0
    kind: str = "sbn"

    def build(self, dtype: torch.dtype = torch.float64) -> tuple[InfNet, GenModel, Tensor]:
        if self.kind == "sbn":
            return tiny_sbn(
                self.data_dim, self.latent_dim, batch=self.batch, seed=self.seed, dtype=dtype, scale=self.scale
            )
        if self.kind in ("gaussian", "gaussian_score"):
            return linear_gaussian(
                self.data_dim,
                self.latent_dim,
                rsample=self.kind == "gaussian",
                batch=self.batch,
                seed=self.seed,
                dtype=dtype,
                scale=self.scale,
            )
        raise ValueError(f"TinyModel.kind must be 'sbn', 'gaussian' or 'gaussian_score'; got {self.kind!r}")


def tiny_categorical(
    data_dim: int = 3,
    n_vars: int = 2,
    n_classes: int = 3,
    *,
    batch: int = 2,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    scale: float = 1.0,
) -> tuple[InfNet, GenModel, Tensor]:
    """An enumerable categorical VAE (one-hot latents) with a linear encoder and decoder, and binary data.

    q(z|x) = prod_d Categorical(z_d; softmax(A x + c)_d)              (CategoricalEncoder)
    p(z)   = prod_d Categorical(z_d; softmax(b0_d)) (learned prior),
    p(x|z) = prod_j Bernoulli(x_j; sigmoid(W flat(z) + b)_j)          (CategoricalDecoder)
    Every parameter is ``scale * N(0, 1)`` from ``Generator(seed)``; ``x`` is a fair-coin draw. The
    ``n_classes ** n_vars`` configurations are enumerable (``vaekit.losses.Enumerate``).

    Shapes:
        x: ``[batch, data_dim]``; latents ``[B, K, n_vars, n_classes]``.

    Example:
        >>> q, p, x = tiny_categorical(batch=4)
        >>> tuple(x.shape), tuple(q(x).sample(5).shape)
        ((4, 3), (4, 5, 2, 3))
    """
    from vaekit.latents.categorical import CategoricalDecoder, CategoricalEncoder

    _check_sizes(data_dim=data_dim, n_vars=n_vars, n_classes=n_classes, batch=batch)
    gen = torch.Generator().manual_seed(seed)
    inf_net = CategoricalEncoder(data_dim, n_vars, n_classes).to(dtype)
    gen_model = CategoricalDecoder(n_vars, n_classes, data_dim, learn_prior=True).to(dtype)
    _randomize([inf_net, gen_model], gen, scale)
    x = torch.bernoulli(torch.full((batch, data_dim), 0.5, dtype=dtype), generator=gen)  # [B, D]
    return inf_net, gen_model, x


__all__ += ["tiny_layered_sbn"]


def tiny_layered_sbn(
    data_dim: int = 2,
    layer_sizes: tuple[int, ...] = (1, 1, 1),
    *,
    batch: int = 2,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    scale: float = 1.0,
) -> tuple[InfNet, GenModel, Tensor]:
    """An enumerable sigmoid belief net with several stochastic layers and its layered Bernoulli q, and binary data.

    q(z|x) = q(z_1|x) q(z_2|z_1) ... (LayeredBernoulliEncoder, linear), p(x, z) = p(z_L) ... p(x|z_1)
    (LayeredSigmoidBeliefNet, linear). Latents are ``[B, K, sum(layer_sizes)]``; the oracle enumerates
    all ``2**sum(layer_sizes)`` states. Parameters ``scale * N(0, 1)`` and x fair coins from ``Generator(seed)``.

    Shapes:
        x: ``[batch, data_dim]``.

    Example:
        >>> q, p, x = tiny_layered_sbn(seed=1)
        >>> tuple(q(x).sample(3).shape)
        (2, 3, 3)
    """
    _check_sizes(data_dim=data_dim, batch=batch)
    gen = torch.Generator().manual_seed(seed)
    inf_net = LayeredBernoulliEncoder(data_dim, layer_sizes).to(dtype)
    gen_model = LayeredSigmoidBeliefNet(layer_sizes, data_dim).to(dtype)
    _randomize([inf_net, gen_model], gen, scale)
    x = torch.bernoulli(torch.full((batch, data_dim), 0.5, dtype=dtype), generator=gen)  # [B, D]
    return inf_net, gen_model, x
