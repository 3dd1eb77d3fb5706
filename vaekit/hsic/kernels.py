"""Gram-matrix kernels for the kernel-dependence estimators: Gaussian (RBF) and linear.

A kernel turns a sample ``x`` of ``m`` points into the ``[m, m]`` Gram matrix the estimators of
``vaekit.hsic`` take. Everything is built from inner products (``x @ x^T``), so memory stays
O(m^2) per Gram matrix: the O(m^2 d) tensor of pairwise differences is never formed. Leading
dimensions are batch dimensions (one Gram matrix per layer or per repetition).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["check_samples", "squared_distances", "median_bandwidth", "gaussian_gram", "linear_gram"]


def check_samples(x: Tensor, name: str = "x") -> Tensor:
    """Validate a sample ``[..., m, d]`` of activations: a floating tensor with finite entries.

    Shapes:
        x: ``[..., m, d]``; returned unchanged.

    Example:
        >>> import torch
        >>> check_samples(torch.zeros(3, 2)).shape
        torch.Size([3, 2])
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [..., m, d]; got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"{name} must have shape [..., m, d] (at least 2 dims); got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor; got dtype {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} has non-finite entries (NaN or inf); activations must be finite")
    return x


def squared_distances(x: Tensor) -> Tensor:
    """Pairwise squared Euclidean distances ``D_ij = ||x_i - x_j||^2`` from inner products.

    ``D = diag(G) 1^T + 1 diag(G)^T - 2 G`` with ``G = x x^T``; rounding can make an entry
    slightly negative, so it is clamped at 0. The diagonal is exactly 0: ``G_ii + G_ii - 2 G_ii``
    is computed without rounding (doubling is exact).

    Shapes:
        x: ``[..., m, d]``; returns ``[..., m, m]``.

    Example:
        >>> import torch
        >>> squared_distances(torch.tensor([[0.0, 0.0], [3.0, 4.0]])).tolist()
        [[0.0, 25.0], [25.0, 0.0]]
    """
    gram = x @ x.transpose(-1, -2)  # [..., m, m]
    sq = torch.diagonal(gram, dim1=-2, dim2=-1)  # [..., m]
    return torch.add(sq.unsqueeze(-1) + sq.unsqueeze(-2), gram, alpha=-2.0).clamp_min(0.0)  # [..., m, m]


def median_bandwidth(x: Tensor) -> Tensor:
    """The median heuristic: ``sigma = median{ ||x_i - x_j|| : i < j }`` (the lower median).

    Where at least half of the pairs coincide (a median of 0) the mean of the positive distances
    is used instead, and 1 where all points coincide (the Gram matrix is then all ones whatever
    the bandwidth), so the bandwidth is always positive.

    Shapes:
        x: ``[..., m, d]`` with ``m >= 2``; returns ``[...]``.

    References:
        Gretton, Fukumizu, Teo, Song, Schoelkopf, Smola (2008). A kernel statistical test of
        independence. NeurIPS.

    Example:
        >>> import torch
        >>> median_bandwidth(torch.tensor([[0.0], [1.0], [3.0]])).item()  # distances 1, 2, 3
        2.0
    """
    m = x.shape[-2]
    if m < 2:
        raise ValueError(f"median_bandwidth needs m >= 2 points; got shape {tuple(x.shape)}")
    iu = torch.triu_indices(m, m, offset=1, device=x.device)
    dist = squared_distances(x)[..., iu[0], iu[1]].sqrt()  # [..., m(m-1)/2]
    med = dist.median(dim=-1).values  # [...]
    positive = (dist > 0).to(x.dtype)
    mean_pos = (dist * positive).sum(-1) / positive.sum(-1).clamp_min(1.0)  # [...]
    fallback = torch.where(mean_pos > 0, mean_pos, torch.ones_like(mean_pos))
    return torch.where(med > 0, med, fallback)


def gaussian_gram(x: Tensor, bandwidth: float | Tensor | None = None) -> Tensor:
    """Gaussian (RBF) Gram matrix ``K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))``.

    ``sigma`` is ``bandwidth`` when given (a float, or a tensor broadcasting against the batch
    dimensions ``[...]``), else the median heuristic ``sigma = median_{i<j} ||x_i - x_j||``
    computed per batch element (``median_bandwidth``). The HSIC bottleneck of Ma et al. (2020)
    uses ``sigma = s * sqrt(d)`` for a width-``d`` layer: pass ``bandwidth=s * d ** 0.5``.

    Shapes:
        x: ``[..., m, d]``; returns ``[..., m, m]`` on x's device and dtype.

    Args:
        x: the sample, one point per row (flatten images first).
        bandwidth: ``sigma > 0``, or None for the median heuristic.

    Returns:
        The Gram matrix, symmetric with unit diagonal.

    Example:
        >>> import torch
        >>> k = gaussian_gram(torch.tensor([[0.0], [1.0]]), bandwidth=1.0)
        >>> round(k[0, 1].item(), 4)  # exp(-1/2)
        0.6065
    """
    check_samples(x)
    if bandwidth is None:
        sigma = median_bandwidth(x)[..., None, None]  # [..., 1, 1]
    elif isinstance(bandwidth, Tensor):
        if not bool((bandwidth > 0).all()):
            raise ValueError(f"gaussian_gram: bandwidth must be > 0; got {bandwidth}")
        sigma = bandwidth.to(x)[..., None, None]
    else:
        if not isinstance(bandwidth, (int, float)) or isinstance(bandwidth, bool):
            raise TypeError(
                f"gaussian_gram: bandwidth must be a float, a tensor or None; got {type(bandwidth).__name__}"
            )
        if not (bandwidth > 0 and math.isfinite(bandwidth)):
            raise ValueError(f"gaussian_gram: bandwidth must be a finite float > 0; got {bandwidth}")
        sigma = torch.as_tensor(float(bandwidth), dtype=x.dtype, device=x.device)
    return torch.exp(-squared_distances(x) / (2.0 * sigma * sigma))  # [..., m, m]


def linear_gram(x: Tensor) -> Tensor:
    """Linear-kernel Gram matrix ``K = x x^T`` (``K_ij = <x_i, x_j>``).

    With linear kernels HSIC is the squared Frobenius norm of the cross-covariance, and on one-hot
    labels the linear kernel is the delta kernel ``K_ij = [y_i = y_j]``.

    Shapes:
        x: ``[..., m, d]``; returns ``[..., m, m]``.

    Example:
        >>> import torch
        >>> linear_gram(torch.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
        [[5.0, 11.0], [11.0, 25.0]]
    """
    check_samples(x)
    return x @ x.transpose(-1, -2)  # [..., m, m]
