"""DoE: the difference-of-entropies estimate."""

from __future__ import annotations

from torch import Tensor

from vaekit._math import with_grad
from vaekit.mi._scores import check_matrix, check_vector


def doe(log_q: Tensor, log_q_marginal: Tensor) -> Tensor:
    """Difference-of-entropies (DoE) estimate of I(X; Y) (McAllester and Stratos 2020).

    Value: two cross-entropy upper bounds on entropies, subtracted,

        I_DoE = H_q(Y) - H_q(Y|X) ~ 1/N sum_i [ log q(y_i | x_i) - log q(y_i) ]

    with a conditional model q(y|x) and a marginal model q(y). Each cross-entropy is an upper
    bound on its entropy, so their difference is neither a lower nor an upper bound; it is
    not capped by log N (the paper's motivation). Gradient: maximum likelihood for both models,
    ``grad [ mean log q(y_i|x_i) + mean log q(y_i) ]``. Only the diagonal of ``log_q`` is used.

    Shapes:
        log_q: ``[N, N]`` with ``log_q[i, j] = log q(y_i | x_j)``; log_q_marginal: ``[N]`` with
        entry i = ``log q(y_i)``; returns a scalar (nats).

    Args:
        log_q: conditional log-densities, joint pairs on the diagonal.
        log_q_marginal: the marginal model's log-density at each y of the batch.

    Returns:
        The DoE estimate carrying the maximum-likelihood gradient of both models.

    References:
        McAllester, Stratos (2020). Formal limitations on the measurement of mutual information. AISTATS.

    Example:
        >>> import torch
        >>> doe(torch.zeros(2, 2), torch.full((2,), -1.0)).item()
        1.0
    """
    check_matrix(log_q, "doe", "log_q")
    check_vector(log_q_marginal, log_q.shape[0], "doe", "log_q_marginal")
    cond, marg = log_q.diagonal().mean(), log_q_marginal.mean()
    return with_grad(cond - marg, cond + marg)
