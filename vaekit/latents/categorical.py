"""Categorical latents, one-hot: a factorised categorical encoder and a categorical VAE decoder.

Latents are one-hot, ``z`` of shape ``[B, K, D, C]``: D independent variables with C classes each.
One-hot (rather than index) latents let relaxed estimators feed points of the simplex to the same
decoder. The encoder follows the discrete-latent protocol (:mod:`vaekit.latents.discrete`):
``params_["logits"]`` is ``[B, D, C]`` and ``one_hot = True``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, OneHotCategorical

from vaekit.latents.mlp import mlp
from vaekit.latents.noise import gumbel_noise
from vaekit.models import GenModel, InfNet, set_plain_attrs

__all__ = ["CategoricalEncoder", "CategoricalDecoder"]


def _check(**sizes: int) -> None:
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int; got {v!r}")


class CategoricalEncoder(InfNet):
    """q(z|x) = prod_d Categorical(z_d; softmax(f(x)_d)), one-hot z, f linear or a tanh MLP. No ``rsample``.

    ``log q(z|x) = sum_{d,c} z_dc log_softmax(logits)_dc`` is computed directly (one line, no
    distribution object); ``validate_args=True`` scores through ``torch.distributions.OneHotCategorical``
    instead, which checks that z is one-hot. Sampling is Gumbel-max, ``onehot(argmax(logits + G))``.

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, n_vars, n_classes]``; logits ``[B, n_vars, n_classes]``;
        log_prob: ``[B, K]``.

    Args:
        data_dim: input width.
        n_vars: D, the number of categorical variables.
        n_classes: C, the classes of each.
        hidden: None for a linear map, or hidden widths of a tanh MLP.
        validate_args: score through torch.distributions with argument checks (slower).

    Example:
        >>> q = CategoricalEncoder(6, n_vars=3, n_classes=4)
        >>> z = q(torch.zeros(2, 6)).sample(5)
        >>> tuple(z.shape), tuple(q.log_prob(z).shape), q.params_["logits"].shape[-1]
        ((2, 5, 3, 4), (2, 5), 4)
    """

    one_hot = True

    def __init__(
        self,
        data_dim: int,
        n_vars: int,
        n_classes: int,
        hidden: int | Sequence[int] | None = None,
        *,
        validate_args: bool = False,
    ):
        super().__init__()
        _check(data_dim=data_dim, n_vars=n_vars, n_classes=n_classes)
        if n_classes < 2:
            raise ValueError(f"CategoricalEncoder: n_classes must be >= 2; got {n_classes}")
        self.n_vars, self.n_classes = n_vars, n_classes
        self.net = mlp(data_dim, n_vars * n_classes, hidden)
        self.validate_args = validate_args

    def forward(self, x: Tensor) -> CategoricalEncoder:
        logits = self.net(x).unflatten(-1, (self.n_vars, self.n_classes))  # [B, D, C]
        set_plain_attrs(self, params_={"logits": logits})
        return self

    def sample(self, n_samples: int) -> Tensor:
        logits = self.params_["logits"].detach().unsqueeze(1)  # [B, 1, D, C]
        shape = (logits.shape[0], n_samples) + logits.shape[2:]
        g = gumbel_noise(shape, dtype=logits.dtype, device=logits.device)  # [B, K, D, C]
        return F.one_hot((logits + g).argmax(-1), self.n_classes).to(logits.dtype)  # [B, K, D, C]

    def log_prob(self, z: Tensor) -> Tensor:
        logits = self.params_["logits"]
        if self.validate_args:
            dist = Independent(OneHotCategorical(logits=logits, validate_args=True), 1)  # batch [B], event [D]
            return dist.log_prob(z.movedim(1, 0)).movedim(0, 1)  # [K, B] -> [B, K]
        return (z * F.log_softmax(logits, dim=-1).unsqueeze(1)).sum(dim=(-2, -1))  # [B, K]


class CategoricalDecoder(GenModel):
    """p(z) p(x|z): a uniform (or learned) categorical prior and Bernoulli pixels from an MLP of the flat z.

    ``log p(z) = sum_{d,c} z_dc log_softmax(prior_logits)_dc`` and ``p(x|z) = Bernoulli(sigmoid(g(flat z)))``.
    Both are written for any z on the simplex, so relaxed (Gumbel-softmax) latents are accepted;
    ``validate_args=True`` checks the data is 0/1 through ``torch.distributions.Bernoulli``.

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, n_vars, n_classes]``; log_prob: ``[B, K]``.

    Args:
        n_vars, n_classes: D and C.
        data_dim: width of x.
        hidden: None (linear) or hidden widths of the decoder MLP.
        learn_prior: learn the prior logits (default: fixed uniform prior, as in Jang et al. 2017).
        validate_args: check the data through torch.distributions.

    Example:
        >>> p = CategoricalDecoder(3, 4, data_dim=6)
        >>> x, z = p.sample(2); tuple(x.shape), tuple(z.shape)
        ((2, 6), (2, 3, 4))
    """

    _x_logits: Tensor  # the decoder logits of the last forward, [B, K, data_dim] (set by forward)

    def __init__(
        self,
        n_vars: int,
        n_classes: int,
        data_dim: int,
        hidden: int | Sequence[int] | None = None,
        *,
        learn_prior: bool = False,
        validate_args: bool = False,
    ):
        super().__init__()
        _check(n_vars=n_vars, n_classes=n_classes, data_dim=data_dim)
        self.n_vars, self.n_classes = n_vars, n_classes
        self.prior_logits: Tensor
        if learn_prior:
            self.prior_logits = nn.Parameter(torch.zeros(n_vars, n_classes))
        else:
            self.register_buffer("prior_logits", torch.zeros(n_vars, n_classes))  # follows .to() but is not trained
        self.net = mlp(n_vars * n_classes, data_dim, hidden)
        self.validate_args = validate_args

    def forward(self, x: Tensor, z: Tensor) -> CategoricalDecoder:
        x_logits = self.net(z.flatten(-2))  # [B, K, data_dim]
        set_plain_attrs(self, _z=z, _x_logits=x_logits, params_={"prior_logits": self.prior_logits, "logits": x_logits})
        return self

    def log_prior(self, z: Tensor) -> Tensor:
        """``log p(z)``, ``[B, K]``, for one-hot or relaxed z."""
        return (z * F.log_softmax(self.prior_logits, dim=-1)).sum(dim=(-2, -1))  # [B, K]

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        x_logits = self._x_logits if getattr(self, "_z", None) is z else self.net(z.flatten(-2))  # [B, K, data_dim]
        xk = x.unsqueeze(1).expand_as(x_logits)  # [B, K, data_dim]
        if self.validate_args:
            lik = Bernoulli(logits=x_logits, validate_args=True).log_prob(xk).sum(-1)  # [B, K]
        else:
            lik = -F.binary_cross_entropy_with_logits(x_logits, xk, reduction="none").sum(-1)  # [B, K]
        return self.log_prior(z) + lik

    def sample(self, n: int) -> tuple[Tensor, Tensor]:
        logits = self.prior_logits.detach().expand(n, self.n_vars, self.n_classes)  # [n, D, C]
        z = F.one_hot(
            torch.multinomial(logits.softmax(-1).reshape(-1, self.n_classes), 1).reshape(n, self.n_vars), self.n_classes
        ).to(logits.dtype)  # [n, D, C]
        x = torch.bernoulli(torch.sigmoid(self.net(z.flatten(-2))))  # [n, data_dim]
        return x, z

    def extra_repr(self) -> str:
        return f"n_vars={self.n_vars}, n_classes={self.n_classes}, log|Z|={self.n_vars * math.log(self.n_classes):.3g}"
