"""Models with several stochastic layers: sigmoid belief nets and Gaussian VAEs, with layered q.

Generative model (layer 1 is nearest the data, layer L the top):
    p(x, z) = p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2) p(x | z_1)
Inference network (the matching bottom-up chain):
    q(z | x) = q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1})

The loss contract is unchanged: the L layers travel as ONE tensor, concatenated on the last dim,
``z = [z_1, z_2, ..., z_L]`` of shape ``[B, K, H_1 + ... + H_L]``, and ``log_prob`` is ``[B, K]``
(summed over every layer). ``model.split(z)`` (or :func:`split_layers`) gives the tuple
``(z_1, ..., z_L)`` back. Every loss in vaekit works on these models unchanged; the
score-function losses and baselines see one learning signal per sample for the whole chain.
NVIL's per-layer ("local") learning signals need the log-densities layer by layer: the models
give them as ``log_prob_layers`` and the ``vaekit.NVIL`` loss uses them.

The conditionals are evaluated directly (Bernoulli by ``rand < p`` and
``-binary_cross_entropy_with_logits``, Normal by its closed-form log-density), without
distribution objects on the hot path; a test checks each against ``torch.distributions``.
The parameters of the layers above the first depend on the sampled latents, so ``sample`` and
``rsample`` keep them for the ``log_prob`` of the same draw (recomputed for any other tensor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaekit.latents.bernoulli import BinarySupportCheck
from vaekit.latents.mlp import mlp
from vaekit.models import GenModel, InfNet

__all__ = [
    "split_layers",
    "check_layers",
    "LayeredBernoulliEncoder",
    "LayeredSigmoidBeliefNet",
    "LayeredGaussianEncoder",
    "LayeredGaussianDecoder",
]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _layer_sizes(owner: str, layer_sizes: Sequence[int]) -> tuple[int, ...]:
    if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence):
        raise TypeError(f"{owner}: layer_sizes must be a sequence of positive ints; got {type(layer_sizes).__name__}")
    sizes = tuple(layer_sizes)
    if not sizes or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in sizes):
        raise ValueError(f"{owner}: layer_sizes must be a non-empty sequence of positive ints; got {layer_sizes!r}")
    return sizes


def split_layers(z: Tensor, layer_sizes: Sequence[int]) -> tuple[Tensor, ...]:
    """Split concatenated latents ``[..., H_1 + ... + H_L]`` into ``(z_1, ..., z_L)``, ``[..., H_l]`` each.

    Shapes:
        z: ``[*S, sum(layer_sizes)]``; returns L views ``[*S, H_l]``.

    Example:
        >>> import torch
        >>> [t.shape[-1] for t in split_layers(torch.zeros(2, 5, 6), (3, 2, 1))]
        [3, 2, 1]
    """
    sizes = _layer_sizes("split_layers", layer_sizes)
    if z.shape[-1] != sum(sizes):
        raise ValueError(f"split_layers: z has {z.shape[-1]} units on its last dim; expected sum{sizes} = {sum(sizes)}")
    return tuple(z.split(list(sizes), dim=-1))


def check_layers(inf_net: InfNet, gen_model: GenModel) -> None:
    """Raise ``ValueError`` unless a layered q and a layered p chain: same data width, same layer sizes.

    A q over layers (200, 100) and a p over layers (100, 200) both use 300 latent units, so no
    shape check in a loss would notice; this check does.

    Example:
        >>> q, p = LayeredBernoulliEncoder(6, (3, 2)), LayeredSigmoidBeliefNet((3, 2), 6)
        >>> check_layers(q, p)
    """
    for name, m in (("inf_net", inf_net), ("gen_model", gen_model)):
        if not hasattr(m, "layer_sizes") or not hasattr(m, "data_dim"):
            raise ValueError(f"check_layers: {name} ({type(m).__name__}) is not a layered model (no layer_sizes)")
    qs, ps = tuple(getattr(inf_net, "layer_sizes")), tuple(getattr(gen_model, "layer_sizes"))  # noqa: B009
    if qs != ps:
        raise ValueError(
            f"check_layers: layer sizes do not chain: {type(inf_net).__name__} has layers {qs} (bottom to top), "
            f"{type(gen_model).__name__} has {ps}"
        )
    if getattr(inf_net, "data_dim") != getattr(gen_model, "data_dim"):  # noqa: B009
        raise ValueError(
            f"check_layers: {type(inf_net).__name__} reads data of width {getattr(inf_net, 'data_dim')}, "  # noqa: B009
            f"{type(gen_model).__name__} generates width {getattr(gen_model, 'data_dim')}"  # noqa: B009
        )


def _same(a: Tensor, b: Tensor) -> bool:
    """Whether ``b`` is ``a``, or an alias of it (same storage, layout and version) with neither carrying a graph.

    The cached parameters of the upper layers were computed from the draw itself, with exactly the
    draw's gradient path: reusable for the same tensor, and for an alias only when neither has a
    path (a ``sample`` draw that a loss detached). Otherwise they are recomputed.
    """
    if a is b:
        return True
    if a.requires_grad or b.requires_grad or torch.compiler.is_compiling():
        return False
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.device == b.device
        and a.stride() == b.stride()
        and a.data_ptr() == b.data_ptr()
        and a._version == b._version
    )


def _detached_call(net: nn.Module, inp: Tensor) -> Tensor:
    """``net(inp)`` with every parameter of ``net`` treated as a constant (gradient only through ``inp``)."""
    params = {n: p.detach() for n, p in net.named_parameters()}
    return torch.func.functional_call(net, params, (inp,))


def _bernoulli_elem(logits: Tensor, value: Tensor) -> Tensor:
    """log Bernoulli(value; sigmoid(logits)) per unit, ``value * logits - softplus(logits)``: ``[..., H]``.

    Two elementwise passes instead of the several of ``binary_cross_entropy_with_logits`` (same
    value; ``softplus`` is evaluated stably for both signs of the logits).
    """
    return value * logits - F.softplus(logits)


def _bernoulli_log_prob(logits: Tensor, value: Tensor) -> Tensor:
    """log Bernoulli(value; sigmoid(logits)) summed over the last dim: ``[..., H] -> [...]``."""
    return (value * logits).sum(-1) - F.softplus(logits).sum(-1)


def _bernoulli_data_log_prob(logits: Tensor, x: Tensor) -> Tensor:
    """log p(x | z_1) of data ``x`` ``[B, D]`` under logits ``[B, *S, D]``: ``[B, *S]``.

    The ``sum_d x_d * logit_d`` term is one batched matrix-vector product (x is shared by the S
    samples), so only ``softplus`` runs elementwise over the ``[B, *S, D]`` logits.
    """
    dot = torch.bmm(logits.reshape(logits.shape[0], -1, logits.shape[-1]), x.to(logits.dtype).unsqueeze(-1))
    return dot.reshape(logits.shape[:-1]) - F.softplus(logits).sum(-1)  # [B, *S]


def _normal_elem(value: Tensor, loc: Tensor, log_scale: Tensor) -> Tensor:
    """log N(value; loc, exp(log_scale)^2) per unit: ``[..., H]``."""
    return -0.5 * ((value - loc) * torch.exp(-log_scale)).pow(2) - log_scale - _HALF_LOG_2PI


def _normal_log_prob(value: Tensor, loc: Tensor, log_scale: Tensor) -> Tensor:
    """log N(value; loc, exp(log_scale)^2) summed over the last dim: ``[..., H] -> [...]``."""
    return _normal_elem(value, loc, log_scale).sum(-1)


def _layer_sums(elem: Tensor, sizes: tuple[int, ...]) -> Tensor:
    """Per-unit log-densities ``[..., sum H]`` summed within each layer: ``[..., L]``."""
    return torch.stack([t.sum(-1) for t in elem.split(list(sizes), dim=-1)], dim=-1)


def _bernoulli_draw(logits: Tensor) -> Tensor:
    return (torch.rand_like(logits) < torch.sigmoid(logits.detach())).to(logits.dtype)


def _check_z(owner: nn.Module, method: str, z: Tensor, sizes: tuple[int, ...]) -> None:
    if not isinstance(z, Tensor) or z.dim() < 2 or z.shape[-1] != sum(sizes):
        shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(
            f"{type(owner).__name__}.{method}: z must be [B, K, {sum(sizes)}] (layers {sizes} concatenated on "
            f"the last dim); got {shape}"
        )


def _check_x(owner: nn.Module, x: Tensor, data_dim: int) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[-1] != data_dim:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{type(owner).__name__}: x must be [B, {data_dim}]; got {shape}")


def _first(t: Tensor, z: Tensor) -> Tensor:
    """Layer-1 parameters ``[B, H]`` broadcast to z's leading dims ``[B, *S, H]``."""
    view = t.reshape(t.shape[0], *([1] * (z.dim() - 2)), t.shape[-1])
    return view.expand(*z.shape[:-1], t.shape[-1])


class _LayeredInfNet(InfNet):
    """Shared plumbing of the layered encoders: sizes, nets, the draw cache."""

    def __init__(self, data_dim: int, layer_sizes: Sequence[int], hidden: int | Sequence[int] | None, width: int):
        super().__init__()
        self.layer_sizes = _layer_sizes(type(self).__name__, layer_sizes)
        if isinstance(data_dim, bool) or not isinstance(data_dim, int) or data_dim < 1:
            raise ValueError(f"{type(self).__name__}: data_dim must be a positive int; got {data_dim!r}")
        self.data_dim = data_dim
        ins = (data_dim,) + self.layer_sizes[:-1]
        # nets[0] reads x (registered first: it is q's first Linear); nets[l] reads z_l.
        self.nets = nn.ModuleList(mlp(i, width * h, hidden) for i, h in zip(ins, self.layer_sizes))
        self._cache: tuple | None = None

    def split(self, z: Tensor) -> tuple[Tensor, ...]:
        """``(z_1, ..., z_L)`` from concatenated latents; see :func:`split_layers`."""
        return split_layers(z, self.layer_sizes)

    def _cached(self, z: Tensor) -> Any:
        c = self._cache
        if c is None or not _same(c[0], z) or (torch.is_grad_enabled() and not c[1]):
            return None
        return c[2]


class LayeredBernoulliEncoder(_LayeredInfNet):
    """q(z|x) = prod_l prod_h Bernoulli(z_{l,h}; sigmoid(f_l(z_{l-1}))_h), z_0 = x: a layered binary q.

    Each conditional ``f_l`` is linear (a sigmoid belief net, as in NVIL and VIMCO) or a tanh MLP
    with ``hidden``. No ``rsample``: use it with score-function estimators (VIMCO, Reinforce,
    RWS, VRScore, TVO, ...). After ``q(x)``, ``params_["logits_1"]`` holds the first layer's
    logits ``[B, H_1]``; the upper layers' logits depend on the sampled z (so this q does NOT
    expose the factorised-Bernoulli key ``"logits"``).

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, H_1 + ... + H_L]`` (layers concatenated, bottom first);
        log_prob: ``[B, K]``.

    Args:
        data_dim: width of x.
        layer_sizes: ``(H_1, ..., H_L)``, bottom (nearest x) to top, e.g. ``(200, 200, 200)``.
        hidden: None (linear conditionals) or hidden widths of each conditional's MLP.

    References:
        Mnih & Gregor, "Neural Variational Inference and Learning in Belief Networks", ICML 2014;
        Mnih & Rezende, "Variational inference for Monte Carlo objectives", ICML 2016 (SBN 200-200-200).

    Example:
        >>> import torch
        >>> q = LayeredBernoulliEncoder(6, (3, 2))
        >>> z = q(torch.zeros(4, 6)).sample(5)
        >>> tuple(z.shape), [t.shape[-1] for t in q.split(z)], tuple(q.log_prob(z).shape)
        ((4, 5, 5), [3, 2], (4, 5))
    """

    has_rsample = False

    def __init__(self, data_dim: int, layer_sizes: Sequence[int], hidden: int | Sequence[int] | None = None):
        super().__init__(data_dim, layer_sizes, hidden, 1)

    def forward(self, x: Tensor) -> LayeredBernoulliEncoder:
        _check_x(self, x, self.data_dim)
        self.params_ = {"logits_1": self.nets[0](x)}  # [B, H_1]
        self._cache = None
        return self

    def sample(self, n_samples: int) -> Tensor:
        first = self.params_["logits_1"]
        logits = first.unsqueeze(1).expand(first.shape[0], n_samples, first.shape[-1])  # [B, K, H_1]
        zs, all_logits = [], [logits]
        for net in self.nets[1:]:
            zs.append(_bernoulli_draw(logits))
            logits = net(zs[-1])  # [B, K, H_l]: depends on the sampled layer below
            all_logits.append(logits)
        zs.append(_bernoulli_draw(logits))
        z = torch.cat(zs, dim=-1)  # [B, K, sum H]
        self._cache = (z, torch.is_grad_enabled(), torch.cat(all_logits, dim=-1))
        return z

    def _logits(self, z: Tensor, detach: bool) -> Tensor:
        parts = self.split(z)
        first = self.params_["logits_1"]
        out = [_first(first.detach() if detach else first, z)]
        for net, below in zip(self.nets[1:], parts[:-1]):
            out.append(_detached_call(net, below) if detach else net(below))
        return torch.cat(out, dim=-1)  # [B, *S, sum H]

    def log_prob(self, z: Tensor) -> Tensor:
        _check_z(self, "log_prob", z, self.layer_sizes)
        logits = self._cached(z)
        if logits is None:
            logits = self._logits(z, detach=False)
        return _bernoulli_log_prob(logits, z)  # [B, K]

    def log_prob_layers(self, z: Tensor) -> Tensor:
        """Per-layer ``log q(z_l | z_{l-1})``, ``[B, K, L]`` (sums to ``log_prob``); for per-layer learning signals."""
        _check_z(self, "log_prob_layers", z, self.layer_sizes)
        logits = self._cached(z)
        if logits is None:
            logits = self._logits(z, detach=False)
        return _layer_sums(_bernoulli_elem(logits, z), self.layer_sizes)  # [B, K, L]

    def log_prob_detached(self, z: Tensor) -> Tensor:
        """``log q(z|x)`` with every parameter of q held constant (gradient only through z): ``[B, K]``."""
        _check_z(self, "log_prob_detached", z, self.layer_sizes)
        return _bernoulli_log_prob(self._logits(z, detach=True), z)


class LayeredGaussianEncoder(_LayeredInfNet):
    """q(z|x) = prod_l N(z_l; mu_l(z_{l-1}), diag exp(2 s_l(z_{l-1}))), z_0 = x: a layered Gaussian q.

    Reparameterisable through the whole chain: ``rsample`` draws z_l = mu_l + exp(s_l) * eps_l
    with mu_l, s_l evaluated at the reparameterised z_{l-1}. After ``q(x)``, ``params_`` holds
    the first layer's ``loc_1`` and ``log_scale_1`` ``[B, H_1]``.

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, H_1 + ... + H_L]``; log_prob: ``[B, K]``.

    Args:
        data_dim: width of x.
        layer_sizes: ``(H_1, ..., H_L)``, bottom to top (e.g. the IWAE paper's ``(100, 50)``).
        hidden: None (linear heads) or hidden widths of each conditional's tanh MLP.
        rsample: set False to use the family through score-function estimators only.

    References:
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (two stochastic layers).

    Example:
        >>> import torch
        >>> q = LayeredGaussianEncoder(6, (3, 2), hidden=8)
        >>> z = q(torch.zeros(4, 6)).rsample(5)
        >>> tuple(z.shape), q.has_rsample, tuple(q.log_prob(z).shape)
        ((4, 5, 5), True, (4, 5))
    """

    def __init__(
        self,
        data_dim: int,
        layer_sizes: Sequence[int],
        hidden: int | Sequence[int] | None = None,
        *,
        rsample: bool = True,
    ):
        super().__init__(data_dim, layer_sizes, hidden, 2)
        self.allow_rsample = bool(rsample)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.allow_rsample

    def forward(self, x: Tensor) -> LayeredGaussianEncoder:
        _check_x(self, x, self.data_dim)
        loc, log_scale = self.nets[0](x).chunk(2, dim=-1)  # [B, H_1] each
        self.params_ = {"loc_1": loc, "log_scale_1": log_scale}
        self._cache = None
        return self

    def _draw(self, n_samples: int, reparam: bool) -> Tensor:
        b = self.params_["loc_1"].shape[0]
        loc = self.params_["loc_1"].unsqueeze(1).expand(b, n_samples, -1)  # [B, K, H_1]
        log_scale = self.params_["log_scale_1"].unsqueeze(1).expand(b, n_samples, -1)
        zs, locs, log_scales = [], [loc], [log_scale]
        for i in range(len(self.layer_sizes)):
            z = loc + torch.exp(log_scale) * torch.randn_like(loc)  # [B, K, H_l]
            zs.append(z if reparam else z.detach())
            if i + 1 < len(self.layer_sizes):
                loc, log_scale = self.nets[i + 1](zs[-1]).chunk(2, dim=-1)
                locs.append(loc)
                log_scales.append(log_scale)
        z = torch.cat(zs, dim=-1)  # [B, K, sum H]
        self._cache = (z, torch.is_grad_enabled(), (torch.cat(locs, -1), torch.cat(log_scales, -1)))
        return z

    def sample(self, n_samples: int) -> Tensor:
        return self._draw(n_samples, reparam=False)

    def rsample(self, n_samples: int) -> Tensor:
        if not self.has_rsample:
            return super().rsample(n_samples)
        return self._draw(n_samples, reparam=True)

    def _params(self, z: Tensor, detach: bool) -> tuple[Tensor, Tensor]:
        parts = self.split(z)
        loc, log_scale = self.params_["loc_1"], self.params_["log_scale_1"]
        if detach:
            loc, log_scale = loc.detach(), log_scale.detach()
        locs, log_scales = [_first(loc, z)], [_first(log_scale, z)]
        for net, below in zip(self.nets[1:], parts[:-1]):
            loc, log_scale = (_detached_call(net, below) if detach else net(below)).chunk(2, dim=-1)
            locs.append(loc)
            log_scales.append(log_scale)
        return torch.cat(locs, -1), torch.cat(log_scales, -1)  # [B, *S, sum H] each

    def log_prob(self, z: Tensor) -> Tensor:
        _check_z(self, "log_prob", z, self.layer_sizes)
        params = self._cached(z)
        loc, log_scale = params if params is not None else self._params(z, detach=False)
        return _normal_log_prob(z, loc, log_scale)  # [B, K]

    def log_prob_layers(self, z: Tensor) -> Tensor:
        """Per-layer ``log q(z_l | z_{l-1})``, ``[B, K, L]`` (sums to ``log_prob``); for per-layer learning signals."""
        _check_z(self, "log_prob_layers", z, self.layer_sizes)
        params = self._cached(z)
        loc, log_scale = params if params is not None else self._params(z, detach=False)
        return _layer_sums(_normal_elem(z, loc, log_scale), self.layer_sizes)  # [B, K, L]

    def log_prob_detached(self, z: Tensor) -> Tensor:
        """``log q(z|x)`` with every parameter of q held constant (gradient only through z): ``[B, K]``."""
        _check_z(self, "log_prob_detached", z, self.layer_sizes)
        return _normal_log_prob(z, *self._params(z, detach=True))


class _LayeredGenModel(GenModel):
    """Shared plumbing of the layered generative models: sizes, top-down nets, the cache."""

    def __init__(self, layer_sizes: Sequence[int], data_dim: int, hidden: int | Sequence[int] | None, width: int):
        super().__init__()
        self.layer_sizes = _layer_sizes(type(self).__name__, layer_sizes)
        if isinstance(data_dim, bool) or not isinstance(data_dim, int) or data_dim < 1:
            raise ValueError(f"{type(self).__name__}: data_dim must be a positive int; got {data_dim!r}")
        self.data_dim = data_dim
        sizes = self.layer_sizes
        # latent_nets[l] maps z_{l+2} to the parameters of z_{l+1} (0-based: layer l+1 given the one above).
        self.latent_nets = nn.ModuleList(mlp(sizes[i + 1], width * sizes[i], hidden) for i in range(len(sizes) - 1))
        self.data_net = mlp(sizes[0], data_dim, hidden)
        self._cache: tuple | None = None
        self.x_shape_ = (data_dim,)  # the likelihood's event shape, what a loss checks the target against
        self._support = BinarySupportCheck(type(self).__name__)  # the Bernoulli likelihood scores 0/1 data only

    def split(self, z: Tensor) -> tuple[Tensor, ...]:
        """``(z_1, ..., z_L)`` from concatenated latents; see :func:`split_layers`."""
        return split_layers(z, self.layer_sizes)

    def _top(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def _prior_params(self, z: Tensor) -> Tensor:
        """The parameters of every layer's conditional given the layer above, concatenated (bottom first)."""
        parts = self.split(z)
        below = [net(above) for net, above in zip(self.latent_nets, parts[1:])]
        return torch.cat(below + [self._top(z)], dim=-1)

    def forward(self, x: Tensor, z: Tensor) -> _LayeredGenModel:
        _check_z(self, "forward", z, self.layer_sizes)
        x_logits = self.data_net(self.split(z)[0])  # [B, K, D]
        z_params = self._prior_params(z)
        self.params_ = {"x_logits": x_logits, "z_params": z_params}
        self._cache = (z, torch.is_grad_enabled(), (x_logits, z_params))
        return self

    def _params(self, z: Tensor) -> tuple[Tensor, Tensor]:
        c = self._cache
        if c is not None and _same(c[0], z) and (c[1] or not torch.is_grad_enabled()):
            return c[2]
        return self.data_net(self.split(z)[0]), self._prior_params(z)

    def _prior_elem(self, z: Tensor, z_params: Tensor) -> Tensor:
        raise NotImplementedError

    def _log_prior(self, z: Tensor, z_params: Tensor) -> Tensor:
        return self._prior_elem(z, z_params).sum(-1)  # [B, K]

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        _check_x(self, x, self.data_dim)
        _check_z(self, "log_prob", z, self.layer_sizes)
        self._support(x)
        x_logits, z_params = self._params(z)
        return self._log_prior(z, z_params) + _bernoulli_data_log_prob(x_logits, x)  # [B, K]

    def log_prob_layers(self, x: Tensor, z: Tensor) -> Tensor:
        """Per-layer terms of ``log p(x, z)``, ``[B, K, L + 1]``: entry 0 is ``log p(x | z_1)``, entry l is
        ``log p(z_l | z_{l+1})`` (entry L the top prior ``log p(z_L)``); they sum to ``log_prob``."""
        _check_x(self, x, self.data_dim)
        _check_z(self, "log_prob_layers", z, self.layer_sizes)
        x_logits, z_params = self._params(z)
        data = _bernoulli_data_log_prob(x_logits, x).unsqueeze(-1)  # [B, K, 1]
        return torch.cat([data, _layer_sums(self._prior_elem(z, z_params), self.layer_sizes)], dim=-1)

    def log_prior(self, z: Tensor) -> Tensor:
        """``log p(z_1, ..., z_L)`` (every layer, without the data term): ``[B, K]``."""
        _check_z(self, "log_prior", z, self.layer_sizes)
        return self._log_prior(z, self._params(z)[1])

    def _draw_layer(self, params: Tensor) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int) -> tuple[Tensor, Tensor]:
        """Ancestral draw, top layer first: ``(x [n, data_dim], z [n, H_1 + ... + H_L])``, no gradient."""
        w = next(self.data_net.parameters())
        top = self._top(w.new_zeros(n, sum(self.layer_sizes)))  # [n, width * H_L]
        zs = [self._draw_layer(top)]
        for net in reversed(self.latent_nets):
            zs.insert(0, self._draw_layer(net(zs[0])))
        x = _bernoulli_draw(self.data_net(zs[0]))  # [n, D]
        return x, torch.cat(zs, dim=-1)


class LayeredSigmoidBeliefNet(_LayeredGenModel):
    """A sigmoid belief net with L stochastic layers over binary data (Neal 1992; NVIL; VIMCO).

    p(z_L) = prod_h Bernoulli(sigmoid(b_h)), p(z_l | z_{l+1}) = prod_h Bernoulli(sigmoid(g_l(z_{l+1}))_h),
    p(x | z_1) = prod_d Bernoulli(sigmoid(g_0(z_1))_d); each g linear (the classic SBN) or a tanh
    MLP with ``hidden``. ``log_prior(z)`` is log p(z_1..z_L); ``sample(n)`` draws ancestrally.

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, H_1 + ... + H_L]`` (bottom layer first); log_prob: ``[B, K]``.

    Args:
        layer_sizes: ``(H_1, ..., H_L)`` bottom (nearest x) to top; must equal the encoder's.
        data_dim: width of x.
        hidden: None (linear) or hidden widths of each conditional's MLP.

    References:
        Neal, "Connectionist learning of belief networks", 1992; Mnih & Gregor, ICML 2014;
        Mnih & Rezende, ICML 2016.

    Example:
        >>> p = LayeredSigmoidBeliefNet((3, 2), 6)
        >>> x, z = p.sample(4)
        >>> tuple(x.shape), tuple(z.shape), tuple(p(x, z.unsqueeze(1)).log_prob(x, z.unsqueeze(1)).shape)
        ((4, 6), (4, 5), (4, 1))
    """

    def __init__(self, layer_sizes: Sequence[int], data_dim: int, hidden: int | Sequence[int] | None = None):
        super().__init__(layer_sizes, data_dim, hidden, 1)
        self.prior_logits = nn.Parameter(torch.zeros(self.layer_sizes[-1]))

    def _top(self, z: Tensor) -> Tensor:
        return self.prior_logits.to(z.dtype).expand(*z.shape[:-1], self.layer_sizes[-1])

    def _prior_elem(self, z: Tensor, z_params: Tensor) -> Tensor:
        return _bernoulli_elem(z_params, z)  # [B, K, sum H]

    def _draw_layer(self, params: Tensor) -> Tensor:
        return _bernoulli_draw(params)


class LayeredGaussianDecoder(_LayeredGenModel):
    """A Gaussian VAE with L stochastic layers over binary data.

    p(z_L) = N(0, I), p(z_l | z_{l+1}) = N(mu_l(z_{l+1}), diag exp(2 s_l(z_{l+1}))),
    p(x | z_1) = prod_d Bernoulli(sigmoid(g(z_1))_d) (the IWAE paper's two-layer model is
    ``layer_sizes=(100, 50)`` with deterministic hidden layers).

    Shapes:
        x: ``[B, data_dim]``; z: ``[B, K, H_1 + ... + H_L]``; log_prob: ``[B, K]``.

    Args:
        layer_sizes: ``(H_1, ..., H_L)`` bottom to top; must equal the encoder's.
        data_dim: width of x.
        hidden: None (linear) or hidden widths of each conditional's tanh MLP.

    References:
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.

    Example:
        >>> p = LayeredGaussianDecoder((3, 2), 6, hidden=8)
        >>> x, z = p.sample(4); tuple(x.shape), tuple(z.shape)
        ((4, 6), (4, 5))
    """

    def __init__(self, layer_sizes: Sequence[int], data_dim: int, hidden: int | Sequence[int] | None = None):
        super().__init__(layer_sizes, data_dim, hidden, 2)

    def _top(self, z: Tensor) -> Tensor:
        return z.new_zeros(*z.shape[:-1], 2 * self.layer_sizes[-1])  # loc 0, log-scale 0: N(0, I)

    def _prior_elem(self, z: Tensor, z_params: Tensor) -> Tensor:
        sizes = self.layer_sizes
        pieces = [p.chunk(2, dim=-1) for p in z_params.split([2 * h for h in sizes], dim=-1)]
        loc = torch.cat([a for a, _ in pieces], dim=-1)
        log_scale = torch.cat([b for _, b in pieces], dim=-1)
        return _normal_elem(z, loc, log_scale)  # [B, K, sum H]

    def _draw_layer(self, params: Tensor) -> Tensor:
        loc, log_scale = params.chunk(2, dim=-1)
        return loc + torch.exp(log_scale) * torch.randn_like(loc)
