"""InfoNCE (contrastive predictive coding) lower bound."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit.mi._scores import check_matrix


def infonce(scores: Tensor) -> Tensor:
    """InfoNCE lower bound on I(X; Y); the value is also the training objective.

    Objective (van den Oord et al. 2018; Poole et al. 2019, eq. 10), per batch of N joint pairs:

        I_NCE = 1/N sum_i [ f(x_i, y_i) - log( 1/N sum_j exp f(x_i, y_j) ) ]

    Lower bound in expectation for every critic f; each batch's value is also at most log N
    (the sum over j contains the joint term), so it saturates at log N when I(X; Y) > log N.
    Low variance, biased low by up to I - log N. The optimal critic is f = log p(y|x) + c(x).
    The gradient is the gradient of the value.

    Shapes:
        scores: ``[N, N]`` with ``scores[i, j] = f(x_i, y_j)``; returns a scalar (nats).

    Args:
        scores: critic values, joint pairs on the diagonal.

    Returns:
        The InfoNCE estimate.

    References:
        van den Oord, Li, Vinyals (2018). Representation learning with contrastive predictive coding.
        Poole, Ozair, van den Oord, Alemi, Tucker (2019). On variational bounds of mutual information. ICML.

    Example:
        >>> import torch
        >>> round(infonce(100 * torch.eye(4)).item(), 4) == round(math.log(4), 4)
        True
    """
    check_matrix(scores, "infonce")
    return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(scores.shape[0])
