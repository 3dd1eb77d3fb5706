"""The leave-one-out baseline across the K samples (Kool et al. 2019)."""

from __future__ import annotations

from torch import Tensor

from vaekit._math import loo_mean
from vaekit.baselines.base import Baseline

__all__ = ["LeaveOneOut"]


class LeaveOneOut(Baseline):
    """b_k = (1/(K-1)) sum_{j != k} l_j: the mean of the other K-1 learning signals.

    b_k depends only on the other samples, which are independent of z_k, so the estimator stays
    unbiased; with it, (1/K) sum_k (l_k - b_k) grad log q(z_k) equals Kool et al.'s
    (1/(K-1)) sum_k (l_k - mean_j l_j) grad log q(z_k). Needs K >= 2; stateless.

    Shapes:
        signal: ``[B, K]``; returns ``[B, K]``.

    References:
        Kool, van Hoof & Welling, "Buy 4 REINFORCE Samples, Get a Baseline for Free!", ICLR
        workshop 2019; Mnih & Rezende 2016 (the same idea inside VIMCO).

    Example:
        >>> import torch
        >>> LeaveOneOut()(torch.tensor([[1.0, 2.0, 6.0]]), None).tolist()
        [[4.0, 3.5, 1.5]]
    """

    min_samples = 2

    def forward(self, signal: Tensor, x: Tensor) -> Tensor:
        return loo_mean(signal)  # [B, K]
