"""Evaluation: the K-sample importance-weighted bound on held-out data, in bounded memory."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit.models import GenModel, InfNet

__all__ = ["iwae_bound"]


@torch.no_grad()
def iwae_bound(inf_net: InfNet, gen_model: GenModel, x: Tensor, *, n_samples: int = 1000,
               batch_size: int = 100, chunk_samples: int = 100) -> Tensor:
    """Per-example IWAE_K bound, log (1/K) sum_k p(x, z_k) / q(z_k|x), for evaluation.

    Objective:   IWAE_K(x) = log (1/K) sum_{k=1..K} exp(log p(x, z_k) - log q(z_k|x)),  z_k ~ q(z|x).
    It lower-bounds log p(x) in expectation and tightens as K grows, so with K = 1000 it is the
    usual test-set estimate of log-likelihood for these models. The data are processed in batches
    of ``batch_size`` and the K samples in chunks of ``chunk_samples`` (combined by log-sum-exp),
    so memory is O(batch_size * chunk_samples) whatever K is. Runs under ``no_grad``.

    Shapes:
        x: ``[N, *x_shape]``; returns ``[N]`` on x's device and in the models' dtype.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z).
        x: held-out data.
        n_samples: K.
        batch_size: data points per forward pass.
        chunk_samples: latent samples per forward pass.

    References:
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016, section 5.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> q, p = BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6)
        >>> iwae_bound(q, p, torch.ones(4, 6), n_samples=50).shape
        torch.Size([4])
    """
    for name, v in (("n_samples", n_samples), ("batch_size", batch_size), ("chunk_samples", chunk_samples)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"iwae_bound: {name} must be a positive int; got {v!r}")
    out = []
    for xb in x.split(batch_size):
        inf = inf_net(xb)
        parts = []
        for start in range(0, n_samples, chunk_samples):
            k = min(chunk_samples, n_samples - start)
            z = inf.sample(k)  # [b, k, *z_shape]
            log_w = gen_model(xb, z).log_prob(xb, z) - inf.log_prob(z)  # [b, k]
            parts.append(torch.logsumexp(log_w, dim=-1))  # [b]
        out.append(torch.logsumexp(torch.stack(parts, dim=-1), dim=-1) - math.log(n_samples))  # [b]
    return torch.cat(out)  # [N]
