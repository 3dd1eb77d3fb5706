"""``Baseline``: the one small class every control variate subclasses, and how a loss applies a list of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from vaekit._math import detach_if_grad

__all__ = ["Baseline", "CentredSignal", "apply_baselines", "update_baselines", "follow_dtype", "ema_update_"]


class Baseline(nn.Module):
    """A control variate for score-function gradients. Subclass it and implement ``forward``.

    A score-function loss multiplies the score ``grad log q(z_k|x)`` by a learning signal
    ``l_k`` (for REINFORCE on the ELBO, ``l_k = log w_k``). Subtracting a baseline ``b_k`` that
    does not depend on ``z_k`` keeps the gradient unbiased, because E_q[b_k grad log q(z_k|x)] = 0,
    and lowers its variance when ``b_k`` tracks ``l_k``.

    Protocol (what a loss does with a list of baselines, in list order):

        b = baseline(signal, x)          # the shift, broadcastable to [B, K]; detached before use
        signal = signal - b              # the next baseline in the list sees the centred signal
        penalty += baseline.fit_loss(signal_seen, b)   # optional: learned baselines fit themselves
        ...the gradient estimate is built...
        baseline.update(signal_seen)     # AFTER use: new state never touches the current estimate

    Entry ``[b, k]`` of ``b`` may depend on x and on the other samples ``z_j, j != k``, never on
    ``z_k`` itself, and state changes happen only in ``update`` (called after the estimate is
    built). A baseline that rescales instead of shifting (``VarianceNormalization``) overrides
    ``transform`` to return a scale. Keep state in buffers or parameters so that ``state_dict``
    and ``.to(device)`` of the loss cover it. ``min_samples`` is the smallest K it works with.

    Shapes:
        signal: ``[B, K]`` detached; x: ``[B, *x_shape]``; forward returns a tensor broadcastable
        to ``[B, K]`` (e.g. ``[]``, ``[B, 1]`` or ``[B, K]``).

    Example:
        A baseline that subtracts a fixed constant (unbiased: it ignores z):

        >>> import torch
        >>> class Constant(Baseline):
        ...     def __init__(self, c):
        ...         super().__init__(); self.register_buffer("c", torch.tensor(float(c)))
        ...     def forward(self, signal, x):
        ...         return self.c.to(signal.dtype)
        >>> out = apply_baselines([Constant(2.0)], torch.ones(3, 4), torch.zeros(3, 5))
        >>> out.signal[0].tolist()
        [-1.0, -1.0, -1.0, -1.0]
    """

    min_samples: int = 1

    def forward(self, signal: Tensor, x: Tensor) -> Tensor:
        """Return the baseline ``b`` (broadcastable to ``[B, K]``) for the detached ``signal``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(signal, x) -> baseline")

    def transform(self, signal: Tensor, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """``(shift, scale)`` applied as ``(signal - shift) / scale``; either may be None.

        The default is ``(self(signal, x), None)``: a pure shift.
        """
        return self(signal, x), None

    def fit_loss(self, signal: Tensor, baseline: Tensor) -> Tensor | None:
        """A scalar the loss adds to its gradient (not its value) to fit a learned baseline; None if not learned."""
        return None

    def update(self, signal: Tensor) -> None:
        """Update running state from the signal this baseline saw; called after the estimate is built."""


class CentredSignal(NamedTuple):
    """What :func:`apply_baselines` returns.

    ``signal == (raw - shift) / scale``, where a None ``shift`` is 0 and a None ``scale`` is 1 (no
    stage shifted or rescaled); ``seen[i]`` is the signal baseline ``i`` received (for
    :func:`update_baselines`); ``fit_loss`` is the summed penalty of learned baselines (or None).
    """

    signal: Tensor
    shift: Tensor | None
    scale: Tensor | None
    fit_loss: Tensor | None
    seen: list[Tensor]


def apply_baselines(baselines: Sequence[Baseline], signal: Tensor, x: Tensor) -> CentredSignal:
    """Apply ``baselines`` in order to a learning signal: centre (and rescale) it.

    Each stage maps the current signal s to (s - b) / c; the composition is tracked as one affine
    map ``(raw - shift) / scale`` so an estimator can take ``shift`` and ``scale`` as inputs (None
    where no stage shifts or rescales: no neutral tensors are built). Stage outputs are detached:
    only the fit penalty carries gradient (into learned baselines).

    Shapes:
        signal: ``[B, K]``; x: ``[B, *x_shape]``; returns ``signal`` ``[B, K]`` and ``shift``,
        ``scale`` broadcastable to ``[B, K]`` (or None).

    Example:
        >>> import torch
        >>> from vaekit.baselines import LeaveOneOut
        >>> apply_baselines([LeaveOneOut()], torch.tensor([[1.0, 2.0, 3.0]]), torch.zeros(1, 2)).signal.tolist()
        [[-1.5, 0.0, 1.5]]
    """
    current = detach_if_grad(signal)
    shift: Tensor | None = None
    scale: Tensor | None = None
    penalty: Tensor | None = None
    seen: list[Tensor] = []
    compiling = torch.compiler.is_compiling()
    for baseline in baselines:
        seen.append(current)
        # Eagerly, transform is called directly; under torch.compile a baseline with state (buffers,
        # which update() writes in place) is read outside the graph, a stateless one inside it.
        read = _read_outside_graph if compiling and next(baseline.buffers(), None) is not None else _read
        b, c = read(baseline, current, x)
        if b is not None:
            fit = baseline.fit_loss(current, b)
            if fit is not None:
                penalty = fit if penalty is None else penalty + fit
            b = detach_if_grad(b)
            # (raw - shift)/scale - b == (raw - (shift + b*scale)) / scale
            step = b if scale is None else b * scale
            shift = step if shift is None else shift + step
            current = current - b  # [B, K]
        if c is not None:
            c = detach_if_grad(c)
            scale = c if scale is None else scale * c
            current = current / c  # [B, K]
    return CentredSignal(current, shift, scale, penalty, seen)


def _read(baseline: Baseline, signal: Tensor, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
    return baseline.transform(signal, x)


@torch._disable_dynamo  # torch.compiler.disable, importing torch._dynamo (1.5 s) only at the first call
def _read_outside_graph(baseline: Baseline, signal: Tensor, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """``baseline.transform`` run outside any torch.compile graph.

    Running baselines (those with buffers) are read here and written in place by ``update`` later
    in the same call. Inside a compiled graph, Inductor's partitioner may recompute a cheap read
    of that state in the backward pass, after the in-place update, and so use the wrong baseline
    (torch 2.13: wrong phi-gradients for NVIL). Read eagerly, the state enters the graph as a
    fresh input that the update cannot change. Stateless baselines (``LeaveOneOut``, a learned
    ``InputDependentBaseline``) stay inside the graph: a graph break costs more than the read.
    """
    return baseline.transform(signal, x)


def update_baselines(baselines: Sequence[Baseline], seen: Sequence[Tensor]) -> None:
    """Call ``update`` on every baseline with the signal it saw; do this after the estimate is built,
    and only when training (the loss checks ``training`` and ``torch.is_grad_enabled()``)."""
    for baseline, s in zip(baselines, seen):
        baseline.update(s)


def follow_dtype(module: nn.Module, name: str, like: Tensor) -> Tensor:
    """Buffer ``name`` of ``module`` in the dtype of ``like``, converted in place on first need.

    Running state follows the models' dtype (the signal's), whether or not the loss was moved with
    ``.double()``: a float32 running mean of float64 log-weights would round them.
    """
    buf = getattr(module, name)
    if buf.dtype != like.dtype and like.is_floating_point():
        buf = buf.to(like.dtype)
        setattr(module, name, buf)  # a registered buffer: stays in state_dict
    return buf


def ema_update_(state: Tensor, value: Tensor, decay: float, first: Tensor) -> None:
    """In place: ``state <- value`` at the first update, else ``decay * state + (1 - decay) * value``.

    The running estimates of vaekit's baselines (``MovingAverage``, ``VarianceNormalization``,
    ``NVIL``'s per-layer state). ``first`` is a bool tensor (e.g. ``n_updates == 0``), so there is
    no host-device sync, and nothing is traced differently on the first call (capturable). Two
    kernels: a ``lerp`` and a ``where`` written into ``state``.

    Shapes:
        state, value: broadcastable to ``state``'s shape; first: broadcastable (usually ``[]``).

    Example:
        >>> import torch
        >>> s = torch.zeros(())
        >>> ema_update_(s, torch.tensor(4.0), 0.5, torch.tensor(True)); s.item()
        4.0
        >>> ema_update_(s, torch.tensor(0.0), 0.5, torch.tensor(False)); s.item()
        2.0
    """
    torch.where(first, value, state.lerp(value, 1.0 - decay), out=state)
