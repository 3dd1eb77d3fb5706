"""NWJ (Nguyen-Wainwright-Jordan, f-divergence / MINE-f) lower bound."""

from __future__ import annotations

from torch import Tensor

from vaekit.mi._scores import check_matrix, offdiag_mean


def nwj(scores: Tensor) -> Tensor:
    """NWJ lower bound on I(X; Y), in the form whose optimal critic is the log density ratio.

    Objective (Nguyen, Wainwright, Jordan 2010; Poole et al. 2019, eq. 6 with f shifted by 1):

        I_NWJ = 1 + E_p(x,y)[f(x, y)] - E_p(x)p(y)[exp f(x, y)]
              ~ 1 + 1/N sum_i f(x_i, y_i) - 1/(N(N-1)) sum_{i != j} exp f(x_i, y_j)

    vaekit uses this form (the ``1 + E_p f - E_q e^f`` form), optimal at f = log r with
    r = p(y|x)/p(y). It equals the paper's ``E_p g - e^-1 E_q e^g`` at g = f + 1. The marginal
    term averages the N(N-1) off-diagonal pairs, so at any fixed critic the estimate is an
    unbiased estimate of the bound, and at f = log r an unbiased estimate of I(X; Y) itself.
    Lower bound; no log N cap, but its variance grows like e^I. The gradient is the value's.

    Shapes:
        scores: ``[N, N]`` with ``scores[i, j] = f(x_i, y_j)``; returns a scalar (nats).

    Args:
        scores: critic values, joint pairs on the diagonal.

    Returns:
        The NWJ estimate.

    References:
        Nguyen, Wainwright, Jordan (2010). Estimating divergence functionals and the likelihood ratio
        by convex risk minimization. IEEE Trans. Inf. Theory.
        Poole, Ozair, van den Oord, Alemi, Tucker (2019). On variational bounds of mutual information. ICML.

    Example:
        >>> import torch
        >>> nwj(torch.zeros(3, 3)).item()
        0.0
    """
    check_matrix(scores, "nwj")
    return 1 + scores.diagonal().mean() - offdiag_mean(scores.exp())
