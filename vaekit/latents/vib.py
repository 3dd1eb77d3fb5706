"""Variational information bottleneck (VIB): a Gaussian bottleneck over any encoder, and its decoder.

Objective (Alemi et al. 2017), for a target y (a label, or x itself for a beta-VAE):

    max  E_{q(z|x)}[ log p(y|z) ] - beta * KL( q(z|x) || r(z) ),
    q(z|x) = N(mu(x), diag sigma^2(x)),   r(z) = N(m, diag s^2)  (standard normal by default).

In vaekit the bottleneck q(z|x) is an InfNet (``VIBEncoder``) and the prior r(z) belongs to the
generative side (``VIBDecoder``: r(z) p(y|z)), so the pair plugs into any loss:
``ELBO(enc, dec, beta=1e-3)(x, target=y)`` is the VIB objective with a Monte Carlo KL; the closed
form KL(q || r) is ``enc.kl(dec.prior())`` (an upper bound on I(Z; X) up to a constant).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, Normal, kl_divergence

from vaekit.models import DistributionGenModel, DistributionInfNet

__all__ = ["VIBEncoder", "VIBDecoder", "vib_kl", "categorical_likelihood"]


def _positive_int(name: str, v: object, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{where}: {name} must be an int; got {type(v).__name__}")
    if v < 1:
        raise ValueError(f"{where}: {name} must be >= 1; got {v}")
    return v


class VIBEncoder(DistributionInfNet):
    """Gaussian bottleneck q(z|x) = N(mu(h), diag exp(logvar(h))), h = encoder(x).

    Two linear heads (mean and log-variance) sit on top of any ``encoder`` module the user passes,
    whose output is ``[B, feature_dim]``. Reparameterised: ``has_rsample`` is True.

    Shapes:
        x: whatever ``encoder`` takes, ``[B, *x_shape]``; encoder(x): ``[B, feature_dim]``.
        z: ``[B, K, latent_dim]``; log_prob: ``[B, K]``; kl(prior): ``[B]``.

    Args:
        encoder: any ``nn.Module`` mapping x to features ``[B, feature_dim]``.
        feature_dim: width of the encoder's output.
        latent_dim: width of the bottleneck z.
        rsample: set False to use the family through score-function estimators only.

    References:
        Alemi, Fischer, Dillon & Murphy, "Deep Variational Information Bottleneck", ICLR 2017.

    Example:
        >>> import torch
        >>> enc = VIBEncoder(torch.nn.Linear(5, 8), feature_dim=8, latent_dim=2)
        >>> q = enc(torch.zeros(3, 5))
        >>> tuple(q.rsample(4).shape), tuple(q.kl().shape)
        ((3, 4, 2), (3,))
    """

    def __init__(self, encoder: nn.Module, *, feature_dim: int, latent_dim: int, rsample: bool = True):
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"VIBEncoder: encoder must be an nn.Module; got {type(encoder).__name__}")
        self.encoder = encoder
        self.feature_dim = _positive_int("feature_dim", feature_dim, "VIBEncoder")
        self.latent_dim = _positive_int("latent_dim", latent_dim, "VIBEncoder")
        self.mean_head = nn.Linear(feature_dim, latent_dim)
        self.logvar_head = nn.Linear(feature_dim, latent_dim)
        self.allow_rsample = rsample

    def distribution(self, x: Tensor) -> Normal:
        h = self.encoder(x)  # [B, feature_dim]
        if h.dim() != 2 or h.shape[-1] != self.feature_dim:
            raise ValueError(
                f"VIBEncoder: encoder returned shape {tuple(h.shape)}; expected [B, feature_dim] = "
                f"[{x.shape[0]}, {self.feature_dim}]"
            )
        return Normal(self.mean_head(h), (0.5 * self.logvar_head(h)).exp())  # batch [B, H]

    def kl(self, prior: Distribution | None = None) -> Tensor:
        """Closed-form KL( q(z|x) || prior ) for the last batch, ``[B]``, via ``kl_divergence``.

        ``prior`` defaults to N(0, I) on the input's device and dtype; pass ``decoder.prior()``
        for a learnable prior. Its batch dims are reinterpreted as the event (``[latent_dim]``).
        """
        q = self.current_dist()
        if prior is None:
            loc = q.mean.new_zeros(self.latent_dim)
            prior = Normal(loc, torch.ones_like(loc))
        return vib_kl(q, prior)


def vib_kl(q: Distribution, prior: Distribution) -> Tensor:
    """KL( q || prior ) with the prior's batch dims read as q's event: ``[B]``.

    Uses ``torch.distributions.kl_divergence`` (a closed form for Normal/Normal).

    Shapes:
        q: batch ``[B]``, event ``[H]``; prior: batch ``[H]`` or event ``[H]``; returns ``[B]``.
    """
    for name, d in (("q", q), ("prior", prior)):
        if not isinstance(d, Distribution):
            raise TypeError(f"vib_kl: {name} must be a torch.distributions.Distribution; got {type(d).__name__}")
    if not isinstance(q, Independent):
        q = Independent(q, 1)  # batch [B, H] -> [B] with event [H]
    n_extra = len(prior.batch_shape)
    if n_extra:
        prior = Independent(prior, n_extra)
    if tuple(prior.event_shape) != tuple(q.event_shape):
        raise ValueError(
            f"vib_kl: prior event shape {tuple(prior.event_shape)} does not match q's {tuple(q.event_shape)}"
        )
    return kl_divergence(q, prior)  # [B]


def categorical_likelihood(out: Tensor) -> Categorical:
    """p(y|z) = Categorical(logits=out): the likelihood of a VIB classifier (``VIBDecoder``'s default).

    Shapes:
        out: ``[*S, C]`` logits; the distribution scores integer labels ``[*S]``.

    Example:
        >>> import torch
        >>> categorical_likelihood(torch.zeros(2, 4)).log_prob(torch.tensor([0, 3])).exp().tolist()
        [0.25, 0.25]
    """
    return Categorical(logits=out)


class VIBDecoder(DistributionGenModel):
    """r(z) p(y|z): the VIB prior (standard normal, optionally learnable) and a user decoder head.

    ``head`` maps z ``[*S, latent_dim]`` to the parameters of p(y|z); ``likelihood``, any callable
    ``out -> Distribution``, turns them into the distribution of y: ``categorical_likelihood`` (the
    default: logits, y integer labels ``[B]``, a VIB classifier), ``lambda out: Bernoulli(logits=out)``
    (y ``[B, D]``), ``lambda out: Normal(out, 1.0)`` (unit variance), ... Its batch dims past
    ``[*S]`` are read as y's event.

    Shapes:
        y: ``[B, *y_shape]``; z: ``[B, K, latent_dim]``; log_prob(y, z): ``[B, K]``;
        log_prior(z): ``[B, K]``; sample(n): ``(y [n, *y_shape], z [n, latent_dim])``.

    Args:
        head: any ``nn.Module`` mapping z to the likelihood's parameters.
        latent_dim: width of z.
        likelihood: a callable ``out -> Distribution`` (default ``categorical_likelihood``).
        learn_prior: make the prior mean and log-scale parameters (else buffers fixed at N(0, I)).

    References:
        Alemi, Fischer, Dillon & Murphy, "Deep Variational Information Bottleneck", ICLR 2017.

    Example:
        >>> import torch
        >>> from vaekit.losses import ELBO
        >>> enc = VIBEncoder(torch.nn.Linear(5, 8), feature_dim=8, latent_dim=2)
        >>> dec = VIBDecoder(torch.nn.Linear(2, 3), latent_dim=2)
        >>> loss = ELBO(enc, dec, n_samples=4, beta=0.01)(torch.randn(6, 5), target=torch.randint(3, (6,)))
        >>> loss.backward(); loss.dim()
        0
    """

    def __init__(
        self,
        head: nn.Module,
        *,
        latent_dim: int,
        likelihood: Callable[[Tensor], Distribution] = categorical_likelihood,
        learn_prior: bool = False,
    ):
        super().__init__()
        if not isinstance(head, nn.Module):
            raise TypeError(f"VIBDecoder: head must be an nn.Module; got {type(head).__name__}")
        if isinstance(likelihood, str) or not callable(likelihood):
            raise TypeError(
                "VIBDecoder: likelihood must be a callable out -> Distribution (e.g. lambda out: "
                f"Bernoulli(logits=out)); got {type(likelihood).__name__} {likelihood!r}"
            )
        if not isinstance(learn_prior, bool):
            raise TypeError(f"VIBDecoder: learn_prior must be a bool; got {type(learn_prior).__name__}")
        self.head = head
        self.latent_dim = _positive_int("latent_dim", latent_dim, "VIBDecoder")
        self._make_likelihood = likelihood
        loc, log_scale = torch.zeros(latent_dim), torch.zeros(latent_dim)
        if learn_prior:
            self.prior_loc = nn.Parameter(loc)
            self.prior_log_scale = nn.Parameter(log_scale)
        else:  # buffers follow .to(device, dtype) with the model
            self.register_buffer("prior_loc", loc)
            self.register_buffer("prior_log_scale", log_scale)

    def prior(self) -> Normal:
        return Normal(self.prior_loc, self.prior_log_scale.exp())  # batch [H] -> event [H]

    def likelihood(self, z: Tensor) -> Distribution:
        dist = self._make_likelihood(self.head(z))
        if not isinstance(dist, Distribution):
            raise TypeError(
                f"VIBDecoder: likelihood must return a torch.distributions.Distribution; got {type(dist).__name__}"
            )
        return dist
