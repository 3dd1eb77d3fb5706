"""Float64 loop references and exact targets for REINFORCE, wake-sleep, RWS, STL and DReG.

Loop references: plain Python over b and k, written from the papers' equations; each returns a
``[B]`` float64 tensor whose value is the bound and whose autograd gradient with respect to its
``[B, K]`` inputs is the estimator's. Exact targets: differentiable scalars whose gradients are
the exact expectations the estimators must match (sleep-phi, RWS wake-phi at finite K, the
posterior-fitting direction -grad KL(p(z|x) || q(z|x))), by enumeration or Gauss-Hermite quadrature.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit._math import with_grad
from vaekit.models import GenModel, InfNet
from vaekit.testing.oracle import all_states as _all_states, enumerate_binary, gauss_hermite, k_tuples as _tuples

__all__ = [
    "reinforce_reference",
    "wake_sleep_reference",
    "rws_reference",
    "stl_reference",
    "dreg_reference",
    "loo_baseline_reference",
    "exact_sleep_objective",
    "exact_posterior_fit",
    "exact_rws_wake_phi",
    "exact_rws_wake_phi_gaussian",
]


def _lse(terms: list[Tensor]) -> Tensor:
    top = max(float(t.detach()) for t in terms)
    return top + torch.log(sum(torch.exp(t - top) for t in terms))


def _weights(log_ws: list[Tensor]) -> list[Tensor]:
    """Self-normalised weights of a list of 0-d log-weights, detached."""
    total = _lse([lw.detach() for lw in log_ws])
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
        value, surrogate = 0.0, 0.0
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
    sleep = sum(sleep_log_q[n].double() for n in range(sleep_log_q.shape[0])) / sleep_log_q.shape[0]
    out = []
    for b in range(b_size):
        value = sum(log_p[b, k].double() - log_q[b, k].double() for k in range(k_size)) / k_size
        surrogate = sum(log_p[b, k].double() for k in range(k_size)) / k_size + sleep
        out.append(with_grad(value, surrogate))
    return torch.stack(out)


def rws_reference(log_p: Tensor, log_q: Tensor, sleep_log_q: Tensor | None = None, *, wake_weight: float = 1.0,
                  log_p_fixed_z: Tensor | None = None, log_q_stopped: Tensor | None = None) -> Tensor:
    """RWS: value log (1/K) sum_k w_k; gradient sum_k wt_k grad log p_k (theta) + wake_weight *
    [sum_k wt_k grad log q_k, or with DReG sum_k (wt_k - wt_k^2) grad(log p_k - log p_fixed_k - log q_stopped_k)]
    + (1 - wake_weight) * mean_n grad sleep_log_q_n.

    Example:
        >>> round(rws_reference(torch.zeros(1, 2), torch.tensor([[0.0, -1.0]])).item(), 6)
        0.620115
    """
    b_size, k_size = log_p.shape
    dreg = log_p_fixed_z is not None
    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k].double() - log_q[b, k].double() for k in range(k_size)]
        value = _lse(log_ws) - math.log(k_size)
        wts = _weights(log_ws)
        surrogate = 0.0
        for k in range(k_size):
            if dreg:
                surrogate = surrogate + wts[k] * log_p_fixed_z[b, k].double()
                path = log_p[b, k].double() - log_p_fixed_z[b, k].double() - log_q_stopped[b, k].double()
                surrogate = surrogate + wake_weight * (wts[k] - wts[k] ** 2) * path
            else:
                surrogate = surrogate + wts[k] * log_p[b, k].double() + wake_weight * wts[k] * log_q[b, k].double()
        if wake_weight < 1:
            n = sleep_log_q.shape[0]
            surrogate = surrogate + (1 - wake_weight) * sum(sleep_log_q[i].double() for i in range(n)) / n
        out.append(with_grad(value, surrogate))
    return torch.stack(out)


def stl_reference(log_p: Tensor, log_q_stopped: Tensor, *, objective: str) -> Tensor:
    """STL: ELBO value/gradient (1/K) sum_k log w_k; IWAE value log mean w, gradient sum_k wt_k grad log w_k
    (log w_k = log p_k - log q_stopped_k, so only the path through z carries phi's gradient).

    Example:
        >>> stl_reference(torch.zeros(1, 2), torch.ones(1, 2), objective="elbo").tolist()
        [-1.0]
    """
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k].double() - log_q_stopped[b, k].double() for k in range(k_size)]
        if objective == "elbo":
            out.append(sum(log_ws) / k_size)
        else:
            wts = _weights(log_ws)
            out.append(with_grad(_lse(log_ws) - math.log(k_size), sum(w * lw for w, lw in zip(wts, log_ws))))
    return torch.stack(out)


def dreg_reference(log_p: Tensor, log_q_stopped: Tensor, log_p_fixed_z: Tensor) -> Tensor:
    """DReG: value log mean w; gradient sum_k wt_k grad log p_fixed_k + sum_k wt_k^2 grad(log p_k - log p_fixed_k - log q_stopped_k).

    Example:
        >>> round(dreg_reference(torch.zeros(1, 2), torch.tensor([[0.0, -1.0]]), torch.zeros(1, 2)).item(), 6)
        0.620115
    """
    b_size, k_size = log_p.shape
    out = []
    for b in range(b_size):
        log_ws = [log_p[b, k].double() - log_q_stopped[b, k].double() for k in range(k_size)]
        wts = _weights(log_ws)
        surrogate = 0.0
        for k in range(k_size):
            path = log_p[b, k].double() - log_p_fixed_z[b, k].double() - log_q_stopped[b, k].double()
            surrogate = surrogate + wts[k] * log_p_fixed_z[b, k].double() + wts[k] ** 2 * path
        out.append(with_grad(_lse(log_ws) - math.log(k_size), surrogate))
    return torch.stack(out)


def exact_sleep_objective(inf_net: InfNet, gen_model: GenModel, data_dim: int) -> Tensor:
    """E_{p(x, z)}[log q(z|x)] by enumerating every binary x (``data_dim`` bits) and every latent z.

    p(x, z) is detached: the gradient (in q's parameters) is the exact sleep-phi direction
    E_{p(x,z)}[grad log q(z|x)]. A scalar.

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> exact_sleep_objective(q, p, 3).dim()
        0
    """
    xs = enumerate_binary(data_dim, dtype=next(gen_model.parameters()).dtype)  # [2**D, D]
    z = _all_states(gen_model, xs, None)  # [2**D, M, *z_shape]
    log_joint = gen_model(xs, z).log_prob(xs, z).detach()  # [2**D, M]
    log_q = inf_net(xs).log_prob(z)  # [2**D, M]
    return (log_joint.exp() * log_q).sum()


def exact_posterior_fit(inf_net: InfNet, gen_model: GenModel, x: Tensor) -> Tensor:
    """sum_z p(z|x) log q(z|x) per example (``[B]``), p(z|x) detached: its phi-gradient is
    -grad_phi KL(p(z|x) || q(z|x)), the limit of RWS's wake-phi update as K -> infinity.

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> tuple(exact_posterior_fit(q, p, x).shape)
        (2,)
    """
    z = _all_states(gen_model, x, None)  # [B, M, *z_shape]
    post = torch.softmax(gen_model(x, z).log_prob(x, z).detach(), dim=-1)  # [B, M]
    return (post * inf_net(x).log_prob(z)).sum(dim=-1)  # [B]


def exact_rws_wake_phi(inf_net: InfNet, gen_model: GenModel, x: Tensor, n_samples: int) -> Tensor:
    """A ``[B]`` surrogate whose phi-gradient is E_{z_1..K ~ q}[sum_k wt_k grad_phi log q(z_k|x)] exactly.

    Enumerates all K-tuples of binary latent states: coefficient of state m is
    c_m = sum_tuples prod_k q(z_k) * sum_k wt_k [z_k = m] (detached), surrogate sum_m c_m log q(m|x).

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> tuple(exact_rws_wake_phi(q, p, x, 2).shape)
        (2,)
    """
    z = _all_states(gen_model, x, None)  # [B, M, *z_shape]
    log_q = inf_net(x).log_prob(z)  # [B, M]
    log_w = (gen_model(x, z).log_prob(x, z) - log_q).detach()  # [B, M]
    m = log_q.shape[-1]
    idx = _tuples(m, n_samples, x.device)  # [T, K]
    tuple_prob = log_q.detach()[:, idx].sum(-1).exp()  # [B, T]
    wt = torch.softmax(log_w[:, idx], dim=-1)  # [B, T, K]
    contrib = (tuple_prob.unsqueeze(-1) * wt).reshape(x.shape[0], -1)  # [B, T*K]
    coef = torch.zeros_like(log_q).index_add_(1, idx.reshape(-1), contrib)  # [B, M]
    return (coef * log_q).sum(dim=-1)  # [B]


def exact_rws_wake_phi_gaussian(inf_net: InfNet, gen_model: GenModel, x: Tensor, n_samples: int, *,
                                n_nodes: int = 40) -> Tensor:
    """The Gaussian counterpart of :func:`exact_rws_wake_phi`, by Gauss-Hermite quadrature over eps.

    q must store ``loc`` and ``scale`` (diagonal Normal); z_k = loc + scale * eps_k at the nodes,
    detached; surrogate = sum_nodes weight * sum_k wt_k log q(z_k|x). Keep K*H <= 3.

    Example:
        >>> from vaekit.testing import linear_gaussian
        >>> q, p, x = linear_gaussian(latent_dim=1)
        >>> tuple(exact_rws_wake_phi_gaussian(q, p, x, 2, n_nodes=8).shape)
        (2,)
    """
    params = inf_net(x).params_
    m, s = params["loc"].detach(), params["scale"].detach()  # [B, H]
    h = m.shape[-1]
    dims = n_samples * h
    t, wq = gauss_hermite(n_nodes, dtype=m.dtype, device=m.device)
    idx = _tuples(n_nodes, dims, m.device)  # [T, K*H]
    eps = t[idx].reshape(-1, n_samples, h)  # [T, K, H]
    node_w = wq.log()[idx].sum(-1).exp()  # [T]
    z = (m[:, None, None, :] + s[:, None, None, :] * eps).reshape(m.shape[0], -1, h)  # [B, T*K, H]
    log_q = inf_net.log_prob(z)  # [B, T*K]
    log_p = gen_model(x, z).log_prob(x, z).detach()  # [B, T*K]
    n_pts = idx.shape[0]
    wt = torch.softmax((log_p - log_q.detach()).reshape(-1, n_pts, n_samples), dim=-1)  # [B, T, K]
    return (node_w[:, None] * wt * log_q.reshape(-1, n_pts, n_samples)).sum(dim=(-1, -2))  # [B]
