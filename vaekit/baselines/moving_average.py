"""An exponential moving average of the learning signal: the simplest baseline (NVIL's constant C)."""

from __future__ import annotations

import torch
from torch import Tensor

from vaekit._math import detach_if_grad
from vaekit.baselines.base import Baseline, ema_update_, follow_dtype

__all__ = ["MovingAverage"]


class MovingAverage(Baseline):
    """b = c, a running mean of the learning signal: c <- decay * c + (1 - decay) * mean(signal).

    The running mean is updated only after it is used, so it never depends on the samples it is
    subtracted from and the estimator stays unbiased. The first update sets c to the batch mean
    (no warm-up from 0). State: buffers ``value`` (in the signal's dtype, that is the models') and
    ``n_updates`` (in ``state_dict``). A loss updates it only when training with gradients on.

    Shapes:
        signal: ``[B, K]``; returns a 0-d tensor.

    Args:
        decay: in [0, 1); weight of the old value per update.

    References:
        Williams 1992 (reinforcement baseline); Mnih & Gregor, "Neural Variational Inference and
        Learning in Belief Networks", ICML 2014 (the constant C).

    Example:
        >>> import torch
        >>> ma = MovingAverage(decay=0.5)
        >>> ma.update(torch.full((2, 3), 4.0)); ma.update(torch.zeros(2, 3))
        >>> ma(torch.zeros(2, 3), None).item()
        2.0
    """

    value: Tensor
    n_updates: Tensor

    def __init__(self, *, decay: float = 0.9):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"MovingAverage: decay must be in [0, 1); got {decay!r}")
        self.decay = float(decay)
        self.register_buffer("value", torch.zeros(()))
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))

    def forward(self, signal: Tensor, x: Tensor) -> Tensor:
        return follow_dtype(self, "value", signal).clone()  # a copy: update() writes the buffer in place

    def update(self, signal: Tensor) -> None:
        value = follow_dtype(self, "value", signal)
        ema_update_(value, detach_if_grad(signal).mean(), self.decay, self.n_updates == 0)
        self.n_updates.add_(1)

    def extra_repr(self) -> str:
        return f"decay={self.decay}"
