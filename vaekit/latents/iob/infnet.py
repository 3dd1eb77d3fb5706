"""``OrderedInfNet``: any factorised InfNet behind an information-ordered bottleneck."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent

from vaekit.latents.iob.layer import IOBLayer, place_mask
from vaekit.models import DistributionInfNet, InfNet, detached

__all__ = ["OrderedInfNet"]


class OrderedInfNet(InfNet):
    """Turn an InfNet into an ordered-bottleneck latent model: its draws keep only the first n features.

    Per example a width n is drawn from the layer's P(n) in training mode (one per data point,
    shared by its K samples); in eval mode n = F, unless ``n_open`` fixes it (e.g. to evaluate a
    trained model at every width). Draws of the inner q are masked: features j >= n are exactly 0.

    What ``log_prob`` means: the masked features are deterministic zeros, so the masked draw has
    a density with respect to Lebesgue measure on the open features times a point mass at 0 on
    the others:

        log q_n(z|x) = sum_{j < n} log q(z_j|x)        (+ 0 for masked z_j = 0, -inf if z_j != 0).

    This is the exact log-density of the masked draw; it needs a q that factorises over features
    (a ``DistributionInfNet`` whose base distribution has an empty event shape, e.g. ``Normal``).
    The generative model scores the same z: a prior that factorises over features adds
    sum_{j >= n} log p_j(0) for the masked features, a constant for a fixed prior, so every
    gradient of the encoder and decoder is that of the width-n model's bound (its value shifts).

    Shapes:
        x: ``[B, *x_shape]``; z: ``[B, K, *z_shape]`` with F features on the layer's ``dim`` of
        ``[N, *z_shape]`` (dim counted as for a batch of codes); log_prob: ``[B, K]``; widths_: ``[B]``.

    Args:
        inf_net: a ``DistributionInfNet`` with a per-feature (factorised) q.
        layer: the ``IOBLayer`` (its sampler, generator and dim) applied to each draw.
        n_open: None (sample in training, full width in eval) or a fixed width in 0..F.

    References:
        Ho, Zhao & Wandelt, arXiv:2305.11213 (2023).

    Example:
        >>> import torch
        >>> from vaekit.latents import GaussianEncoder
        >>> q = OrderedInfNet(GaussianEncoder(5, 3), IOBLayer(3), n_open=1)
        >>> z = q(torch.zeros(2, 5)).rsample(4)
        >>> tuple(z.shape), bool((z[..., 1:] == 0).all()), tuple(q.log_prob(z).shape)
        ((2, 4, 3), True, (2, 4))
    """

    def __init__(self, inf_net: DistributionInfNet, layer: IOBLayer, *, n_open: int | None = None):
        super().__init__()
        if not isinstance(inf_net, DistributionInfNet):
            raise TypeError(
                "OrderedInfNet: inf_net must be a DistributionInfNet (log_prob needs per-feature densities); "
                f"got {type(inf_net).__name__}"
            )
        if not isinstance(layer, IOBLayer):
            raise TypeError(f"OrderedInfNet: layer must be an IOBLayer; got {type(layer).__name__}")
        self.inf_net = inf_net
        self.layer = layer
        self.n_open = n_open

    @property
    def n_open(self) -> int | None:
        return self._n_open

    @n_open.setter
    def n_open(self, value: int | None) -> None:
        f = self.layer.n_features
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"OrderedInfNet: n_open must be None or an int; got {type(value).__name__}")
        if value is not None and not 0 <= value <= f:
            raise ValueError(f"OrderedInfNet: n_open must be None or an int in 0..{f}; got {value!r}")
        self._n_open = value

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.inf_net.has_rsample

    def forward(self, x: Tensor) -> OrderedInfNet:
        self.inf_net(x)
        self.params_ = self.inf_net.params_
        b = x.shape[0]
        if self._n_open is None:
            self.widths_ = self.layer.sample_widths(b)  # [B]; all F in eval mode
        else:
            self.widths_ = torch.full((b,), self._n_open, dtype=torch.long, device=self.layer.index.device)
        return self

    def _keep(self, z: Tensor) -> Tensor:
        """Boolean mask ``[B, K, *z_shape]`` of the open features for this batch's widths."""
        flat = z.flatten(0, 1)  # [B*K, *z_shape]: the layer's dim counts from this batch of codes
        d = self.layer.feature_dim(flat)
        keep = self.layer.index < self.widths_.repeat_interleave(z.shape[1]).unsqueeze(-1)  # [B*K, F]
        return place_mask(keep.to(z.device), flat.dim(), d).expand(flat.shape).reshape(z.shape)  # [B, K, *z_shape]

    def _mask(self, z: Tensor) -> Tensor:
        return torch.where(self._keep(z), z, z.new_zeros(()))  # [B, K, *z_shape]

    def sample(self, n_samples: int) -> Tensor:
        return self._mask(self.inf_net.sample(n_samples))

    def rsample(self, n_samples: int) -> Tensor:
        return self._mask(self.inf_net.rsample(n_samples))

    def log_prob(self, z: Tensor) -> Tensor:
        return self._log_prob(z, self._inner_dist())

    def log_prob_detached(self, z: Tensor) -> Tensor:
        """``log_prob`` under a detached copy of q (gradient only through z), for STL/DReG."""
        return self._log_prob(z, detached(self._inner_dist()))

    def _inner_dist(self) -> Distribution:
        if getattr(self.inf_net, "params_", None) is None:
            raise RuntimeError(f"call {type(self).__name__}(x) before sample/rsample/log_prob")
        return self.inf_net.current_dist()  # a DistributionInfNet (checked at construction)

    def _log_prob(self, z: Tensor, dist: Distribution) -> Tensor:
        base = dist
        while isinstance(base, Independent):
            base = base.base_dist
        if tuple(base.event_shape) != ():
            raise ValueError(
                f"OrderedInfNet.log_prob: q must factorise over features (base event shape ()); "
                f"got {type(base).__name__} with event shape {tuple(base.event_shape)}"
            )
        keep = self._keep(z)  # [B, K, *z_shape]
        # Evaluate every feature where it is open, and a harmless in-support value where masked.
        per = base.log_prob(torch.where(keep, z, base.mean.unsqueeze(1).expand_as(z).detach()).movedim(1, 0))
        per = per.movedim(0, 1)  # [B, K, *z_shape]
        point_mass = torch.where(z == 0, z.new_zeros(()), z.new_full((), -float("inf")))  # masked must be 0
        return torch.where(keep, per, point_mass).flatten(2).sum(-1)  # [B, K]
