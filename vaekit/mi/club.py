"""CLUB: the contrastive log-ratio upper bound."""

from __future__ import annotations

from torch import Tensor

from vaekit._math import with_grad
from vaekit.mi._scores import check_matrix, offdiag_mean


def club(log_q: Tensor) -> Tensor:
    """CLUB upper bound on I(X; Y) from a variational conditional q(y|x) (Cheng et al. 2020).

    Value:

        I_CLUB = E_p(x,y)[log q(y|x)] - E_p(x)E_p(y)[log q(y|x)]
               ~ 1/N sum_i log q(y_i|x_i) - 1/(N(N-1)) sum_{i != j} log q(y_i|x_j)

    With q = p(y|x) it is an upper bound: I_CLUB - I = E_p(y)[ log E_p(x) p(y|x) - E_p(x) log p(y|x) ]
    >= 0 by Jensen. It stays one when KL(p(x,y) || q(y|x)p(x)) <= KL(p(x)p(y) || q(y|x)p(x)); with a
    poor q it can fall below I. The marginal term averages the off-diagonal pairs only, so the
    estimate is unbiased for the population bound. Gradient: the log-likelihood of the joint
    pairs ``grad mean_i log q(y_i|x_i)``, which trains q (the paper's alternating scheme); to
    minimise MI through an encoder, hold q fixed and differentiate the value instead.

    Shapes:
        log_q: ``[N, N]`` with ``log_q[i, j] = log q(y_i | x_j)``; returns a scalar (nats).

    Args:
        log_q: conditional log-densities, joint pairs on the diagonal.

    Returns:
        The CLUB estimate carrying q's maximum-likelihood gradient.

    References:
        Cheng, Hao, Dai, Liu, Gan, Carin (2020). CLUB: a contrastive log-ratio upper bound of mutual
        information. ICML.

    Example:
        >>> import torch
        >>> club(torch.tensor([[0.0, -2.0], [-2.0, 0.0]])).item()
        2.0
    """
    check_matrix(log_q, "club", "log_q")
    loglik = log_q.diagonal().mean()
    return with_grad(loglik - offdiag_mean(log_q), loglik)
