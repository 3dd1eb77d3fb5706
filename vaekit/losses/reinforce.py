"""REINFORCE: the score-function ELBO gradient with control variates passed as baseline objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from vaekit._math import detach_if_grad, zero_with_grad
from vaekit.baselines import Baseline, apply_baselines, update_baselines
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet, set_plain_attrs

__all__ = ["Reinforce", "reinforce_estimate"]


def reinforce_estimate(
    log_p: Tensor, log_q: Tensor, baseline: Tensor | None = None, *, scale: Tensor | None = None
) -> Tensor:
    """Per-example ELBO estimate: value = the K-sample ELBO, gradient = REINFORCE with a baseline.

    Objective:   ELBO(x) = E_q[log w],  estimated by (1/K) sum_k l_k,  l_k = log w_k = log p(x, z_k) - log q(z_k|x).
    Gradient:    (1/K) sum_k [ grad log w_k + ((l_k - b_k) / s) grad log q(z_k|x) ],  z_k ~ q with no gradient path.
    With b_k independent of z_k and s = 1 it is unbiased for grad ELBO; the first term gives
    theta its gradient (and phi the zero-mean -grad log q). With s > 1 the score part is the
    unbiased estimate divided by s (NVIL's variance normalisation). With no baseline this is the
    score-function ELBO (the one place vaekit defines it). A sample with log p = -inf makes the
    value -inf and contributes no gradient term (never NaN).

    Shapes:
        log_p, log_q: ``[B, K]``; baseline, scale: broadcastable to ``[B, K]`` (detached here);
        returns ``[B]``.

    Args:
        log_p: log p(x, z_k) of latents drawn with ``sample`` (no gradient path through z).
        log_q: log q(z_k|x) of the same latents.
        baseline: b, None for 0.
        scale: s, None for 1.

    References:
        Williams, "Simple statistical gradient-following algorithms for connectionist
        reinforcement learning", Machine Learning 1992; Mnih & Gregor, ICML 2014 (NVIL).

    Example:
        >>> import torch
        >>> reinforce_estimate(torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 1), -1.0)).tolist()
        [-1.0, -1.0]
    """
    log_w = log_p - log_q  # [B, K]
    lw = log_w.detach()
    signal = _finite_or_zero(lw)  # [B, K]
    impossible = signal != lw  # [B, K]
    if baseline is not None:
        signal = signal - detach_if_grad(baseline)
    if scale is not None:
        signal = signal / detach_if_grad(scale)
    return _reinforce(log_w, log_q, lw, impossible, signal, centred=baseline is not None or scale is not None)


def _finite_or_zero(t: Tensor) -> Tensor:
    """``t`` where finite, 0 elsewhere (one kernel)."""
    return torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)


def _reinforce(
    log_w: Tensor, log_q: Tensor, lw: Tensor, impossible: Tensor, signal: Tensor, *, centred: bool
) -> Tensor:
    """The body of :func:`reinforce_estimate`: ``log_w`` ``[B, K]``, its detached copy ``lw``, the mask
    ``impossible`` (log w not finite) and the learning signal (``_finite_or_zero(lw)``, minus a baseline
    and divided by a scale if ``centred``).

    One expression carries value and gradient: mean_k [log w_k + l_k * zero_with_grad(log q_k)],
    whose value is the K-sample ELBO (the score term is exactly 0 in value) and whose gradient is
    the estimator's. An impossible latent (log w = -inf) keeps its value (the mean is -inf) but
    passes no gradient (``where``) and has a zero learning signal, so nothing is NaN.
    """
    if centred:  # the raw signal is 0 there already; a centred one is not
        signal = signal.masked_fill(impossible, 0.0)  # [B, K]
    log_w = torch.where(impossible, lw, log_w)  # [B, K]: the value everywhere, a gradient where possible
    return torch.addcmul(log_w, signal, zero_with_grad(log_q)).mean(dim=-1)  # [B]


class Reinforce(Loss):
    """Negative ELBO with the score-function (REINFORCE) gradient and composable baselines.

    Objective and gradient: see :func:`reinforce_estimate`. ``loss = -mean_b ELBO_K(x_b)``.
    The learning signal l_k = log w_k (detached) passes through ``baselines`` in order (see
    :class:`~vaekit.baselines.Baseline`); learned baselines add their squared-error fit to the
    gradient (never to the value) and running baselines update after the estimate is built, only
    when the loss is training with gradients on (not in ``eval()`` mode nor under ``no_grad``).
    ``baseline_loss_`` holds the last fit penalty (detached), None without a learned baseline.
    Latents are drawn with ``sample``, so any InfNet works, discrete ones included. With no
    baseline this is the score-function ELBO. NVIL is ``baselines=nvil_baselines(net)``; variance
    normalisation is the ``VarianceNormalization()`` baseline object.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z).
        n_samples: K >= 1 (>= 2 with a ``LeaveOneOut`` baseline; ValueError otherwise).
        baselines: a sequence of ``Baseline`` objects, applied in order; they become submodules.
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Williams 1992; Mnih & Gregor, ICML 2014 (NVIL); Kool, van Hoof & Welling 2019 (leave-one-out).

    Example:
        >>> import torch
        >>> from vaekit.baselines import LeaveOneOut, MovingAverage, VarianceNormalization
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> loss_fn = Reinforce(BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6), n_samples=4,
        ...                     baselines=[MovingAverage(), LeaveOneOut(), VarianceNormalization()])
        >>> loss = loss_fn(torch.bernoulli(torch.full((8, 6), 0.5)))
        >>> loss.backward(); int(loss_fn.baselines[0].n_updates)
        1
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 1,
        baselines: Sequence[Baseline] = (),
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        if isinstance(baselines, (str, Baseline)) or not isinstance(baselines, Sequence):
            raise TypeError(
                "Reinforce: baselines must be a list of vaekit.baselines.Baseline objects; got "
                f"{type(baselines).__name__}"
            )
        stages = list(baselines)
        for i, b in enumerate(stages):
            if not isinstance(b, Baseline):
                raise TypeError(
                    f"Reinforce: baselines[{i}] must be a vaekit.baselines.Baseline; got {type(b).__name__}"
                )
            if n_samples < b.min_samples:
                raise ValueError(
                    f"Reinforce: {type(b).__name__} needs n_samples >= {b.min_samples}; got n_samples={n_samples}"
                )
        dtype = next((w.dtype for w in inf_net.parameters() if w.is_floating_point()), None)
        # Baseline state follows the models' dtype (a float32 running mean of float64 log-weights
        # would round them); it also follows later through follow_dtype and loss_fn.to(...).
        self.baselines = nn.ModuleList([b.to(dtype) for b in stages] if dtype is not None else stages)
        self.baseline_loss_: Tensor | None = None

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        _, log_p, log_q = self.draw(x, target, reparam=False)
        if len(self.baselines) == 0:
            return reinforce_estimate(log_p, log_q)
        log_w = log_p - log_q  # [B, K]
        lw = log_w.detach()
        # Baselines see 0 for an impossible sample (log w = -inf), so no running state turns -inf.
        signal = _finite_or_zero(lw)  # [B, K]
        stages = cast(Sequence[Baseline], self.baselines)  # a ModuleList of Baseline objects
        centred = apply_baselines(stages, signal, x)  # its signal: (raw - shift) / scale
        bound = _reinforce(log_w, log_q, lw, signal != lw, centred.signal, centred=True)  # [B]
        if self.training and torch.is_grad_enabled():
            update_baselines(stages, centred.seen)  # after use: the estimate above stays unbiased
        if centred.fit_loss is None:
            return bound
        set_plain_attrs(self, baseline_loss_=centred.fit_loss.detach())
        # The fit penalty reaches only the baseline's parameters (the signal is detached); the
        # loss is minus the batch mean, so it enters with a minus sign, as a term of value 0
        # (added, not folded into with_grad, so a bound of -inf stays -inf rather than NaN).
        return bound - zero_with_grad(centred.fit_loss)

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}"
