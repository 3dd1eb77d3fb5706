"""``Loss``: the module every estimator subclasses. It owns both models and drives them.

One pipeline for every loss: ``forward(x, target)`` validates the inputs, calls the subclass's
``estimate(x, target)`` (the ``[B]`` bound built with ``with_grad``, exactly what the pure
``*_estimate`` functions return), runs the one finiteness check, takes minus the batch mean and
records it in ``loss_history_``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vaekit._math import detach_if_grad
from vaekit.models import GenModel, InfNet, set_plain_attrs

__all__ = ["Loss"]

# Parts of the fused finiteness flag, in the order ``forward`` stacks them.
_X, _TARGET, _LOG_P, _LOG_Q, _SLEEP = range(5)


class Loss(nn.Module):
    """Base class of all vaekit losses: validation, sampling, the finiteness check, the history.

    Subclasses implement ``estimate(x, target) -> Tensor``, the ``[B]`` per-example bound built
    with ``with_grad`` (its value the bound, its gradient the estimator's); they draw latents with
    :meth:`draw` and dreams with :meth:`sleep_log_q`, which store the log-probabilities that the
    one finiteness check covers.

    The finiteness check costs no host-device synchronisation per step: each call adds a few
    scalars to a pending list on the device (the loss value and one fused sum per checked tensor),
    and the list is read back in one sync every ``sync_every`` calls (1 on the CPU, where a sync
    is free; 100 on an accelerator), whenever ``loss_history_`` is read, and by :meth:`flush`.
    A NaN or infinite input raises ``ValueError``; a NaN or +inf ``log p`` or a non-finite
    ``log q`` (wake or sleep phase) raises ``FloatingPointError`` naming the call, the model and
    the phase.
    ``log p = -inf`` is allowed: a latent the model deems impossible has weight 0.

    Shapes:
        x: ``[B, *x_shape]``; target (default ``x``): ``[B, *y_shape]``.
        log_p_, log_q_: ``[B, K]`` of the last call, detached; sleep_log_q_: ``[N]`` or None.
        Returns a scalar: minus the batch mean of ``estimate``.

    Args:
        inf_net: the inference network q(z|x), an ``InfNet``.
        gen_model: the generative model p(x, z) (or p(target, z)), a ``GenModel``.
        n_samples: K, the number of latent samples per data point.
        check_finite: run the deferred finiteness check (default). Off, nothing is checked.
        sync_every: calls between two reads of the pending values (a host-device sync each);
            None for 1 on the CPU and 100 on other devices.

    Example:
        >>> import torch
        >>> from vaekit import IWAE, GaussianEncoder, BernoulliDecoder
        >>> loss_fn = IWAE(GaussianEncoder(6, 2), BernoulliDecoder(2, 6), n_samples=3)
        >>> loss = loss_fn(torch.bernoulli(torch.full((4, 6), 0.5)))
        >>> loss.backward(); len(loss_fn.loss_history_), tuple(loss_fn.log_p_.shape)
        (1, (4, 3))
    """

    min_samples: int = 1

    def __init__(
        self,
        inf_net: InfNet,
        gen_model: GenModel,
        *,
        n_samples: int = 1,
        check_finite: bool = True,
        sync_every: int | None = None,
    ):
        super().__init__()
        name = type(self).__name__
        if not isinstance(inf_net, InfNet):
            raise TypeError(f"{name}: inf_net must be a vaekit.InfNet; got {type(inf_net).__name__}")
        if not isinstance(gen_model, GenModel):
            raise TypeError(f"{name}: gen_model must be a vaekit.GenModel; got {type(gen_model).__name__}")
        if isinstance(n_samples, bool) or not isinstance(n_samples, int):
            raise TypeError(f"{name}: n_samples must be an int; got {type(n_samples).__name__}")
        if n_samples < self.min_samples:
            raise ValueError(f"{name}: n_samples must be an int >= {self.min_samples}; got {n_samples!r}")
        if not isinstance(check_finite, bool):
            raise TypeError(f"{name}: check_finite must be a bool; got {type(check_finite).__name__}")
        if sync_every is not None and (
            isinstance(sync_every, bool) or not isinstance(sync_every, int) or sync_every < 1
        ):
            raise ValueError(f"{name}: sync_every must be None or an int >= 1; got {sync_every!r}")
        self.inf_net = inf_net
        self.gen_model = gen_model
        self.n_samples = n_samples
        self.check_finite = check_finite
        self.sync_every = sync_every
        self._history: list[float] = []
        self._pending: list[tuple[Tensor, tuple[int, ...]]] = []  # per call: [loss, sums], parts; bounded
        self._calls = 0  # calls recorded so far (the index an error names)
        self._sleep: Tensor | None = None  # the sleep phase's log q of the current call, until recorded
        self._detached_verified = False
        self._first_float: dict[int, Tensor | None] = {}  # per model: its first floating parameter (dtype check)
        self.log_p_: Tensor | None = None
        self.log_q_: Tensor | None = None
        self._more: tuple[Tensor, Tensor] | None = None  # further log p / log q the check covers (keep_log_weights)
        self.sleep_log_q_: Tensor | None = None

    # -- the public call ---------------------------------------------------------------------
    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        """Minus the batch mean of ``estimate(x, target)``, recorded; see the class docstring."""
        self._validate(x, target)
        tgt = x if target is None else target
        compiling = torch.compiler.is_compiling()
        set_plain_attrs(self, log_p_=None, log_q_=None, _sleep=None, _more=None)
        try:
            bound = self.estimate(x, tgt)  # [B]
        except RuntimeError as err:  # a mistake in the inputs surfaces deep inside torch: name it
            self._diagnose(err, x, target)
            raise
        if not isinstance(bound, Tensor) or tuple(bound.shape) != (x.shape[0],):
            raise ValueError(
                f"{type(self).__name__}.estimate returned {_describe(bound)}; expected the per-example bound [B] "
                f"with B = {x.shape[0]}"
            )
        loss = -bound.mean()
        if compiling or _in_compiled_region() is not None:
            # Traced, or run natively between the graphs of a compiled caller (a graph break in
            # estimate, e.g. a baseline's read): the bookkeeping runs with dynamo off, which would
            # otherwise compile it anew on every call (its counters change every call).
            record, kinds = self._record_of(loss.detach(), x, target, with_inputs=True)
            sleep, self._sleep = self._sleep, None
            self._record_outside_graph(record, kinds, sleep)
            return loss
        # Eager: when this call's record is read back at once (every call on the CPU), the inputs
        # need no sum of their own: they are examined only if the check fires (see _flush).
        now = len(self._pending) + 1 >= self._every(x)
        record, kinds = self._record_of(loss.detach(), x, target, with_inputs=not now)
        self._record(record, kinds, self._sleep, (x, target) if now else None)
        return loss

    def estimate(self, x: Tensor, target: Tensor) -> Tensor:
        """Return the per-example bound ``[B]`` built with ``with_grad``. Subclasses implement this."""
        raise NotImplementedError

    @property
    def loss_history_(self) -> list[float]:
        """One float per call: the loss values so far (pending values are read in one sync)."""
        self.flush()
        return self._history

    def flush(self) -> None:
        """Read the pending loss values into ``loss_history_`` and run the deferred finiteness check.

        One host-device synchronisation. Raises ``ValueError`` if an input of a pending call held
        NaN or inf (the models are then not to blame), else ``FloatingPointError`` naming the first
        call whose log-probabilities were not finite, the model and the phase (wake or sleep).
        """
        self._flush(None)

    def _flush(self, inputs: tuple[Tensor, Tensor | None] | None) -> None:
        # inputs: (x, target) of the last pending call when its record holds no sums of them.
        if not self._pending:
            return
        pending = self._pending
        self.__dict__["_pending"] = []
        first = self._calls - len(pending) + 1  # 1-based index of the first pending call
        if len(pending) == 1:
            rows = [pending[0][0].tolist()]  # [1 + parts]: the one host-device sync
        elif all(r.shape == pending[0][0].shape for r, _ in pending):
            rows = torch.stack([r for r, _ in pending]).tolist()  # [n, 1 + parts]: the one host-device sync
        else:  # check_finite, the sleep phase or the sync interval changed between calls: rows of different widths
            rows = torch.cat([r for r, _ in pending]).tolist()
            rows = [
                rows[i : i + r.shape[0]] for i, r in zip(_offsets([r for r, _ in pending]), (r for r, _ in pending))
            ]
        self._history.extend(row[0] for row in rows)
        for i, (row, (_, kinds)) in enumerate(zip(rows, pending)):
            # log p = -inf is allowed (an impossible latent has weight 0); NaN, +inf and any other non-finite are not.
            bad = [kind for kind, v in zip(kinds, row[1:]) if not (math.isfinite(v) or (kind == _LOG_P and v < 0))]
            if bad and inputs is not None and i == len(rows) - 1:  # the inputs were not summed: examine them now
                bad += [
                    kind
                    for kind, t in zip((_X, _TARGET), inputs)
                    if t is not None and t.is_floating_point() and not bool(torch.isfinite(t).all())
                ]
            if bad:  # the input first: a NaN in x makes every model's output NaN too
                error = ValueError if bad[-1] in (_X, _TARGET) else FloatingPointError
                raise error(self._message(first + i, bad[-1] if error is ValueError else bad[0]))

    # -- helpers for subclasses --------------------------------------------------------------
    def require_rsample(self, what: str) -> None:
        """Raise ``ValueError`` if the inference family has no reparameterised sampler."""
        if not self.inf_net.has_rsample:
            raise ValueError(
                f"{type(self).__name__}: {what} needs a reparameterisable q(z|x), but "
                f"{type(self.inf_net).__name__}.has_rsample is False; use a score-function estimator."
            )

    def draw(self, x: Tensor, target: Tensor, *, reparam: bool) -> tuple[Tensor, Tensor, Tensor]:
        """Run q on ``x``, draw K latents and score them: ``(z, log_p, log_q)``.

        ``z`` is ``[B, K, *z_shape]`` (reparameterised if ``reparam``, else detached);
        ``log_p = log p(target, z)`` and ``log_q = log q(z|x)`` are ``[B, K]``, shape-checked and
        stored (detached views) in ``log_p_`` / ``log_q_``; the finiteness check covers them.
        """
        k, b = self.n_samples, x.shape[0]
        q, p = self.inf_net, self.gen_model  # one nn.Module.__getattr__ each
        inf = _called(q, q(x), "inf_net(x)")
        z = inf.rsample(k) if reparam else detach_if_grad(inf.sample(k))  # black-box: no gradient path through a sample
        _check_leading(z, (b, k), q, "rsample" if reparam else "sample", "[B, K, *z_shape]")
        log_q = inf.log_prob(z)
        _check_shape(log_q, (b, k), q, "log_prob")
        gen = _called(p, p(target, z), "gen_model(target, z)")
        _check_target(target, gen)
        log_p = gen.log_prob(target, z)
        _check_shape(log_p, (b, k), p, "log_prob")
        set_plain_attrs(self, log_p_=_stored(log_p), log_q_=_stored(log_q))  # detached views (copies when compiled)
        return z, log_p, log_q

    def keep_log_weights(
        self, log_p: Tensor, log_q: Tensor, *, more_log_p: Tensor | None = None, more_log_q: Tensor | None = None
    ) -> None:
        """Store ``log_p`` / ``log_q`` (``[B, K]``) of latents drawn without :meth:`draw` (an estimator
        that draws its own noise from q's logits) in ``log_p_`` / ``log_q_``: the finiteness check covers them.

        ``more_log_p`` / ``more_log_q`` (any shape, given together): further log-probabilities the
        estimator scored (e.g. IndeCateR's configurations around each sample), covered by the
        check as wake-phase log p / log q but not stored.
        """
        self.log_p_, self.log_q_ = _stored(log_p), _stored(log_q)
        if (more_log_p is None) != (more_log_q is None):
            raise ValueError(f"{type(self).__name__}: give more_log_p and more_log_q together, or neither")
        if more_log_p is not None and more_log_q is not None:
            self._more = (_stored(more_log_p), _stored(more_log_q))

    def sleep_log_q(self, n: int) -> Tensor:
        """Sleep phase: draw ``n`` pairs ``(x, z) ~ p(x, z)`` and score them under q: ``log q(z|x)``, ``[n]``.

        The dreams carry no gradient (``gen_model.sample`` under ``no_grad``); the result has a
        gradient into q's parameters only. It is stored (detached) in ``sleep_log_q_`` and the one
        finiteness check covers it with the wake log-weights: q(z|x) must cover p(z|x).
        """
        q, p = self.inf_net, self.gen_model  # one nn.Module.__getattr__ each
        with torch.no_grad():
            x, z = p.sample(n)
        _check_leading(x, (n,), p, "sample", "x [n, *x_shape]")
        _check_leading(z, (n,), p, "sample", "z [n, *z_shape]")
        log_q = _called(q, q(x), "inf_net(x)").log_prob(z.unsqueeze(1))  # [n, 1]
        _check_shape(log_q, (n, 1), q, "log_prob")
        log_q = log_q.squeeze(1)  # [n]
        set_plain_attrs(self, _sleep=_stored(log_q))
        return log_q

    def stopped_terms(self, z: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """The two extra inputs of DReG-style gradients: ``(log_q_stopped, log_p_fixed_z)``, ``[B, K]`` each.

        ``log_q_stopped`` is log q(z|x) with q's parameters held fixed (gradient only along the
        reparameterised z); ``log_p_fixed_z`` is log p(target, z) with z detached (gradient only
        into the generative model). Costs a second pass of the generative model.
        """
        z_fixed = z.detach()
        log_q_stopped = self.log_q_stopped(z)  # [B, K]
        log_p_fixed_z = self.gen_model(target, z_fixed).log_prob(target, z_fixed)  # [B, K]
        return log_q_stopped, log_p_fixed_z

    def log_q_stopped(self, z: Tensor) -> Tensor:
        """``inf_net.log_prob_detached(z)``, ``[B, K]``, verified once (at the first call) to have no
        gradient path into q's parameters except through ``z``; ``ValueError`` otherwise.

        The default ``log_prob_detached`` detaches ``params_``; an InfNet whose ``log_prob`` reads
        its parameters from elsewhere would silently keep part of the score term.
        """
        out = self.inf_net.log_prob_detached(z)  # [B, K]
        if not self._detached_verified and not torch.compiler.is_compiling():
            self._verify_detached(z)
            self._detached_verified = True
        return out

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}"

    # -- the pipeline's internals ------------------------------------------------------------
    def _validate(self, x: Tensor, target: Tensor | None) -> None:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: x must be a torch.Tensor [B, *x_shape]; got {type(x).__name__}")
        if x.dim() < 1 or x.shape[0] == 0:
            raise ValueError(
                f"{name}: x must be a non-empty batch [B, *x_shape] with B >= 1; got a tensor of shape "
                f"{tuple(x.shape)} (an empty batch: check the data loader or the slice that built it)"
            )
        if target is not None:
            if not isinstance(target, Tensor):
                raise TypeError(f"{name}: target must be a torch.Tensor [B, *y_shape]; got {type(target).__name__}")
            if target.dim() < 1 or target.shape[0] != x.shape[0]:
                raise ValueError(
                    f"{name}: target must be a tensor with the batch size of x ({x.shape[0]}); got {_describe(target)}"
                )
        for what, t, model in (("x", x, self.inf_net), ("target", target, self.gen_model)):
            if t is None or not t.is_floating_point():
                continue
            compiling = torch.compiler.is_compiling()  # traced: no Python-side cache (guards on it)
            first = None if compiling else self._first_float.get(id(model))  # its first floating parameter
            if first is not None and t.dtype == first.dtype:  # .to()/.double() convert it in place
                continue
            first = _first_float(model)
            dtype = None if first is None else first.dtype
            if dtype is not None and t.dtype != dtype:
                raise TypeError(
                    f"{name}: {what} has dtype {t.dtype} but the models' parameters are {dtype}; convert the data "
                    f"({what}.to({dtype})) or the loss (loss_fn.to({t.dtype}))"
                )
            if not compiling:
                self._first_float[id(model)] = first

    def _diagnose(self, err: RuntimeError, x: Tensor, target: Tensor | None) -> None:
        """Turn a torch error caused by a common input mistake into a vaekit error that says so."""
        name = type(self).__name__
        dtype = _float_dtype(self.inf_net)
        about_dtype = "dtype" in str(err) or "scalar type" in str(err)  # not every int input is a mistake (embeddings)
        if dtype is not None and not x.is_floating_point() and about_dtype:
            raise TypeError(
                f"{name}: x has dtype {x.dtype} but the models' parameters are {dtype}, and "
                f"{type(self.inf_net).__name__} failed on it ({err}); convert the data with x.to({dtype})"
            ) from err
        for what, t in (("x", x), ("target", target)):
            if isinstance(t, Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise ValueError(
                    f"{name}: the input {what} contains NaN or infinite values (torch then failed: {err}); "
                    f"clean the data before the loss"
                ) from err

    def _every(self, x: Tensor) -> int:
        return self.sync_every if self.sync_every is not None else (1 if x.device.type == "cpu" else 100)

    def _record_of(
        self, loss: Tensor, x: Tensor, target: Tensor | None, *, with_inputs: bool
    ) -> tuple[Tensor, tuple[int, ...]]:
        """``[loss, one sum per checked tensor]`` and which part each sum checks.

        A sum is finite iff every entry is (up to overflow); a ``log p`` sum of ``-inf`` is allowed
        (:meth:`_flush` decides on the host). One reduction per tensor, and the part that fails
        names the model and the phase exactly. ``with_inputs``: also sum ``x`` and ``target``
        (when the record is read back later than this call, which no longer holds the inputs).
        """
        if not self.check_finite or self.log_p_ is None or self.log_q_ is None:
            return loss.reshape(1), ()
        log_p_sum, log_q_sum = self.log_p_.sum(), self.log_q_.sum()
        if self._more is not None:
            log_p_sum = log_p_sum + self._more[0].sum()  # -inf stays -inf; NaN or +inf stays bad
            log_q_sum = log_q_sum + self._more[1].sum()
            self._more = None
        parts, kinds = [loss, log_p_sum, log_q_sum], [_LOG_P, _LOG_Q]
        if self._sleep is not None:
            parts.append(self._sleep.sum())
            kinds.append(_SLEEP)
        if with_inputs:
            for kind, t in ((_X, x), (_TARGET, target)):
                if t is not None and t.is_floating_point():
                    s = t.sum()
                    parts.append(s if s.dtype == loss.dtype else s.to(loss.dtype))
                    kinds.append(kind)
        return torch.stack(parts), tuple(kinds)  # [1 + parts]

    def _record(
        self,
        record: Tensor,
        kinds: tuple[int, ...],
        sleep: Tensor | None,
        inputs: tuple[Tensor, Tensor | None] | None = None,
    ) -> None:
        # Stores one device vector: no sync here. Under torch.compile it runs outside the graph
        # (_record_outside_graph): traced, the append would make dynamo guard on the list's length
        # and recompile every call. Eager calls skip that wrapper's cost (a few microseconds).
        d = self.__dict__
        d["sleep_log_q_"], d["_sleep"] = sleep, None
        self._pending.append((record, kinds))
        d["_calls"] = self._calls + 1
        if len(self._pending) >= self._every(record):
            self._flush(inputs)

    def _record_copies(self, record: Tensor, kinds: tuple[int, ...], sleep: Tensor | None) -> None:
        # Outputs of a CUDA-graph replay live in memory that the next replay overwrites: keep copies.
        self._record(record.clone(), kinds, None if sleep is None else sleep.clone())

    # torch.compiler.disable, but importing torch._dynamo (1.5 s) only at the first call
    _record_outside_graph = torch._disable_dynamo(_record_copies)

    def _message(self, call: int, part: int) -> str:
        name, q, p = type(self).__name__, type(self.inf_net).__name__, type(self.gen_model).__name__
        tail = " Pass check_finite=False to skip this check."
        if part in (_X, _TARGET):
            what = "x" if part == _X else "target"
            return (
                f"{name}: the input {what} of call {call} contains NaN or infinite values (the models are not "
                "to blame); clean the data before the loss." + tail
            )
        if part == _LOG_P:
            return (
                f"{name}: {p}.log_prob returned NaN or +inf at call {call} (gen_model, wake phase); check the "
                "generative model." + tail
            )
        if part == _LOG_Q:
            return (
                f"{name}: {q}.log_prob returned a non-finite value at call {call} (inf_net, wake phase): q(z|x) "
                "gave its own sample zero or infinite density." + tail
            )
        return (
            f"{name}: {q}.log_prob gave a non-finite value at call {call} to a latent drawn from the generative "
            f"model {p} (inf_net, sleep phase): q(z|x) must cover p(z|x)." + tail
        )

    def _verify_detached(self, z: Tensor) -> None:
        """Check that ``log_prob_detached`` reaches q's parameters only through ``z``."""
        params = [w for w in self.inf_net.parameters() if w.requires_grad]
        if not params:
            return
        with torch.enable_grad():
            probe = self.inf_net.log_prob_detached(z.detach())  # [B, K]
            if not probe.requires_grad:
                return
            grads = torch.autograd.grad(probe.sum(), params, allow_unused=True)
        leaked = [
            n
            for (n, w), g in zip(((n, w) for n, w in self.inf_net.named_parameters() if w.requires_grad), grads)
            if g is not None
        ]
        if leaked:
            raise ValueError(
                f"{type(self).__name__}: {type(self.inf_net).__name__}.log_prob_detached(z) has a gradient path to "
                f"q's parameters other than through z (reaches {leaked}); its default detaches params_ only. "
                "Store every parameter log_prob reads in params_, or override log_prob_detached."
            )


def _no_callback() -> None:
    return None


# Not None while a torch.compile'd caller is active (its frame-evaluation callback); a C getter.
_in_compiled_region = getattr(
    getattr(getattr(torch._C, "_dynamo", None), "eval_frame", None), "get_eval_frame_callback", _no_callback
)


def _stored(t: Tensor) -> Tensor:
    """A detached view in eager mode (no copy per step). Under torch.compile a copy: a graph output
    that is a detached view of an intermediate (log_prob's movedim) breaks AOT autograd's view
    replay (torch 2.13), and inside a graph the copy is fused away or nearly free."""
    return t.detach().clone() if torch.compiler.is_compiling() else t.detach()


def _offsets(rows: list[Tensor]) -> list[int]:
    out, at = [], 0
    for r in rows:
        out.append(at)
        at += r.shape[0]
    return out


def _float_dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype of the module's first floating-point parameter, None if it has none."""
    first = _first_float(module)
    return None if first is None else first.dtype


def _first_float(module: nn.Module) -> Tensor | None:
    """The module's first floating-point parameter, None if it has none."""
    for w in module.parameters():
        if w.is_floating_point():
            return w
    return None


def _describe(t: object) -> str:
    return f"tensor of shape {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__


def _called(module: nn.Module, out: object, call: str):
    """Check what a model's forward returned: the model itself, with ``params_`` a dict."""
    if out is not module:
        hint = (
            (
                " (to define a model by a torch.distributions object, subclass DistributionInfNet or "
                "DistributionGenModel)"
            )
            if isinstance(out, torch.distributions.Distribution)
            else ""
        )
        raise TypeError(
            f"{type(module).__name__}.forward must store its parameters in params_ and return self; {call} returned "
            f"{type(out).__name__}{hint}"
        )
    params = getattr(module, "params_", None)
    if params is not None and not isinstance(
        params, dict
    ):  # unset is tolerated: only the default log_prob_detached reads it
        raise TypeError(
            f"{type(module).__name__}.params_ must be a dict of tensors (e.g. {{'logits': logits}}); forward set it to "
            f"{type(params).__name__}"
        )
    return module


def _check_target(target: Tensor, gen: GenModel) -> None:
    expected = getattr(gen, "x_shape_", None)
    if expected is not None and tuple(target.shape[1:]) != tuple(expected):
        raise ValueError(
            f"{type(gen).__name__}: the target (data scored by the likelihood) must have shape [B, *x_shape] = "
            f"[B, {', '.join(map(str, expected))}] to match the likelihood's event shape {tuple(expected)}; got "
            f"{tuple(target.shape)}"
        )


def _check_shape(t: Tensor, expected: Sequence[int], module: nn.Module, method: str) -> None:
    if not isinstance(t, Tensor) or tuple(t.shape) != tuple(expected):
        raise ValueError(
            f"{type(module).__name__}.{method} returned {_describe(t)}; expected shape [B, K] = {tuple(expected)}"
        )


def _check_leading(t: Tensor, expected: Sequence[int], module: nn.Module, method: str, spec: str) -> None:
    n = len(expected)
    if not isinstance(t, Tensor) or t.dim() < n or tuple(t.shape[:n]) != tuple(expected):
        raise ValueError(
            f"{type(module).__name__}.{method} returned {_describe(t)}; expected {spec} with [B, K] = {tuple(expected)}"
        )
