"""The interpolated bound I_alpha between InfoNCE and TUBA."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit._math import loo_logsumexp
from vaekit.mi._scores import check_matrix, check_vector, off_diagonal, offdiag_mean


def alpha_tuba(scores: Tensor, log_baseline: Tensor, alpha: float) -> Tensor:
    """Interpolated lower bound I_alpha of Poole et al. (2019), between TUBA (0) and InfoNCE (1).

    Objective (Poole et al. 2019, eq. 12), with K = N - 1 samples ``x_{1:K}`` and the joint
    partner of y among them:

        I_alpha = 1 + E[ log( e^{f(x_1, y)} / (alpha m(y; x_{1:K}) + (1 - alpha) a(y)) ) ]
                    - E_{y ~ p(y)}[ e^{f(x_1, y)} / (alpha m(y; x_{1:K}) + (1 - alpha) a(y)) ]
        m(y; x_{1:K}) = 1/K sum_k e^{f(x_k, y)}

    Estimated on a batch without reusing a pair in its own normaliser: in the joint term, y_j's
    normaliser leaves out one other x_k (averaged over every k != j, each set of N - 1 holds
    x_j); in the marginal term, y_j's normaliser leaves out x_j (the N - 1 others are independent
    of y_j) and the numerator pairs y_j with each x_i, i != j. Lower bound for alpha in [0, 1]:
    alpha = 0 is :func:`vaekit.mi.tuba`; alpha > 0 caps the value (each joint term is at most
    log(K / alpha), so the value is at most 1 + log(K / alpha); a perfect critic gives
    log(K / alpha)) and cuts the variance, the trade-off the paper studies. The gradient is the value's.

    Shapes:
        scores: ``[N, N]`` with ``scores[i, j] = f(x_i, y_j)`` (N >= 3); log_baseline: ``[N]``
        (entry j = ``log a(y_j)``); returns a scalar (nats).

    Args:
        scores: critic values, joint pairs on the diagonal.
        log_baseline: learned log-baseline at each y of the batch.
        alpha: interpolation weight in [0, 1].

    Returns:
        The I_alpha estimate.

    References:
        Poole, Ozair, van den Oord, Alemi, Tucker (2019). On variational bounds of mutual information. ICML.

    Example:
        >>> import torch
        >>> alpha_tuba(torch.zeros(3, 3), torch.zeros(3), 0.5).item()
        0.0
    """
    check_matrix(scores, "alpha_tuba")
    n = scores.shape[0]
    if n < 3:
        raise ValueError(f"alpha_tuba needs N >= 3 pairs (a leave-one-out normaliser over N - 1 >= 2); got N = {n}")
    check_vector(log_baseline, n, "alpha_tuba", "log_baseline")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha_tuba expects alpha in [0, 1]; got {alpha}")
    neg_inf = torch.full((), -math.inf, dtype=scores.dtype, device=scores.device)
    log_alpha = math.log(alpha) if alpha > 0 else -math.inf
    log_1m_alpha = math.log1p(-alpha) if alpha < 1 else -math.inf
    # loo[j, k] = log 1/(N-1) sum_{l != k} exp f(x_l, y_j): y_j's normaliser without x_k.
    loo = loo_logsumexp(scores.T) - math.log(n - 1)  # [N, N]
    log_norm = torch.logaddexp(loo + log_alpha, log_baseline[:, None] + log_1m_alpha)  # [N, N]
    if alpha == 1.0:
        log_norm = loo  # logaddexp(x, -inf) is x, but its backward would touch exp(-inf - x)
    elif alpha == 0.0:
        log_norm = log_baseline[:, None].expand(n, n)
    joint = offdiag_mean(scores.diagonal()[:, None] - log_norm)  # pairs (j, k != j)
    ratio = scores - log_norm.diagonal()[None, :]  # [N, N]: x_i with y_j, normaliser without x_j
    marginal = offdiag_mean(torch.where(off_diagonal(n, scores.device), ratio, neg_inf).exp())
    return 1 + joint - marginal
