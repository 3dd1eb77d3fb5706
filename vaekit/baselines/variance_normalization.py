"""NVIL's variance normalisation: divide the centred learning signal by a running standard deviation."""

from __future__ import annotations

import torch
from torch import Tensor

from vaekit._math import detach_if_grad
from vaekit.baselines.base import Baseline, ema_update_, follow_dtype

__all__ = ["VarianceNormalization"]


class VarianceNormalization(Baseline):
    """signal <- signal / max(1, sqrt(v)), v a running estimate of the signal's variance.

    v <- decay * v + (1 - decay) * Var_batch(signal), updated after use (the first update sets v).
    The scale is a constant for the current step, so the score-function part of the gradient is
    the unbiased estimate divided by max(1, sqrt(v)): an adaptive step size that keeps the
    gradient's magnitude stable while the signal's scale changes during training (it is not
    unbiased for the objective's gradient itself unless v <= 1). Place it last in a list of
    baselines (after the shifts), as in NVIL. Buffers: ``variance`` (in the signal's dtype),
    ``n_updates``; a loss updates them only when training with gradients on.

    Bias: with a running scale above 1 the phi-gradient is the unbiased one divided by that scale,
    so as an estimate of the objective's gradient it is biased (shrunk); its direction is kept.

    Shapes:
        signal: ``[B, K]``; the scale is 0-d.

    Args:
        decay: in [0, 1); weight of the old estimate per update.

    References:
        Mnih & Gregor, "Neural Variational Inference and Learning in Belief Networks", ICML 2014, sec. 3.3.

    Example:
        >>> import torch
        >>> vn = VarianceNormalization()
        >>> vn.update(torch.tensor([[0.0, 4.0], [0.0, 4.0]]))
        >>> vn.transform(torch.zeros(2, 2), None)[1].item()
        2.0
    """

    variance: Tensor
    n_updates: Tensor

    def __init__(self, *, decay: float = 0.9):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"VarianceNormalization: decay must be in [0, 1); got {decay!r}")
        self.decay = float(decay)
        self.register_buffer("variance", torch.zeros(()))
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))

    def forward(self, signal: Tensor, x: Tensor) -> Tensor:
        """No shift: normalisation only rescales (see ``transform``)."""
        return signal.new_zeros(())

    def scale(self, like: Tensor) -> Tensor:
        """The current divisor max(1, sqrt(v)), 0-d, in the dtype of ``like``."""
        return follow_dtype(self, "variance", like).sqrt().clamp_min(1.0)

    def transform(self, signal: Tensor, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        return None, self.scale(signal)

    def update(self, signal: Tensor) -> None:
        variance = follow_dtype(self, "variance", signal)
        ema_update_(variance, detach_if_grad(signal).var(unbiased=False), self.decay, self.n_updates == 0)
        self.n_updates.add_(1)

    def extra_repr(self) -> str:
        return f"decay={self.decay}"
