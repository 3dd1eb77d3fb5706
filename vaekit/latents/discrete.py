"""The discrete-latent protocol (what an estimator may ask of an InfNet beyond ``log_prob``), and
the Gumbel-softmax / binary-Concrete relaxations with validated temperatures.

Protocol: a factorised Bernoulli or categorical q(z|x) stores its logits after ``inf_net(x)`` in
``inf_net.params_["logits"]``:

- Bernoulli latents (``z`` of 0/1 floats, ``[B, K, *z_shape]``): logits ``[B, *z_shape]``,
  ``q(z_i = 1) = sigmoid(logits_i)``.
- Categorical latents, one-hot (``z`` ``[B, K, *z_shape]`` whose last dim holds C classes, for
  example ``[B, K, D, C]``): logits ``[B, *z_shape]``, normalised by softmax over the last dim.
  The InfNet says its latents are one-hot with the class attribute ``one_hot = True`` (the
  Bernoulli default is ``False``), since both families store logits of the latents' shape.

``BernoulliEncoder`` and ``CategoricalEncoder`` follow it; a user's InfNet can too.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vaekit.models import GenModel, InfNet

__all__ = [
    "discrete_logits",
    "is_one_hot",
    "score_latents",
    "check_temperature",
    "possible",
    "relaxed_bernoulli",
    "relaxed_one_hot",
    "ExponentialAnnealing",
]


def discrete_logits(inf_net: InfNet, who: str) -> Tensor:
    """``inf_net.params_["logits"]`` after a forward call, or a ``ValueError`` naming what is missing.

    Shapes:
        returns ``[B, *z_shape]`` (see the module docstring).
    """
    params = getattr(inf_net, "params_", None)
    logits = params.get("logits") if isinstance(params, dict) else None
    if not isinstance(logits, Tensor):
        keys = sorted(params) if isinstance(params, dict) else None
        raise ValueError(
            f"{who} needs the logits of a factorised Bernoulli or categorical q(z|x) in inf_net.params_['logits'] "
            f"(see vaekit.latents.discrete); {type(inf_net).__name__}.params_ has keys {keys}"
        )
    return logits


def is_one_hot(inf_net: InfNet) -> bool:
    """Whether the InfNet's latents are one-hot categorical (``one_hot = True``) rather than Bernoulli."""
    return bool(getattr(inf_net, "one_hot", False))


def score_latents(
    inf_net: InfNet,
    gen_model: GenModel,
    target: Tensor,
    z: Tensor,
    who: str,
    *,
    detach_q: bool = False,
    relaxed: bool = False,
) -> tuple[Tensor, Tensor]:
    """``(log p(target, z), log q(z|x))`` of latents ``z`` under the last ``inf_net(x)``, shape-checked.

    ``detach_q`` scores q with its parameters held fixed (``log_prob_detached``). ``relaxed`` says
    ``z`` holds relaxed (continuous) latents: a model that rejects them raises a ``ValueError``
    saying the estimator needs models that accept relaxed latents.

    Shapes:
        target: ``[B, *y_shape]``; z: ``[B, K, *z_shape]``; returns ``([B, K], [B, K])``.
    """
    b, k = z.shape[:2]
    try:
        log_q = inf_net.log_prob_detached(z) if detach_q else inf_net.log_prob(z)  # [B, K]
    except (ValueError, RuntimeError) as err:
        if not relaxed:
            raise
        raise ValueError(
            f"{who} needs an InfNet whose log_prob accepts relaxed latents (values in (0, 1) or on "
            f"the simplex); {type(inf_net).__name__}.log_prob raised: {err}"
        ) from err
    try:
        log_p = gen_model(target, z).log_prob(target, z)  # [B, K]
    except (ValueError, RuntimeError) as err:
        if not relaxed:
            raise
        raise ValueError(
            f"{who} needs a GenModel (decoder) that accepts relaxed latents (values in (0, 1) or on the "
            f"simplex, e.g. validate_args=False); {type(gen_model).__name__}.log_prob raised: {err}"
        ) from err
    for t, model in ((log_q, inf_net), (log_p, gen_model)):
        if not isinstance(t, Tensor) or tuple(t.shape) != (b, k):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{type(model).__name__}.log_prob returned {got}; expected shape [B, K] = {(b, k)}")
    return log_p, log_q


def possible(f: Tensor) -> Tensor:
    """``f`` with its non-finite entries replaced by 0: what an estimator's surrogate reads.

    A latent the model deems impossible (log p = -inf) makes the bound -inf; in the surrogate it
    enters as 0, so it adds no gradient term and no NaN (as in ``reinforce_estimate``), while the
    value keeps the -inf.

    Example:
        >>> possible(torch.tensor([1.0, -math.inf])).tolist()
        [1.0, 0.0]
    """
    return torch.where(torch.isfinite(f), f, torch.zeros_like(f))


def check_temperature(value: object, who: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0; TypeError / ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{who}: temperature must be a float > 0; got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{who}: temperature must be a finite float > 0; got {value!r}")
    return float(value)


def relaxed_bernoulli(logits: Tensor, noise: Tensor, temperature: float | Tensor) -> Tensor:
    """Binary Concrete sample ``sigmoid((logits + L) / tau)``, L standard logistic ``noise``.

    At ``tau -> 0`` it tends to the Bernoulli draw ``1[logits + L > 0]`` (Maddison et al. 2017).

    Shapes:
        logits, noise: broadcastable; returns their broadcast shape, values in (0, 1).
    """
    return torch.sigmoid((logits + noise) / temperature)


def relaxed_one_hot(logits: Tensor, noise: Tensor, temperature: float | Tensor) -> Tensor:
    """Gumbel-softmax sample ``softmax((logits + G) / tau)`` over the last dim, G standard Gumbel ``noise``.

    At ``tau -> 0`` it tends to the one-hot Gumbel-max draw (Jang et al. 2017; Maddison et al. 2017).

    Shapes:
        logits, noise: broadcastable ``[..., C]``; returns ``[..., C]`` on the simplex.
    """
    return torch.softmax((logits + noise) / temperature, dim=-1)


class ExponentialAnnealing(nn.Module):
    """Temperature schedule ``tau(t) = max(minimum, start * exp(-rate * t))`` of the training step t.

    Jang et al. (2017) anneal ``tau = max(0.5, exp(-r t))``. A relaxed loss given a schedule
    evaluates it at its own step counter (a buffer, so it survives ``state_dict``).

    Args:
        start: tau at step 0 (> 0).
        rate: decay per step (>= 0).
        minimum: floor (> 0).

    Example:
        >>> sched = ExponentialAnnealing(start=1.0, rate=1e-3, minimum=0.5)
        >>> sched(0), round(sched(10_000), 3)
        (1.0, 0.5)
    """

    def __init__(self, *, start: float = 1.0, rate: float = 1e-4, minimum: float = 0.5):
        super().__init__()
        self.start = check_temperature(start, "ExponentialAnnealing(start)")
        self.minimum = check_temperature(minimum, "ExponentialAnnealing(minimum)")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"ExponentialAnnealing: rate must be a finite float >= 0; got {rate!r}")
        self.rate = float(rate)

    def forward(self, step: int) -> float:
        return max(self.minimum, self.start * math.exp(-self.rate * step))

    def extra_repr(self) -> str:
        return f"start={self.start}, rate={self.rate}, minimum={self.minimum}"
