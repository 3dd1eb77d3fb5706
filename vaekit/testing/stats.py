"""Statistical checks for stochastic gradient estimators, with a stated family-wise failure rate.

``gradient_samples`` draws iid gradient estimates from a loss; ``assert_unbiased`` z-tests their
mean against an exact gradient, coordinate by coordinate, Bonferroni-corrected over coordinates;
``assert_less_equal_stat`` tests an ordering of two estimated (or exact) quantities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from vaekit.diagnostics import gradient_draws
from vaekit.testing.oracle import exact_gradients

__all__ = [
    "gradient_samples",
    "flat",
    "assert_unbiased",
    "assert_gradient_unbiased",
    "assert_less_equal_stat",
    "StatSummary",
]


def flat(tensors: Sequence[Tensor] | Tensor) -> Tensor:
    """Concatenate tensors into one flat vector (a single tensor is flattened).

    Example:
        >>> flat([torch.ones(2, 2), torch.zeros(1)]).tolist()
        [1.0, 1.0, 1.0, 1.0, 0.0]
    """
    if isinstance(tensors, Tensor):
        return tensors.reshape(-1)
    return torch.cat([t.reshape(-1) for t in tensors])


def gradient_samples(
    loss_fn: Callable[..., Tensor],
    x: Tensor,
    params: Sequence[Tensor],
    n_draws: int,
    *,
    target: Tensor | None = None,
    replicas: int = 1,
) -> Tensor:
    """iid draws of a stochastic gradient: row i is the flattened gradient of one loss evaluation.

    Row i = flat(grad_params loss_fn(x_rep, target_rep)) where ``x_rep`` is ``x`` repeated
    ``replicas`` times along the batch dim: the average of ``replicas`` independent estimator
    calls on the batch ``x``. Each row is therefore an unbiased sample of the gradient of
    E[loss_fn(x)] (the loss of ONE batch ``x``; vaekit losses return the mean over the batch of
    the NEGATIVE objective, so compare with ``-grad objective``), with variance divided by
    ``replicas``. Draws come from :func:`vaekit.diagnostics.gradient_draws`: the loss's buffers
    (running baselines) are restored before every call, so rows are iid at one state.
    ``replicas > 1`` makes the test faster but is only valid for losses whose estimate on a
    batch is the mean of independent per-row estimates (true for ELBO, IWAE, VIMCO; not for
    estimators that normalise over the batch).

    Shapes:
        x: ``[B, *x_shape]``; returns ``[n_draws, P]`` with ``P = sum_p p.numel()``.

    Args:
        loss_fn: a callable ``loss_fn(x)`` or ``loss_fn(x, target=...)`` returning a scalar.
        x: the batch.
        params: tensors to differentiate (unused ones give zero columns).
        n_draws: number of rows.
        target: passed through as ``target=`` (repeated like ``x``) when given.
        replicas: independent estimator calls averaged per row (see above).

    Example:
        >>> from vaekit import VIMCO
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> g = gradient_samples(VIMCO(q, p, n_samples=2), x, list(p.parameters()), 4)
        >>> tuple(g.shape)
        (4, 11)
    """
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"gradient_samples: replicas must be a positive int; got {replicas!r}")
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 1:
        raise ValueError(f"gradient_samples: n_draws must be a positive int; got {n_draws!r}")
    x_rep = x.repeat((replicas,) + (1,) * (x.dim() - 1))  # [R*B, *x_shape]
    t_rep = None if target is None else target.repeat((replicas,) + (1,) * (target.dim() - 1))
    rows = [flat(g) for g in gradient_draws(loss_fn, x_rep, params, n_draws, target=t_rep)]  # each [P]
    return torch.stack(rows)  # [n_draws, P]


@dataclass(frozen=True)
class StatSummary:
    """What a statistical assert computed: the worst standardized deviation and its threshold."""

    name: str
    n: int
    n_coords: int
    max_abs_z: float
    critical_z: float
    failure_rate: float


def _critical_z(failure_rate: float, n_coords: int, two_sided: bool) -> float:
    if not 0 < failure_rate < 1:
        raise ValueError(f"failure_rate must be in (0, 1); got {failure_rate!r}")
    tail = failure_rate / (n_coords * (2 if two_sided else 1))  # Bonferroni over coordinates
    return float(-torch.special.ndtri(torch.tensor(tail, dtype=torch.float64)))


def _mean_se(samples: Tensor) -> tuple[Tensor, Tensor, int]:
    s = samples.detach().to(torch.float64)
    if s.dim() == 1:
        s = s.unsqueeze(-1)  # [N, 1]
    n = s.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 samples to estimate a standard error; got shape {tuple(samples.shape)}")
    return s.mean(0), s.std(0, unbiased=True) / math.sqrt(n), n  # [P], [P]


def _table(rows: list[tuple[int, float, float, float, float]], header: str, labels: tuple[str, str]) -> str:
    lines = [header]
    for i, a, b, se, z in rows:
        lines.append(f"  coord {i}: {labels[0]}={a:.6g} {labels[1]}={b:.6g} se={se:.3g} z={z:.2f}")
    return "\n".join(lines)


def assert_unbiased(
    samples: Tensor,
    exact: Tensor | Sequence[Tensor],
    *,
    failure_rate: float = 1e-3,
    atol: float = 1e-10,
    rtol: float = 1e-7,
    name: str = "",
    show: int = 5,
) -> StatSummary:
    """Assert that the mean of iid ``samples`` equals ``exact``, coordinate-wise, by a z-test.

    Coordinate p fails when |mean_p - exact_p| > c * se_p + atol + rtol * |exact_p|, with
    se_p = std_p / sqrt(N) and c = Phi^-1(1 - failure_rate / (2P)): if the estimator is unbiased
    (and N is large enough for the CLT), the whole check fails with probability at most
    ``failure_rate`` (Bonferroni over the P coordinates). ``atol``/``rtol`` only absorb rounding
    for coordinates whose estimate has (near) zero variance.

    Shapes:
        samples: ``[N, P]`` (or ``[N]``); exact: ``[P]`` or a list of tensors (flattened).

    Returns:
        a :class:`StatSummary`.

    Raises:
        AssertionError listing the worst coordinates (estimate, exact, se, z).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> s = 1.0 + torch.randn(2000, 3, generator=g, dtype=torch.float64)
        >>> assert_unbiased(s, torch.ones(3)).n_coords
        3
    """
    mean, se, n = _mean_se(samples)
    ref = flat(exact).detach().to(torch.float64).reshape(-1)
    if ref.shape != mean.shape:
        raise ValueError(f"assert_unbiased: samples have {mean.numel()} coordinates, exact has {ref.numel()}")
    crit = _critical_z(failure_rate, ref.numel(), two_sided=True)
    dev = (mean - ref).abs()  # [P]
    slack = atol + rtol * ref.abs()  # [P]
    z = (dev - slack).clamp_min(0) / se.clamp_min(1e-300)  # [P]
    failed = (dev > crit * se + slack) | ~torch.isfinite(mean)
    summary = StatSummary(name, n, ref.numel(), float(z.max()), crit, failure_rate)
    if bool(failed.any()):
        order = torch.argsort(z, descending=True)[:show].tolist()
        rows = [(i, float(mean[i]), float(ref[i]), float(se[i]), float(z[i])) for i in order]
        raise AssertionError(
            _table(
                rows,
                f"{name or 'estimator'} looks biased: {int(failed.sum())}/{ref.numel()} coordinates beyond "
                f"z={crit:.2f} (family-wise failure rate {failure_rate:g}, N={n}); worst coordinates:",
                ("estimate", "exact"),
            )
        )
    return summary


def assert_gradient_unbiased(
    loss_fn: Callable[..., Tensor],
    x: Tensor,
    objective: Callable[[], Tensor],
    params: Sequence[Tensor] | None = None,
    *,
    n_draws: int = 500,
    replicas: int = 1,
    failure_rate: float = 1e-3,
    atol: float = 1e-10,
    rtol: float = 1e-7,
    name: str = "",
) -> StatSummary:
    """Assert that a loss's gradient is unbiased for ``-grad mean_b objective()_b``.

    ``objective()`` returns the exact per-example objective ``[B]`` (e.g.
    ``lambda: exact_iwae(q, p, x, K)``), differentiable in ``params``; a vaekit loss is the
    NEGATIVE objective averaged over the batch, hence the sign. Combines :func:`exact_gradients`,
    :func:`gradient_samples` and :func:`assert_unbiased` (see those for the meaning of
    ``replicas`` and of the failure rate).

    Shapes:
        x: ``[B, *x_shape]``; objective(): ``[B]``.

    Args:
        params: tensors to check; default every parameter of ``loss_fn.inf_net`` and ``loss_fn.gen_model``.

    Example:
        >>> from vaekit import IWAE
        >>> from vaekit.testing import tiny_sbn, exact_iwae
        >>> q, p, x = tiny_sbn(seed=2)
        >>> _ = torch.manual_seed(0)
        >>> s = assert_gradient_unbiased(IWAE(q, p, n_samples=2), x, lambda: exact_iwae(q, p, x, 2),
        ...                              n_draws=200, replicas=10)
        >>> s.n, s.n_coords
        (200, 19)
    """
    if params is None:
        module: Any = loss_fn  # a vaekit Loss when params is None (documented)
        params = list(module.inf_net.parameters()) + list(module.gen_model.parameters())
    params = list(params)
    exact = exact_gradients(lambda: -objective().mean(), params)
    samples = gradient_samples(loss_fn, x, params, n_draws, replicas=replicas)
    return assert_unbiased(samples, exact, failure_rate=failure_rate, atol=atol, rtol=rtol, name=name)


def assert_less_equal_stat(
    lhs: Tensor, rhs: Tensor, *, failure_rate: float = 1e-3, atol: float = 1e-10, name: str = ""
) -> StatSummary:
    """Assert E[lhs] <= E[rhs] coordinate-wise, allowing for standard errors (one-sided z-test).

    Each side is either samples ``[N, P]`` (their mean and standard error are used) or exact
    values ``[P]`` / a scalar (standard error 0; pass a 0-d or 1-d tensor). Fails when
    mean(lhs) - mean(rhs) > c * sqrt(se_l^2 + se_r^2) + atol with c = Phi^-1(1 - failure_rate / P).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> s = torch.randn(500, 2, generator=g, dtype=torch.float64)
        >>> assert_less_equal_stat(s, torch.ones(2)).n_coords
        2
    """

    def parts(t: Tensor) -> tuple[Tensor, Tensor, int]:
        if t.dim() <= 1:
            v = t.detach().to(torch.float64).reshape(-1)
            return v, torch.zeros_like(v), 1
        return _mean_se(t)

    ml, sl, nl = parts(lhs)
    mr, sr, nr = parts(rhs)
    ml, mr = torch.broadcast_tensors(ml, mr)
    sl, sr = torch.broadcast_tensors(sl, sr)
    se = (sl.pow(2) + sr.pow(2)).sqrt()  # [P]
    crit = _critical_z(failure_rate, ml.numel(), two_sided=False)
    excess = ml - mr - atol  # [P]
    failed = (excess > crit * se) | ~torch.isfinite(excess)
    z = excess.clamp_min(0) / se.clamp_min(1e-300)
    summary = StatSummary(name, max(nl, nr), ml.numel(), float(z.max()), crit, failure_rate)
    if bool(failed.any()):
        order = torch.argsort(excess, descending=True)[:5].tolist()
        rows = [(i, float(ml[i]), float(mr[i]), float(se[i]), float(z[i])) for i in order]
        raise AssertionError(
            _table(
                rows,
                f"{name or 'ordering'}: lhs > rhs beyond z={crit:.2f} (failure rate {failure_rate:g}); "
                "worst coordinates:",
                ("lhs", "rhs"),
            )
        )
    return summary
