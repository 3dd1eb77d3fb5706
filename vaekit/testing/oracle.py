"""Exact objectives for the toy models, differentiable so that autograd gives exact gradients.

Discrete latents (any GenModel whose ``prior()`` is over binary vectors): log p(x), the ELBO and
IWAE_K by enumerating every latent state and every K-tuple of states. Linear-Gaussian: log p(x)
and the ELBO in closed form, IWAE_K by tensor-product Gauss-Hermite quadrature over the K*H
standard-normal draws of the reparameterisation.

Each function returns a ``[B]`` tensor; ``exact_gradients(lambda: f(...).mean(), params)`` gives
the exact gradient an unbiased estimator must match (losses return the NEGATIVE mean objective).
The exact targets of the other updates live here too: the sleep-phi objective, the
posterior-fitting direction -grad KL(p(z|x) || q(z|x)) and RWS's wake-phi expectation at finite K
(by enumeration or Gauss-Hermite quadrature). This is the one oracle of the test kit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from vaekit._math import logmeanexp
from vaekit.models import GenModel, InfNet

__all__ = [
    "exact_sleep_objective",
    "exact_posterior_fit",
    "exact_rws_wake_phi",
    "exact_rws_wake_phi_gaussian",
    "enumerate_binary",
    "exact_log_marginal",
    "exact_elbo",
    "exact_iwae",
    "exact_elbo_gaussian",
    "exact_iwae_gaussian",
    "gauss_hermite",
    "exact_gradients",
]

_MAX_TUPLES = 1 << 20


def enumerate_binary(n: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
    """All ``2**n`` binary vectors of length ``n``, in binary counting order (first bit most significant).

    Shapes:
        returns ``[2**n, n]``.

    Example:
        >>> enumerate_binary(2, dtype=torch.float32).tolist()
        [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"enumerate_binary: n must be a non-negative int; got {n!r}")
    codes = torch.arange(2**n, device=device)  # [2**n]
    shifts = torch.arange(n - 1, -1, -1, device=device)  # [n]
    return ((codes.unsqueeze(-1) >> shifts) & 1).to(dtype)  # [2**n, n]


def _latent_shape(gen_model: GenModel, latent_shape: Sequence[int] | None) -> tuple[int, ...]:
    if latent_shape is not None:
        return tuple(latent_shape)
    prior_fn = getattr(gen_model, "prior", None)
    if prior_fn is None:
        raise ValueError(f"{type(gen_model).__name__} has no prior(); pass latent_shape= to enumerate its latents")
    prior = prior_fn()
    return tuple(prior.batch_shape + prior.event_shape)


def _all_states(gen_model: GenModel, x: Tensor, latent_shape: Sequence[int] | None) -> Tensor:
    shape = _latent_shape(gen_model, latent_shape)
    h = math.prod(shape)
    if 2**h > _MAX_TUPLES:
        raise ValueError(f"enumeration over {h} binary latents ({2**h} states) is too large")
    z = enumerate_binary(h, dtype=x.dtype, device=x.device).reshape(2**h, *shape)  # [M, *z_shape]
    return z.unsqueeze(0).expand(x.shape[0], *z.shape)  # [B, M, *z_shape]


def _log_joint(gen_model: GenModel, x: Tensor, z: Tensor) -> Tensor:
    return gen_model(x, z).log_prob(x, z)  # [B, M]


def exact_log_marginal(gen_model: GenModel, x: Tensor, *, latent_shape: Sequence[int] | None = None) -> Tensor:
    """Exact ``log p(x) = log sum_z p(x, z)`` over all binary latents z, differentiable.

    The latent shape is read from ``gen_model.prior()`` (batch and event shape) unless given.

    Shapes:
        x: ``[B, *x_shape]``; returns ``[B]``.

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn(batch=3)
        >>> tuple(exact_log_marginal(p, x).shape)
        (3,)
    """
    z = _all_states(gen_model, x, latent_shape)  # [B, M, *z_shape]
    return torch.logsumexp(_log_joint(gen_model, x, z), dim=-1)  # [B]


def _enumerated_log_weights(
    inf_net: InfNet, gen_model: GenModel, x: Tensor, latent_shape: Sequence[int] | None
) -> tuple[Tensor, Tensor]:
    z = _all_states(gen_model, x, latent_shape)  # [B, M, *z_shape]
    log_q = inf_net(x).log_prob(z)  # [B, M]
    log_p = _log_joint(gen_model, x, z)  # [B, M]
    return log_p, log_q


def exact_elbo(inf_net: InfNet, gen_model: GenModel, x: Tensor, *, latent_shape: Sequence[int] | None = None) -> Tensor:
    """Exact ``ELBO(x) = sum_z q(z|x) [log p(x, z) - log q(z|x)]`` over all binary z, differentiable.

    Shapes:
        x: ``[B, *x_shape]``; returns ``[B]``.

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> bool((exact_elbo(q, p, x) <= exact_log_marginal(p, x)).all())
        True
    """
    log_p, log_q = _enumerated_log_weights(inf_net, gen_model, x, latent_shape)  # [B, M] each
    # q(z|x) > 0 for every state of a Bernoulli family with finite logits, so no 0 * inf here.
    return (log_q.exp() * (log_p - log_q)).sum(dim=-1)  # [B]


def _tuples(m: int, k: int, device: torch.device) -> Tensor:
    """All ``m**k`` K-tuples of indices in ``range(m)``: ``[m**k, k]``."""
    grids = torch.meshgrid(*[torch.arange(m, device=device)] * k, indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], dim=-1)  # [m**k, k]


def exact_iwae(
    inf_net: InfNet, gen_model: GenModel, x: Tensor, n_samples: int, *, latent_shape: Sequence[int] | None = None
) -> Tensor:
    """Exact ``IWAE_K(x) = E_{z_1..K ~ q} log (1/K) sum_k w_k`` by enumerating all K-tuples, differentiable.

    ``sum over (z_1..z_K) of prod_k q(z_k|x) * logmeanexp_k(log w_k)``: ``2**(H*K)`` tuples,
    vectorised. ``exact_iwae(..., 1)`` equals :func:`exact_elbo`.

    Shapes:
        x: ``[B, *x_shape]``; returns ``[B]``.

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> torch.allclose(exact_iwae(q, p, x, 1), exact_elbo(q, p, x))
        True
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"exact_iwae: n_samples must be an int >= 1; got {n_samples!r}")
    log_p, log_q = _enumerated_log_weights(inf_net, gen_model, x, latent_shape)  # [B, M] each
    m = log_p.shape[-1]
    if m**n_samples > _MAX_TUPLES:
        raise ValueError(f"exact_iwae: {m}**{n_samples} tuples is too many to enumerate")
    idx = _tuples(m, n_samples, log_p.device)  # [T, K]
    log_w = (log_p - log_q)[:, idx]  # [B, T, K]
    log_q_tuple = log_q[:, idx].sum(dim=-1)  # [B, T]
    return (log_q_tuple.exp() * logmeanexp(log_w, dim=-1)).sum(dim=-1)  # [B]


def _gaussian_parts(inf_net: InfNet, gen_model: GenModel, x: Tensor) -> tuple[Tensor, Tensor]:
    params = inf_net(x).params_
    if "loc" not in params or "scale" not in params:
        raise ValueError(
            f"{type(inf_net).__name__}.params_ must hold 'loc' and 'scale' of a diagonal Normal; "
            f"got keys {sorted(params)}"
        )
    for name in ("weight", "bias", "log_sigma"):
        if not hasattr(gen_model, name):
            raise ValueError(f"gen_model must be a LinearGaussianModel (no attribute {name!r})")
    return params["loc"], params["scale"]


def exact_elbo_gaussian(inf_net: InfNet, gen_model: GenModel, x: Tensor) -> Tensor:
    """Closed-form ELBO of a :class:`LinearGaussianModel` with a diagonal-Normal q, differentiable.

    With q = N(m, diag s^2), p(z) = N(0, I), p(x|z) = N(W z + b, sigma^2 I):
        E_q log p(z)   = -H/2 log 2pi - 1/2 sum_h (m_h^2 + s_h^2)
        E_q log p(x|z) = -D/2 log 2pi - D log sigma
                         - 1/(2 sigma^2) [ |x - W m - b|^2 + sum_{d,h} W_dh^2 s_h^2 ]
        H[q]           = sum_h (1/2 log(2 pi e) + log s_h)

    Shapes:
        x: ``[B, D]``; returns ``[B]``.

    Example:
        >>> from vaekit.testing import linear_gaussian
        >>> q, p, x = linear_gaussian()
        >>> bool((exact_elbo_gaussian(q, p, x) <= p.log_marginal(x)).all())
        True
    """
    m, s = _gaussian_parts(inf_net, gen_model, x)  # [B, H] each
    lg: Any = gen_model  # a LinearGaussianModel: its weight, bias and log_sigma are Parameters
    w, b, log_sigma = lg.weight, lg.bias, lg.log_sigma
    h, d = m.shape[-1], x.shape[-1]
    log2pi = math.log(2 * math.pi)
    prior = -0.5 * h * log2pi - 0.5 * (m.pow(2) + s.pow(2)).sum(-1)  # [B]
    resid = x - m @ w.T - b  # [B, D]
    spread = (s.pow(2) @ w.pow(2).T).sum(-1)  # [B]: sum_{d,h} W_dh^2 s_h^2
    lik = -0.5 * d * log2pi - d * log_sigma - 0.5 * (resid.pow(2).sum(-1) + spread) / (2 * log_sigma).exp()  # [B]
    entropy = (0.5 * (log2pi + 1) + s.log()).sum(-1)  # [B]
    return prior + lik + entropy


def gauss_hermite(
    n: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    """Nodes and weights of the n-point Gauss-Hermite rule for the standard normal N(0, 1).

    ``sum_i w_i f(t_i)`` approximates ``E f(eps)``, exactly for polynomials of degree < 2n. Nodes
    are the eigenvalues of the Jacobi matrix of the probabilists' Hermite polynomials
    (off-diagonal sqrt(i)); weights are the squared first components of its eigenvectors
    (Golub & Welsch, Math. Comp. 1969).

    Shapes:
        returns ``([n], [n])``.

    Example:
        >>> t, w = gauss_hermite(5)
        >>> round(float((w * t**4).sum()), 10)
        3.0
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"gauss_hermite: n must be a positive int; got {n!r}")
    off = torch.arange(1, n, dtype=torch.float64).sqrt()  # [n-1]
    jacobi = torch.diag(off, 1) + torch.diag(off, -1)  # [n, n]
    nodes, vecs = torch.linalg.eigh(jacobi)
    weights = vecs[0].pow(2)  # [n]; sums to 1, the mass of N(0, 1)
    return nodes.to(dtype=dtype, device=device), weights.to(dtype=dtype, device=device)


_DEFAULT_NODES = {1: 64, 2: 48, 3: 32, 4: 20}


def exact_iwae_gaussian(
    inf_net: InfNet, gen_model: GenModel, x: Tensor, n_samples: int, *, n_nodes: int | None = None
) -> Tensor:
    """IWAE_K of a diagonal-Normal q by Gauss-Hermite quadrature over the reparameterisation, differentiable.

    IWAE_K(x) = E_{eps_1..K ~ N(0, I)} logmeanexp_k [log p(x, m + s eps_k) - log q(m + s eps_k|x)]
    integrated with a tensor-product rule of ``n_nodes`` points per dimension (K*H dimensions).
    The nodes do not depend on the parameters, so autograd of the result is the quadrature of the
    exact gradient. At K = 1 the integrand of the linear-Gaussian model is a quadratic and the
    rule is exact; for K >= 2 ``logmeanexp`` bends sharply where two log-weights cross, so the
    error decays slowly: on the toy model at default scale about 1e-9 for K*H = 2, up to 1e-4
    for K*H = 3 and 1e-3 for K*H = 4 (value and gradient). That is far below the standard errors of a Monte Carlo
    test, but estimate it by refinement (a larger ``n_nodes``) and pass it as a tolerance.
    Works for any GenModel; q must store ``loc`` and ``scale`` (diagonal Normal) in ``params_``.

    Shapes:
        x: ``[B, D]``; returns ``[B]``.

    Args:
        n_nodes: points per dimension; default 64/48/32/20 for K*H = 1/2/3/4 (K*H > 4 needs it).

    Example:
        >>> from vaekit.testing import linear_gaussian
        >>> q, p, x = linear_gaussian(latent_dim=1)
        >>> torch.allclose(exact_iwae_gaussian(q, p, x, 1), exact_elbo_gaussian(q, p, x))
        True
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"exact_iwae_gaussian: n_samples must be an int >= 1; got {n_samples!r}")
    params = inf_net(x).params_
    if "loc" not in params or "scale" not in params:
        raise ValueError(f"{type(inf_net).__name__}.params_ must hold 'loc' and 'scale'; got {sorted(params)}")
    m, s = params["loc"], params["scale"]  # [B, H] each
    h = m.shape[-1]
    dims = n_samples * h
    if n_nodes is None:
        if dims not in _DEFAULT_NODES:
            raise ValueError(f"exact_iwae_gaussian: K*H = {dims} > 4 dimensions; pass n_nodes explicitly")
        n_nodes = _DEFAULT_NODES[dims]
    if n_nodes**dims > 4 * _MAX_TUPLES:
        raise ValueError(f"exact_iwae_gaussian: {n_nodes}**{dims} quadrature points is too many")
    t, wt = gauss_hermite(n_nodes, dtype=m.dtype, device=m.device)  # [n] each
    idx = _tuples(n_nodes, dims, m.device)  # [T, K*H]
    eps = t[idx].reshape(-1, n_samples, h)  # [T, K, H]
    log_wt = wt.log()[idx].sum(-1)  # [T]
    z = m[:, None, None, :] + s[:, None, None, :] * eps  # [B, T, K, H]
    b, n_pts = z.shape[0], z.shape[1]
    z_flat = z.reshape(b, n_pts * n_samples, h)  # [B, T*K, H]
    log_q = inf_net.log_prob(z_flat)  # [B, T*K]
    log_p = gen_model(x, z_flat).log_prob(x, z_flat)  # [B, T*K]
    log_w = (log_p - log_q).reshape(b, n_pts, n_samples)  # [B, T, K]
    return (log_wt.exp() * logmeanexp(log_w, dim=-1)).sum(dim=-1)  # [B]


def exact_gradients(objective_fn: Callable[[], Tensor] | Tensor, params: Sequence[Tensor]) -> list[Tensor]:
    """Gradients of a scalar (or of ``objective_fn()``) w.r.t. ``params``; zeros where unused.

    Shapes:
        returns one tensor per parameter, each of that parameter's shape.

    Example:
        >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
        >>> [g.tolist() for g in exact_gradients(lambda: (w ** 2).sum(), [w])]
        [[2.0, 4.0]]
    """
    params = list(params)
    value = objective_fn() if callable(objective_fn) else objective_fn
    if not isinstance(value, Tensor) or value.dim() != 0:
        raise ValueError(f"exact_gradients: the objective must be a scalar tensor; got {value!r:.80}")
    grads = torch.autograd.grad(value, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


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


def exact_rws_wake_phi_gaussian(
    inf_net: InfNet, gen_model: GenModel, x: Tensor, n_samples: int, *, n_nodes: int = 40
) -> Tensor:
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


# -- Rényi (VR) and thermodynamic (TVO) objectives; layered latents --------------------------------
__all__ += ["exact_vr", "exact_vr_gaussian", "exact_renyi_bound", "exact_tvo", "exact_tvo_estimator_mean"]


def _shape_or_layers(gen_model: GenModel, latent_shape: Sequence[int] | None) -> Sequence[int] | None:
    """A layered model (``layer_sizes``) has latents ``[sum(layer_sizes)]``; otherwise read the prior."""
    if latent_shape is None and hasattr(gen_model, "layer_sizes"):
        return (sum(getattr(gen_model, "layer_sizes")),)  # noqa: B009
    return latent_shape


def _power_mean(log_w: Tensor, alpha: float) -> Tensor:
    """(1/t) log mean_k w_k^t, t = 1 - alpha, over the last dim; mean_k log w_k at t = 0."""
    t = 1.0 - float(alpha)
    if t == 0:
        return log_w.mean(dim=-1)
    return (torch.logsumexp(t * log_w, dim=-1) - math.log(log_w.shape[-1])) / t


def exact_vr(
    inf_net: InfNet,
    gen_model: GenModel,
    x: Tensor,
    n_samples: int,
    alpha: float,
    *,
    latent_shape: Sequence[int] | None = None,
) -> Tensor:
    """Exact ``VR_alpha,K(x) = E_{z_1..K ~ q} (1/(1-alpha)) log (1/K) sum_k w_k^(1-alpha)`` by enumerating K-tuples.

    alpha = 0 is :func:`exact_iwae`; alpha = 1 the ELBO (the limit). Differentiable. Layered models
    (with ``layer_sizes``) are enumerated over all ``sum(layer_sizes)`` bits.

    Shapes:
        x: ``[B, *x_shape]``; returns ``[B]``.

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> torch.allclose(exact_vr(q, p, x, 2, 0.0), exact_iwae(q, p, x, 2))
        True
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"exact_vr: n_samples must be an int >= 1; got {n_samples!r}")
    log_p, log_q = _enumerated_log_weights(inf_net, gen_model, x, _shape_or_layers(gen_model, latent_shape))
    m = log_p.shape[-1]
    if m**n_samples > _MAX_TUPLES:
        raise ValueError(f"exact_vr: {m}**{n_samples} tuples is too many to enumerate")
    idx = _tuples(m, n_samples, log_p.device)  # [T, K]
    log_w = (log_p - log_q)[:, idx]  # [B, T, K]
    return (log_q[:, idx].sum(dim=-1).exp() * _power_mean(log_w, alpha)).sum(dim=-1)  # [B]


def exact_renyi_bound(
    inf_net: InfNet, gen_model: GenModel, x: Tensor, alpha: float, *, latent_shape: Sequence[int] | None = None
) -> Tensor:
    """Exact Rényi bound ``L_alpha(x) = (1/(1-alpha)) log sum_z q(z|x)^alpha p(x, z)^(1-alpha)`` (K -> inf).

    Non-increasing in alpha; L_0 = log p(x), L_1 = ELBO (the limit), L_alpha >= log p(x) for alpha < 0.

    Shapes:
        x: ``[B, *x_shape]``; returns ``[B]``.

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> torch.allclose(exact_renyi_bound(q, p, x, 0.0), exact_log_marginal(p, x))
        True
    """
    log_p, log_q = _enumerated_log_weights(inf_net, gen_model, x, _shape_or_layers(gen_model, latent_shape))
    t = 1.0 - float(alpha)
    if t == 0:
        return (log_q.exp() * (log_p - log_q)).sum(dim=-1)
    return torch.logsumexp(log_q + t * (log_p - log_q), dim=-1) / t  # [B]


def exact_vr_gaussian(
    inf_net: InfNet, gen_model: GenModel, x: Tensor, n_samples: int, alpha: float, *, n_nodes: int | None = None
) -> Tensor:
    """VR_alpha,K of a diagonal-Normal q by Gauss-Hermite quadrature over the reparameterisation (as
    :func:`exact_iwae_gaussian`, whose accuracy notes apply), differentiable.

    Shapes:
        x: ``[B, D]``; returns ``[B]``.

    Example:
        >>> from vaekit.testing import linear_gaussian
        >>> q, p, x = linear_gaussian(latent_dim=1)
        >>> torch.allclose(exact_vr_gaussian(q, p, x, 2, 0.0), exact_iwae_gaussian(q, p, x, 2))
        True
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"exact_vr_gaussian: n_samples must be an int >= 1; got {n_samples!r}")
    m, s = _gaussian_parts(inf_net, gen_model, x)  # [B, H] each
    h = m.shape[-1]
    dims = n_samples * h
    if n_nodes is None:
        if dims not in _DEFAULT_NODES:
            raise ValueError(f"exact_vr_gaussian: K*H = {dims} > 4 dimensions; pass n_nodes explicitly")
        n_nodes = _DEFAULT_NODES[dims]
    t, wt = gauss_hermite(n_nodes, dtype=m.dtype, device=m.device)  # [n] each
    idx = _tuples(n_nodes, dims, m.device)  # [T, K*H]
    eps = t[idx].reshape(-1, n_samples, h)  # [T, K, H]
    z = m[:, None, None, :] + s[:, None, None, :] * eps  # [B, T, K, H]
    b, n_pts = z.shape[0], z.shape[1]
    z_flat = z.reshape(b, n_pts * n_samples, h)  # [B, T*K, H]
    log_w = (gen_model(x, z_flat).log_prob(x, z_flat) - inf_net.log_prob(z_flat)).reshape(b, n_pts, n_samples)
    return (wt.log()[idx].sum(-1).exp() * _power_mean(log_w, alpha)).sum(dim=-1)  # [B]


def _tvo_widths(partition: Sequence[float] | Tensor) -> list[tuple[float, float]]:
    betas = [float(v) for v in partition]
    return [(betas[n], betas[n + 1] - betas[n]) for n in range(len(betas) - 1)]


def exact_tvo(
    inf_net: InfNet,
    gen_model: GenModel,
    x: Tensor,
    partition: Sequence[float] | Tensor,
    *,
    latent_shape: Sequence[int] | None = None,
) -> Tensor:
    """Exact TVO ``sum_n (beta_{n+1} - beta_n) E_{pi_beta_n}[log w]``, pi_beta(z) proportional to q(z|x) w(z)^beta,
    each expectation by enumeration (no importance-sampling error), differentiable.

    ELBO <= TVO <= log p(x); refining the partition raises it (the integrand increases in beta).

    Shapes:
        x: ``[B, *x_shape]``; returns ``[B]``.

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> torch.allclose(exact_tvo(q, p, x, [0.0, 1.0]), exact_elbo(q, p, x))
        True
    """
    log_p, log_q = _enumerated_log_weights(inf_net, gen_model, x, _shape_or_layers(gen_model, latent_shape))
    log_w = log_p - log_q  # [B, M]
    total = torch.zeros_like(log_w[:, 0])  # [B]
    for beta, width in _tvo_widths(partition):
        pi = torch.softmax(log_q + beta * log_w, dim=-1)  # [B, M]
        total = total + width * (pi * log_w).sum(dim=-1)
    return total


def exact_tvo_estimator_mean(
    inf_net: InfNet,
    gen_model: GenModel,
    x: Tensor,
    n_samples: int,
    partition: Sequence[float] | Tensor,
    *,
    latent_shape: Sequence[int] | None = None,
) -> Tensor:
    """The exact expectation, over all K-tuples z_1..K ~ q, of the K-sample TVO estimate: value AND gradient.

    The value is E[sum_n d_n sum_k pi_nk log w_k] and the autograd gradient is E[the covariance
    estimator of Masrani et al. 2019] (self-normalised weights, z held fixed): the target a correct
    implementation of that (biased) estimator must match on average. It differs from
    ``grad exact_tvo`` by the self-normalisation bias, which vanishes as K grows.

    Shapes:
        x: ``[B, *x_shape]``; returns ``[B]``.

    Example:
        >>> from vaekit.testing import tiny_sbn
        >>> q, p, x = tiny_sbn()
        >>> torch.allclose(exact_tvo_estimator_mean(q, p, x, 1, [0.0, 1.0]), exact_elbo(q, p, x))
        True
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"exact_tvo_estimator_mean: n_samples must be an int >= 1; got {n_samples!r}")
    log_p, log_q = _enumerated_log_weights(inf_net, gen_model, x, _shape_or_layers(gen_model, latent_shape))
    m = log_p.shape[-1]
    if m**n_samples > _MAX_TUPLES:
        raise ValueError(f"exact_tvo_estimator_mean: {m}**{n_samples} tuples is too many to enumerate")
    idx = _tuples(m, n_samples, log_p.device)  # [T, K]
    lq = log_q[:, idx]  # [B, T, K]
    lw = (log_p - log_q)[:, idx]  # [B, T, K]
    prob = lq.detach().sum(dim=-1).exp()  # [B, T]: the tuple's probability, a constant weight
    value = torch.zeros_like(prob)  # [B, T]
    surrogate = torch.zeros_like(prob)
    for beta, width in _tvo_widths(partition):
        pi = torch.softmax(beta * lw.detach(), dim=-1)  # [B, T, K]
        fbar = (pi * lw.detach()).sum(dim=-1, keepdim=True)  # [B, T, 1]
        value = value + width * fbar.squeeze(-1)
        surrogate = surrogate + width * (pi * (lw + (lw.detach() - fbar) * (lq + beta * lw))).sum(dim=-1)
    per_tuple = value + (surrogate - surrogate.detach())  # value of the estimate, gradient of the estimator
    return (prob * per_tuple).sum(dim=-1)  # [B]
