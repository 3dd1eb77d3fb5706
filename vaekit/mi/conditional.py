"""Gaussian densities for the generative estimators: q(y|x) and a marginal q(y)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vaekit.mi.critics import mlp


class GaussianConditional(nn.Module):
    """Diagonal Gaussian ``q(y|x) = N(y; mu(x), diag sigma(x)^2)`` with an MLP for mu and log sigma.

    ``forward(x, y)`` returns the matrix the generative bounds take, ``log_q[i, j] = log q(y_i | x_j)``,
    expanded as a sum of three matmuls (no ``[N, N, y_dim]`` tensor). ``log_prob(x, y)`` gives
    the N joint pairs only.

    Shapes:
        forward: x ``[N, x_dim]``, y ``[N, y_dim]`` -> ``[N, N]``; log_prob -> ``[N]``.

    Args:
        x_dim, y_dim: input dimensions.
        hidden: hidden widths of the MLP.

    Example:
        >>> import torch
        >>> GaussianConditional(2, 3)(torch.randn(5, 2), torch.randn(5, 3)).shape
        torch.Size([5, 5])
    """

    def __init__(self, x_dim: int, y_dim: int, *, hidden: Sequence[int] = (64,)):
        super().__init__()
        self.net = mlp(x_dim, hidden, 2 * y_dim)
        self.y_dim = int(y_dim)

    def _params(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_sigma = self.net(x).chunk(2, dim=-1)  # [N, D] each
        return mu, log_sigma.clamp(-10.0, 10.0)

    def log_prob(self, x: Tensor, y: Tensor) -> Tensor:
        """``log q(y_i | x_i)``, ``[N]``."""
        mu, log_sigma = self._params(x)
        z = (y - mu) * torch.exp(-log_sigma)  # [N, D]
        return -0.5 * (z * z).sum(-1) - log_sigma.sum(-1) - 0.5 * self.y_dim * math.log(2 * math.pi)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"GaussianConditional expects x [N, x_dim] and y [N, y_dim] with the same N; "
                f"got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        mu, log_sigma = self._params(x)  # [N, D]: row j parameterises q(. | x_j)
        prec = torch.exp(-2 * log_sigma)  # [N, D]
        # sum_d (y_id - mu_jd)^2 prec_jd = y^2 prec^T - 2 y (mu prec)^T + sum_d mu^2 prec
        quad = (y * y) @ prec.T - 2 * y @ (mu * prec).T + (mu * mu * prec).sum(-1)[None, :]  # [N, N]
        const = log_sigma.sum(-1)[None, :] + 0.5 * self.y_dim * math.log(2 * math.pi)  # [1, N]
        return -0.5 * quad - const  # [N, N]: [i, j] = log q(y_i | x_j)


class GaussianMarginal(nn.Module):
    """Learned diagonal Gaussian ``q(y)``, the marginal model of :func:`vaekit.mi.doe`.

    Shapes:
        forward: y ``[N, y_dim]`` -> ``[N]`` log-densities.

    Example:
        >>> import torch
        >>> GaussianMarginal(3)(torch.zeros(2, 3)).shape
        torch.Size([2])
    """

    def __init__(self, y_dim: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(y_dim))
        self.log_scale = nn.Parameter(torch.zeros(y_dim))

    def forward(self, y: Tensor) -> Tensor:
        z = (y - self.loc) * torch.exp(-self.log_scale)  # [N, D]
        return -0.5 * (z * z).sum(-1) - self.log_scale.sum() - 0.5 * y.shape[-1] * math.log(2 * math.pi)
