"""Gradient diagnostics: mean, variance and signal-to-noise ratio of a loss's stochastic gradient.

For a loss and a fixed batch, ``gradient_stats`` draws N independent gradient estimates (each a
fresh call of the loss, from the same starting state) and reports per parameter tensor the
element-wise mean, variance and SNR = |mean| / std. ``compare_estimators`` runs it for several
losses on the same models and batch and returns one table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from vaekit.losses.base import Loss

__all__ = ["GradientStats", "GradientComparison", "gradient_draws", "gradient_stats", "compare_estimators"]


class GradientStats(NamedTuple):
    """Element-wise statistics of one parameter's gradient over N draws (float64, the parameter's shape).

    ``variance`` is the unbiased sample variance; ``snr = |mean| / sqrt(variance)`` (inf where the
    variance is 0 and the mean is not, NaN where both are 0).
    """

    mean: Tensor
    variance: Tensor
    snr: Tensor

    @property
    def total_variance(self) -> float:
        """Sum of the element-wise variances (the trace of the gradient's covariance)."""
        return float(self.variance.sum())

    @property
    def mean_snr(self) -> float:
        """Mean element-wise SNR over elements with a finite SNR (NaN if none)."""
        finite = self.snr[torch.isfinite(self.snr)]
        return float(finite.mean()) if finite.numel() else math.nan


def gradient_draws(
    loss_fn: Callable[..., Tensor], x: Tensor, params: Sequence[Tensor], n_draws: int, *, target: Tensor | None = None
) -> Iterator[list[Tensor]]:
    """Yield ``n_draws`` independent gradients of ``loss_fn`` on the batch ``x``, all at one state.

    Each draw is one fresh call of the loss and one ``torch.autograd.grad`` (``.grad`` fields are
    untouched; unused parameters give zeros). The loss's buffers (running baselines) are restored
    before every draw and once more at the end, so the draws are iid and the loss is left as it
    was. A vaekit ``Loss`` is called through ``estimate`` (minus its batch mean; nothing enters
    ``loss_history_``);
    any other callable as ``loss_fn(x)`` or ``loss_fn(x, target=target)``. Draws run one after
    another: a loss returns the batch mean, whose per-draw gradients one backward cannot separate.

    Shapes:
        x: ``[B, *x_shape]``; each yielded list holds one tensor per parameter, of its shape.

    Example:
        >>> import torch
        >>> from vaekit import VIMCO
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = VIMCO(BernoulliEncoder(4, 2), SigmoidBeliefNet(2, 4), n_samples=3)
        >>> [tuple(g[0].shape) for g in gradient_draws(loss_fn, torch.ones(5, 4), [loss_fn.gen_model.prior_logits], 2)]
        [(2,), (2,)]
    """
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 1:
        raise ValueError(f"gradient_draws: n_draws must be a positive int; got {n_draws!r}")
    params = list(params)
    buffers = dict(loss_fn.named_buffers()) if isinstance(loss_fn, torch.nn.Module) else {}
    saved = {n: b.detach().clone() for n, b in buffers.items()}

    def restore() -> None:
        with torch.no_grad():
            for n, b in buffers.items():
                b.copy_(saved[n])

    try:
        for _ in range(n_draws):
            restore()
            if isinstance(loss_fn, Loss):
                loss = -loss_fn.estimate(x, x if target is None else target).mean()  # [B] -> the loss
            else:
                loss = loss_fn(x) if target is None else loss_fn(x, target=target)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            yield [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    finally:
        restore()


def _select(loss_fn: Loss, params: Sequence[str] | None) -> dict[str, Tensor]:
    named = dict(loss_fn.named_parameters())
    if params is None:
        return {n: p for n, p in named.items() if n.startswith(("inf_net.", "gen_model.")) and p.requires_grad}
    missing = [n for n in params if n not in named]
    if missing:
        raise ValueError(f"gradient_stats: unknown parameter names {missing}; expected names from {sorted(named)}")
    return {n: named[n] for n in params}


def gradient_stats(
    loss_fn: Loss, x: Tensor, *, n_draws: int = 100, target: Tensor | None = None, params: Sequence[str] | None = None
) -> dict[str, GradientStats]:
    """Mean, variance and SNR of ``loss_fn``'s gradient on the batch ``x``, per parameter tensor.

    The N draws come from :func:`gradient_draws` (iid, at one state, the loss left as it was);
    statistics accumulate in float64 with Welford's update, in memory O(P).

    Shapes:
        x: ``[B, *x_shape]``; each returned tensor has its parameter's shape.

    Args:
        loss_fn: a vaekit loss.
        x: the fixed batch.
        n_draws: N >= 2.
        target: optional target passed to the loss (default ``x``).
        params: parameter names as in ``loss_fn.named_parameters()``; default all parameters of
            ``inf_net`` and ``gen_model`` (not those of learned baselines).

    Returns:
        ``{name: GradientStats}``.

    Example:
        >>> import torch
        >>> from vaekit import VIMCO
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = VIMCO(BernoulliEncoder(4, 2), SigmoidBeliefNet(2, 4), n_samples=3)
        >>> stats = gradient_stats(loss_fn, torch.ones(5, 4), n_draws=10)
        >>> sorted(stats)[0], tuple(stats["inf_net.net.weight"].variance.shape)
        ('gen_model.net.bias', (2, 4))
    """
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 2:
        raise ValueError(f"gradient_stats: n_draws must be an int >= 2; got {n_draws!r}")
    chosen = _select(loss_fn, params)
    names, tensors = list(chosen), list(chosen.values())
    mean = [torch.zeros_like(p, dtype=torch.float64) for p in tensors]
    m2 = [torch.zeros_like(p, dtype=torch.float64) for p in tensors]
    for i, grads in enumerate(gradient_draws(loss_fn, x, tensors, n_draws, target=target), start=1):
        for j, g in enumerate(grads):  # Welford's update, in float64
            g = g.detach().to(torch.float64)
            delta = g - mean[j]
            mean[j] += delta / i
            m2[j] += delta * (g - mean[j])
    out = {}
    for n, mu, s2 in zip(names, mean, m2):
        var = s2 / (n_draws - 1)
        std = var.sqrt()
        snr = torch.where(
            std > 0,
            mu.abs() / std.clamp_min(torch.finfo(std.dtype).tiny),
            torch.where(mu != 0, torch.full_like(mu, math.inf), torch.full_like(mu, math.nan)),
        )
        out[n] = GradientStats(mu, var, snr)
    return out


class GradientComparison(list):
    """Rows of :func:`compare_estimators` (a list of dicts) that prints as a table.

    Keys per row: ``estimator``, ``parameter`` (a name, or "inf_net (all)" / "gen_model (all)"),
    ``numel``, ``mean_norm`` (norm of the mean gradient), ``total_variance`` (sum of element-wise
    variances), ``mean_snr`` and ``variance_ratio`` (total_variance of the first estimator
    divided by this one's: > 1 means lower variance than the first).
    """

    def __str__(self) -> str:
        head = (
            f"{'estimator':<16} {'parameter':<28} {'numel':>6} {'|mean|':>10} {'variance':>11} "
            f"{'mean SNR':>9} {'var ratio':>9}"
        )
        lines = [head, "-" * len(head)]
        for r in self:
            lines.append(
                f"{r['estimator']:<16.16} {r['parameter']:<28.28} {r['numel']:>6d} {r['mean_norm']:>10.4g} "
                f"{r['total_variance']:>11.4g} {r['mean_snr']:>9.3g} {r['variance_ratio']:>9.3g}"
            )
        return "\n".join(lines)

    def variance(self, estimator: str, parameter: str) -> float:
        """The total variance of one row."""
        for r in self:
            if r["estimator"] == estimator and r["parameter"] == parameter:
                return r["total_variance"]
        raise KeyError((estimator, parameter))


def compare_estimators(
    losses: Mapping[str, Loss],
    x: Tensor,
    *,
    n_draws: int = 100,
    target: Tensor | None = None,
    params: Sequence[str] | None = None,
) -> GradientComparison:
    """Gradient statistics of several losses on the same batch, in one table.

    Every loss runs :func:`gradient_stats` with the same ``n_draws`` and parameter names (by
    default the parameters of ``inf_net`` and ``gen_model``, so the losses should share their
    models). Rows per parameter tensor and per model ("inf_net (all)", "gen_model (all)").

    Shapes:
        x: ``[B, *x_shape]``.

    Args:
        losses: ``{label: loss}``; the first one is the reference of ``variance_ratio``.
        x, n_draws, target, params: as in :func:`gradient_stats`.

    Returns:
        a :class:`GradientComparison` (list of dict rows; ``print`` it for a table).

    Example:
        >>> import torch
        >>> from vaekit import Reinforce, LeaveOneOut
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> q, p = BernoulliEncoder(4, 2), SigmoidBeliefNet(2, 4)
        >>> table = compare_estimators({"plain": Reinforce(q, p, n_samples=3),
        ...                             "loo": Reinforce(q, p, n_samples=3, baselines=[LeaveOneOut()])},
        ...                            torch.ones(5, 4), n_draws=20)
        >>> len(table), table[0]["estimator"]
        (14, 'plain')
    """
    if not losses:
        raise ValueError("compare_estimators: need at least one loss")
    rows = GradientComparison()
    reference: dict[str, float] = {}
    for label, loss_fn in losses.items():
        stats = gradient_stats(loss_fn, x, n_draws=n_draws, target=target, params=params)
        groups: dict[str, list[GradientStats]] = {}
        entries = []
        for name, s in stats.items():
            entries.append((name, [s]))
            groups.setdefault(name.split(".", 1)[0] + " (all)", []).append(s)
        entries += list(groups.items())
        for name, parts in entries:
            mean = torch.cat([s.mean.reshape(-1) for s in parts])
            var = torch.cat([s.variance.reshape(-1) for s in parts])
            snr = torch.cat([s.snr.reshape(-1) for s in parts])
            finite = snr[torch.isfinite(snr)]
            total = float(var.sum())
            reference.setdefault(name, total)
            rows.append(
                {
                    "estimator": label,
                    "parameter": name,
                    "numel": mean.numel(),
                    "mean_norm": float(mean.norm()),
                    "total_variance": total,
                    "mean_snr": float(finite.mean()) if finite.numel() else math.nan,
                    "variance_ratio": reference[name] / total if total > 0 else math.inf,
                }
            )
    return rows
