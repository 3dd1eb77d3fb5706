"""Information-ordered bottleneck (IOB): a layer that opens only the first n features of a code.

Training averages a loss over bottleneck widths n = 0..F (exhaustively, or with n drawn per
example), so the leading features come to carry the most information and the code can be cut at
any width afterwards:

    L_IOB = sum_{n=0..F} P(n) * L( decode( mask_n(code) ) ),   mask_n(c)_j = c_j if j < n else 0.

References:
    Ho, Zhao & Wandelt, "Information-Ordered Bottlenecks for Adaptive Semantic Compression",
    arXiv:2305.11213 (2023).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from vaekit.latents.iob.widths import UniformWidths

__all__ = ["IOBLayer", "ordered_loss", "intrinsic_dimension", "chi2_1_critical_value", "place_mask"]


class IOBLayer(nn.Module):
    """Ordered bottleneck over a code of F features on dimension ``dim``.

    ``forward`` is the identity; ``forward_neck(x, n)`` keeps features j < n and zeroes the rest
    (n an int or one width per example, ``[B]``); ``forward_mask(x, mask)`` is ``x * mask``;
    ``forward_all(x)`` stacks every width; ``forward_sampled(x)`` draws one width per example in
    training mode (full width, no draw, in eval mode). Zeroed features get exactly zero gradient
    (``torch.where``, so a NaN or inf there cannot leak through as 0 * inf).

    The width distribution P(n) on n = 0..F is an object: ``UniformWidths()`` (the default),
    ``GeometricWidths(p)``, ``PoissonWidths(rate)`` (each truncated to 0..F and renormalised, so
    every width has positive probability), or any callable ``n_features -> [F+1]`` of
    non-negative weights, normalised here.

    Shapes:
        x: ``[B, ..., F, ...]`` with F at ``dim``; forward / forward_neck / forward_mask keep it.
        n_open: int or ``[B]`` integers in 0..F; mask: ``[F]`` or ``[B, F]``.
        forward_all(x): ``[B, F+1, ...]`` (a width axis inserted after the batch; row k = width k),
        e.g. ``(B, F+1, F)`` for a code ``[B, F]``. width_probs(): ``[F+1]``.

    Args:
        n_features: F.
        dim: the feature dimension of the code (not the batch dimension 0).
        widths: the width distribution, a callable ``n_features -> [F+1]`` weights (default
            ``UniformWidths()``).
        generator: a ``torch.Generator`` for the width draws (default: torch's global RNG).

    References:
        Ho, Zhao & Wandelt, arXiv:2305.11213 (2023).

    Example:
        >>> import torch
        >>> iob = IOBLayer(3)
        >>> iob.forward_neck(torch.ones(2, 3), 2).tolist()
        [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
        >>> tuple(iob.forward_all(torch.ones(2, 3)).shape)
        (2, 4, 3)
    """

    # Buffers of a Module, declared for the type checker (nn.Module.__getattr__ returns Tensor | Module).
    index: Tensor
    probs: Tensor

    def __init__(
        self,
        n_features: int,
        *,
        dim: int = -1,
        widths: Callable[[int], Tensor] | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if isinstance(n_features, bool) or not isinstance(n_features, int):
            raise TypeError(f"IOBLayer: n_features must be an int; got {type(n_features).__name__}")
        if n_features < 1:
            raise ValueError(f"IOBLayer: n_features must be >= 1; got {n_features}")
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"IOBLayer: dim must be an int; got {type(dim).__name__}")
        widths = UniformWidths() if widths is None else widths
        if not callable(widths):
            raise TypeError(
                "IOBLayer: widths must be a callable n_features -> [F+1] weights (e.g. GeometricWidths(0.5)); "
                f"got {type(widths).__name__}"
            )
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"IOBLayer: generator must be a torch.Generator or None; got {type(generator).__name__}")
        self.n_features, self.dim, self.widths = n_features, dim, widths
        self.generator = generator
        # Buffers (not persistent state) so they follow .to(device) and never hit the host per step.
        self.register_buffer("index", torch.arange(n_features), persistent=False)
        self.register_buffer("probs", _width_probs(widths, n_features).to(self.index.device), persistent=False)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, dim={self.dim}, widths={self.widths!r}"

    # -- deterministic views -------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """The identity (every feature open)."""
        self.feature_dim(x)
        return x

    def forward_neck(self, x: Tensor, n_open: int | Tensor) -> Tensor:
        """Keep features j < n_open, zero the rest. n_open: int or ``[B]`` integers in 0..F."""
        d = self.feature_dim(x)
        f = self.n_features
        if isinstance(n_open, Tensor):
            if n_open.dtype.is_floating_point or n_open.dtype.is_complex or n_open.dtype == torch.bool:
                raise TypeError(
                    f"IOBLayer.forward_neck: n_open must be an int or an integer tensor [B]; got a {n_open.dtype} tensor"
                )
            if n_open.dim() != 1 or n_open.shape[0] != x.shape[0]:
                raise ValueError(
                    f"IOBLayer.forward_neck: n_open must be an int or an integer tensor [B] = [{x.shape[0]}]; "
                    f"got {n_open.dtype} tensor of shape {tuple(n_open.shape)}"
                )
            lo, hi = torch.stack([n_open.min(), n_open.max()]).tolist()  # one sync; validation only
            if lo < 0 or hi > f:
                raise ValueError(f"IOBLayer.forward_neck: n_open must lie in 0..{f}; got values in {lo}..{hi}")
            keep = self.index < n_open.to(self.index.device).unsqueeze(-1)  # [B, F]
        else:
            if isinstance(n_open, bool) or not isinstance(n_open, int):
                raise TypeError(
                    f"IOBLayer.forward_neck: n_open must be an int or a tensor [B]; got {type(n_open).__name__}"
                )
            if not 0 <= n_open <= f:
                raise ValueError(f"IOBLayer.forward_neck: n_open must be an int in 0..{f}; got {n_open!r}")
            keep = self.index < n_open  # [F]
        return torch.where(place_mask(keep.to(x.device), x.dim(), d), x, x.new_zeros(()))

    def forward_mask(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x * mask`` with mask ``[F]`` (all examples) or ``[B, F]`` (per example)."""
        d = self.feature_dim(x)
        f, b = self.n_features, x.shape[0]
        if not isinstance(mask, Tensor):
            raise TypeError(f"IOBLayer.forward_mask: mask must be a tensor; got {type(mask).__name__}")
        if tuple(mask.shape) not in ((f,), (b, f)):
            got = tuple(mask.shape)
            raise ValueError(f"IOBLayer.forward_mask: mask must have shape ({f},) or ({b}, {f}); got {got}")
        return x * place_mask(mask.to(x.device, x.dtype), x.dim(), d)

    def forward_all(self, x: Tensor) -> Tensor:
        """Every width at once: ``[B, F+1, ...]``; row k equals ``forward_neck(x, k)``."""
        d = self.feature_dim(x)
        widths = torch.arange(self.n_features + 1, device=self.index.device)  # [F+1]
        keep = self.index < widths.unsqueeze(-1)  # [F+1, F], row k opens j < k
        keep = place_mask(keep.unsqueeze(0).to(x.device), x.dim() + 1, d + 1)  # [1, F+1, ..., F, ...]
        return torch.where(keep, x.unsqueeze(1), x.new_zeros(()))  # [B, F+1, *rest]

    # -- training-time widths ------------------------------------------------------------------
    def width_probs(self) -> Tensor:
        """P(n) for n = 0..F, ``[F+1]``."""
        return self.probs

    def sample_widths(self, batch_size: int, *, generator: torch.Generator | None = None) -> Tensor:
        """One width per example, ``[B]`` int64 in 0..F: drawn from P(n) in training mode; all F in eval."""
        if not self.training:
            return torch.full((batch_size,), self.n_features, dtype=torch.long, device=self.index.device)
        gen = generator if generator is not None else self.generator
        return torch.multinomial(self.probs, batch_size, replacement=True, generator=gen)  # [B]

    def forward_sampled(self, x: Tensor, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(forward_neck(x, n), n)`` with n = ``sample_widths(B)``; ``(x, F...)`` in eval mode."""
        self.feature_dim(x)
        n_open = self.sample_widths(x.shape[0], generator=generator)  # [B]
        if not self.training:
            return x, n_open
        keep = self.index < n_open.unsqueeze(-1)  # [B, F]; sampled widths need no range check
        return torch.where(place_mask(keep.to(x.device), x.dim(), self.feature_dim(x)), x, x.new_zeros(())), n_open

    def feature_dim(self, x: Tensor) -> int:
        """The feature dimension of x as a non-negative index, after checking that it holds F features."""
        if not isinstance(x, Tensor):
            raise TypeError(f"IOBLayer: x must be a tensor [B, ..., F, ...]; got {type(x).__name__}")
        if x.dim() < 2:
            raise ValueError(f"IOBLayer: x must be a tensor [B, ..., F, ...]; got {_describe(x)}")
        d = self.dim % x.dim() if -x.dim() <= self.dim < x.dim() else None
        if d is None or d == 0:
            raise ValueError(f"IOBLayer: dim={self.dim} is not a feature dim of x with shape {tuple(x.shape)}")
        if x.shape[d] != self.n_features:
            raise ValueError(
                f"IOBLayer: x has {x.shape[d]} features on dim {self.dim}; expected n_features={self.n_features}"
            )
        return d


def _describe(t: object) -> str:
    return f"tensor of shape {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__


def place_mask(mask: Tensor, ndim: int, d: int) -> Tensor:
    """View a mask ``[F]`` or ``[B, F]`` (or ``[1|B, W, F]``) so F sits at dim ``d`` of an ndim tensor."""
    lead = list(mask.shape[:-1])  # leading (batch, width) axes stay in front
    return mask.reshape(lead + [1] * (d - len(lead)) + [mask.shape[-1]] + [1] * (ndim - d - 1))


def _width_probs(widths: Callable[[int], Tensor], f: int) -> Tensor:
    """Normalised P(n), ``[F+1]``, from a width distribution's weights (checked once, at construction)."""
    w = widths(f)
    if not isinstance(w, Tensor) or not w.dtype.is_floating_point:
        got = f"a {w.dtype} tensor" if isinstance(w, Tensor) else type(w).__name__
        raise TypeError(f"IOBLayer: widths({f}) must return a float tensor of shape ({f + 1},); got {got}")
    if tuple(w.shape) != (f + 1,):
        got = f"shape {tuple(w.shape)}"
        raise ValueError(f"IOBLayer: widths({f}) must return a float tensor of shape ({f + 1},); got {got}")
    w = w.detach().to(torch.float64)
    if not (torch.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise ValueError(f"IOBLayer: widths({f}) must be finite, non-negative and not all 0; got {w.tolist()}")
    return (w / w.sum()).to(torch.get_default_dtype())  # [F+1]


def ordered_loss(
    layer: IOBLayer,
    code: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    *,
    exhaustive: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Average a per-example loss over bottleneck widths: exhaustively or with one draw per example.

    Objective:  L = mean_b sum_{n=0..F} P(n) * loss_fn( mask_n(code_b) ),  P = ``layer.width_probs()``.
    ``exhaustive=True`` evaluates every width (F+1 times the decoder cost) and returns L exactly;
    otherwise one width n_b ~ P per example gives an unbiased estimate of L. In eval mode the
    sampled form uses the full width (the layer draws nothing).

    Shapes:
        code: ``[B, ..., F, ...]``; loss_fn(masked): masked ``[N, ...]`` -> ``[N]`` per-example
        losses (N = B, or B * (F+1) when exhaustive); returns a scalar.

    Args:
        layer: the ``IOBLayer`` that masks the code.
        code: the code to mask (e.g. an encoder's output).
        loss_fn: maps masked codes to per-example losses.
        exhaustive: evaluate all widths instead of sampling one per example.
        generator: passed to ``layer.sample_widths``.

    Example:
        >>> import torch
        >>> iob = IOBLayer(2)
        >>> ordered_loss(iob, torch.ones(1, 2), lambda c: c.sum(-1), exhaustive=True).item()  # (0+1+2)/3
        1.0
    """
    if exhaustive:
        b = code.shape[0]
        every = layer.forward_all(code)  # [B, F+1, ...]
        losses = loss_fn(every.flatten(0, 1))  # [B * (F+1)]
        _check_losses(losses, b * (layer.n_features + 1))
        probs = layer.width_probs().to(losses.device, losses.dtype)  # [F+1]
        return (losses.reshape(b, -1) * probs).sum(-1).mean(0)
    masked, _ = layer.forward_sampled(code, generator=generator)
    losses = loss_fn(masked)  # [B]
    _check_losses(losses, code.shape[0])
    return losses.mean(0)


def _check_losses(losses: Tensor, n: int) -> None:
    if not isinstance(losses, Tensor):
        raise TypeError(
            f"ordered_loss: loss_fn must return a tensor of per-example losses ({n},); got {_describe(losses)}"
        )
    if tuple(losses.shape) != (n,):
        raise ValueError(
            f"ordered_loss: loss_fn must return per-example losses of shape ({n},); got {_describe(losses)}"
        )


def chi2_1_critical_value(level: float = 0.05) -> float:
    """Upper ``level`` quantile of chi-square(1): q with P(Z^2 > q) = level, q = 2 erfinv(1 - level)^2."""
    if isinstance(level, bool) or not isinstance(level, (int, float)):
        raise TypeError(f"chi2_1_critical_value: level must be a float; got {type(level).__name__}")
    if not 0 < level < 1:
        raise ValueError(f"chi2_1_critical_value: level must be in (0, 1); got {level!r}")
    # P(Z^2 > q) = P(|Z| > sqrt q) = 1 - erf(sqrt(q / 2)), so sqrt(q / 2) = erfinv(1 - level).
    return float(2 * torch.special.erfinv(torch.tensor(1 - level, dtype=torch.float64)) ** 2)


def intrinsic_dimension(
    errors_by_width: Sequence[float] | Tensor, n_points: int, data_variance: float | Tensor, *, level: float = 0.05
) -> int:
    """Smallest width after which opening one more feature is not a significant gain.

    With E_k the mean reconstruction error at width k (k = 0..F), e_k = E_k / data_variance and
    N test points, the log-likelihood gain of opening feature k+1 is

        G_k = -N/2 * (e_{k+1} - e_k),

    and the intrinsic dimension is the first k with G_k < c, c the chi-square(1) critical value at
    ``level`` (3.84 at 0.05); F if every gain is significant.

    Shapes:
        errors_by_width: ``[F+1]`` (widths 0..F). Returns a Python int in 0..F.

    Args:
        errors_by_width: E_k, the mean error (e.g. squared error summed over features) per width.
        n_points: N, the number of points the errors were averaged over.
        data_variance: the data's total variance, the sum of the per-feature variances (in the
            same units as E; not the variance of the flattened array).
        level: test level of the likelihood-ratio test.

    References:
        Ho, Zhao & Wandelt, arXiv:2305.11213 (2023).

    Example:
        >>> intrinsic_dimension([1.0, 0.5, 0.1, 0.0999, 0.0998], n_points=1000, data_variance=1.0)
        2
    """
    errors = torch.as_tensor(errors_by_width, dtype=torch.float64).detach().cpu()
    if errors.dim() != 1 or errors.numel() < 2:
        raise ValueError(
            f"intrinsic_dimension: errors_by_width must be 1-D with F+1 >= 2 entries; got shape {tuple(errors.shape)}"
        )
    if isinstance(n_points, bool) or not isinstance(n_points, int):
        raise TypeError(f"intrinsic_dimension: n_points must be an int; got {type(n_points).__name__}")
    if n_points < 1:
        raise ValueError(f"intrinsic_dimension: n_points must be a positive int; got {n_points!r}")
    var = float(data_variance)
    if not var > 0:
        raise ValueError(f"intrinsic_dimension: data_variance must be > 0; got {data_variance!r}")
    e = errors / var  # [F+1]
    gains = -n_points / 2 * (e[1:] - e[:-1])  # [F]: gain of opening feature k+1
    below = torch.nonzero(gains < chi2_1_critical_value(level))
    return int(below[0, 0]) if below.numel() else errors.numel() - 1
