"""Float64 loop references of every estimator: plain Python over b and k, written from the papers' equations.

Each returns a ``[B]`` float64 tensor whose value is the bound and whose autograd gradient with
respect to its ``[B, K]`` inputs is the estimator's, so a test compares a vectorised estimator
with its reference in value AND gradient. They are slow on purpose (no vectorisation, VIMCO's
baseline in O(K^2)) and meant for K and B of a few. The exact targets (enumeration, quadrature)
are in :mod:`vaekit.testing.oracle`. Two asserts use them: :func:`assert_matches_reference` (a
pure function against its reference) and :func:`assert_loss_matches_reference` (a Loss module,
replaying its draws, against its reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from vaekit._math import with_grad

__all__ = [
    "elbo_reference",
    "iwae_reference",
    "vimco_reference",
    "reinforce_reference",
    "loo_baseline_reference",
    "wake_sleep_reference",
    "rws_reference",
    "rws_dreg_reference",
    "stl_reference",
    "dreg_reference",
    "assert_matches_reference",
    "assert_loss_matches_reference",
    "arm_reference",
    "disarm_reference",
    "local_disarm_reference",
    "arms_reference",
    "categorical_disarm_reference",
    "categorical_disarm_iw_reference",
    "enumerate_reference",
    "indecater_reference",
    "rebar_reference",
]


def _check(log_p: Tensor, log_q: Tensor, min_k: int = 1) -> tuple[Tensor, Tensor]:
    if log_p.shape != log_q.shape or log_p.dim() != 2 or log_p.shape[1] < min_k:
        raise ValueError(
            f"expected log_p and log_q of one shape [B, K] with K >= {min_k}; got "
            f"{tuple(log_p.shape)} and {tuple(log_q.shape)}"
        )
    return log_p.to(torch.float64), log_q.to(torch.float64)


_ZERO = torch.zeros((), dtype=torch.float64)  # the start of every loop sum (0-d: combines with any device)


def _total(terms: Sequence[Tensor]) -> Tensor:
    """Sum of 0-d tensors in list order, by a plain loop."""
    out = _ZERO
    for t in terms:
        out = out + t
    return out


def _log_sum_exp(terms: list[Tensor]) -> Tensor:
    """log sum_i exp(t_i) of 0-d tensors, shifted by the (detached) largest term; the one
    log-sum-exp of the references (all terms -inf give -inf)."""
    top = max(float(t.detach()) for t in terms)
    if math.isinf(top):
        return terms[0].detach() * 0 + top
    return top + torch.log(_total([torch.exp(t - top) for t in terms]))


def elbo_reference(log_p: Tensor, log_q: Tensor, *, score_function: bool) -> Tensor:
    """Loop reference of the K-sample ELBO estimate.

    Value:     (1/K) sum_k (log p_k - log q_k).
    Gradient:  pathwise: (1/K) sum_k grad log w_k; score function: adds (1/K) sum_k log w_k grad log q_k.

    Shapes:
        log_p, log_q: ``[B, K]``; returns ``[B]`` float64.

    Example:
        >>> elbo_reference(torch.zeros(1, 2), torch.ones(1, 2), score_function=False).tolist()
        [-1.0]
    """
    log_p, log_q = _check(log_p, log_q)
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        value, reinforce = _ZERO, _ZERO
        for k in range(k_size):
            log_w = log_p[b, k] - log_q[b, k]
            value = value + log_w / k_size
            reinforce = reinforce + log_w.detach() * log_q[b, k] / k_size
        out.append(with_grad(value, value + reinforce) if score_function else value)
    return torch.stack(out)


def iwae_reference(log_p: Tensor, log_q: Tensor, *, score_function: bool) -> Tensor:
    """Loop reference of the IWAE_K estimate.

    Value:     L = log (1/K) sum_k w_k.
    Gradient:  sum_k wt_k grad log w_k (autograd of L); score function adds L * sum_k grad log q_k.

    Shapes:
        log_p, log_q: ``[B, K]``; returns ``[B]`` float64.

    Example:
        >>> round(iwae_reference(torch.zeros(1, 2), torch.tensor([[0.0, -1.0]]), score_function=True).item(), 6)
        0.620115
    """
    log_p, log_q = _check(log_p, log_q)
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k] - log_q[b, k] for k in range(k_size)]
        bound = _log_sum_exp(log_ws) - math.log(k_size)
        if score_function:
            reinforce = _total([bound.detach() * log_q[b, k] for k in range(k_size)])
            out.append(with_grad(bound, bound + reinforce))
        else:
            out.append(bound)
    return torch.stack(out)


def vimco_reference(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Loop reference of VIMCO, with the leave-one-out baseline built naively in O(K^2).

    Value:     L = log (1/K) sum_k w_k.
    Baseline:  L_{-j} = log (1/K) [ sum_{k != j} w_k + exp( (1/(K-1)) sum_{k != j} log w_k ) ]
               (Mnih & Rezende 2016, eqs. 9-10: w_j replaced by the geometric mean of the others).
    Gradient:  sum_j (L - L_{-j}) grad log q_j + sum_j wt_j grad log w_j.

    Shapes:
        log_p, log_q: ``[B, K]`` with K >= 2; returns ``[B]`` float64.

    Example:
        >>> vimco_reference(torch.zeros(1, 3), torch.zeros(1, 3)).tolist()
        [0.0]
    """
    log_p, log_q = _check(log_p, log_q, min_k=2)
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k] - log_q[b, k] for k in range(k_size)]
        bound = _log_sum_exp(log_ws) - math.log(k_size)
        surrogate = bound
        for j in range(k_size):
            others = [log_ws[k].detach() for k in range(k_size) if k != j]
            geometric = _total(others) / (k_size - 1)
            baseline = _log_sum_exp(others + [geometric]) - math.log(k_size)
            surrogate = surrogate + (bound.detach() - baseline) * log_q[b, j]
        out.append(with_grad(bound, surrogate))
    return torch.stack(out)


def _weights(log_ws: list[Tensor]) -> list[Tensor]:
    """Self-normalised weights of a list of 0-d log-weights, detached."""
    total = _log_sum_exp([lw.detach() for lw in log_ws])
    return [torch.exp(lw.detach() - total) for lw in log_ws]


def loo_baseline_reference(signal: Tensor) -> Tensor:
    """b_k = mean of the other K-1 entries, by an explicit O(K^2) loop. ``[B, K]`` -> ``[B, K]``.

    Example:
        >>> loo_baseline_reference(torch.tensor([[1.0, 2.0, 6.0]])).tolist()
        [[4.0, 3.5, 1.5]]
    """
    b_size, k_size = signal.shape
    out = torch.empty_like(signal, dtype=torch.float64)
    for b in range(b_size):
        for k in range(k_size):
            out[b, k] = sum(float(signal[b, j]) for j in range(k_size) if j != k) / (k_size - 1)
    return out


def reinforce_reference(log_p: Tensor, log_q: Tensor, baseline: Tensor, scale: float = 1.0) -> Tensor:
    """Value (1/K) sum_k log w_k; gradient (1/K) sum_k [grad log w_k + (log w_k - b_k)/s grad log q_k].

    Shapes:
        log_p, log_q, baseline: ``[B, K]``; returns ``[B]`` float64.

    Example:
        >>> reinforce_reference(torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1, 2)).tolist()
        [-1.0]
    """
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        value, surrogate = _ZERO, _ZERO
        for k in range(k_size):
            log_w = log_p[b, k].double() - log_q[b, k].double()
            value = value + log_w / k_size
            coef = (log_w.detach() - float(baseline[b, k])) / scale
            surrogate = surrogate + (log_w + coef * log_q[b, k].double()) / k_size
        out.append(with_grad(value, surrogate))
    return torch.stack(out)


def wake_sleep_reference(log_p: Tensor, log_q: Tensor, sleep_log_q: Tensor) -> Tensor:
    """Value (1/K) sum_k log w_k; gradient (1/K) sum_k grad log p_k + (1/N) sum_n grad log q(z'_n|x'_n).

    Example:
        >>> wake_sleep_reference(torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(3)).tolist()
        [-1.0]
    """
    b_size, k_size = log_p.shape
    sleep = _total([sleep_log_q[n].double() for n in range(sleep_log_q.shape[0])]) / sleep_log_q.shape[0]
    out = []
    for b in range(b_size):
        value = _total([log_p[b, k].double() - log_q[b, k].double() for k in range(k_size)]) / k_size
        surrogate = _total([log_p[b, k].double() for k in range(k_size)]) / k_size + sleep
        out.append(with_grad(value, surrogate))
    return torch.stack(out)


def rws_reference(
    log_p: Tensor, log_q: Tensor, sleep_log_q: Tensor | None = None, *, wake_weight: float = 1.0
) -> Tensor:
    """RWS: value log (1/K) sum_k w_k; gradient sum_k wt_k grad log p_k (theta)
    + wake_weight * sum_k wt_k grad log q_k + (1 - wake_weight) * mean_n grad sleep_log_q_n.

    Example:
        >>> round(rws_reference(torch.zeros(1, 2), torch.tensor([[0.0, -1.0]])).item(), 6)
        0.620115
    """
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k].double() - log_q[b, k].double() for k in range(k_size)]
        wts = _weights(log_ws)
        surrogate = _ZERO
        for k in range(k_size):
            if wts[k] > 0:  # an impossible latent (log p = -inf) has weight 0 and adds nothing
                surrogate = surrogate + wts[k] * log_p[b, k].double() + wake_weight * wts[k] * log_q[b, k].double()
        out.append(with_grad(_log_sum_exp(log_ws) - math.log(k_size), surrogate + _sleep(sleep_log_q, wake_weight)))
    return torch.stack(out)


def rws_dreg_reference(
    log_p: Tensor,
    log_q_stopped: Tensor,
    log_p_fixed_z: Tensor,
    sleep_log_q: Tensor | None = None,
    *,
    wake_weight: float = 1.0,
) -> Tensor:
    """RWS with DReG's wake-phi: value log (1/K) sum_k w_k; gradient sum_k wt_k grad log p_fixed_k (theta)
    + wake_weight * sum_k (wt_k - wt_k^2) grad(log p_k - log p_fixed_k - log q_stopped_k)
    + (1 - wake_weight) * mean_n grad sleep_log_q_n.

    Example:
        >>> round(rws_dreg_reference(torch.zeros(1, 2), torch.tensor([[0.0, -1.0]]), torch.zeros(1, 2)).item(), 6)
        0.620115
    """
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k].double() - log_q_stopped[b, k].double() for k in range(k_size)]
        wts = _weights(log_ws)
        surrogate = _ZERO
        for k in range(k_size):
            if wts[k] > 0:
                path = log_p[b, k].double() - log_p_fixed_z[b, k].double() - log_q_stopped[b, k].double()
                surrogate = (
                    surrogate + wts[k] * log_p_fixed_z[b, k].double() + wake_weight * (wts[k] - wts[k] ** 2) * path
                )
        out.append(with_grad(_log_sum_exp(log_ws) - math.log(k_size), surrogate + _sleep(sleep_log_q, wake_weight)))
    return torch.stack(out)


def _sleep(sleep_log_q: Tensor | None, wake_weight: float) -> Tensor:
    if wake_weight >= 1:
        return _ZERO
    if sleep_log_q is None:
        raise ValueError(f"wake_weight={wake_weight} < 1 needs sleep_log_q")
    n = sleep_log_q.shape[0]
    return (1 - wake_weight) * _total([sleep_log_q[i].double() for i in range(n)]) / n


def stl_reference(log_p: Tensor, log_q_stopped: Tensor) -> Tensor:
    """STL: value and gradient (1/K) sum_k log w_k, log w_k = log p_k - log q_stopped_k (so only the
    path through z carries phi's gradient).

    Example:
        >>> stl_reference(torch.zeros(1, 2), torch.ones(1, 2)).tolist()
        [-1.0]
    """
    b_size, k_size = log_p.shape
    return torch.stack(
        [
            _total([log_p[b, k].double() - log_q_stopped[b, k].double() for k in range(k_size)]) / k_size
            for b in range(b_size)
        ]
    )


def dreg_reference(log_p: Tensor, log_q_stopped: Tensor, log_p_fixed_z: Tensor) -> Tensor:
    """DReG: value log mean w; gradient sum_k wt_k grad log p_fixed_k
    + sum_k wt_k^2 grad(log p_k - log p_fixed_k - log q_stopped_k).

    Example:
        >>> round(dreg_reference(torch.zeros(1, 2), torch.tensor([[0.0, -1.0]]), torch.zeros(1, 2)).item(), 6)
        0.620115
    """
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k].double() - log_q_stopped[b, k].double() for k in range(k_size)]
        wts = _weights(log_ws)
        surrogate = _ZERO
        for k in range(k_size):
            path = log_p[b, k].double() - log_p_fixed_z[b, k].double() - log_q_stopped[b, k].double()
            surrogate = surrogate + wts[k] * log_p_fixed_z[b, k].double() + wts[k] ** 2 * path
        out.append(with_grad(_log_sum_exp(log_ws) - math.log(k_size), surrogate))
    return torch.stack(out)


def assert_matches_reference(
    estimate: Callable[..., Tensor],
    reference: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    *,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    generator: torch.Generator | None = None,
) -> None:
    """Assert that a vectorised estimator equals its loop reference in value AND gradient.

    Both callables take ``*inputs`` (``[B, K]`` log-weights and the like; close over any options)
    and return ``[B]``. Gradients are those of ``sum_b c_b * out_b`` with respect to every input,
    for a random cotangent ``c`` (so each example's gradient is checked, not only their sum);
    inputs an estimator does not use count as zero gradient.

    Shapes:
        inputs: tensors with ``requires_grad=True``, the first of shape ``[B, ...]``.

    Args:
        estimate: the function under test.
        reference: its float64 loop reference (e.g. :func:`vimco_reference`).
        inputs: the arguments of both.
        rtol, atol: tolerances of ``torch.testing.assert_close``.
        generator: draws the cotangent (default: torch's global RNG).

    Example:
        >>> from vaekit.losses import vimco_estimate
        >>> lp, lq = (torch.randn(3, 4, dtype=torch.float64, requires_grad=True) for _ in range(2))
        >>> assert_matches_reference(vimco_estimate, vimco_reference, [lp, lq])
    """
    inputs = list(inputs)
    out, ref = estimate(*inputs), reference(*inputs)  # [B] each
    torch.testing.assert_close(out, ref.to(out.dtype), rtol=rtol, atol=atol, msg=lambda m: f"values differ: {m}")
    cot = torch.randn(out.shape, generator=generator, dtype=out.dtype, device=out.device)  # [B]
    grads = []
    for value in (out, ref):
        g = torch.autograd.grad((cot * value).sum(), inputs, allow_unused=True, retain_graph=True)
        grads.append([torch.zeros_like(i) if d is None else d for i, d in zip(inputs, g)])
    for i, (a, b) in enumerate(zip(*grads)):
        torch.testing.assert_close(
            a, b.to(a.dtype), rtol=rtol, atol=atol, msg=_prefixed(f"gradients w.r.t. input {i} differ")
        )


def assert_loss_matches_reference(
    loss_fn, x: Tensor, reference: Callable[..., Tensor], *, seed: int = 0, rtol: float = 1e-10, atol: float = 1e-12
) -> None:
    """Assert that a Loss module wires its estimator correctly: on the same draws, its value and
    parameter gradients equal those of ``-mean_b reference(loss_fn, x)``.

    ``reference(loss_fn, x)`` replays the module's draws with its own helpers
    (``loss_fn.draw``, ``loss_fn.stopped_terms``, ``loss_fn.sleep_log_q``, in the module's order)
    and returns the loop reference ``[B]`` of what it drew. It runs first, under
    ``torch.manual_seed(seed)``, so a reference that reads running state (a moving-average
    baseline) reads the state the module reads; the module is then called from the same seed.
    This checks what the pure-function test cannot: which sampler the module uses, what it passes
    to its estimator, how it applies its baselines and how it reduces over the batch.

    Args:
        loss_fn: a vaekit ``Loss``.
        x: a batch ``[B, *x_shape]``.
        reference: ``(loss_fn, x) -> [B]``, e.g. for VIMCO
            ``lambda m, x: vimco_reference(*m.draw(x, x, reparam=False)[1:])``.
        seed: the seed both runs start from.
        rtol, atol: tolerances of ``torch.testing.assert_close`` for the gradients.

    Example:
        >>> from vaekit import VIMCO
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> assert_loss_matches_reference(VIMCO(q, p, n_samples=3), x,
        ...                               lambda m, x: vimco_reference(*m.draw(x, x, reparam=False)[1:]))
    """
    named = [(n, p) for n, p in loss_fn.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    torch.manual_seed(seed)
    ref = -reference(loss_fn, x).mean()
    g_ref = torch.autograd.grad(ref, params, allow_unused=True)
    torch.manual_seed(seed)
    loss = loss_fn(x)
    g_mod = torch.autograd.grad(loss, params, allow_unused=True)
    torch.testing.assert_close(
        loss.detach(), ref.detach().to(loss.dtype), rtol=1e-12, atol=1e-12, msg=lambda m: f"values differ: {m}"
    )
    for (name, _), a, b in zip(named, g_mod, g_ref):
        a = torch.zeros_like(b) if a is None and b is not None else a
        b = torch.zeros_like(a) if b is None and a is not None else b
        if a is not None:
            torch.testing.assert_close(
                a, b.to(a.dtype), rtol=rtol, atol=atol, msg=_prefixed(f"gradient of {name} differs")
            )


def _prefixed(prefix: str) -> Callable[[str], str]:
    """A ``msg`` callable for ``torch.testing.assert_close`` that puts ``prefix`` before its message."""

    def message(m: str) -> str:
        return f"{prefix}: {m}"

    return message


# -- discrete-latent estimators (issue 12) ------------------------------------------------------
# Each takes the logits a [B, *z_shape] (differentiable, into q), the noise the module drew and the
# scores f; it returns [B] float64 whose value is the bound and whose gradient in a is the
# estimator's per-coordinate formula, written with Python loops over rows, samples and coordinates.


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _with_logit_gradient(value: Tensor, logits: Tensor, row: int, grads: Sequence[float]) -> Tensor:
    """``value`` (0-d) whose gradient adds ``grads[i]`` to coordinate i of ``logits[row]`` (flattened)."""
    flat = logits[row].reshape(-1).to(torch.float64)
    path = _total([flat[i] * g for i, g in enumerate(grads)])
    return with_grad(value, value + path - path.detach())


def arm_reference(logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor) -> Tensor:
    """Loop reference of ARM (Yin & Zhou 2019) with the antithetic pair b = 1[u < sigma(a)], b~ = 1[u > sigma(-a)].

    Value:     (f(b) + f(b~)) / 2.
    Gradient:  in f and f~: 1/2 each; in a_i: (f(b~) - f(b)) (u_i - 1/2).

    Shapes:
        logits, u: ``[B, *z_shape]``; f, f_anti: ``[B]``; returns ``[B]`` float64.

    Example:
        >>> arm_reference(torch.zeros(1, 2), torch.full((1, 2), 0.25), torch.ones(1), torch.zeros(1)).tolist()
        [0.5]
    """
    out = []
    for r in range(logits.shape[0]):
        value = 0.5 * (f[r].to(torch.float64) + f_anti[r].to(torch.float64))
        d = float(f_anti[r].detach()) - float(f[r].detach())
        out.append(_with_logit_gradient(value, logits, r, [d * (float(ui) - 0.5) for ui in u[r].reshape(-1)]))
    return torch.stack(out)


def disarm_reference(logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor) -> Tensor:
    """Loop reference of DisARM (Dong, Mnih & Tucker 2020, eq. 6), the same antithetic pair as ARM.

    Value:     (f(b) + f(b~)) / 2.
    Gradient:  in a_i: (f(b) - f(b~)) / 2 * (-1)^{b~_i} sigma(|a_i|) 1[b_i != b~_i].

    Shapes:
        logits, u: ``[B, *z_shape]``; f, f_anti: ``[B]``; returns ``[B]`` float64.

    Example:
        >>> disarm_reference(torch.zeros(1, 2), torch.full((1, 2), 0.25), torch.ones(1), torch.zeros(1)).tolist()
        [0.5]
    """
    out = []
    for r in range(logits.shape[0]):
        value = 0.5 * (f[r].to(torch.float64) + f_anti[r].to(torch.float64))
        d = float(f[r].detach()) - float(f_anti[r].detach())
        grads = []
        for ai, ui in zip(logits[r].reshape(-1).tolist(), u[r].reshape(-1).tolist()):
            b, bt = ui < _sig(ai), ui > _sig(-ai)
            grads.append(0.5 * d * (-1) ** bt * _sig(abs(ai)) if b != bt else 0.0)
        out.append(_with_logit_gradient(value, logits, r, grads))
    return torch.stack(out)


def local_disarm_reference(logits: Tensor, u: Tensor, log_w: Tensor, log_w_anti: Tensor) -> Tensor:
    """Loop reference of local DisARM for IWAE (Dong, Mnih & Tucker 2020, section 4): n antithetic pairs.

    Value:     (IWAE_n(w) + IWAE_n(w~)) / 2, gradient through the log-weights by autograd.
    Gradient:  in a_i: (1/4) sum_k [(L(w) - L(w with w_k := w~_k)) - (L(w~) - L(w~ with w~_k := w_k))]
               (-1)^{b~_ki} sigma(|a_i|) 1[b_ki != b~_ki], L = log mean exp.

    Shapes:
        logits: ``[B, *z_shape]``; u: ``[B, n, *z_shape]``; log_w, log_w_anti: ``[B, n]``; returns ``[B]`` float64.

    Example:
        >>> out = local_disarm_reference(torch.zeros(1, 1), torch.full((1, 1, 1), 0.25),
        ...                              torch.zeros(1, 1), torch.zeros(1, 1))
        >>> out.tolist()
        [0.0]
    """
    n = log_w.shape[1]

    def lme(xs: list[float]) -> float:
        top = max(xs)
        return top + math.log(sum(math.exp(v - top) for v in xs) / len(xs))

    out = []
    for r in range(logits.shape[0]):
        lw = [log_w[r, k].to(torch.float64) for k in range(n)]
        lwa = [log_w_anti[r, k].to(torch.float64) for k in range(n)]
        value = 0.5 * (_log_sum_exp(lw) + _log_sum_exp(lwa)) - math.log(n)
        w, wa = [float(t.detach()) for t in lw], [float(t.detach()) for t in lwa]
        a_row = logits[r].reshape(-1).tolist()
        grads = [0.0] * len(a_row)
        for k in range(n):
            d = lme(w) - lme(w[:k] + [wa[k]] + w[k + 1 :])
            dt = lme(wa) - lme(wa[:k] + [w[k]] + wa[k + 1 :])
            for i, (ai, uki) in enumerate(zip(a_row, u[r, k].reshape(-1).tolist())):
                b, bt = uki < _sig(ai), uki > _sig(-ai)
                if b != bt:
                    grads[i] += 0.25 * (d - dt) * (-1) ** bt * _sig(abs(ai))
        out.append(_with_logit_gradient(value, logits, r, grads))
    return torch.stack(out)


def arms_reference(logits: Tensor, b: Tensor, f: Tensor) -> Tensor:
    """Loop reference of ARMS (Dimitriev & Zhou 2021) with M Dirichlet-copula antithetic samples.

    Value:     (1/M) sum_j f(b_j).
    Gradient:  in a_i: 1/(M (1 - rho_i)) sum_j (f_j - mean_{l != j} f_l)(b_ji - p_i), p = sigma(a),
               rho_i = (P(u_1 < p, u_2 < p) - p^2) / (p (1 - p)) with P(.) = 2p - 1 + max(0, 1 - 2 alpha)^(M-1),
               alpha = 1 - (1 - p)^(1/(M-1)) (the copula's pairwise joint, written directly).

    Shapes:
        logits: ``[B, *z_shape]``; b: ``[B, M, *z_shape]``; f: ``[B, M]``; returns ``[B]`` float64.

    Example:
        >>> b = torch.tensor([[[1.0], [0.0]]])
        >>> arms_reference(torch.zeros(1, 1), b, torch.tensor([[1.0, 0.0]])).tolist()
        [0.5]
    """
    m = f.shape[1]
    out = []
    for r in range(logits.shape[0]):
        fr = [float(v) for v in f[r].detach()]
        value = _total([f[r, j].to(torch.float64) / m for j in range(m)])
        grads = []
        for i, ai in enumerate(logits[r].reshape(-1).tolist()):
            p = _sig(ai)
            al = 1 - (1 - p) ** (1 / (m - 1))
            joint = 2 * p - 1 + max(0.0, 1 - 2 * al) ** (m - 1)
            rho = (joint - p * p) / (p * (1 - p))
            s = sum((fr[j] - (sum(fr) - fr[j]) / (m - 1)) * (float(b[r, j].reshape(-1)[i]) - p) for j in range(m))
            grads.append(s / (m * (1 - rho)))
        out.append(_with_logit_gradient(value, logits, r, grads))
    return torch.stack(out)


def _coding(values: list[float], logits_order: str | None) -> list[int]:
    """Class indices in coding order: as given, or sorted by value (ties by index)."""
    idx = list(range(len(values)))
    if logits_order is None:
        return idx
    return sorted(idx, key=lambda i: (-values[i] if logits_order == "descending" else values[i], i))


def categorical_disarm_reference(
    logits: Tensor,
    u: Tensor,
    f: Tensor,
    f_anti: Tensor,
    *,
    one_hot: bool,
    rao_blackwell: bool = False,
    logits_order: str | None = None,
) -> Tensor:
    """Loop reference of categorical DisARM-SB (Dong, Mnih & Tucker 2021): DisARM on the stick-breaking logits.

    Value:     (f(z) + f(z~)) / 2.
    Gradient:  DisARM's in each stick-breaking logit beta_j = log pi_(j) - log sum_{l > j} pi_(l) of the
               classes in coding order ``logits_order`` (None, "ascending", "descending" by value),
               carried to the logits a by autograd of beta(a) written per class (one_hot);
               ``rao_blackwell``: the decision's term when only one draw reads it is 1/2 (f - f~) times
               (b_j - s_j) (z reads it) or (s_j - b~_j) (z~ reads it), 0 when neither does.
               Bernoulli latents (not one_hot) are DisARM itself.

    Shapes:
        logits: ``[B, *vars, C]`` (one_hot) or ``[B, *z_shape]``; u: ``[B, *vars, C - 1]`` or
        ``[B, *z_shape]``; f, f_anti: ``[B]``; returns ``[B]`` float64.

    Example:
        >>> out = categorical_disarm_reference(torch.zeros(1, 1, 3), torch.full((1, 1, 2), 0.2),
        ...                                    torch.ones(1), torch.zeros(1), one_hot=True)
        >>> out.tolist()
        [0.5]
    """
    if not one_hot:
        return disarm_reference(logits, u, f, f_anti)
    c = logits.shape[-1]
    out = []
    for r in range(logits.shape[0]):
        value = 0.5 * (f[r].to(torch.float64) + f_anti[r].to(torch.float64))
        d = float(f[r].detach()) - float(f_anti[r].detach())
        rows, u_rows = logits[r].reshape(-1, c).to(torch.float64), u[r].reshape(-1, c - 1)
        path = _ZERO
        for v in range(rows.shape[0]):
            order = _coding(rows[v].tolist(), logits_order)
            log_pi = [rows[v, k] - _log_sum_exp([rows[v, cl] for cl in range(c)]) for k in order]
            z = zt = c - 1  # the coded classes of the pair: first decision that stops
            for j in range(c - 2, -1, -1):
                bj = float((log_pi[j] - _log_sum_exp(log_pi[j + 1 :])).detach())
                if float(u_rows[v, j]) < _sig(bj):
                    z = j
                if float(u_rows[v, j]) > _sig(-bj):
                    zt = j
            for j in range(c - 1):
                beta = log_pi[j] - _log_sum_exp(log_pi[j + 1 :])
                bj, uj = float(beta.detach()), float(u_rows[v, j])
                b, bt = uj < _sig(bj), uj > _sig(-bj)
                if rao_blackwell and not (z >= j and zt >= j):
                    w = (float(b) - _sig(bj)) if z >= j else (_sig(bj) - float(bt)) if zt >= j else 0.0
                    path = path + beta * (0.5 * d * w)
                elif b != bt:
                    path = path + beta * (0.5 * d * (-1) ** bt * _sig(abs(bj)))
        out.append(with_grad(value, value + path - path.detach()))
    return torch.stack(out)


def categorical_disarm_iw_reference(logits: Tensor, u: Tensor, f: Tensor, f_anti: Tensor, *, one_hot: bool) -> Tensor:
    """Loop reference of DisARM-IW (Dong, Mnih & Tucker 2021): importance-weighted RLOO-2 on the coupled pair.

    Value:     (f(z) + f(z~)) / 2.
    Gradient:  per variable, pi_z pi_z~ / q(z, z~) * 1/2 (f(z) - f(z~)) * grad (log pi_z - log pi_z~),
               with the stick-breaking coupling's joint q(z, z~) computed by a loop over the decisions
               (classes coded in ascending order of the logits): both draws pass decision j with
               probability max(0, 1 - 2 s_j), they split at it with probability min(s_j, 1 - s_j),
               after it only the longer draw's decisions count (1 - s_j, then s_h). Bernoulli
               latents (not one_hot) are DisARM itself.

    Shapes:
        logits: ``[B, *vars, C]`` (one_hot) or ``[B, *z_shape]``; u: ``[B, *vars, C - 1]`` or
        ``[B, *z_shape]``; f, f_anti: ``[B]``; returns ``[B]`` float64.

    Example:
        >>> out = categorical_disarm_iw_reference(torch.zeros(1, 1, 3), torch.full((1, 1, 2), 0.2),
        ...                                       torch.ones(1), torch.zeros(1), one_hot=True)
        >>> out.tolist()
        [0.5]
    """
    if not one_hot:
        return disarm_reference(logits, u, f, f_anti)
    c = logits.shape[-1]
    out = []
    for r in range(logits.shape[0]):
        value = 0.5 * (f[r].to(torch.float64) + f_anti[r].to(torch.float64))
        d = float(f[r].detach()) - float(f_anti[r].detach())
        rows, u_rows = logits[r].reshape(-1, c).to(torch.float64), u[r].reshape(-1, c - 1)
        path = _ZERO
        for v in range(rows.shape[0]):
            order = _coding(rows[v].tolist(), "ascending")
            pi = [math.exp(x) for x in rows[v].tolist()]
            pi = [pi[k] / sum(pi) for k in order]  # coded order
            s = [pi[j] / sum(pi[j:]) for j in range(c - 1)] + [1.0]
            z = zt = c - 1
            for j in range(c - 2, -1, -1):
                if float(u_rows[v, j]) < s[j]:
                    z = j
                if float(u_rows[v, j]) > 1 - s[j]:
                    zt = j
            if z == zt:
                continue
            lo, hi = min(z, zt), max(z, zt)
            joint = 1.0
            for j in range(lo):
                joint *= max(0.0, 1 - 2 * s[j])
            joint *= min(s[lo], 1 - s[lo])
            for j in range(lo + 1, hi):
                joint *= 1 - s[j]
            joint *= s[hi]
            w = pi[z] * pi[zt] / joint
            log_norm = _log_sum_exp([rows[v, cl] for cl in range(c)])
            score = (rows[v, order[z]] - log_norm) - (rows[v, order[zt]] - log_norm)
            path = path + score * (0.5 * d * w)
        out.append(with_grad(value, value + path - path.detach()))
    return torch.stack(out)


def enumerate_reference(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Loop reference of the exact ELBO over all M configurations: sum_m q_m (log p_m - log q_m).

    Shapes:
        log_p, log_q: ``[B, M]`` (every configuration); returns ``[B]`` float64.

    Example:
        >>> half = torch.full((1, 2), math.log(0.5))
        >>> round(enumerate_reference(torch.zeros(1, 2), half).item(), 4)  # log 2
        0.6931
    """
    log_p, log_q = _check(log_p, log_q)
    return torch.stack(
        [
            _total([torch.exp(log_q[b, m]) * (log_p[b, m] - log_q[b, m]) for m in range(log_p.shape[1])])
            for b in range(log_p.shape[0])
        ]
    )


def indecater_reference(probs: Tensor, f: Tensor, f_base: Tensor) -> Tensor:
    """Loop reference of IndeCateR (De Smet et al. 2023): every class of every variable, per sample.

    Value:     (1/N) sum_n f(z_n).
    Gradient:  in probs: (1/N) sum_n sum_{d, c} grad p_d(c) f(z_n with z_nd := c); in the models
               through f: (1/(N V)) sum_{n, d, c} p_d(c) grad f(z_n with z_nd := c).

    Shapes:
        probs: ``[B, V, C]``; f: ``[B, N, V, C]``; f_base: ``[B, N]``; returns ``[B]`` float64.

    Example:
        >>> p = torch.full((1, 1, 2), 0.5)
        >>> indecater_reference(p, torch.tensor([[[[0.0, 1.0]]]]), torch.tensor([[1.0]])).tolist()
        [1.0]
    """
    bsz, n, v, c = f.shape
    probs, f, f_base = probs.to(torch.float64), f.to(torch.float64), f_base.to(torch.float64)
    out = []
    for b in range(bsz):
        value = _total([f_base[b, k] / n for k in range(n)])
        terms = []
        for k in range(n):
            for d in range(v):
                for cl in range(c):
                    terms.append(probs[b, d, cl].detach() * f[b, k, d, cl] / (n * v))  # model path
                    terms.append(probs[b, d, cl] * f[b, k, d, cl].detach() / n)  # logit path
        surrogate = _total(terms)
        out.append(with_grad(value, surrogate))
    return torch.stack(out)


def rebar_reference(
    logits: Tensor,
    b: Tensor,
    f: Tensor,
    control: Callable[[Tensor, Tensor], Tensor],
    v: Tensor,
    u: Tensor,
    control_params: Sequence[Tensor],
    temperature: Tensor,
) -> Tensor:
    """Loop reference of REBAR / RELAX (Tucker et al. 2017; Grathwohl et al. 2018, eq. 7) for one sample.

    With z = a + log u - log(1 - u) (so b = 1[z > 0]) and z~ = a + log U - log(1 - U) the conditional
    draw (U = 1 - p v if b = 1, (1 - p) v if b = 0, p = sigma(a)), each written per coordinate:

    Value:     f(b).
    Gradient:  in a_i: g_i = (f - c(sigma(z~/lambda))) (b_i - p_i) + d/da_i [c(sigma(z/lambda)) - c(sigma(z~/lambda))];
               in the generative model: grad f; in ``control_params``: grad of (1/B) sum_b |g_b|^2
               (the control is trained in the same backward pass).

    ``control(relaxed [B, 2, *z_shape], rows) -> [B, 2]`` scores the relaxed pair.

    Shapes:
        logits, b, v, u: ``[B, *z_shape]``; f: ``[B]``; returns ``[B]`` float64.
    """
    bsz = logits.shape[0]
    a = logits.detach().to(torch.float64).requires_grad_()
    shape = a.shape
    flat_a, flat_b, flat_u, flat_v = a.reshape(bsz, -1), b.reshape(bsz, -1), u.reshape(bsz, -1), v.reshape(bsz, -1)
    zs, zts = [], []
    for r in range(bsz):
        for i in range(flat_a.shape[1]):
            ai, ui, vi = flat_a[r, i], float(flat_u[r, i].detach()), float(flat_v[r, i].detach())
            zs.append(ai + math.log(ui) - math.log1p(-ui))
            p = torch.sigmoid(ai)
            big_u = 1 - p * vi if float(flat_b[r, i].detach()) > 0.5 else (1 - p) * vi
            zts.append(ai + torch.log(big_u) - torch.log(1 - big_u))
    z, zt = torch.stack(zs).reshape(shape), torch.stack(zts).reshape(shape)
    relaxed = torch.sigmoid(torch.stack([z, zt], dim=1) / temperature)  # [B, 2, *z_shape]
    c = control(relaxed.to(logits.dtype), a)  # [B, 2]
    (path,) = torch.autograd.grad((c[:, 0] - c[:, 1]).sum(), a, create_graph=True)
    g_rows = []
    for r in range(bsz):
        signal = float(f[r].detach()) - c[r, 1]
        g_rows.append(
            torch.stack(
                [
                    signal * (float(flat_b[r, i].detach()) - _sig(float(flat_a[r, i].detach())))
                    + path.reshape(bsz, -1)[r, i]
                    for i in range(flat_a.shape[1])
                ]
            )
        )
    sq = _total([(g * g).sum() for g in g_rows]) / bsz
    params = [w for w in control_params if w.requires_grad]
    grads = torch.autograd.grad(sq, params, allow_unused=True)
    fit = _total([(gr.detach().to(torch.float64) * w).sum() for gr, w in zip(grads, params) if gr is not None])
    out = []
    for r in range(bsz):
        value = f[r].to(torch.float64)
        out.append(_with_logit_gradient(value, logits, r, g_rows[r].detach().tolist()) - (fit - fit.detach()))
    return torch.stack(out)


# -- Rényi (VR) and thermodynamic (TVO) objectives ------------------------------------------------
__all__ += ["vr_reference", "tvo_reference"]


def vr_reference(log_p: Tensor, log_q: Tensor, *, alpha: float, score_function: bool) -> Tensor:
    """Loop reference of the VR_alpha estimate (Li & Turner 2016), pathwise or score function.

    Value:     L = (1/t) log (1/K) sum_k w_k^t,  t = 1 - alpha;  at t = 0 the limit (1/K) sum_k log w_k.
    Gradient:  pathwise: autograd of L (sum_k w_k^t / sum_j w_j^t grad log w_k);
               score function: adds sum_j (L - L_{-j}) grad log q_j, L_{-j} being L with w_j replaced by
               the geometric mean of the other K-1 weights (built naively, O(K^2)).

    Shapes:
        log_p, log_q: ``[B, K]`` (K >= 2 for the score function); returns ``[B]`` float64.

    Example:
        >>> lp, lq = torch.zeros(1, 2), torch.tensor([[0.0, -1.0]])
        >>> round(vr_reference(lp, lq, alpha=0.0, score_function=False).item(), 6)
        0.620115
    """
    log_p, log_q = _check(log_p, log_q, min_k=2 if score_function else 1)
    t = 1.0 - float(alpha)
    b_size, k_size = log_p.shape

    def power_mean(log_ws: list[Tensor]) -> Tensor:
        if t == 0:
            return torch.stack(log_ws).mean()
        return (_log_sum_exp([t * lw for lw in log_ws]) - math.log(len(log_ws))) / t

    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k] - log_q[b, k] for k in range(k_size)]
        bound = power_mean(log_ws)
        if not score_function:
            out.append(bound)
            continue
        surrogate = bound
        for j in range(k_size):
            others = [log_ws[k].detach() for k in range(k_size) if k != j]
            geometric = torch.stack(others).sum() / (k_size - 1)
            surrogate = surrogate + (bound.detach() - power_mean(others + [geometric])) * log_q[b, j]
        out.append(with_grad(bound, surrogate))
    return torch.stack(out)


def tvo_reference(log_p: Tensor, log_q: Tensor, partition: Sequence[float]) -> Tensor:
    """Loop reference of the TVO estimate (Masrani, Le & Wood 2019) and its covariance gradient.

    Value:     sum_n (beta_{n+1} - beta_n) sum_k pi_nk log w_k,  pi_nk = w_k^beta_n / sum_j w_j^beta_n.
    Gradient:  sum_n (beta_{n+1} - beta_n) sum_k pi_nk [ grad log w_k + (log w_k - fbar_n)(grad log q_k
               + beta_n grad log w_k) ],  fbar_n = sum_k pi_nk log w_k, weights and fbar held constant.

    Shapes:
        log_p, log_q: ``[B, K]``; partition: N + 1 floats from 0 to 1; returns ``[B]`` float64.

    Example:
        >>> tvo_reference(torch.zeros(1, 2), torch.ones(1, 2), [0.0, 1.0]).tolist()
        [-1.0]
    """
    log_p, log_q = _check(log_p, log_q)
    betas = [float(v) for v in partition]
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k] - log_q[b, k] for k in range(k_size)]
        value, surrogate = 0.0, log_p.new_zeros(())
        for n in range(len(betas) - 1):
            beta, width = betas[n], betas[n + 1] - betas[n]
            tempered = [beta * float(lw.detach()) for lw in log_ws]
            top = max(tempered)
            norm = sum(math.exp(v - top) for v in tempered)
            pis = [math.exp(v - top) / norm for v in tempered]
            fbar = sum(pi * float(lw.detach()) for pi, lw in zip(pis, log_ws))
            value = value + width * fbar
            for k in range(k_size):
                centred = float(log_ws[k].detach()) - fbar
                surrogate = surrogate + width * pis[k] * (log_ws[k] + centred * (log_q[b, k] + beta * log_ws[k]))
        out.append(with_grad(torch.as_tensor(value, dtype=torch.float64), surrogate))
    return torch.stack(out)


__all__ += ["nvil_reference"]


def nvil_reference(log_p_layers: Tensor, log_q_layers: Tensor, baseline: Tensor, scale: Tensor) -> Tensor:
    """Loop reference of NVIL with per-layer learning signals (Mnih & Gregor 2014).

    Value:     (1/K) sum_k log w_k,  log w_k = sum_j log_p_layers[k, j] - sum_i log_q_layers[k, i].
    Signal:    layer i (0-based): l_ki = sum_{j >= i} log_p_layers[k, j] - sum_{j >= i} log_q_layers[k, j]
               (entry 0 of log_p_layers is log p(x | h^1), entry j log p(h^j | h^{j+1})).
    Gradient:  (1/K) sum_k [ grad log w_k + sum_i ((l_ki - b_ki) / s_i) grad log_q_layers[k, i] ].

    Shapes:
        log_p_layers: ``[B, K, L + 1]``; log_q_layers, baseline: ``[B, K, L]``; scale: ``[L]``; returns ``[B]``.

    Example:
        >>> nvil_reference(torch.zeros(1, 2, 3), torch.ones(1, 2, 2), torch.zeros(1, 2, 2), torch.ones(2)).tolist()
        [-2.0]
    """
    b_size, k_size, n_layers = log_q_layers.shape
    out = []
    for b in range(b_size):
        value = log_p_layers.new_zeros((), dtype=torch.float64)
        surrogate = log_p_layers.new_zeros((), dtype=torch.float64)
        for k in range(k_size):
            lp = [log_p_layers[b, k, j].double() for j in range(n_layers + 1)]
            lq = [log_q_layers[b, k, i].double() for i in range(n_layers)]
            log_w = torch.stack(lp).sum() - torch.stack(lq).sum()
            value = value + log_w / k_size
            surrogate = surrogate + log_w / k_size
            for i in range(n_layers):
                signal = float((torch.stack(lp[i:]).sum() - torch.stack(lq[i:]).sum()).detach())
                coef = (signal - float(baseline[b, k, i])) / float(scale[i])
                surrogate = surrogate + coef * lq[i] / k_size
        out.append(with_grad(value, surrogate))
    return torch.stack(out)
