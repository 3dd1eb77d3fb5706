"""Donsker-Varadhan estimate of I(X; Y)."""

from __future__ import annotations

from torch import Tensor

from vaekit.mi._scores import check_matrix, offdiag_logmeanexp


def dv(scores: Tensor) -> Tensor:
    """Donsker-Varadhan (DV) estimate of I(X; Y); the value is also the training objective.

    Objective (Donsker and Varadhan 1983; Belghazi et al. 2018):

        I_DV = E_p(x,y)[f(x, y)] - log E_p(x)p(y)[exp f(x, y)]
             ~ 1/N sum_i f(x_i, y_i) - log( 1/(N(N-1)) sum_{i != j} exp f(x_i, y_j) )

    The population DV bound is a lower bound, tighter than NWJ (``log z <= z - 1`` gives
    NWJ <= DV for the same scores, batch by batch). Its Monte-Carlo estimate is biased upwards
    (``-log`` of an unbiased mean is biased up by Jensen), so it is neither a lower nor an upper
    bound on a finite batch, and its minibatch gradient is biased; MINE corrects the gradient.

    Shapes:
        scores: ``[N, N]`` with ``scores[i, j] = f(x_i, y_j)``; returns a scalar (nats).

    Args:
        scores: critic values, joint pairs on the diagonal.

    Returns:
        The DV estimate.

    References:
        Donsker, Varadhan (1983). Asymptotic evaluation of certain Markov process expectations for
        large time IV. Comm. Pure Appl. Math.
        Belghazi et al. (2018). Mutual information neural estimation. ICML.

    Example:
        >>> import torch
        >>> dv(torch.zeros(3, 3)).item()
        0.0
    """
    check_matrix(scores, "dv")
    return scores.diagonal().mean() - offdiag_logmeanexp(scores)
