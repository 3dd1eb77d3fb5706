"""A whole training step compiled together: forward, backward and optimiser step.

On a GPU a step of a small latent-variable model is bound by kernel launches and Python, not by
arithmetic (a linear SBN 784-200 at batch 50, K=5 is a few MFLOP). ``make_train_step`` compiles
the loss, its backward pass and the optimiser step with ``torch.compile``; on CUDA it uses
``mode="reduce-overhead"``, which records each compiled graph once as a CUDA graph and then
replays it, so a step costs a few graph launches. Random draws (``torch.rand`` in the samplers)
are generated inside the graphs; nothing in the step reads a value back to the host.

The recipe for a hand-written loop (what ``make_train_step`` does)::

    step = vaekit.make_train_step(loss_fn, optimizer)      # compile=True; capture on CUDA
    for x in loader:
        loss = step(x.to(device, non_blocking=True))       # a 0-d tensor on the device, detached
    print(loss_fn.loss_history_[-1])                       # read values when you need them

or by hand, with the same ingredients::

    def train_step(x):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(x)
        loss.backward()
        optimizer.step()
        return loss.detach()

    train_step = torch.compile(train_step, mode="reduce-overhead")   # "default" on CPU
    for x in loader:
        torch.compiler.cudagraph_mark_step_begin()   # a new step: earlier outputs may be reused
        loss = train_step(x).clone()                 # clone before the next replay overwrites it

Rules that keep the step captured and compiled once:

- Keep shapes fixed: the same batch size every step (``drop_last=True`` in a DataLoader);
  a new shape compiles a new graph (and records a new CUDA graph).
- Do not read tensors back inside the loop (``loss.item()``, ``print(loss)``): each is a
  host-device synchronisation. Read the history every few hundred steps instead.
- Keep Python numbers that the step reads constant. A learning-rate scheduler that changes
  ``lr`` as a float makes the optimiser step recompile; give the optimiser a tensor learning
  rate (``torch.optim.Adam(params, lr=torch.tensor(1e-3))``) to change it without recompiling.
- Data must be valid up front: the models' cheap data checks (e.g. 0/1 data for a Bernoulli
  likelihood) run on the first, eager step only, not inside the compiled graphs.

The first call runs eagerly (it creates the optimiser state and runs the models' data checks),
the second compiles (on 2 CPU cores an Inductor compile of a loss and Adam takes tens of seconds),
and every later call replays the compiled code.

Where it pays: on a GPU. On a CPU, Inductor's kernels are about as fast as eager PyTorch's for
these models at small K and slower at large K (measured on a linear SBN: the compiled step is
1.00-1.05x the eager hand-written loop at K=5 for VIMCO, IWAE, RWS and leave-one-out Reinforce,
1.07-1.09x at K=50, where the hand-written loop compiled is itself 1.04x its eager self; see the
benchmarks page), so on a CPU the eager step is the default to reach for. A running baseline
(``MovingAverage``, ``VarianceNormalization``, NVIL's) is read outside the graph, which splits
the step into more graphs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["make_train_step", "TrainStep"]


class TrainStep:
    """One optimisation step of a loss: ``zero_grad``, ``loss_fn(x)``, ``backward``, ``optimizer.step``.

    Built by :func:`make_train_step`; call it on a batch. Returns the loss as a detached 0-d
    tensor on the device (no host synchronisation); its value is the loss's value for the batch.

    Shapes:
        x: ``[B, *x_shape]`` (and ``target`` as the loss takes it); returns a 0-d tensor.

    Attributes:
        loss_fn: the loss module.
        optimizer: the optimiser over (at least) the loss's parameters.
        compiled: whether the step is compiled.
        captured: whether compiled graphs are recorded as CUDA graphs (``mode="reduce-overhead"``).
    """

    def __init__(
        self,
        loss_fn: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        compiled: bool,
        captured: bool,
        backend: str | Callable[..., Any] | None,
        mode: str | None,
        clip_grad_norm: float | None = None,
    ):
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.clip_grad_norm = clip_grad_norm
        self._params = [p for group in optimizer.param_groups for p in group["params"]]
        self.compiled = compiled
        self.captured = captured
        self._eager_done = False
        self._step: Callable[..., Tensor] = self._eager
        if compiled:
            options: dict[str, Any] = {} if backend is None else {"backend": backend}
            if mode is not None:
                options["mode"] = mode
            self._step = torch.compile(self._eager, **options)

    def _eager(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        loss = self.loss_fn(x) if target is None else self.loss_fn(x, target)
        loss.backward()
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self._params, self.clip_grad_norm)  # no host sync
        self.optimizer.step()
        return loss.detach()

    def __call__(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        # Outside the compiled code: dynamo does not trace Optimizer.zero_grad (a graph break).
        self.optimizer.zero_grad(set_to_none=True)
        if not self._eager_done:
            # The first step eagerly: it creates the optimiser's state (which would otherwise
            # change the compiled step's guards after one call) and runs the models' data checks,
            # which compiled code skips.
            self._eager_done = True
            return self._eager(x, target)
        if self.captured:
            torch.compiler.cudagraph_mark_step_begin()  # outputs of the previous replay may be reused
            return self._step(x, target).clone()  # a copy the next replay does not overwrite
        return self._step(x, target)

    def __repr__(self) -> str:
        return (
            f"TrainStep({type(self.loss_fn).__name__}, {type(self.optimizer).__name__}, "
            f"compiled={self.compiled}, captured={self.captured})"
        )


def make_train_step(
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    compile: bool = True,
    capture: bool | None = None,
    backend: str | Callable[..., Any] | None = None,
    clip_grad_norm: float | None = None,
) -> TrainStep:
    """Build a training step that compiles forward, backward and the optimiser step together.

    ``step(x)`` does ``optimizer.zero_grad(set_to_none=True)``, ``loss = loss_fn(x)``,
    ``loss.backward()`` (then clips the gradient norm if asked), ``optimizer.step()`` and returns
    ``loss.detach()``: exactly the eager loop, compiled with ``torch.compile`` (and recorded as
    CUDA graphs on a GPU). The gradient is
    the loss's estimator's; nothing else changes. See the module docstring for the hand-written
    equivalent and the rules that keep the step compiled once.

    Shapes:
        step(x[, target]): x ``[B, *x_shape]``; returns a 0-d tensor (detached, on x's device).

    Args:
        loss_fn: a vaekit loss (or any module returning a scalar loss for a batch).
        optimizer: a ``torch.optim`` optimiser over the loss's parameters.
        compile: False runs the same step eagerly (for debugging and comparison).
        capture: record the compiled graphs as CUDA graphs (``mode="reduce-overhead"``). None
            (default) captures iff the loss's parameters are on a CUDA device; True on a model
            without CUDA parameters raises ``ValueError``.
        backend: a ``torch.compile`` backend (default Inductor); tests use ``"aot_eager"``.
        clip_grad_norm: if set, ``torch.nn.utils.clip_grad_norm_`` of the optimiser's parameters to
            this total norm between ``backward`` and the optimiser step (inside the compiled step).

    Returns:
        A :class:`TrainStep`.

    Example:
        >>> import torch, vaekit
        >>> loss_fn = vaekit.VIMCO(vaekit.BernoulliEncoder(6, 3), vaekit.SigmoidBeliefNet(3, 6), n_samples=4)
        >>> opt = torch.optim.Adam(loss_fn.parameters(), lr=1e-3)
        >>> step = vaekit.make_train_step(loss_fn, opt, compile=False)
        >>> x = torch.bernoulli(torch.full((8, 6), 0.5))
        >>> loss = step(x)
        >>> loss.shape, loss.requires_grad
        (torch.Size([]), False)
    """
    if not isinstance(loss_fn, nn.Module):
        raise TypeError(f"make_train_step: loss_fn must be a torch.nn.Module; got {type(loss_fn).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"make_train_step: optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}")
    for name, value in (("compile", compile), ("capture", capture)):
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"make_train_step: {name} must be a bool; got {value!r}")
    on_cuda = any(p.is_cuda for p in loss_fn.parameters())
    if capture and not compile:
        raise ValueError(
            "make_train_step: capture=True needs compile=True (the CUDA graphs are recorded from the compiled step)"
        )
    if capture and not on_cuda:
        raise ValueError(
            "make_train_step: capture=True records CUDA graphs, but the loss has no parameters on a "
            "CUDA device; move it with loss_fn.to('cuda') or pass capture=False"
        )
    if clip_grad_norm is not None and (
        isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, (int, float)) or not clip_grad_norm > 0
    ):
        raise ValueError(f"make_train_step: clip_grad_norm must be None or a positive number; got {clip_grad_norm!r}")
    captured = bool(compile and (on_cuda if capture is None else capture))
    return TrainStep(
        loss_fn,
        optimizer,
        compiled=compile,
        captured=captured,
        backend=backend,
        mode="reduce-overhead" if captured else None,
        clip_grad_norm=None if clip_grad_norm is None else float(clip_grad_norm),
    )
