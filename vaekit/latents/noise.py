"""Numerically safe noise for discrete latents: open-interval uniforms, Gumbel, logistic, and their
conditional forms given a discrete outcome.

Every sampler draws in float32 (float64 for float64 requests) on the requested device, keeps the
uniform draw strictly inside (0, 1) in the precision it is transformed in, and casts the result
last, so float16 and bfloat16 requests never see ``log 0`` or a NaN.

Shapes:
    every sampler returns the requested ``shape`` (or the shape of its tensor arguments).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["uniform_noise", "gumbel_noise", "logistic_noise", "conditional_gumbel", "conditional_logistic"]


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def uniform_noise(
    shape: Sequence[int],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Uniform draws on the open interval (0, 1), in ``dtype``.

    ``torch.rand`` returns 0 with positive probability, and rounding a float32 draw to float16 or
    bfloat16 can give exactly 1; both are clamped to the nearest representable interior points of
    ``dtype`` (the smallest normal number and the largest number below 1).

    Shapes:
        returns ``shape``.

    Example:
        >>> u = uniform_noise((1000,), dtype=torch.bfloat16)
        >>> bool(((u > 0) & (u < 1)).all())
        True
    """
    if not dtype.is_floating_point:
        raise TypeError(f"uniform_noise: dtype must be a floating dtype; got {dtype}")
    u = torch.rand(tuple(shape), dtype=_work_dtype(dtype), device=device, generator=generator)
    u = u.to(dtype)
    info = torch.finfo(dtype)
    return u.clamp(info.tiny, 1.0 - info.eps / 2)  # eps/2: the gap just below 1 is half the gap above


def gumbel_noise(
    shape: Sequence[int],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Standard Gumbel draws ``-log(-log U)``, finite in every floating dtype.

    Shapes:
        returns ``shape``.

    Example:
        >>> g = gumbel_noise((100_000,), generator=torch.Generator().manual_seed(0))
        >>> abs(g.mean().item() - 0.5772) < 0.02  # the Euler-Mascheroni constant
        True
    """
    u = uniform_noise(shape, dtype=_work_dtype(dtype), device=device, generator=generator)
    return (-torch.log(-torch.log(u))).to(dtype)


def logistic_noise(
    shape: Sequence[int],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Standard logistic draws ``log U - log(1 - U)`` (the difference of two Gumbels), finite in every dtype.

    Shapes:
        returns ``shape``.

    Example:
        >>> tuple(logistic_noise((2, 3)).shape)
        (2, 3)
    """
    u = uniform_noise(shape, dtype=_work_dtype(dtype), device=device, generator=generator)
    return (torch.log(u) - torch.log1p(-u)).to(dtype)


def conditional_gumbel(logits: Tensor, index: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Gumbel noise ``G`` drawn from its law given ``argmax(logits + G) = index`` (no gradient path).

    The maximum of ``y = logits + G`` is Gumbel with location ``m = logsumexp(logits)`` (the
    Gumbel-max property) and sits at ``index``; every other coordinate is a Gumbel with location
    ``logits_c`` truncated below the maximum, by inversion of its CDF (E ~ Exp(1)):
        y_index = m - log E_0,     y_c = -logaddexp(-y_index, log E_c - logits_c),     G = y - logits.
    Used by Gumbel-Rao (Paulus et al. 2021); Maddison et al. 2014 (A* sampling) for the construction.

    Shapes:
        logits: ``[..., C]``; index: ``[...]`` (integer class); returns ``[..., C]``.

    Example:
        >>> lg = torch.zeros(5, 3)
        >>> (lg + conditional_gumbel(lg, torch.tensor([0, 1, 2, 2, 1]))).argmax(-1).tolist()
        [0, 1, 2, 2, 1]
    """
    work = _work_dtype(logits.dtype)
    lg = logits.detach().to(work)
    u = uniform_noise(lg.shape, dtype=work, device=lg.device, generator=generator)  # [..., C]
    log_e = torch.log(-torch.log(u))  # [..., C]: log of Exp(1) draws, finite because 0 < u < 1
    top = torch.logsumexp(lg, dim=-1, keepdim=True) - log_e.gather(-1, index.unsqueeze(-1))  # [..., 1]
    others = -torch.logaddexp(-top, log_e - lg)  # [..., C]: truncated below top, so <= top
    y = others.scatter(-1, index.unsqueeze(-1), top)  # [..., C]
    return (y - lg).to(logits.dtype)


def conditional_logistic(
    logits: Tensor, b: Tensor, noise: Tensor | None = None, *, generator: torch.Generator | None = None
) -> Tensor:
    """Relaxed pre-activations ``z = logits + L`` (L standard logistic) given ``1[z > 0] = b``, with gradient.

    With ``p = sigmoid(logits)``, z > 0 iff ``U > 1 - p``, so U is uniform on ``(1 - p, 1)`` when
    b = 1 and on ``(0, 1 - p)`` when b = 0 (``V`` the uniform ``noise``):
        b = 1:  U = 1 - p V,      b = 0:  U = (1 - p) V,        z = logits + log U - log(1 - U),
    written with ``log1p`` and log-sigmoids so no term rounds to log 0. The map from (logits, V)
    to z is REBAR's reparameterisation of the conditional (Tucker et al. 2017, appendix), so the
    gradient flows into ``logits``.

    Shapes:
        logits, b, noise: ``[...]`` (b of 0/1 floats, noise uniform in (0, 1)); returns ``[...]``.

    Example:
        >>> z = conditional_logistic(torch.zeros(4), torch.tensor([1.0, 0.0, 1.0, 0.0]))
        >>> (z > 0).tolist()
        [True, False, True, False]
    """
    v = (
        noise
        if noise is not None
        else uniform_noise(logits.shape, dtype=logits.dtype, device=logits.device, generator=generator)
    )
    log_p, log_1mp = F.logsigmoid(logits), F.logsigmoid(-logits)
    one = b > 0.5
    log_u = torch.where(one, torch.log1p(-v * log_p.exp()), torch.log(v) + log_1mp)
    log_1mu = torch.where(one, torch.log(v) + log_p, torch.log1p(-v * log_1mp.exp()))
    return logits + log_u - log_1mu
