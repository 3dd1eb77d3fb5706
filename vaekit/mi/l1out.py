"""L1Out: the leave-one-out upper bound."""

from __future__ import annotations

from torch import Tensor

from vaekit._math import with_grad
from vaekit.mi._scores import check_matrix, offdiag_logmeanexp


def l1out(log_q: Tensor) -> Tensor:
    """Leave-one-out (L1Out) upper bound on I(X; Y) (Poole et al. 2019; Cheng et al. 2020).

    Value, the marginal p(y_i) replaced by the mixture of the other N - 1 conditionals:

        I_L1Out = 1/N sum_i [ log q(y_i|x_i) - log( 1/(N-1) sum_{j != i} q(y_i|x_j) ) ]

    With q = p(y|x) it is an upper bound in expectation (Poole et al. 2019, eq. 13: the mixture
    of N - 1 conditionals at independent x_j underestimates log p(y_i) on average, by Jensen);
    with a learned q it is an upper bound only when q is close to p. Lower variance than CLUB but
    its value can diverge when some q(y_i|x_j) collapse. Gradient: the log-likelihood of the
    joint pairs ``grad mean_i log q(y_i|x_i)``, which trains q.

    Shapes:
        log_q: ``[N, N]`` with ``log_q[i, j] = log q(y_i | x_j)``; returns a scalar (nats).

    Args:
        log_q: conditional log-densities, joint pairs on the diagonal.

    Returns:
        The L1Out estimate carrying q's maximum-likelihood gradient.

    References:
        Poole, Ozair, van den Oord, Alemi, Tucker (2019). On variational bounds of mutual information. ICML.
        Cheng, Hao, Dai, Liu, Gan, Carin (2020). CLUB: a contrastive log-ratio upper bound of mutual
        information. ICML.

    Example:
        >>> import torch
        >>> l1out(torch.tensor([[0.0, -2.0], [-2.0, 0.0]])).item()
        2.0
    """
    check_matrix(log_q, "l1out", "log_q")
    loglik = log_q.diagonal().mean()
    return with_grad(loglik - offdiag_logmeanexp(log_q, dim=1).mean(), loglik)
