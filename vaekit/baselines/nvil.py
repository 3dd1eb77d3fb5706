"""NVIL's full set of control variates, composed from the baseline building blocks."""

from __future__ import annotations

from torch import nn

from vaekit.baselines.base import Baseline
from vaekit.baselines.input_dependent import InputDependentBaseline
from vaekit.baselines.moving_average import MovingAverage
from vaekit.baselines.variance_normalization import VarianceNormalization

__all__ = ["nvil_baselines"]


def nvil_baselines(net: nn.Module, *, decay: float = 0.9) -> list[Baseline]:
    """NVIL = [MovingAverage, InputDependentBaseline(net), VarianceNormalization], in that order.

    The learning signal becomes (l - C - C_psi(x)) / max(1, sqrt(v)): C a running mean of l,
    C_psi(x) a network fitted by least squares to l - C, v a running variance of l - C - C_psi(x).

    Shapes:
        ``net(x)``: ``[B]`` or ``[B, 1]``.

    Args:
        net: the input-dependent baseline network.
        decay: decay of both running estimates.

    References:
        Mnih & Gregor, "Neural Variational Inference and Learning in Belief Networks", ICML 2014.

    Example:
        >>> import torch
        >>> [type(b).__name__ for b in nvil_baselines(torch.nn.Linear(4, 1))]
        ['MovingAverage', 'InputDependentBaseline', 'VarianceNormalization']
    """
    return [MovingAverage(decay=decay), InputDependentBaseline(net), VarianceNormalization(decay=decay)]
