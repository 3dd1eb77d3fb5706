"""Numerical building blocks shared by every estimator.

Imports torch only. Every function works on the last dimension (the K samples) unless told
otherwise and keeps the input's device and dtype.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "logmeanexp",
    "loo_logsumexp",
    "loo_mean",
    "with_grad",
    "zero_with_grad",
    "detach_if_grad",
    "self_normalized_weights",
    "weighted_sum",
    "dreg_path_term",
    "DENSE_LOO_MAX_K",
]

#: Up to this K the leave-one-out reductions build the dense ``[..., K, K]`` form (a few large
#: kernels); above it, the O(K) prefix/suffix form (less memory, more small kernels). Both are exact,
#: ``-inf`` entries included.
DENSE_LOO_MAX_K = 16


def logmeanexp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """``log(mean(exp(x)))`` along ``dim``, computed stably.

    Shapes:
        x: ``[..., K, ...]``; returns ``x`` with ``dim`` reduced (kept with size 1 if ``keepdim``).

    Example:
        >>> import torch
        >>> logmeanexp(torch.zeros(2, 5)).tolist()
        [0.0, 0.0]
    """
    return torch.logsumexp(x, dim=dim, keepdim=keepdim) - math.log(x.shape[dim])


def loo_logsumexp(x: Tensor) -> Tensor:
    """Leave-one-out log-sum-exp: entry j is ``log(sum_{i != j} exp(x_i))`` over the last dim.

    Up to ``DENSE_LOO_MAX_K`` it reduces the dense ``[..., K, K]`` matrix whose row j masks entry j;
    above, it is computed in O(K) time and memory from an exclusive prefix and an exclusive suffix
    ``logcumsumexp``. Unlike ``log(sum_i exp(x_i) - exp(x_j))`` this never subtracts, so it stays
    exact when ``x_j`` dominates the sum (the subtraction would cancel catastrophically).
    Values allow ``-inf`` entries; gradients are defined for finite inputs (``logcumsumexp``'s
    backward gives NaN at ``-inf``), which is all VIMCO needs: it uses detached log-weights.

    Shapes:
        x: ``[..., K]`` with ``K >= 2``; returns ``[..., K]``.

    Example:
        >>> import torch
        >>> loo_logsumexp(torch.log(torch.tensor([1.0, 2.0, 3.0]))).exp().tolist()
        [5.0, 4.0, 3.0]
    """
    k = x.shape[-1]
    if k < 2:
        raise ValueError(f"loo_logsumexp needs at least 2 entries on the last dim; got shape {tuple(x.shape)}")
    if k <= DENSE_LOO_MAX_K:
        # Row j holds x with entry j replaced by -inf: exact, and nothing is subtracted.
        rows = x.unsqueeze(-2).masked_fill(_eye(k, x.device), -math.inf)  # [..., K, K]
        return torch.logsumexp(rows, dim=-1)  # [..., K]
    pad = torch.full_like(x[..., :1], -math.inf)  # [..., 1]; a constant, so no gradient flows into it
    prefix = torch.cat([pad, torch.logcumsumexp(x, dim=-1)[..., :-1]], dim=-1)  # [..., K]: sum_{i<j}
    suffix = torch.cat([torch.logcumsumexp(x.flip(-1), dim=-1).flip(-1)[..., 1:], pad], dim=-1)  # [..., K]
    # At most one of prefix/suffix is -inf per entry because K >= 2, so logaddexp has a finite
    # output and its gradient exp(-inf - finite) = 0 is well defined.
    return torch.logaddexp(prefix, suffix)  # [..., K]


def loo_mean(x: Tensor) -> Tensor:
    """Leave-one-out mean: entry j is the mean of the other ``K - 1`` entries of the last dim.

    Up to ``DENSE_LOO_MAX_K`` it sums the dense ``[..., K, K]`` matrix whose row j masks entry j;
    above, it is built from exclusive prefix and suffix sums. Either way, never ``(sum - x_j) / (K - 1)``: the
    subtraction would give NaN when ``x_j = -inf`` (a log-weight of an impossible sample, whose
    leave-one-out mean over the others is finite) and would cancel catastrophically when
    ``x_j`` dominates the sum.

    Shapes:
        x: ``[..., K]`` with ``K >= 2``; returns ``[..., K]``.

    Example:
        >>> import torch
        >>> loo_mean(torch.tensor([1.0, 2.0, 3.0])).tolist()
        [2.5, 2.0, 1.5]
    """
    k = x.shape[-1]
    if k < 2:
        raise ValueError(f"loo_mean needs at least 2 entries on the last dim; got shape {tuple(x.shape)}")
    if k <= DENSE_LOO_MAX_K:
        rows = x.unsqueeze(-2).masked_fill(_eye(k, x.device), 0.0)  # [..., K, K]: row j without entry j
        return rows.sum(dim=-1) / (k - 1)  # [..., K]
    zero = torch.zeros_like(x[..., :1])  # [..., 1]
    prefix = torch.cat([zero, torch.cumsum(x, dim=-1)[..., :-1]], dim=-1)  # [..., K]: sum_{i<j}
    suffix = torch.cat([torch.cumsum(x.flip(-1), dim=-1).flip(-1)[..., 1:], zero], dim=-1)  # [..., K]: sum_{i>j}
    return (prefix + suffix) / (k - 1)  # [..., K]


def detach_if_grad(t: Tensor) -> Tensor:
    """``t.detach()`` when ``t`` carries a gradient, else ``t`` itself (a detach is a dispatch of its own).

    Example:
        >>> x = torch.ones(2)
        >>> detach_if_grad(x) is x, detach_if_grad(x.requires_grad_()).requires_grad
        (True, False)
    """
    return t.detach() if t.requires_grad else t


def self_normalized_weights(log_w: Tensor) -> Tensor:
    """Normalised importance weights ``w_j / sum_i w_i`` over the last dim, detached.

    Shapes:
        log_w: ``[..., K]``; returns ``[..., K]`` summing to 1 on the last dim.
    """
    return torch.softmax(detach_if_grad(log_w), dim=-1)


def with_grad(value: Tensor, surrogate: Tensor) -> Tensor:
    """A tensor whose value is ``value`` and whose gradient is that of ``surrogate``.

    ``value.detach() + (surrogate - surrogate.detach())``: the second term is exactly zero in the
    forward pass and carries the surrogate's gradient in the backward pass. Every loss in vaekit
    uses this one helper so that its value is the bound and its gradient is the estimator's.

    Shapes:
        value, surrogate: broadcastable; returns their broadcast shape.

    Example:
        >>> import torch
        >>> t = torch.tensor(2.0, requires_grad=True)
        >>> y = with_grad(torch.tensor(7.0), 3 * t)
        >>> y.backward(); (y.item(), t.grad.item())
        (7.0, 3.0)
    """
    return detach_if_grad(value) + zero_with_grad(surrogate)


def zero_with_grad(surrogate: Tensor) -> Tensor:
    """``surrogate - surrogate.detach()``: exactly zero in value, the gradient of ``surrogate``.

    The gradient half of :func:`with_grad`. An estimator whose value already sits in a tensor on
    the gradient path adds it to that tensor instead (one kernel fewer than a separate value and
    surrogate): e.g. REINFORCE's ``log w + l * zero_with_grad(log q)`` has the value ``log w`` and
    the gradient ``grad log w + l grad log q``. Entries must be finite (``inf - inf`` is NaN).

    Shapes:
        surrogate: any; returns the same shape, all zeros.

    Example:
        >>> import torch
        >>> t = torch.tensor(2.0, requires_grad=True)
        >>> y = 5.0 + zero_with_grad(t * t)
        >>> y.backward(); (y.item(), t.grad.item())
        (5.0, 4.0)
    """
    return surrogate - surrogate.detach()


def weighted_sum(weights: Tensor, values: Tensor) -> Tensor:
    """``sum_k weights_k * values_k`` over the last dim, reading ``0 * (-inf)`` as 0.

    A self-normalised weight is exactly 0 where a log-weight is ``-inf`` (an impossible latent),
    and its value there may be ``-inf`` too; the product would be NaN. Masked (``masked_fill``
    where the weight is 0), the entry contributes 0 to the value and no gradient.

    Shapes:
        weights, values: ``[..., K]``; returns ``[...]``.

    Example:
        >>> import torch
        >>> weighted_sum(torch.tensor([1.0, 0.0]), torch.tensor([2.0, -float("inf")])).item()
        2.0
    """
    return (weights * values.masked_fill(weights == 0, 0.0)).sum(dim=-1)


def dreg_path_term(coef: Tensor, log_p: Tensor, log_p_fixed_z: Tensor, log_q_stopped: Tensor) -> Tensor:
    """DReG's reparameterised phi-term: ``sum_k coef_k * (log p_k - log p_fixed_k - log q_stopped_k)``.

    ``log p_k - log p_fixed_k`` is 0 in value and in theta (the same log p at z and at detached z),
    so the phi-gradient of each entry runs along the reparameterised z only:
    ``(d log w_k / d z_k)(d z_k / d phi)`` with q's parameters held fixed. DReG's IWAE gradient
    uses ``coef = wt^2`` and RWS's DReG wake-phi ``coef = wt - wt^2`` (Tucker et al. 2018),
    ``wt`` the detached self-normalised weights. Entries with ``coef = 0`` are masked.

    Shapes:
        coef, log_p, log_p_fixed_z, log_q_stopped: ``[..., K]``; returns ``[...]``.

    References:
        Tucker, Lawson, Gu & Maddison, "Doubly Reparameterized Gradient Estimators for Monte Carlo
        Objectives", ICLR 2019 (arXiv 2018), eqs. (6)-(7).

    Example:
        >>> import torch
        >>> dreg_path_term(torch.ones(1, 2), torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2)).tolist()
        [-2.0]
    """
    return weighted_sum(coef.detach(), log_p - log_p_fixed_z - log_q_stopped)


_EYES: dict[tuple[int, torch.device], Tensor] = {}


def _eye(k: int, device: torch.device) -> Tensor:
    """The boolean ``[K, K]`` identity, built once per (K, device) in eager mode (a constant under torch.compile)."""
    if torch.compiler.is_compiling() or torch.is_inference_mode_enabled():
        return torch.eye(k, dtype=torch.bool, device=device)  # [K, K]
    eye = _EYES.get((k, device))
    if eye is None:
        eye = _EYES[(k, device)] = torch.eye(k, dtype=torch.bool, device=device)
    return eye
