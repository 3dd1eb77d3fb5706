"""NVIL with per-layer (local) learning signals and per-layer baselines (Mnih & Gregor 2014)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vaekit._math import with_grad, zero_with_grad
from vaekit.baselines.base import ema_update_, follow_dtype
from vaekit.losses.base import Loss
from vaekit.models import GenModel, InfNet

__all__ = ["NVIL", "nvil_estimate"]


def _reverse_cumsum(t: Tensor) -> Tensor:
    return t.flip(-1).cumsum(-1).flip(-1)


def nvil_estimate(
    log_p_layers: Tensor, log_q_layers: Tensor, baseline: Tensor | None = None, *, scale: Tensor | None = None
) -> Tensor:
    """Per-example ELBO estimate with NVIL's per-layer score-function gradient.

    Objective:   ELBO(x) = E_q[log w],  estimated by (1/K) sum_k log w_k.
    Signals:     layer i of q gets l_i = sum_{j >= i-1} log p(h^j | h^{j+1}) - sum_{j >= i} log q(h^j | h^{j-1})
                 (h^0 = x): the terms of log w that depend on h^i or are downstream of it in q; the
                 dropped terms depend on h^{<i} only, so E[(dropped) grad log q(h^i|h^{i-1})] = 0.
    Gradient:    (1/K) sum_k [ grad log w_k + sum_i ((l_ik - b_ik) / s_i) grad log q(h^i_k | h^{i-1}_k) ]:
                 unbiased for grad ELBO when b_i does not depend on h^i (and s_i = 1).

    Shapes:
        log_p_layers: ``[B, K, L + 1]`` (entry 0 log p(x|h^1), entry i log p(h^i|h^{i+1}), entry L the top prior);
        log_q_layers: ``[B, K, L]``; baseline, scale: broadcastable to ``[B, K, L]``; returns ``[B]``.

    References:
        Mnih & Gregor, "Neural Variational Inference and Learning in Belief Networks", ICML 2014, sec. 3.

    Example:
        >>> import torch
        >>> nvil_estimate(torch.zeros(2, 3, 3), torch.ones(2, 3, 2)).tolist()
        [-2.0, -2.0]
    """
    n_layers = log_q_layers.shape[-1]
    if log_p_layers.shape[:-1] != log_q_layers.shape[:-1] or log_p_layers.shape[-1] != n_layers + 1:
        raise ValueError(
            f"nvil_estimate: expected log_p_layers [B, K, L + 1] and log_q_layers [B, K, L]; got "
            f"{tuple(log_p_layers.shape)} and {tuple(log_q_layers.shape)}"
        )
    log_w = log_p_layers.sum(-1) - log_q_layers.sum(-1)  # [B, K]
    bound = log_w.mean(dim=-1)  # [B]
    # An impossible sample (log p = -inf) makes the bound -inf and adds no term to the surrogate,
    # whose value must stay finite (with_grad subtracts it from itself), as in reinforce_estimate.
    possible = torch.isfinite(log_w)  # [B, K]
    signal = (_reverse_cumsum(log_p_layers)[..., :n_layers] - _reverse_cumsum(log_q_layers)).detach()  # [B, K, L]
    signal = torch.where(possible.unsqueeze(-1), signal, torch.zeros_like(signal))
    if baseline is not None:
        signal = signal - baseline.detach()
    if scale is not None:
        signal = signal / scale.detach()
    score = torch.where(possible.unsqueeze(-1), signal * log_q_layers, torch.zeros_like(signal)).sum(-1)  # [B, K]
    surrogate = (torch.where(possible, log_w, torch.zeros_like(log_w)) + score).mean(dim=-1)  # [B]
    return with_grad(bound, surrogate)


class NVIL(Loss):
    """Negative ELBO with NVIL's gradient: per-layer learning signals, each with its own baselines.

    Objective and gradient: see :func:`nvil_estimate`. Each layer i of q has its own control
    variates, as in NVIL: a running mean C_i, an optional learned C_i(h^{i-1}) (a network of the
    layer below, x for the first layer, fitted by least squares to l_i - C_i; its fit penalty
    enters the gradient, not the value), and variance normalisation by max(1, sqrt(v_i)). Running
    state (in the models' dtype) is updated after use, only when training with gradients on (not in
    ``eval()`` mode nor under ``no_grad``). Needs the models' per-layer log-densities (``log_prob_layers`` of
    the layered models in ``vaekit.latents.layered``); a model without them is one layer, and NVIL
    on it equals ``Reinforce(baselines=nvil_baselines(net))``.

    Shapes:
        x: ``[B, *x_shape]``; returns a scalar. ``log_p_``, ``log_q_``: ``[B, K]``.

    Args:
        inf_net: q(z|x), layered (``log_prob_layers``, ``layer_sizes``) or one-layer.
        gen_model: p(x, z) with ``log_prob_layers(x, z)`` when q is layered.
        n_samples: K >= 1 (each sample has its own signal, averaged as in ``Reinforce``).
        baseline_nets: None, or one module per layer of q mapping h^{i-1} (x for i = 1) to one number:
            ``net(x)`` ``[B]``/``[B, 1]``, ``net(h)`` ``[B, K, 1]`` above.
        decay: decay of the running mean and variance, in [0, 1).
        variance_normalization: divide each layer's centred signal by max(1, sqrt(running variance)).
        check_finite, sync_every: see :class:`~vaekit.losses.base.Loss`.

    References:
        Mnih & Gregor, "Neural Variational Inference and Learning in Belief Networks", ICML 2014.

    Example:
        >>> import torch
        >>> from vaekit.latents import LayeredBernoulliEncoder, LayeredSigmoidBeliefNet
        >>> q, p = LayeredBernoulliEncoder(6, (3, 2)), LayeredSigmoidBeliefNet((3, 2), 6)
        >>> nets = [torch.nn.Linear(6, 1), torch.nn.Linear(3, 1)]
        >>> loss_fn = NVIL(q, p, n_samples=2, baseline_nets=nets)
        >>> loss_fn(torch.bernoulli(torch.full((4, 6), 0.5))).backward()
    """

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 1,
        baseline_nets: Sequence[nn.Module] | None = None,
        decay: float = 0.9,
        variance_normalization: bool = True,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__(inf_net, gen_model, n_samples=n_samples, check_finite=check_finite, sync_every=sync_every)
        sizes = getattr(inf_net, "layer_sizes", None)
        self.layered = sizes is not None
        if self.layered and not callable(getattr(gen_model, "log_prob_layers", None)):
            raise ValueError(
                f"NVIL: {type(inf_net).__name__} is layered but {type(gen_model).__name__} has no log_prob_layers(x, z)"
            )
        if sizes is not None and tuple(getattr(gen_model, "layer_sizes", ())) != tuple(sizes):
            raise ValueError(
                f"NVIL: layer sizes do not chain: q has {tuple(sizes)}, p has {getattr(gen_model, 'layer_sizes', None)}"
            )
        n_layers = len(sizes) if sizes is not None else 1
        self.layer_sizes: tuple[int, ...] | None = tuple(sizes) if sizes is not None else None
        if baseline_nets is not None:
            nets = list(baseline_nets)
            if len(nets) != n_layers or not all(isinstance(m, nn.Module) for m in nets):
                raise ValueError(
                    f"NVIL: baseline_nets must be {n_layers} nn.Modules (one per layer of q); got {nets!r:.80}"
                )
            self.baseline_nets: nn.ModuleList | None = nn.ModuleList(nets)
        else:
            self.baseline_nets = None
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"NVIL: decay must be in [0, 1); got {decay!r}")
        self.decay = float(decay)
        self.variance_normalization = bool(variance_normalization)
        self.mean: Tensor
        self.variance: Tensor
        self.n_updates: Tensor
        # Running state in the models' dtype (it follows later through follow_dtype and loss_fn.to(...)).
        dtype = next((w.dtype for w in inf_net.parameters() if w.is_floating_point()), torch.get_default_dtype())
        self.register_buffer("mean", torch.zeros(n_layers, dtype=dtype))
        self.register_buffer("variance", torch.zeros(n_layers, dtype=dtype))
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))
        self.baseline_loss_: Tensor | None = None

    def _learned(self, x: Tensor, z: Tensor) -> Tensor:
        """C_i(h^{i-1}) for every layer: ``[B, K or 1, L]``."""
        if self.baseline_nets is None:
            raise RuntimeError("NVIL: no baseline_nets")
        inputs = [x] + (list(z.split(list(self.layer_sizes), dim=-1))[:-1] if self.layer_sizes else [])
        outs = []
        for i, (net, h) in enumerate(zip(self.baseline_nets, inputs)):
            c = net(h)
            if i == 0:
                if c.shape not in ((x.shape[0],), (x.shape[0], 1)):
                    raise ValueError(f"NVIL: baseline_nets[0](x) returned {tuple(c.shape)}; expected [B] or [B, 1]")
                c = c.reshape(x.shape[0], 1, 1).expand(*z.shape[:2], 1)  # [B, K, 1]
            elif c.shape != (*z.shape[:2], 1):
                raise ValueError(f"NVIL: baseline_nets[{i}] returned {tuple(c.shape)}; expected [B, K, 1]")
            outs.append(c.to(z.dtype))
        return torch.cat(outs, dim=-1)  # [B, K, L]

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        z, log_p, log_q = self.draw(x, target, reparam=False)
        if self.layered:
            lq = getattr(self.inf_net, "log_prob_layers")(z)  # noqa: B009  # [B, K, L]
            lp = getattr(self.gen_model, "log_prob_layers")(target, z)  # noqa: B009  # [B, K, L + 1]
        else:
            lq = log_q.unsqueeze(-1)  # [B, K, 1]
            lp = torch.stack([log_p, torch.zeros_like(log_p)], dim=-1)  # [B, K, 2]: one layer, no prior split
        n_layers = lq.shape[-1]
        raw = (_reverse_cumsum(lp)[..., :n_layers] - _reverse_cumsum(lq)).detach()  # [B, K, L]
        # Baselines see 0 for an impossible sample (log w = -inf), so no running state turns -inf.
        raw = torch.where(torch.isfinite(raw), raw, torch.zeros_like(raw))
        running, scale = self._state(raw.dtype)  # [L] each
        centred = raw - running  # [B, K, L]
        shift = running.expand_as(raw)
        fit = None
        if self.baseline_nets is not None:
            learned = self._learned(x, z)  # [B, K, L]
            fit = (centred - learned).pow(2).mean(dim=(0, 1)).sum()
            centred = centred - learned.detach()
            shift = shift + learned.detach()
        bound = nvil_estimate(lp, lq, shift, scale=scale)  # [B]
        if self.training and torch.is_grad_enabled():
            self._update(raw, centred)  # after use: the estimate above stays unbiased
        if fit is None:
            return bound
        self.baseline_loss_ = fit.detach()
        # The fit penalty reaches only the baseline networks (the signals are detached); the loss is
        # minus the batch mean, so it enters with a minus sign, as a term of value 0 (added, not
        # folded into with_grad, so a bound of -inf stays -inf rather than NaN), as in Reinforce.
        return bound - zero_with_grad(fit)

    @torch._disable_dynamo  # torch.compiler.disable, importing torch._dynamo (1.5 s) only at the first call
    def _state(self, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
        """Copies of the running mean and the scale, read outside any compiled graph: ``_update``
        writes the buffers in place later in the same call, and a compiled backward that recomputed
        a read inside the graph would see the new values (as for ``vaekit.baselines``)."""
        like = torch.empty((), dtype=dtype)
        running = follow_dtype(self, "mean", like).clone()  # state follows the models' dtype
        variance = follow_dtype(self, "variance", like)
        scale = variance.sqrt().clamp_min(1.0) if self.variance_normalization else None
        return running, scale

    @torch.no_grad()
    def _update(self, raw: Tensor, centred: Tensor) -> None:
        first = self.n_updates == 0
        ema_update_(follow_dtype(self, "mean", raw), raw.mean(dim=(0, 1)), self.decay, first)  # [L]
        ema_update_(follow_dtype(self, "variance", raw), centred.var(dim=(0, 1), unbiased=False), self.decay, first)
        self.n_updates.add_(1)

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, layers={self.layer_sizes}, decay={self.decay}"
