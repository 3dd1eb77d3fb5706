"""FLO: the Fenchel-Legendre optimisation lower bound with a second critic."""

from __future__ import annotations

import torch
from torch import Tensor

from vaekit.mi._scores import check_matrix, check_vector, offdiag_logmeanexp


def flo(scores: Tensor, log_ratio: Tensor) -> Tensor:
    """FLO lower bound on I(X; Y) (Guo et al. 2022).

    Objective: InfoNCE's ``-log`` of the normaliser written through its Fenchel-Legendre dual,
    ``-log z = max_u (1 - u - z e^-u)``, with the maximiser ``u`` amortised by a second critic
    ``l(x, y) = -u(x, y)`` evaluated on the joint pairs only:

        I_FLO = 1 + E_p(x,y)[ l(x, y) - exp(l(x, y) - g(x, y)) E_p(y')[exp g(x, y')] ]
              ~ 1 + 1/N sum_i [ l_i - exp( l_i - g_ii + log 1/(N-1) sum_{j != i} exp g_ij ) ]

    Lower bound for every g and l (each term is at most InfoNCE's term with infinitely many
    negatives); tight when g = log r + c(x) and l = log r. Unlike InfoNCE it has no log N cap,
    because the normaliser enters linearly, not through a log. At the optimum l estimates the
    pointwise log density ratio. The gradient is the value's (it trains g and l together).

    Shapes:
        scores: ``[N, N]`` with ``scores[i, j] = g(x_i, y_j)``; log_ratio: ``[N]`` with entry
        i = ``l(x_i, y_i)``; returns a scalar (nats).

    Args:
        scores: first critic's values, joint pairs on the diagonal.
        log_ratio: second critic on the joint pairs (its estimate of log r).

    Returns:
        The FLO estimate.

    References:
        Guo, Chen, Wang, Lu, Wang, Hu, Carin, Ma, Jordan (2022). Tight mutual information
        estimation with contrastive Fenchel-Legendre optimization. NeurIPS.

    Example:
        >>> import torch
        >>> flo(torch.zeros(3, 3), torch.zeros(3)).item()
        0.0
    """
    check_matrix(scores, "flo")
    check_vector(log_ratio, scores.shape[0], "flo", "log_ratio")
    log_z = offdiag_logmeanexp(scores, dim=1) - scores.diagonal()  # [N]: log E_y' e^{g(x_i, y') - g(x_i, y_i)}
    return 1 + (log_ratio - torch.exp(log_ratio + log_z)).mean()
