"""Barber-Agakov variational lower bound."""

from __future__ import annotations

from torch import Tensor

from vaekit._math import with_grad
from vaekit.mi._scores import check_matrix


def ba(log_q: Tensor, entropy_y: float | Tensor) -> Tensor:
    """Barber-Agakov (BA) lower bound on I(X; Y) from a variational conditional q(y|x).

    Objective (Barber and Agakov 2003; Poole et al. 2019, eq. 2):

        I_BA = H(Y) + E_p(x,y)[log q(y|x)] ~ H(Y) + 1/N sum_i log q(y_i | x_i)

    Lower bound for every q (the gap is E_p(x) KL(p(y|x) || q(y|x))); needs the marginal
    entropy H(Y) in closed form, which is why it is rarely usable on data. Only the diagonal of
    ``log_q`` is used. Training maximises the log-likelihood, the value's gradient.

    Shapes:
        log_q: ``[N, N]`` with ``log_q[i, j] = log q(y_i | x_j)``; returns a scalar (nats).

    Args:
        log_q: conditional log-densities, joint pairs on the diagonal.
        entropy_y: differential entropy H(Y) in nats.

    Returns:
        The BA estimate.

    References:
        Barber, Agakov (2003). The IM algorithm: a variational approach to information maximization. NeurIPS.

    Example:
        >>> import torch
        >>> ba(torch.full((2, 2), -1.0), 1.5).item()
        0.5
    """
    check_matrix(log_q, "ba", "log_q")
    loglik = log_q.diagonal().mean()
    return with_grad(loglik + entropy_y, loglik)
