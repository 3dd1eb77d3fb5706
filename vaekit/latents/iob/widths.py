"""Width distributions P(n) on n = 0..F for the information-ordered bottleneck, as objects.

An ``IOBLayer`` takes any callable ``widths(n_features) -> [F+1]`` of non-negative weights; these
three are the ones of Ho, Zhao & Wandelt (2023), truncated to 0..F and renormalised, so every
width, the full one included, has positive probability:

    UniformWidths():       P(n) = 1 / (F + 1)
    GeometricWidths(p):    P(n) proportional to (1 - p)^n
    PoissonWidths(rate):   P(n) proportional to rate^n / n!

References:
    Ho, Zhao & Wandelt, "Information-Ordered Bottlenecks for Adaptive Semantic Compression",
    arXiv:2305.11213 (2023).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["UniformWidths", "GeometricWidths", "PoissonWidths"]


def _check_features(n_features: object, where: str) -> int:
    if isinstance(n_features, bool) or not isinstance(n_features, int):
        raise TypeError(f"{where}: n_features must be an int; got {type(n_features).__name__}")
    if n_features < 1:
        raise ValueError(f"{where}: n_features must be >= 1; got {n_features}")
    return n_features


def _real(name: str, v: object, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{where}: {name} must be a real number; got {type(v).__name__}")
    return float(v)


class UniformWidths:
    """P(n) = 1 / (F + 1) on n = 0..F.

    Shapes:
        ``UniformWidths()(F)``: ``[F+1]`` float64 probabilities.

    Example:
        >>> UniformWidths()(3).tolist()
        [0.25, 0.25, 0.25, 0.25]
    """

    def __call__(self, n_features: int) -> Tensor:
        f = _check_features(n_features, "UniformWidths")
        return torch.full((f + 1,), 1 / (f + 1), dtype=torch.float64)  # [F+1]

    def __repr__(self) -> str:
        return "UniformWidths()"


class GeometricWidths:
    """P(n) proportional to (1 - p)^n on n = 0..F (a geometric law counting failures, truncated).

    Shapes:
        ``GeometricWidths(p)(F)``: ``[F+1]`` float64 probabilities.

    Args:
        p: success probability, in (0, 1]; p = 1 puts all mass on width 0.

    Example:
        >>> [round(v, 4) for v in GeometricWidths(0.5)(2).tolist()]  # 1 : 1/2 : 1/4
        [0.5714, 0.2857, 0.1429]
    """

    def __init__(self, p: float = 0.5):
        self.p = _real("p", p, "GeometricWidths")
        if not 0 < self.p <= 1:
            raise ValueError(f"GeometricWidths: p must be in (0, 1]; got {p!r}")

    def __call__(self, n_features: int) -> Tensor:
        f = _check_features(n_features, "GeometricWidths")
        n = torch.arange(f + 1, dtype=torch.float64)  # [F+1]
        if self.p == 1:
            logits = torch.where(n == 0, 0.0, -math.inf)
        else:
            logits = n * math.log1p(-self.p)
        return torch.softmax(logits, dim=0)  # [F+1], truncated and renormalised

    def __repr__(self) -> str:
        return f"GeometricWidths(p={self.p!r})"


class PoissonWidths:
    """P(n) proportional to rate^n / n! on n = 0..F (a Poisson law, truncated).

    Shapes:
        ``PoissonWidths(rate)(F)``: ``[F+1]`` float64 probabilities.

    Args:
        rate: the mean before truncation, > 0; None (the default) uses F / 2.

    Example:
        >>> [round(v, 4) for v in PoissonWidths(1.0)(2).tolist()]  # 1 : 1 : 1/2
        [0.4, 0.4, 0.2]
    """

    def __init__(self, rate: float | None = None):
        self.rate = None if rate is None else _real("rate", rate, "PoissonWidths")
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"PoissonWidths: rate must be > 0 (or None for F / 2); got {rate!r}")

    def __call__(self, n_features: int) -> Tensor:
        f = _check_features(n_features, "PoissonWidths")
        rate = f / 2 if self.rate is None else self.rate
        n = torch.arange(f + 1, dtype=torch.float64)  # [F+1]
        return torch.softmax(n * math.log(rate) - torch.lgamma(n + 1), dim=0)  # [F+1]

    def __repr__(self) -> str:
        return f"PoissonWidths(rate={self.rate!r})"
