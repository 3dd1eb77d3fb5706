"""Estimators of the information plane (I(X;T), I(T;Y)) for a deterministic layer T = f(X).

Functions take a layer's activations on a probe set, ``t`` ``[N, d]``, and the probe's labels
``y`` ``[N]`` (integers; the true labels or the network's predictions), and return the pair
``(I(X;T), I(T;Y))`` in nats. The classes wrap them (and the HSIC measures) with their settings
for ``InformationPlaneTracker``; any object with the same ``name``, ``units``, ``settings()`` and
``__call__(activations, x, y)`` can be passed to the tracker as well.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit.hsic import gaussian_gram, hsic_biased, linear_gram, nhsic

__all__ = ["discrete_entropy", "binned_mi", "kde_mi", "Binning", "KDE", "HSICMeasure"]

LN2 = math.log(2.0)


def _check(t: Tensor, y: Tensor, name: str) -> None:
    if not isinstance(t, Tensor) or not t.is_floating_point() or t.dim() != 2:
        raise ValueError(
            f"{name}: activations must be a floating tensor [N, d]; got "
            f"{getattr(t, 'dtype', type(t))} {tuple(getattr(t, 'shape', ()))}"
        )
    if not isinstance(y, Tensor) or y.is_floating_point() or y.shape != t.shape[:1]:
        raise ValueError(
            f"{name}: y must be integer labels [N] = {tuple(t.shape[:1])}; got "
            f"{getattr(y, 'dtype', type(y))} {tuple(getattr(y, 'shape', ()))}"
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: activations have non-finite entries (NaN or inf)")


def discrete_entropy(ids: Tensor) -> Tensor:
    """Plug-in entropy ``H = -sum_k p_k log p_k`` (nats) of the empirical law of integer ids ``[N]``.

    Example:
        >>> import torch
        >>> round(discrete_entropy(torch.tensor([0, 0, 1, 1])).item(), 6)  # log 2
        0.693147
    """
    counts = torch.unique(ids, return_counts=True)[1].to(torch.float64)  # [n_distinct]
    p = counts / counts.sum()
    return -(p * p.log()).sum()


def binned_mi(
    t: Tensor, y: Tensor, *, n_bins: int = 30, lo: float | None = None, hi: float | None = None
) -> tuple[Tensor, Tensor]:
    """Binning estimate of (I(X;T), I(T;Y)) in nats (Shwartz-Ziv & Tishby 2017).

    Every unit is discretised into ``n_bins`` equal bins over ``[lo, hi]`` (default: the layer's
    own range on the probe, ``[min t, max t]``; the fixed [-1, 1] of the original only suits tanh);
    a probe point's bin pattern is the discrete variable ``T_bin``. ``T`` is a deterministic
    function of the input, so with the empirical law over the probe

        I(X;T) = H(T_bin),   I(T;Y) = H(T_bin) + H(Y) - H(T_bin, Y)

    which is 0 when every point falls in one bin, ``log N`` when each of the ``N`` distinct
    inputs has its own bin, and at most ``H(Y)`` for I(T;Y). It measures how the layer clusters
    the probe at that bin width, not the information of the continuous ``T`` (infinite).

    Shapes:
        t: ``[N, d]``; y: ``[N]``; returns two scalars (float64).

    References:
        Shwartz-Ziv, Tishby (2017). Opening the black box of deep neural networks via information.
        Saxe et al. (2018). On the information bottleneck theory of deep learning. ICLR.

    Example:
        >>> import torch
        >>> t = torch.tensor([[0.0], [0.0], [1.0], [1.0]])
        >>> [round(v.item(), 4) for v in binned_mi(t, torch.tensor([0, 0, 1, 1]), n_bins=2)]  # log 2 twice
        [0.6931, 0.6931]
    """
    _check(t, y, "binned_mi")
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"binned_mi: n_bins must be an int >= 1; got {n_bins!r}")
    low = t.min() if lo is None else torch.as_tensor(lo, dtype=t.dtype)
    high = t.max() if hi is None else torch.as_tensor(hi, dtype=t.dtype)
    width = (high - low).clamp_min(torch.finfo(t.dtype).tiny)  # a constant layer: every point in bin 0
    codes = ((t - low) / width * n_bins).floor().clamp(0, n_bins - 1).long()  # [N, d]
    t_ids = torch.unique(codes, dim=0, return_inverse=True)[1]  # [N]
    joint = torch.unique(torch.stack([t_ids, y.to(t_ids)], dim=1), dim=0, return_inverse=True)[1]  # [N]
    h_t = discrete_entropy(t_ids)
    return h_t, h_t + discrete_entropy(y) - discrete_entropy(joint)


def kde_mi(t: Tensor, y: Tensor, *, noise_var: float = 1e-3) -> tuple[Tensor, Tensor]:
    """Kolchinsky-Tracey upper bound on I(X;T) for ``T = h(X) + noise``, and the matching I(T;Y).

    With Gaussian noise of variance ``s2 = noise_var`` added to the activations ``h_i`` (the
    probe's ``N`` points, equally likely), ``T`` is a mixture of ``N`` Gaussians and the pairwise
    KL bound on its entropy gives (``H(T|X)`` cancels)

        I(X;T) <= -1/N sum_i log( 1/N sum_j exp(-||h_i - h_j||^2 / (2 s2)) )

    which tends to ``log N`` for well-separated activations and 0 for identical ones. I(T;Y) is
    estimated as ``I(X;T) - sum_c p_c I_c(X;T)``, the same bound within each class ``c`` (Saxe
    et al. 2018): a difference of bounds, an estimate rather than a bound.

    Shapes:
        t: ``[N, d]``; y: ``[N]``; returns two float64 scalars (a measurement: no gradient).
        Memory O(512 N): the kernel matrix is summed in blocks of 512 rows.

    References:
        Kolchinsky, Tracey (2017). Estimating mixture entropy with pairwise distances. Entropy 19.
        Saxe et al. (2018). On the information bottleneck theory of deep learning. ICLR.

    Example:
        >>> import torch
        >>> far = torch.arange(4.0)[:, None] * 10.0
        >>> round(kde_mi(far, torch.tensor([0, 0, 1, 1]))[0].item(), 4)  # log 4
        1.3863
    """
    _check(t, y, "kde_mi")
    if not noise_var > 0:
        raise ValueError(f"kde_mi: noise_var must be > 0; got {noise_var!r}")
    # float64: for large activations the distances of nearby points come from a cancellation.
    t64 = t.detach().to(torch.float64)
    n = t64.shape[0]
    classes, y_ids = torch.unique(y, return_inverse=True)
    one_hot = torch.nn.functional.one_hot(y_ids, classes.numel()).to(torch.float64)  # [N, C]
    sq = (t64 * t64).sum(-1)  # [N]
    # exp(-D_ij / (2 s2)) lies in (0, 1] with D_ii = 0, so every row sum is >= 1: no max-shift is
    # needed for a stable log, and the class-wise sums are one product with the one-hot labels.
    # Blocks of rows keep the working set small (memory O(block N), reused by the allocator).
    row_sums, within = [], []
    for start in range(0, n, 512):
        blk = slice(start, start + 512)
        d2 = torch.addmm(sq[blk, None] + sq[None, :], t64[blk], t64.T, alpha=-2.0).clamp_(min=0.0)  # [b, N]
        kern = d2.mul_(-0.5 / noise_var).exp_()  # [b, N]
        row_sums.append(kern.sum(-1))
        within.append((kern @ one_hot).gather(1, y_ids[blk, None]).squeeze(1))  # [b]: sum over j in i's class
    n_same = one_hot.sum(0)[y_ids]  # [N]: size of i's class
    within_t = torch.cat(within)
    ixt = math.log(n) - torch.cat(row_sums).log().mean()
    return ixt, ixt + (within_t.log() - n_same.log()).mean()  # sum_c p_c mean_{i in c} = mean over all i


class Binning:
    """Binning estimator for the tracker (``binned_mi``), in bits.

    Args:
        n_bins: bins per unit (30 in Shwartz-Ziv & Tishby).
        lo, hi: a fixed range; None (default) for each layer's own range at each record.

    Example:
        >>> import torch
        >>> est = Binning(n_bins=2)
        >>> est([torch.tensor([[0.0], [1.0]])], torch.zeros(2, 1), torch.tensor([0, 1]))
        [(1.0, 1.0)]
    """

    name = "binning"
    units = "bits"

    def __init__(self, *, n_bins: int = 30, lo: float | None = None, hi: float | None = None):
        self.n_bins, self.lo, self.hi = n_bins, lo, hi

    def settings(self) -> str:
        rng = "per-layer adaptive range" if self.lo is None and self.hi is None else f"range [{self.lo}, {self.hi}]"
        return f"{self.n_bins} bins, {rng}"

    def __call__(self, activations: list[Tensor], x: Tensor, y: Tensor) -> list[tuple[float, float]]:
        out = []
        for t in activations:
            ixt, ity = binned_mi(t, y, n_bins=self.n_bins, lo=self.lo, hi=self.hi)
            out.append((ixt.item() / LN2, ity.item() / LN2))
        return out


class KDE:
    """Kolchinsky-Tracey KDE upper bound for the tracker (``kde_mi``), in bits.

    Args:
        noise_var: variance of the Gaussian noise added to the activations (1e-3 in Saxe et al.'s
            comparison with binning).

    Example:
        >>> import torch
        >>> KDE()([torch.zeros(4, 2)], torch.zeros(4, 1), torch.tensor([0, 1, 0, 1]))
        [(0.0, 0.0)]
    """

    name = "kde"
    units = "bits"

    def __init__(self, *, noise_var: float = 1e-3):
        self.noise_var = noise_var

    def settings(self) -> str:
        return f"noise variance {self.noise_var:g}"

    def __call__(self, activations: list[Tensor], x: Tensor, y: Tensor) -> list[tuple[float, float]]:
        out = []
        for t in activations:
            ixt, ity = kde_mi(t, y, noise_var=self.noise_var)
            out.append((ixt.item() / LN2, ity.item() / LN2))
        return out


class HSICMeasure:
    """HSIC or normalised HSIC in place of (I(X;T), I(T;Y)): (HSIC(X, T), HSIC(T, Y)).

    Gaussian kernels with the median heuristic on x and on each layer (or a fixed ``bandwidth``),
    the delta kernel ``[y_i = y_j]`` on labels. All layers are evaluated in one batched call.

    Args:
        normalized: ``nhsic`` (Ma et al. 2020) when True, else the biased ``hsic_biased``.
        bandwidth: a fixed Gaussian bandwidth, or None for the median heuristic per variable.
        epsilon: ridge of the normalised HSIC.

    Example:
        >>> import torch
        >>> x = torch.randn(30, 3)
        >>> vals = HSICMeasure()([x.tanh()], x, (x[:, 0] > 0).long())
        >>> 0 < vals[0][1] <= 1.0 + 1e-5  # nHSIC with a binary y: at most the rank of its centred Gram
        True
    """

    units = "hsic"

    def __init__(self, *, normalized: bool = True, bandwidth: float | None = None, epsilon: float = 1e-5):
        self.normalized, self.bandwidth, self.epsilon = normalized, bandwidth, epsilon
        self.name = "nhsic" if normalized else "hsic"

    def settings(self) -> str:
        bw = "median heuristic" if self.bandwidth is None else f"bandwidth {self.bandwidth:g}"
        return f"Gaussian kernel ({bw}), delta kernel on y" + (f", epsilon {self.epsilon:g}" if self.normalized else "")

    def __call__(self, activations: list[Tensor], x: Tensor, y: Tensor) -> list[tuple[float, float]]:
        dtype = torch.float64  # the solves of nHSIC at a small ridge need the precision
        kx = gaussian_gram(x.flatten(1).to(dtype), self.bandwidth)  # [N, N]
        ky = linear_gram(torch.nn.functional.one_hot(y.long()).to(dtype))  # [N, N], the delta kernel
        kt = torch.stack([gaussian_gram(t.to(dtype), self.bandwidth) for t in activations])  # [L, N, N]
        if self.normalized:
            xt, ty = nhsic(kt, kx, self.epsilon), nhsic(kt, ky, self.epsilon)  # [L] each
        else:
            xt, ty = hsic_biased(kt, kx), hsic_biased(kt, ky)
        return list(zip(xt.tolist(), ty.tolist()))
