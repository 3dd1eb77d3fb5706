"""TUBA: the tractable unnormalized Barber-Agakov lower bound with a learned baseline."""

from __future__ import annotations

from torch import Tensor

from vaekit.mi._scores import check_matrix, check_vector, offdiag_mean


def tuba(scores: Tensor, log_baseline: Tensor) -> Tensor:
    """TUBA lower bound on I(X; Y) with a learned log-baseline ``log a(y)``.

    Objective (Poole et al. 2019, eq. 5):

        I_TUBA = E_p(x,y)[f(x, y)] - E_p(y)[ E_p(x)[exp f(x, y)] / a(y) + log a(y) - 1 ]
               ~ 1 + 1/N sum_i (f_ii - log a(y_i)) - 1/(N(N-1)) sum_{i != j} exp(f_ij - log a(y_j))

    i.e. NWJ (vaekit's ``1 + E_p f - E_q e^f`` form) applied to ``f(x, y) - log a(y)``, so
    ``log a = 0`` gives :func:`vaekit.mi.nwj`. Lower bound for every f and a > 0, tight at
    ``f(x, y) - log a(y) = log r``; the baseline absorbs the y-dependent normaliser and lowers the
    variance. No log N cap. The gradient is the value's (it trains f and the baseline together).

    Shapes:
        scores: ``[N, N]`` with ``scores[i, j] = f(x_i, y_j)``; log_baseline: ``[N]`` with
        entry j = ``log a(y_j)``; returns a scalar (nats).

    Args:
        scores: critic values, joint pairs on the diagonal.
        log_baseline: learned log-baseline at each y of the batch.

    Returns:
        The TUBA estimate.

    References:
        Poole, Ozair, van den Oord, Alemi, Tucker (2019). On variational bounds of mutual information. ICML.

    Example:
        >>> import torch
        >>> tuba(torch.zeros(3, 3), torch.zeros(3)).item()
        0.0
    """
    check_matrix(scores, "tuba")
    check_vector(log_baseline, scores.shape[0], "tuba", "log_baseline")
    shifted = scores - log_baseline[None, :]  # [N, N]: column j holds y_j
    return 1 + shifted.diagonal().mean() - offdiag_mean(shifted.exp())
