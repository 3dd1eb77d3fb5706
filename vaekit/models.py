"""The two model interfaces every vaekit loss drives: ``InfNet`` (q(z|x)) and ``GenModel`` (p(x, z)).

Calling a model stores the parameters of its distribution for the batch in ``params_`` (a dict of
tensors) and returns the model itself, so a loss writes ``inf_net(x).sample(K)``.

Two thin bases, ``DistributionInfNet`` and ``DistributionGenModel``, let a user write one method
that returns a ``torch.distributions.Distribution`` and derive ``sample``, ``rsample``,
``log_prob`` and ``has_rsample`` from it.

Shapes:
    x: ``[B, *x_shape]``; z: ``[B, K, *z_shape]``; ``log_prob``: ``[B, K]`` (summed over the event).
"""

from __future__ import annotations

import copy
import typing
from abc import ABCMeta, abstractmethod

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Transform
from torch.distributions.transforms import _InverseTransform

__all__ = ["InfNet", "GenModel", "DistributionInfNet", "DistributionGenModel", "detached", "set_plain_attrs"]


class InfNet(nn.Module, metaclass=ABCMeta):
    """An inference network q(z|x): the black-box interface every loss uses.

    Subclasses implement exactly three methods. ``rsample`` is optional: a family with a
    reparameterised sampler overrides it and sets ``has_rsample = True``; every score-function
    loss works without it.

    Shapes:
        forward(x): x ``[B, *x_shape]``; returns ``self`` with ``params_`` set.
        sample(K) / rsample(K): ``[B, K, *z_shape]``.
        log_prob(z): z ``[B, K, *z_shape]`` -> ``[B, K]``.

    Example:
        >>> import torch
        >>> class Coin(InfNet):
        ...     def __init__(self):
        ...         super().__init__(); self.lin = torch.nn.Linear(3, 2)
        ...     def forward(self, x):
        ...         self.params_ = {"logits": self.lin(x)}; return self
        ...     def sample(self, n_samples):
        ...         p = torch.sigmoid(self.params_["logits"]).detach()
        ...         return torch.bernoulli(p.unsqueeze(1).expand(-1, n_samples, -1))
        ...     def log_prob(self, z):
        ...         logits = self.params_["logits"].unsqueeze(1)
        ...         return -torch.nn.functional.binary_cross_entropy_with_logits(
        ...             logits.expand_as(z), z, reduction="none").sum(-1)
        >>> q = Coin()
        >>> z = q(torch.zeros(4, 3)).sample(5)
        >>> tuple(z.shape), tuple(q.log_prob(z).shape)
        ((4, 5, 2), (4, 5))
    """

    has_rsample: bool = False
    params_: dict[str, Tensor]

    @abstractmethod
    def forward(self, x: Tensor) -> InfNet:
        """Compute the parameters of q(z|x) for the batch, store them in ``params_``, return self."""

    @abstractmethod
    def sample(self, n_samples: int) -> Tensor:
        """Draw ``n_samples`` latents per data point, ``[B, K, *z_shape]``, with no gradient path."""

    @abstractmethod
    def log_prob(self, z: Tensor) -> Tensor:
        """``log q(z|x)`` of latents ``[B, K, *z_shape]`` under the stored parameters: ``[B, K]``."""

    def rsample(self, n_samples: int) -> Tensor:
        """Reparameterised draw ``[B, K, *z_shape]``; the default says the family has none."""
        raise NotImplementedError(
            f"{type(self).__name__} has no reparameterised sampler (has_rsample=False): "
            "use a score-function estimator, or implement rsample() and set has_rsample = True."
        )

    def log_prob_detached(self, z: Tensor) -> Tensor:
        """``log q(z|x)`` with the distribution's parameters treated as constants: ``[B, K]``.

        The value equals ``log_prob(z)``; the gradient flows only through ``z`` (the sample path),
        never into q's parameters directly. Pathwise refinements (STL, DReG) need it. This default
        evaluates ``log_prob`` with every tensor of ``params_`` detached, which is exact when
        ``log_prob`` reads its parameters from ``params_`` only; an InfNet whose ``log_prob``
        reads other state overrides it.
        """
        saved = self.params_
        self.params_ = {k: v.detach() for k, v in saved.items()}
        try:
            return self.log_prob(z)
        finally:
            self.params_ = saved


class GenModel(nn.Module, metaclass=ABCMeta):
    """A generative model p(x, z) = p(z) p(x|z): the black-box interface every loss uses.

    Optional: ``forward`` may set ``x_shape_`` (the likelihood's event shape, the shape of one data
    point) so that a loss rejects a target of another shape instead of broadcasting it;
    ``DistributionGenModel`` sets it.

    Shapes:
        forward(x, z): x ``[B, *x_shape]``, z ``[B, K, *z_shape]``; returns ``self``.
        log_prob(x, z): ``log p(x, z)``, ``[B, K]``.
        sample(n): ``(x [n, *x_shape], z [n, *z_shape])`` drawn from p(x, z).
    """

    params_: dict[str, Tensor]
    #: Optional: the shape of one data point as the likelihood expects it (its event shape), set by
    #: ``forward``; a loss then checks the target against it. None when the model does not say.
    x_shape_: tuple[int, ...] | None = None

    @abstractmethod
    def forward(self, x: Tensor, z: Tensor) -> GenModel:
        """Compute the parameters of p(x, z) for the batch, store them in ``params_``, return self."""

    @abstractmethod
    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(x, z)`` for x ``[B, *x_shape]`` and z ``[B, K, *z_shape]``: ``[B, K]``."""

    @abstractmethod
    def sample(self, n: int) -> tuple[Tensor, Tensor]:
        """Draw ``n`` pairs from p(x, z): ``(x [n, *x_shape], z [n, *z_shape])``."""


def set_plain_attrs(module: nn.Module, **attrs: typing.Any) -> None:
    """Set plain attributes (``params_``, cached tensors: never parameters, buffers or submodules) on a hot path.

    ``nn.Module.__setattr__`` checks every value against the module's parameters, buffers and
    submodules, a few microseconds per attribute and step; a plain attribute needs none of that,
    so in eager mode the values go straight into the instance dict. While ``torch.compile``
    traces, the normal ``setattr`` (dynamo tracks it).

    Example:
        >>> import torch
        >>> m = torch.nn.Linear(2, 1)
        >>> set_plain_attrs(m, params_={"w": torch.ones(1)}); m.params_["w"].tolist()
        [1.0]
    """
    if torch.compiler.is_compiling():
        for name, value in attrs.items():
            setattr(module, name, value)
    else:
        module.__dict__.update(attrs)


def _params_of(dist: Distribution) -> dict[str, Tensor]:
    """The tensor parameters a distribution was built with (its ``arg_constraints`` present)."""
    base = dist
    while isinstance(base, Independent):
        base = base.base_dist
    names = [n for n in base.arg_constraints if n in base.__dict__]  # only what was passed in
    return {n: getattr(base, n) for n in names if isinstance(getattr(base, n), Tensor)}


def detached(obj: typing.Any) -> typing.Any:
    """A shallow copy of a Distribution (or Transform) whose tensors, nested distributions and
    transforms are detached copies, so its ``log_prob`` has no gradient path into the parameters.
    Transform caches are cleared (a cached inverse value would carry the original parameters'
    graph) and so are links to inverse transforms (they point back: a cycle); both are rebuilt lazily."""
    if isinstance(obj, Tensor):
        return obj.detach()
    if isinstance(obj, (list, tuple)):
        return type(obj)(detached(v) for v in obj)
    if not isinstance(obj, (Distribution, Transform)):
        return obj
    new = copy.copy(obj)
    # An inverse transform's _inv IS its forward transform (keep it); a forward transform's _inv
    # is only a lazily built back-link (drop it).
    keep_inv = isinstance(obj, _InverseTransform)
    for name, value in vars(obj).items():
        if isinstance(obj, Transform) and (name == "_cached_x_y" or (name == "_inv" and not keep_inv)):
            continue
        if isinstance(value, (Tensor, Distribution, Transform, list, tuple)):
            new.__dict__[name] = detached(value)
    if isinstance(new, Transform):
        if "_inv" in new.__dict__ and not keep_inv:
            new._inv = None
        if "_cached_x_y" in new.__dict__:
            new._cached_x_y = (None, None)
    return new


def _as_event(dist: Distribution, n_batch: int, where: str) -> Distribution:
    """Reinterpret all but the first ``n_batch`` batch dims of ``dist`` as event dims."""
    extra = len(dist.batch_shape) - n_batch
    if extra < 0:
        raise ValueError(
            f"{where} returned a distribution with batch_shape {tuple(dist.batch_shape)}; expected at "
            f"least {n_batch} batch dim(s) in front of the event."
        )
    return Independent(dist, extra) if extra > 0 else dist


class DistributionInfNet(InfNet):
    """An InfNet defined by one method, ``distribution(x)``, returning q(z|x) as a Distribution.

    The returned distribution's batch shape is ``[B]`` or ``[B, *z_shape]``; trailing batch dims
    are reinterpreted as event dims. ``has_rsample`` follows the distribution family (a subclass
    may set ``allow_rsample = False`` to switch a reparameterisable family to score-function use).

    Shapes:
        distribution(x): x ``[B, *x_shape]``; batch shape ``[B]`` after wrapping, event ``z_shape``.

    Example:
        >>> import torch
        >>> from torch.distributions import Normal
        >>> class Enc(DistributionInfNet):
        ...     def __init__(self):
        ...         super().__init__(); self.lin = torch.nn.Linear(3, 4)
        ...     def distribution(self, x):
        ...         mu, log_sigma = self.lin(x).chunk(2, dim=-1)
        ...         return Normal(mu, log_sigma.exp())
        >>> q = Enc()
        >>> z = q(torch.zeros(6, 3)).rsample(5)
        >>> tuple(z.shape), tuple(q.log_prob(z).shape), q.has_rsample
        ((6, 5, 2), (6, 5), True)
    """

    allow_rsample: bool = True

    @abstractmethod
    def distribution(self, x: Tensor) -> Distribution:
        """Return q(z|x) for a batch ``x [B, *x_shape]``."""

    def forward(self, x: Tensor) -> DistributionInfNet:
        self.dist_ = _as_event(self.distribution(x), 1, f"{type(self).__name__}.distribution")
        self.params_ = _params_of(self.dist_)
        return self

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        """Whether ``rsample`` works: from the last distribution built, else from the return
        annotation of ``distribution`` (e.g. ``-> Normal``), else assumed True until the first call."""
        if not self.allow_rsample:
            return False
        dist = getattr(self, "dist_", None)
        if dist is not None:
            return bool(dist.has_rsample)
        try:
            family = typing.get_type_hints(type(self).distribution).get("return")
        except Exception:  # annotations that cannot be resolved say nothing about the family
            family = None
        if isinstance(family, type) and issubclass(family, Distribution) and family is not Distribution:
            return bool(family.has_rsample)
        return True

    def current_dist(self) -> Distribution:
        """q(z|x) of the last batch as a Distribution (raises before the first call)."""
        dist = getattr(self, "dist_", None)
        if dist is None:
            raise RuntimeError(f"call {type(self).__name__}(x) before sample/rsample/log_prob")
        return dist

    def sample(self, n_samples: int) -> Tensor:
        return self.current_dist().sample((n_samples,)).movedim(0, 1)  # [K, B, *z] -> [B, K, *z]

    def rsample(self, n_samples: int) -> Tensor:
        if not self.has_rsample:
            return super().rsample(n_samples)
        return self.current_dist().rsample((n_samples,)).movedim(0, 1)  # [B, K, *z]

    def log_prob(self, z: Tensor) -> Tensor:
        return self.current_dist().log_prob(z.movedim(1, 0)).movedim(0, 1)  # [K, B] -> [B, K]

    def log_prob_detached(self, z: Tensor) -> Tensor:
        """``log q(z|x)`` under a copy of the last distribution with every tensor detached: ``[B, K]``."""
        return detached(self.current_dist()).log_prob(z.movedim(1, 0)).movedim(0, 1)  # [B, K]


class DistributionGenModel(GenModel):
    """A GenModel defined by two methods returning Distributions: ``prior()`` and ``likelihood(z)``.

    ``prior()`` is p(z) with no data-dependent batch dims (its batch dims become event dims).
    ``likelihood(z)`` is p(x|z) for latents ``[*S, *z_shape]``; dims after ``*S`` become event dims.

    Shapes:
        log_prob(x, z): x ``[B, *x_shape]``, z ``[B, K, *z_shape]`` -> ``[B, K]``.
        sample(n): ``(x [n, *x_shape], z [n, *z_shape])``.

    Example:
        >>> import torch
        >>> from torch.distributions import Bernoulli
        >>> class SBN(DistributionGenModel):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.prior_logits = torch.nn.Parameter(torch.zeros(2))
        ...         self.lin = torch.nn.Linear(2, 3)
        ...     def prior(self):
        ...         return Bernoulli(logits=self.prior_logits)
        ...     def likelihood(self, z):
        ...         return Bernoulli(logits=self.lin(z))
        >>> p = SBN()
        >>> x, z = p.sample(4)
        >>> tuple(x.shape), tuple(z.shape), tuple(p(x, z.unsqueeze(1)).log_prob(x, z.unsqueeze(1)).shape)
        ((4, 3), (4, 2), (4, 1))
    """

    @abstractmethod
    def prior(self) -> Distribution:
        """Return p(z)."""

    @abstractmethod
    def likelihood(self, z: Tensor) -> Distribution:
        """Return p(x|z) for latents ``[*S, *z_shape]``."""

    def _prior(self) -> Distribution:
        return _as_event(self.prior(), 0, f"{type(self).__name__}.prior")

    def _likelihood(self, z: Tensor, z_event_dims: int) -> Distribution:
        n_batch = z.dim() - z_event_dims
        return _as_event(self.likelihood(z), n_batch, f"{type(self).__name__}.likelihood")

    def forward(self, x: Tensor, z: Tensor) -> DistributionGenModel:
        prior = self._prior()
        lik = self._likelihood(z, len(prior.event_shape))
        self._cache = (z, prior, lik)  # reused by log_prob for the same z: one decoder pass per step
        self.params_ = {**{f"prior_{k}": v for k, v in _params_of(prior).items()}, **_params_of(lik)}
        self.x_shape_ = tuple(lik.event_shape)  # what a loss checks the target against
        return self

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        cache = getattr(self, "_cache", None)
        if cache is not None and cache[0] is z:
            _, prior, lik = cache
        else:
            prior = self._prior()
            lik = self._likelihood(z, len(prior.event_shape))
        x = x.unsqueeze(1)  # [B, 1, *x_shape], broadcasts over K
        return prior.log_prob(z) + lik.log_prob(x)  # [B, K]

    def log_prior(self, z: Tensor) -> Tensor:
        """``log p(z)`` of latents ``[B, K, *z_shape]``: ``[B, K]``. Optional on a GenModel; losses
        that weight the prior separately (``ELBO(beta=...)``) need it."""
        cache = getattr(self, "_cache", None)
        prior = cache[1] if cache is not None and cache[0] is z else self._prior()
        return prior.log_prob(z)  # [B, K]

    def sample(self, n: int) -> tuple[Tensor, Tensor]:
        prior = self._prior()
        z = prior.sample((n,))  # [n, *z_shape]
        x = self._likelihood(z, len(prior.event_shape)).sample()  # [n, *x_shape]
        return x, z
