"""MINE: the Donsker-Varadhan value with a moving-average-corrected gradient."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vaekit._math import with_grad
from vaekit.mi._scores import check_matrix, offdiag_logmeanexp


def mine(scores: Tensor, log_ema: Tensor) -> Tensor:
    """MINE estimate: value DV, gradient with the denominator replaced by a moving average.

    Value (Belghazi et al. 2018), the Donsker-Varadhan estimate:

        I_MINE = 1/N sum_i f(x_i, y_i) - log z,   z = 1/(N(N-1)) sum_{i != j} exp f(x_i, y_j)

    Gradient: the DV gradient is ``grad E_p f - grad z / z``, whose minibatch version is biased
    because ``z`` in the denominator is itself a minibatch average. MINE divides by a moving
    average ``m`` of ``z`` instead: ``grad E_p f - grad z / m``. Pass ``log_ema = log m``
    (already updated with this batch, as :class:`MINE` does). Neither a lower nor an upper bound
    on a finite batch (see :func:`vaekit.mi.dv`).

    Shapes:
        scores: ``[N, N]``; log_ema: scalar; returns a scalar (nats).

    Args:
        scores: critic values ``scores[i, j] = f(x_i, y_j)``, joint pairs on the diagonal.
        log_ema: log of the moving average of z (treated as a constant).

    Returns:
        The DV value carrying MINE's gradient.

    References:
        Belghazi, Baratin, Rajeswar, Ozair, Bengio, Courville, Hjelm (2018). Mutual information
        neural estimation. ICML.

    Example:
        >>> import torch
        >>> mine(torch.zeros(3, 3), torch.tensor(0.0)).item()
        0.0
    """
    check_matrix(scores, "mine")
    log_z = offdiag_logmeanexp(scores)
    joint = scores.diagonal().mean()
    surrogate = joint - torch.exp(log_z - log_ema.detach())  # gradient: grad z / m
    return with_grad(joint - log_z, surrogate)


class MINE(nn.Module):
    """MINE as a module holding the moving average of ``z = mean exp f`` over marginal pairs.

    ``m <- ema_decay * m + (1 - ema_decay) * z`` on every call in training mode (in log space, so
    it never overflows); the first call sets ``m = z``. In eval mode the average is left unchanged.
    The state is a buffer, so ``state_dict()`` and ``.to(device)`` carry it.

    Shapes:
        forward: scores ``[N, N]`` -> scalar.

    Args:
        ema_decay: weight of the old average, in [0, 1).

    Example:
        >>> import torch
        >>> MINE(ema_decay=0.9)(torch.zeros(3, 3)).item()
        0.0
    """

    def __init__(self, *, ema_decay: float = 0.99):
        super().__init__()
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"MINE expects ema_decay in [0, 1); got {ema_decay}")
        self.ema_decay = float(ema_decay)
        self.log_ema: Tensor
        self.register_buffer("log_ema", torch.tensor(math.nan))

    def forward(self, scores: Tensor) -> Tensor:
        check_matrix(scores, "MINE")
        if self.training:
            log_z = offdiag_logmeanexp(scores.detach()).to(self.log_ema.dtype)
            if bool(torch.isnan(self.log_ema)):
                self.log_ema.copy_(log_z)
            elif self.ema_decay > 0:
                old = self.log_ema + math.log(self.ema_decay)
                self.log_ema.copy_(torch.logaddexp(old, log_z + math.log1p(-self.ema_decay)))
            else:
                self.log_ema.copy_(log_z)
        log_ema = self.log_ema.to(scores.dtype)
        if bool(torch.isnan(log_ema)):  # never trained: the plain DV gradient
            log_ema = offdiag_logmeanexp(scores.detach())
        return mine(scores, log_ema)
