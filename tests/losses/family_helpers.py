"""Helpers shared by the tests of Reinforce, wake-sleep, RWS, STL and DReG."""

from __future__ import annotations

import torch
from torch import Tensor

from vaekit.testing import exact_elbo, exact_elbo_gaussian


def exact_elbo_any(q, p, x: Tensor, kind: str) -> Tensor:
    """The exact ELBO ``[B]`` of a TinyModel kind: enumeration (sbn) or closed form (Gaussian)."""
    return exact_elbo(q, p, x) if kind == "sbn" else exact_elbo_gaussian(q, p, x)


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
