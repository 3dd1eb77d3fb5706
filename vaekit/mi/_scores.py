"""Checks and off-diagonal reductions shared by the MI bounds (private to vaekit.mi).

Convention, stated once for the package: ``scores[i, j] = f(x_i, y_j)`` for a batch of N pairs
``(x_i, y_i)`` drawn from p(x, y). The diagonal holds the N joint pairs; the N(N-1) entries off
the diagonal pair x_i with a y_j drawn independently of it, so they are samples of p(x)p(y).
Generative bounds use ``log_q[i, j] = log q(y_i | x_j)``, the same layout transposed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_matrix(scores: object, name: str, what: str = "scores") -> Tensor:
    """Validate an ``[N, N]`` matrix of scores: a floating tensor, square, N >= 2, finite."""
    if not isinstance(scores, Tensor):
        raise TypeError(f"{name} expects {what} as a torch.Tensor of shape [N, N]; got {type(scores).__name__}")
    if not scores.is_floating_point():
        raise TypeError(f"{name} expects a floating-point {what} tensor; got dtype {scores.dtype}")
    if scores.dim() != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"{name} expects a square {what} matrix of shape [N, N]; got shape {tuple(scores.shape)}")
    if scores.shape[0] < 2:
        raise ValueError(f"{name} needs N >= 2 pairs (one joint pair and at least one marginal pair); got N = 1")
    if not bool(torch.isfinite(scores).all()):
        bad = int((~torch.isfinite(scores)).sum())
        raise ValueError(f"{name} expects finite {what}; got {bad} non-finite entries (NaN or inf)")
    return scores


def check_vector(v: object, n: int, name: str, what: str) -> Tensor:
    """Validate a per-pair vector of length N (a baseline or a second critic's output)."""
    if not isinstance(v, Tensor):
        raise TypeError(f"{name} expects {what} as a torch.Tensor of shape [{n}]; got {type(v).__name__}")
    if v.shape != (n,):
        raise ValueError(f"{name} expects {what} of shape [{n}] (one entry per pair); got shape {tuple(v.shape)}")
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} expects finite {what}; got non-finite entries")
    return v


def off_diagonal(n: int, device: torch.device) -> Tensor:
    """Boolean mask of the N(N-1) marginal entries."""
    return ~torch.eye(n, dtype=torch.bool, device=device)  # [N, N]


def offdiag_mean(t: Tensor) -> Tensor:
    """Mean of the N(N-1) off-diagonal entries of an ``[N, N]`` matrix."""
    n = t.shape[0]
    return torch.where(off_diagonal(n, t.device), t, torch.zeros((), dtype=t.dtype, device=t.device)).sum() / (
        n * (n - 1)
    )


def offdiag_logmeanexp(t: Tensor, dim: int | None = None) -> Tensor:
    """``log mean exp`` over the off-diagonal entries: all of them (``dim=None``) or per row/column."""
    n = t.shape[0]
    # -inf on the diagonal removes the joint pairs from the log-sum-exp exactly; every row keeps
    # N - 1 >= 1 finite entries, so the result and its gradient stay finite.
    masked = torch.where(off_diagonal(n, t.device), t, torch.full((), -math.inf, dtype=t.dtype, device=t.device))
    if dim is None:
        return torch.logsumexp(masked.reshape(-1), dim=0) - math.log(n * (n - 1))
    return torch.logsumexp(masked, dim=dim) - math.log(n - 1)  # [N]
