"""HSIC estimators on Gram matrices: biased, unbiased, normalised (HSIC bottleneck) and CKA.

Every function takes Gram matrices ``K`` (of x) and ``L`` (of y), ``[..., m, m]``, with leading
batch dimensions that broadcast (one ``L`` against a stack ``[n_layers, m, m]`` of layer Gram
matrices costs one batched call). Memory is O(m^2) per matrix; the value is on the inputs'
device and dtype and differentiable.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "check_grams",
    "center_gram",
    "hsic_biased",
    "hsic_unbiased",
    "nhsic_projector",
    "trace_product",
    "nhsic",
    "cka",
]


def check_grams(k: Tensor, l: Tensor, *, min_m: int, name: str) -> int:  # noqa: E741
    """Validate a pair of Gram matrices and return their size ``m``.

    Raises ``TypeError`` for a non-tensor or non-floating input and ``ValueError`` for a matrix
    that is not square, sizes that do not match, ``m < min_m`` or non-finite entries.

    Shapes:
        k, l: ``[..., m, m]`` (leading dimensions broadcast).

    Example:
        >>> import torch
        >>> check_grams(torch.eye(4), torch.eye(4), min_m=4, name="hsic_unbiased")
        4
    """
    for label, g in (("K", k), ("L", l)):
        if not isinstance(g, Tensor):
            raise TypeError(f"{name}: {label} must be a torch.Tensor [..., m, m]; got {type(g).__name__}")
        if not g.is_floating_point():
            raise TypeError(f"{name}: {label} must be a floating tensor; got dtype {g.dtype}")
        if g.dim() < 2 or g.shape[-1] != g.shape[-2]:
            raise ValueError(f"{name}: {label} must be a square Gram matrix [..., m, m]; got shape {tuple(g.shape)}")
    if k.shape[-1] != l.shape[-1]:
        raise ValueError(
            f"{name}: K and L must be Gram matrices of the same m points; got K {tuple(k.shape)} and L {tuple(l.shape)}"
        )
    m = k.shape[-1]
    if m < min_m:
        raise ValueError(f"{name} needs m >= {min_m} points; got m = {m}")
    if not (bool(torch.isfinite(k).all()) and bool(torch.isfinite(l).all())):
        raise ValueError(f"{name}: the Gram matrices have non-finite entries (NaN or inf)")
    return m


def center_gram(k: Tensor) -> Tensor:
    """Doubly centred Gram matrix ``K_bar = H K H`` with ``H = I - 1 1^T / m``, in O(m^2).

    ``(H K H)_ij = K_ij - mean_a K_aj - mean_b K_ib + mean_ab K_ab``: no ``[m, m]`` product.

    Shapes:
        k: ``[..., m, m]``; returns ``[..., m, m]``.

    Example:
        >>> import torch
        >>> center_gram(torch.ones(3, 3)).abs().max().item()
        0.0
    """
    return k - k.mean(-2, keepdim=True) - k.mean(-1, keepdim=True) + k.mean((-2, -1), keepdim=True)  # [..., m, m]


def trace_product(a: Tensor, b: Tensor) -> Tensor:
    """``tr(A B) = sum_ij A_ij B_ji`` in O(m^2), batched over leading dimensions.

    Shapes:
        a, b: ``[..., m, m]``; returns ``[...]``.

    Example:
        >>> import torch
        >>> trace_product(torch.eye(3), 2 * torch.eye(3)).item()
        6.0
    """
    return (a * b.transpose(-1, -2)).sum((-2, -1))


def hsic_biased(k: Tensor, l: Tensor) -> Tensor:  # noqa: E741
    """Biased (V-statistic) HSIC estimator of Gretton et al. (2005).

        HSIC_b(K, L) = tr(K H L H) / (m - 1)^2,   H = I - 1 1^T / m

    With linear kernels ``K = X X^T``, ``L = Y Y^T`` it equals ``||C_xy||_F^2`` exactly, with
    ``C_xy = (X - mean X)^T (Y - mean Y) / (m - 1)`` the sample cross-covariance. Its bias is
    O(1/m); ``hsic_unbiased`` removes it.

    Shapes:
        k, l: ``[..., m, m]`` (broadcast), ``m >= 2``; returns ``[...]``.

    Args:
        k: Gram matrix of x.
        l: Gram matrix of y.

    Returns:
        The estimate, differentiable, on the inputs' device and dtype.

    References:
        Gretton, Bousquet, Smola, Schoelkopf (2005). Measuring statistical dependence with
        Hilbert-Schmidt norms. ALT.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0], [2.0]])
        >>> hsic_biased(x @ x.T, x @ x.T).item()  # Var(x)^2 = 1
        1.0
    """
    m = check_grams(k, l, min_m=2, name="hsic_biased")
    return trace_product(center_gram(k), l) / (m - 1) ** 2  # tr(HKH L) = tr(K H L H)


def hsic_unbiased(k: Tensor, l: Tensor) -> Tensor:  # noqa: E741
    """Unbiased (U-statistic) HSIC estimator of Song et al. (2012).

        HSIC_u = [ tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((m-1)(m-2)) - 2/(m-2) 1^T K~ L~ 1 ] / (m (m-3))

    where ``K~``, ``L~`` are ``K``, ``L`` with their diagonals set to 0. Its expectation is the
    population HSIC ``||C_xy||_HS^2`` (``||Sigma_xy||_F^2`` with linear kernels, 0 for independent
    x and y); it can be negative. O(m^2): ``1^T K~ L~ 1`` is a product of column and row sums.

    Shapes:
        k, l: ``[..., m, m]`` (broadcast), ``m >= 4``; returns ``[...]``.

    Args:
        k: Gram matrix of x.
        l: Gram matrix of y.

    Returns:
        The estimate, differentiable, on the inputs' device and dtype.

    References:
        Song, Smola, Gretton, Bedo, Borgwardt (2012). Feature selection via dependence
        maximization. JMLR 13, eq. (5).

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(50, 2, generator=g, dtype=torch.float64)
        >>> abs(hsic_unbiased(x @ x.T, x @ x.T).item() - hsic_biased(x @ x.T, x @ x.T).item()) < 0.2
        True
    """
    m = check_grams(k, l, min_m=4, name="hsic_unbiased")
    kt = k - torch.diag_embed(torch.diagonal(k, dim1=-2, dim2=-1))  # [..., m, m], zero diagonal
    lt = l - torch.diag_embed(torch.diagonal(l, dim1=-2, dim2=-1))  # [..., m, m]
    term1 = trace_product(kt, lt)  # [...]
    term2 = kt.sum((-2, -1)) * lt.sum((-2, -1)) / ((m - 1) * (m - 2))  # [...]
    term3 = (kt.sum(-2) * lt.sum(-1)).sum(-1) * (2.0 / (m - 2))  # 1^T K~ L~ 1 = (K~^T 1) . (L~ 1)
    return (term1 + term2 - term3) / (m * (m - 3))


def nhsic_projector(k: Tensor, epsilon: float = 1e-5) -> Tensor:
    """The regularised projector ``R = K_bar (K_bar + epsilon m I)^-1`` of the normalised HSIC.

    ``K_bar = H K H`` and ``K_bar + epsilon m I`` commute, so ``R`` is the symmetric matrix
    ``(K_bar + epsilon m I)^-1 K_bar``, computed by one (batched) linear solve: O(m^3) time,
    O(m^2) memory. Its eigenvalues are ``lambda / (lambda + epsilon m)`` in [0, 1).

    Shapes:
        k: ``[..., m, m]``; returns ``[..., m, m]``.

    Example:
        >>> import torch
        >>> r = nhsic_projector(torch.eye(4), epsilon=0.0)  # K_bar = H, a projector; R = H
        >>> round(torch.trace(r).item(), 4)
        3.0
    """
    check_grams(k, k, min_m=2, name="nhsic_projector")
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or epsilon < 0:
        raise ValueError(f"nhsic_projector: epsilon must be a float >= 0; got {epsilon!r}")
    m = k.shape[-1]
    kc = center_gram(k)  # [..., m, m]
    eye = torch.eye(m, dtype=k.dtype, device=k.device)
    if epsilon == 0:
        return kc @ torch.linalg.pinv(kc, hermitian=True)  # the orthogonal projector onto range(K_bar)
    return torch.linalg.solve(kc + (epsilon * m) * eye, kc)  # [..., m, m]


def nhsic(k: Tensor, l: Tensor, epsilon: float = 1e-5) -> Tensor:  # noqa: E741
    """Normalised HSIC of the HSIC bottleneck (Ma, Lewis, Kleijn 2020; Fukumizu et al. 2008).

        nHSIC(K, L) = tr(R_x R_y),   R = K_bar (K_bar + epsilon m I)^-1,   K_bar = H K H

    the empirical normalised cross-covariance operator's squared Hilbert-Schmidt norm. It is
    invariant to rescaling either kernel when ``epsilon = 0``, and ``nHSIC(K, K) <= m - 1``.

    Shapes:
        k, l: ``[..., m, m]`` (broadcast), ``m >= 2``; returns ``[...]``.

    Args:
        k: Gram matrix of x.
        l: Gram matrix of y.
        epsilon: the ridge ``epsilon`` (the authors' code uses 1e-5).

    Returns:
        The value, differentiable, on the inputs' device and dtype.

    References:
        Ma, Lewis, Kleijn (2020). The HSIC bottleneck: deep learning without back-propagation.
        AAAI, eq. (4). Fukumizu, Gretton, Sun, Schoelkopf (2008). Kernel measures of conditional
        dependence. NeurIPS.

    Example:
        >>> import torch
        >>> x = torch.randn(20, 3, dtype=torch.float64)
        >>> k = x @ x.T
        >>> abs(nhsic(k, k, epsilon=0.0).item() - 3.0) < 1e-8  # rank of the centred linear Gram
        True
    """
    check_grams(k, l, min_m=2, name="nhsic")
    return trace_product(nhsic_projector(k, epsilon), nhsic_projector(l, epsilon))


def cka(k: Tensor, l: Tensor) -> Tensor:  # noqa: E741
    """Centred kernel alignment (Cortes et al. 2012; Kornblith et al. 2019).

        CKA(K, L) = HSIC_b(K, L) / sqrt(HSIC_b(K, K) HSIC_b(L, L))

    In [0, 1] for positive semi-definite ``K``, ``L`` (Cauchy-Schwarz on ``<H K H, H L H>_F``) and
    invariant to scaling either kernel (so to isotropic scaling of x under a linear kernel). NaN
    where a centred Gram matrix is zero (a constant representation).

    Shapes:
        k, l: ``[..., m, m]`` (broadcast), ``m >= 2``; returns ``[...]``.

    References:
        Kornblith, Norouzi, Lee, Hinton (2019). Similarity of neural network representations
        revisited. ICML.

    Example:
        >>> import torch
        >>> x = torch.randn(10, 3)
        >>> round(cka(x @ x.T, 4 * x @ x.T).item(), 5)
        1.0
    """
    check_grams(k, l, min_m=2, name="cka")
    kc, lc = center_gram(k), center_gram(l)  # [..., m, m]
    return trace_product(kc, lc) / (trace_product(kc, kc) * trace_product(lc, lc)).sqrt()
