"""Float64 loop references of the estimators: plain Python over b and k, written from the papers' equations.

Each returns a ``[B]`` float64 tensor whose value is the bound and whose autograd gradient with
respect to ``log_p`` and ``log_q`` is the estimator's, so a test compares a vectorised estimator
with its reference in value AND gradient. They are slow on purpose (no vectorisation, VIMCO's
baseline in O(K^2)) and meant for K and B of a few.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from vaekit._math import with_grad

__all__ = ["elbo_reference", "iwae_reference", "vimco_reference", "assert_matches_reference", "assert_loss_matches_reference"]


def _check(log_p: Tensor, log_q: Tensor, min_k: int = 1) -> tuple[Tensor, Tensor]:
    if log_p.shape != log_q.shape or log_p.dim() != 2 or log_p.shape[1] < min_k:
        raise ValueError(
            f"expected log_p and log_q of one shape [B, K] with K >= {min_k}; got "
            f"{tuple(log_p.shape)} and {tuple(log_q.shape)}"
        )
    return log_p.to(torch.float64), log_q.to(torch.float64)


def _log_sum_exp(terms: list[Tensor]) -> Tensor:
    """log sum_i exp(t_i) of 0-d tensors, shifted by the (detached) largest term."""
    top = max(float(t.detach()) for t in terms)
    if math.isinf(top):
        return terms[0] * 0 + top
    return top + torch.log(sum(torch.exp(t - top) for t in terms))


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
        value = 0.0
        reinforce = 0.0
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
            reinforce = sum(bound.detach() * log_q[b, k] for k in range(k_size))
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
            geometric = sum(others) / (k_size - 1)
            baseline = _log_sum_exp(others + [geometric]) - math.log(k_size)
            surrogate = surrogate + (bound.detach() - baseline) * log_q[b, j]
        out.append(with_grad(bound, surrogate))
    return torch.stack(out)


def assert_matches_reference(estimate: Callable[..., Tensor], reference: Callable[..., Tensor],
                             inputs: Sequence[Tensor], *, rtol: float = 1e-6, atol: float = 1e-6,
                             generator: torch.Generator | None = None) -> None:
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
        torch.testing.assert_close(a, b.to(a.dtype), rtol=rtol, atol=atol,
                                   msg=lambda m, i=i: f"gradients w.r.t. input {i} differ: {m}")


def assert_loss_matches_reference(loss_fn, x: Tensor, reference: Callable[[Tensor, Tensor], Tensor], *,
                                  reparam: bool, seed: int = 0, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    """Assert that a Loss module wires its estimator correctly: on one replayed draw, its value and
    parameter gradients equal those of ``-mean_b reference(log_p, log_q)``.

    The loss is called once under ``torch.manual_seed(seed)``; the RNG is then replayed and
    ``loss_fn.draw`` gives the same ``log_p``, ``log_q`` ``[B, K]`` that the reference scores. This
    checks what the pure-function test cannot: which sampler the module uses, what it passes to
    its estimator and how it reduces over the batch.

    Args:
        loss_fn: a vaekit ``Loss`` whose estimate is one ``draw`` followed by a pure function.
        x: a batch ``[B, *x_shape]``.
        reference: ``(log_p, log_q) -> [B]``, e.g. ``lambda lp, lq: iwae_reference(lp, lq, score_function=True)``.
        reparam: whether the loss draws with ``rsample``.
        seed: the seed both draws start from.
        rtol, atol: tolerances of ``torch.testing.assert_close`` for the gradients.

    Example:
        >>> from vaekit import VIMCO
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> assert_loss_matches_reference(VIMCO(q, p, n_samples=3), x, vimco_reference, reparam=False)
    """
    params = [p for p in loss_fn.parameters() if p.requires_grad]
    torch.manual_seed(seed)
    loss = loss_fn(x)
    g_mod = torch.autograd.grad(loss, params, allow_unused=True)
    torch.manual_seed(seed)
    _, log_p, log_q = loss_fn.draw(x, x, reparam=reparam)
    ref = -reference(log_p, log_q).mean()
    g_ref = torch.autograd.grad(ref, params, allow_unused=True)
    torch.testing.assert_close(loss.detach(), ref.detach().to(loss.dtype), rtol=1e-12, atol=1e-12,
                               msg=lambda m: f"values differ: {m}")
    for (name, _), a, b in zip([(n, p) for n, p in loss_fn.named_parameters() if p.requires_grad], g_mod, g_ref):
        a = torch.zeros_like(b) if a is None and b is not None else a
        b = torch.zeros_like(a) if b is None and a is not None else b
        if a is not None:
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=lambda m, name=name: f"gradient of {name} differs: {m}")


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
