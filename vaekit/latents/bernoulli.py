"""Fast Bernoulli arithmetic shared by the built-in latent models (no torch.distributions objects).

The built-in Bernoulli models (``BernoulliEncoder``, ``SigmoidBeliefNet``, ``BernoulliDecoder``)
spend most of a training step in a few lines: drawing ``[B, K, H]`` latents, scoring them, and
scoring the data. These functions do each in the cheapest plain-PyTorch form measured on CPU
(``benchmarks/overhead.py``), and the tests check each against ``torch.distributions.Bernoulli``
on random inputs (values, gradients and sample frequencies):

    sampling:   z = 1[u < sigmoid(l)],  u ~ U[0, 1)   (3x faster than ``torch.bernoulli`` on CPU, and
                it returns a contiguous ``[B, K, H]`` tensor, so a decoder's Linear runs one addmm)
    log-density: log Bern(z; l) = z * l - softplus(l)   (exactly ``-binary_cross_entropy_with_logits``
                for any real z, the value torch.distributions computes with validation off)

Data support: a Bernoulli likelihood is a density only of 0/1 data. ``BinarySupportCheck`` checks
it at a bounded cost: on the first call and then every ``every`` calls, never while
``torch.compile`` traces (a data-dependent branch would break the graph).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit._math import detach_if_grad

__all__ = [
    "bernoulli_sample",
    "bernoulli_log_prob",
    "bernoulli_data_log_prob",
    "lean_decoder_log_prob",
    "BinarySupportCheck",
]


def bernoulli_sample(
    logits: Tensor, sample_shape: tuple[int, ...] = (), *, dim: int = 1, generator: torch.Generator | None = None
) -> Tensor:
    """Draw 0/1 samples of Bernoulli(sigmoid(logits)), with no gradient path.

    ``z = 1[u < sigmoid(l)]`` with ``u ~ U[0, 1)`` from torch's global generator or ``generator``:
    P(z = 1) = sigmoid(l) up to the 2^-24 (float32) grid of ``u``.

    Shapes:
        logits: ``[B, *event]``; ``sample_shape`` S is inserted at ``dim`` (default 1):
        returns a contiguous ``[B, *S, *event]`` (``dim=0``: ``[*S, B, *event]``), in the dtype of ``logits``.

    Args:
        logits: log-odds.
        sample_shape: the sample dims to insert (``(K,)`` for K samples per data point).
        dim: where the sample dims go.
        generator: an explicit ``torch.Generator``; None uses torch's global one.

    Returns:
        A float tensor of zeros and ones.

    Example:
        >>> z = bernoulli_sample(torch.zeros(2, 3), (4,))
        >>> tuple(z.shape), bool(((z == 0) | (z == 1)).all())
        ((2, 4, 3), True)
    """
    probs = torch.sigmoid(detach_if_grad(logits))
    shape = (*logits.shape[:dim], *sample_shape, *logits.shape[dim:])
    for _ in sample_shape:
        probs = probs.unsqueeze(dim)  # broadcasts over the sample dims
    u = torch.rand(shape, generator=generator, dtype=probs.dtype, device=probs.device)
    return (u < probs).to(probs.dtype)


def bernoulli_log_prob(logits: Tensor, value: Tensor, event_dims: int = 1) -> Tensor:
    """``log Bern(value; sigmoid(logits)) = value * logits - softplus(logits)``, summed over the event.

    The softplus term is evaluated on ``logits`` before broadcasting (once per data point, not K
    times), which makes this several times cheaper than a broadcast binary cross-entropy when
    ``logits`` is ``[B, 1, H]`` and ``value`` ``[B, K, H]``. Equals ``-binary_cross_entropy_with_logits``
    (and ``torch.distributions.Bernoulli(logits=...).log_prob`` without validation) for any real value.

    Shapes:
        logits, value: broadcastable, ``[*S, *event]``; returns ``[*S']`` (the broadcast shape
        without the last ``event_dims`` dims).

    Example:
        >>> bernoulli_log_prob(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]))
        tensor([-1.3863])
    """
    dims = tuple(range(-event_dims, 0))
    return (value * logits).sum(dims) - F.softplus(logits).sum(dims)


def bernoulli_data_log_prob(logits: Tensor, x: Tensor, event_dims: int = 1) -> Tensor:
    """``log p(x|z)`` of data ``x`` ``[B, *event]`` under likelihood logits ``[B, K, *event]``: ``[B, K]``.

    One fused ``binary_cross_entropy_with_logits`` over the ``[B, K, *event]`` logits (the fastest
    form measured when the logits, not the value, carry the K dim).

    Example:
        >>> bernoulli_data_log_prob(torch.zeros(1, 3, 2), torch.ones(1, 2)).shape
        torch.Size([1, 3])
    """
    xb = x.unsqueeze(1).expand_as(logits)  # [B, K, *event], a view
    nll = F.binary_cross_entropy_with_logits(logits, xb, reduction="none")  # [B, K, *event]
    return -nll.sum(tuple(range(-event_dims, 0)))  # [B, K]


def lean_decoder_log_prob(model: Any, x: Tensor, z: Tensor) -> Tensor:
    """log p(x, z) = log p(z) + log p(x|z) for a built-in decoder with a Bernoulli likelihood, lean path.

    The one body shared by ``SigmoidBeliefNet`` and ``BernoulliDecoder``: it checks the shapes and
    the data's support, reuses the decoder logits that ``forward`` computed for the same ``z``
    (one decoder pass per step), and adds the model's own ``log_prior``.

    Shapes:
        x: ``[B, D]``; z: ``[B, K, H]``; returns ``[B, K]``.

    Args:
        model: the decoder (``data_dim``, ``net``, ``log_prior``, its ``BinarySupportCheck`` in
            ``_support`` and the ``(z, logits)`` of its last ``forward`` in ``_lean``).
        x: binary data.
        z: latents.

    Returns:
        ``[B, K]`` log-densities.
    """
    if x.shape[1:] != (model.data_dim,) or z.dim() != 3 or x.shape[0] != z.shape[0]:
        raise ValueError(
            f"{type(model).__name__}.log_prob: expected x [B, {model.data_dim}] and z [B, K, H]; got "
            f"x {tuple(x.shape)}, z {tuple(z.shape)}"
        )
    model._support(x)
    lean = model._lean
    logits = lean[1] if lean is not None and lean[0] is z else model.net(z)  # [B, K, D]
    return model.log_prior(z) + bernoulli_data_log_prob(logits, x)  # [B, K]


class BinarySupportCheck:
    """Raise ``ValueError`` when data given to a Bernoulli likelihood are not all 0 or 1.

    Checks the first call and then every ``every`` calls (default: every 10th call for data on the
    CPU, every 100th elsewhere), so it costs one small reduction (and, on a GPU, one host-device
    synchronisation) per ``every`` steps, about 0.1% of a CPU training step; skipped while ``torch.compile``
    traces the caller (a data-dependent branch would split the graph). Bad data are almost always
    systematically bad (pixels 0..255, grey levels), so the first call catches them. For a check
    of every value on every call, build the model with ``validate_args=True``.

    Args:
        owner: the model's name, for the message.
        every: check interval in calls (>= 1; 1 checks every call); None picks 10 for CPU data, 100 otherwise.

    Example:
        >>> check = BinarySupportCheck("MyModel")
        >>> check(torch.tensor([0.0, 1.0]))
        >>> check.calls
        1
    """

    def __init__(self, owner: str, every: int | None = None):
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"BinarySupportCheck: every must be an int >= 1; got {every!r}")
        self.owner, self.every, self.calls = owner, every, 0

    def __call__(self, x: Tensor) -> None:
        if torch.compiler.is_compiling():
            return
        every = self.every if self.every is not None else (10 if x.device.type == "cpu" else 100)
        due = self.calls % every == 0
        self.calls += 1
        if not due:
            return
        if x.dtype == torch.bool:
            return
        # |x (x - 1)| is 0 exactly at 0 and 1, positive elsewhere, NaN at NaN: its sum is non-zero iff a
        # value is outside {0, 1}. Four vectorised passes, a tenth of (x != 0) & (x != 1) and any() on
        # CPU. Integer data keep the comparison (no overflow).
        nonbinary = (x * (x - 1)).abs().sum() if x.is_floating_point() else ((x != 0) & (x != 1)).any()
        if bool(nonbinary):
            outside = (x != 0) & (x != 1)  # NaN counts as outside
            bad = x[outside]
            n_nan = int(torch.isnan(bad).sum()) if bad.is_floating_point() else 0
            if n_nan:  # a data problem, not this model's: say so without naming the model
                raise ValueError(
                    f"the input x (or target) contains NaN in {n_nan} value(s); no likelihood can score NaN "
                    "data: remove or impute the missing values before calling the loss"
                )
            raise ValueError(
                f"{self.owner}: the data must be 0/1 (the support of its Bernoulli likelihood); got "
                f"{bad.numel()} value(s) outside {{0, 1}} (e.g. {bad[:3].tolist()}; data min {x.min().item()}, "
                f"max {x.max().item()}). Binarize the data first (e.g. (x > 0.5).float() for [0, 1] pixels, "
                "(x > 127).float() for 0..255), or use a likelihood for that data type."
            )
