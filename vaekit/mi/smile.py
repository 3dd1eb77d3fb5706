"""SMILE: a clipped Donsker-Varadhan estimate of a JS-trained critic."""

from __future__ import annotations

from torch import Tensor

from vaekit._math import with_grad
from vaekit.mi._scores import check_matrix, offdiag_logmeanexp
from vaekit.mi.js import js_objective


def smile(scores: Tensor, tau: float = 5.0) -> Tensor:
    """SMILE estimate of I(X; Y) (Song and Ermon 2020).

    Value, the DV estimate with the density ratio clipped to [e^-tau, e^tau] in the partition term:

        I_SMILE = 1/N sum_i f(x_i, y_i) - log( 1/(N(N-1)) sum_{i != j} clip(exp f(x_i, y_j), e^-tau, e^tau) )

    Gradient: the Jensen-Shannon objective of :func:`vaekit.mi.js` (as in the authors' code),
    whose optimum is f = log r. Clipping trades variance (bounded by a function of tau) for bias:
    SMILE is neither a lower nor an upper bound; ``tau -> inf`` recovers DV. tau = 5 is the
    paper's default.

    Shapes:
        scores: ``[N, N]`` with ``scores[i, j] = f(x_i, y_j)``; returns a scalar (nats).

    Args:
        scores: critic values, joint pairs on the diagonal.
        tau: clipping threshold (> 0) for the log density ratio in the partition term.

    Returns:
        The SMILE estimate carrying the JS objective's gradient.

    References:
        Song, Ermon (2020). Understanding the limitations of variational mutual information
        estimators. ICLR.

    Example:
        >>> import torch
        >>> smile(torch.zeros(3, 3)).item()
        0.0
    """
    check_matrix(scores, "smile")
    if not tau > 0:
        raise ValueError(f"smile expects tau > 0; got {tau}")
    value = scores.diagonal().mean() - offdiag_logmeanexp(scores.clamp(-tau, tau))
    return with_grad(value, js_objective(scores))
