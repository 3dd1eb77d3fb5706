"""Helpers shared by the tests of Reinforce, wake-sleep, RWS, STL and DReG."""
from __future__ import annotations

import torch
from torch import Tensor

from vaekit.testing import exact_elbo, exact_elbo_gaussian, flat


def frozen_gradient_samples(loss_fn, x: Tensor, params, n_draws: int, *, replicas: int = 1) -> Tensor:
    """Like ``vaekit.testing.gradient_samples`` but restores the loss's buffers before every call,
    so rows are iid even for running baselines (each row: ``replicas`` copies of x in one call)."""
    params = list(params)
    saved = {n: b.detach().clone() for n, b in loss_fn.named_buffers()}
    buffers = dict(loss_fn.named_buffers())
    x_rep = x.repeat((replicas,) + (1,) * (x.dim() - 1))
    rows = []
    for _ in range(n_draws):
        with torch.no_grad():
            for n, b in buffers.items():
                b.copy_(saved[n])
        grads = torch.autograd.grad(loss_fn(x_rep), params, allow_unused=True)
        rows.append(flat([torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]))
    return torch.stack(rows)  # [n_draws, P]


def exact_elbo_any(q, p, x: Tensor, kind: str) -> Tensor:
    """The exact ELBO ``[B]`` of a TinyModel kind: enumeration (sbn) or closed form (Gaussian)."""
    return exact_elbo(q, p, x) if kind == "sbn" else exact_elbo_gaussian(q, p, x)


def input_grads(out: Tensor, inputs, weights: Tensor) -> list[Tensor]:
    """Gradients of ``(out * weights).sum()`` w.r.t. ``inputs``, zeros for unused inputs."""
    grads = torch.autograd.grad((out * weights).sum(), list(inputs), allow_unused=True)
    return [torch.zeros_like(i) if g is None else g for i, g in zip(inputs, grads)]


def set_q_to_posterior(q, p) -> None:
    """Set a 1-latent GaussianEncoder (linear heads) to the exact posterior of a LinearGaussianModel.

    p(z) = N(0, 1), x|z ~ N(W z + b, s^2 I): z|x ~ N(v W^T (x - b) / s^2, v), v = 1 / (1 + W^T W / s^2).
    The encoder's Linear outputs (mu, log_sigma).
    """
    with torch.no_grad():
        w = p.weight[:, 0]  # [D]
        s2 = (2 * p.log_sigma).exp()
        v = 1 / (1 + w.dot(w) / s2)
        q.net.weight.zero_()
        q.net.bias.zero_()
        q.net.weight[0] = v * w / s2
        q.net.bias[0] = -v * w.dot(p.bias) / s2
        q.net.bias[1] = 0.5 * v.log()


def fit_q(q, loss_fn, x: Tensor, steps: int) -> None:
    """Adam on q's parameters only (the generative model stays fixed)."""
    opt = torch.optim.Adam(q.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(x).backward()
        opt.step()
