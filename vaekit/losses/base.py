"""``Loss``: the module every estimator subclasses. It owns both models and drives them.

A loss is called on a batch and returns a scalar whose *value* is the estimate of the negative
objective (mean over the batch) and whose *gradient* is the estimator's, via ``with_grad``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from vaekit.models import GenModel, InfNet

__all__ = ["Loss"]


class Loss(nn.Module):
    """Base class of all vaekit losses: validation, sampling, bookkeeping.

    Subclasses implement ``estimate(x, target) -> Tensor`` returning the scalar loss (built with
    ``with_grad``); they draw latents and score them with ``self.draw`` (or drive the models
    themselves for sleep phases) so every loss validates shapes and log-weights the same way.

    Shapes:
        x: ``[B, *x_shape]``; target (default ``x``): ``[B, *y_shape]``.
        log_p_, log_q_: ``[B, K]`` of the last call, detached.
        Returns a scalar.

    Args:
        inf_net: the inference network q(z|x), an ``InfNet``.
        gen_model: the generative model p(x, z) (or p(target, z)), a ``GenModel``.
        n_samples: K, the number of latent samples per data point.
        check_finite: raise on NaN or +inf log-weights, naming the model that produced them.
            Costs one host-device sync per call; turn it off for speed once a model is debugged.
    """

    min_samples: int = 1

    def __init__(self, inf_net: InfNet, gen_model: GenModel, *, n_samples: int = 1, check_finite: bool = True):
        super().__init__()
        if not isinstance(inf_net, InfNet):
            raise TypeError(f"{type(self).__name__}: inf_net must be a vaekit.InfNet; got {type(inf_net).__name__}")
        if not isinstance(gen_model, GenModel):
            raise TypeError(
                f"{type(self).__name__}: gen_model must be a vaekit.GenModel; got {type(gen_model).__name__}"
            )
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < self.min_samples:
            raise ValueError(
                f"{type(self).__name__}: n_samples must be an int >= {self.min_samples}; got {n_samples!r}"
            )
        self.inf_net = inf_net
        self.gen_model = gen_model
        self.n_samples = n_samples
        self.check_finite = check_finite
        self._history: list[float] = []
        self._pending: list[Tensor] = []
        self.log_p_: Tensor | None = None
        self.log_q_: Tensor | None = None

    # -- the public call ---------------------------------------------------------------------
    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        """Estimate the loss on a batch; see the class docstring for shapes."""
        if not isinstance(x, Tensor) or x.dim() < 1:
            raise ValueError(f"{type(self).__name__}: x must be a tensor [B, *x_shape]; got {_describe(x)}")
        if target is None:
            target = x
        elif not isinstance(target, Tensor) or target.shape[:1] != x.shape[:1]:
            raise ValueError(
                f"{type(self).__name__}: target must be a tensor with the batch size of x ({x.shape[0]}); "
                f"got {_describe(target)}"
            )
        loss = self.estimate(x, target)
        self._record(loss)
        return loss

    @torch._disable_dynamo  # torch.compiler.disable, but importing torch._dynamo (1.5 s) only at the first call
    def _record(self, loss: Tensor) -> None:
        # A detached 0-d tensor per call; converted to floats in one sync when read. Kept out of
        # torch.compile graphs: traced, the append makes dynamo guard on the list's length and
        # recompile on every call until it gives up and runs the loss eagerly.
        self._pending.append(loss.detach())

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        """Return the scalar loss for one batch. Subclasses implement this."""
        raise NotImplementedError

    @property
    def loss_history_(self) -> list[float]:
        """One float per call: the loss values so far (read lazily, one device sync per read)."""
        if self._pending:
            self._history.extend(torch.stack(self._pending).tolist())
            self._pending.clear()
        return self._history

    # -- helpers for subclasses --------------------------------------------------------------
    def require_rsample(self, what: str) -> None:
        """Raise ``ValueError`` if the inference family has no reparameterised sampler."""
        if not self.inf_net.has_rsample:
            raise ValueError(
                f"{type(self).__name__}: {what} needs a reparameterisable q(z|x), but "
                f"{type(self.inf_net).__name__}.has_rsample is False; use a score-function estimator."
            )

    def draw(self, x: Tensor, target: Tensor, *, reparam: bool, n_samples: int | None = None,
             check: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """Run q on ``x``, draw K latents and score them: ``(z, log_p, log_q)``.

        ``z`` is ``[B, K, *z_shape]`` (reparameterised if ``reparam``, else detached);
        ``log_p = log p(target, z)`` and ``log_q = log q(z|x)`` are ``[B, K]``, shape-checked and
        stored (detached) in ``log_p_`` / ``log_q_``. Their finiteness is checked here unless
        ``check=False``: a loss with a sleep phase checks them afterwards together with the sleep
        term, ``check_log_weights(log_p, log_q, sleep_log_q=...)``, in one device sync.
        """
        k = self.n_samples if n_samples is None else n_samples
        b = x.shape[0]
        inf = self.inf_net(x)
        if reparam:
            z = inf.rsample(k)
        else:
            z = inf.sample(k).detach()  # black-box: no gradient path through the draw
        _check_leading(z, (b, k), self.inf_net, "rsample" if reparam else "sample", "[B, K, *z_shape]")
        log_q = inf.log_prob(z)
        _check_shape(log_q, (b, k), self.inf_net, "log_prob")
        log_p = self.gen_model(target, z).log_prob(target, z)
        _check_shape(log_p, (b, k), self.gen_model, "log_prob")
        if check:
            self.check_log_weights(log_p, log_q)
        # Copies, not views: under torch.compile a stored detached view of an intermediate
        # (log_prob's movedim) broke AOT autograd's view replay when the graph went on past here.
        self.log_p_, self.log_q_ = log_p.detach().clone(), log_q.detach().clone()
        return z, log_p, log_q

    def sleep_log_q(self, n: int) -> Tensor:
        """Sleep phase: draw ``n`` pairs ``(x, z) ~ p(x, z)`` and score them under q: ``log q(z|x)``, ``[n]``.

        The dreams carry no gradient (``gen_model.sample`` under ``no_grad``); the result has a
        gradient into q's parameters only. Used by wake-sleep style losses for the sleep-phi update;
        they check its finiteness with ``check_log_weights(..., sleep_log_q=...)``, in the same
        device sync as the wake log-weights.
        """
        with torch.no_grad():
            x, z = self.gen_model.sample(n)
        _check_leading(x, (n,), self.gen_model, "sample", "x [n, *x_shape]")
        _check_leading(z, (n,), self.gen_model, "sample", "z [n, *z_shape]")
        log_q = self.inf_net(x).log_prob(z.unsqueeze(1))  # [n, 1]
        _check_shape(log_q, (n, 1), self.inf_net, "log_prob")
        return log_q.squeeze(1)  # [n]

    def check_log_weights(self, log_p: Tensor, log_q: Tensor, *, sleep_log_q: Tensor | None = None) -> None:
        """Raise ``FloatingPointError`` naming the model if log p is NaN/+inf or log q non-finite.

        ``log p = -inf`` is allowed (a latent the model deems impossible has weight 0). With
        ``sleep_log_q`` (``[N]``, from :meth:`sleep_log_q`), a non-finite log q of a dream raises
        too: q(z|x) must cover the generative model's posterior. Skipped when ``check_finite`` is
        False. One device sync for all checks.
        """
        if not self.check_finite:
            return
        bad = [(torch.isnan(log_p) | torch.isposinf(log_p)).any(), (~torch.isfinite(log_q)).any()]
        if sleep_log_q is not None:
            bad.append((~torch.isfinite(sleep_log_q)).any())
        flags = torch.stack(bad).tolist()
        if flags[0]:
            raise FloatingPointError(
                f"{type(self).__name__}: {type(self.gen_model).__name__}.log_prob returned NaN or +inf "
                f"(min {log_p.min().item()}, max {log_p.max().item()}); check the generative model. "
                "Pass check_finite=False to skip this check."
            )
        if flags[1]:
            raise FloatingPointError(
                f"{type(self).__name__}: {type(self.inf_net).__name__}.log_prob returned a non-finite "
                f"value (min {log_q.min().item()}, max {log_q.max().item()}); q(z|x) gave its own sample "
                "zero or infinite density. Pass check_finite=False to skip this check."
            )
        if sleep_log_q is not None and flags[2]:
            raise FloatingPointError(
                f"{type(self).__name__}: {type(self.inf_net).__name__}.log_prob gave a non-finite value to a "
                "latent drawn from the generative model (sleep phase): q(z|x) must cover p(z|x). "
                "Pass check_finite=False to skip this check."
            )

    def stopped_terms(self, z: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """The two extra inputs of DReG-style gradients: ``(log_q_stopped, log_p_fixed_z)``, ``[B, K]`` each.

        ``log_q_stopped`` is log q(z|x) with q's parameters held fixed (gradient only along the
        reparameterised z); ``log_p_fixed_z`` is log p(target, z) with z detached (gradient only
        into the generative model). Costs a second pass of the generative model.
        """
        z_fixed = z.detach()
        log_q_stopped = self.inf_net.log_prob_detached(z)  # [B, K]
        log_p_fixed_z = self.gen_model(target, z_fixed).log_prob(target, z_fixed)  # [B, K]
        return log_q_stopped, log_p_fixed_z

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}"


def _describe(t: object) -> str:
    return f"tensor of shape {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__


def _check_shape(t: Tensor, expected: Sequence[int], module: nn.Module, method: str) -> None:
    if not isinstance(t, Tensor) or tuple(t.shape) != tuple(expected):
        raise ValueError(
            f"{type(module).__name__}.{method} returned {_describe(t)}; expected shape [B, K] = {tuple(expected)}"
        )


def _check_leading(t: Tensor, expected: Sequence[int], module: nn.Module, method: str, spec: str) -> None:
    n = len(expected)
    if not isinstance(t, Tensor) or t.dim() < n or tuple(t.shape[:n]) != tuple(expected):
        raise ValueError(
            f"{type(module).__name__}.{method} returned {_describe(t)}; expected {spec} with "
            f"[B, K] = {tuple(expected)}"
        )
