"""Ground-truth tasks: distributions of (X, Y) whose mutual information is known in closed form.

Every task samples in torch from an explicit ``torch.Generator`` and exposes its true MI (nats)
and its log-densities, so a test can check the closed form against a Monte-Carlo average of
``log p(x, y) - log p(x) - log p(y)``. Names follow the BMI benchmark (Czyz et al. 2023) where
BMI has the task; the staircase tasks are those of Poole et al. (2019).

Example:
    >>> import torch
    >>> task = get_task("1v1-normal-0.75")
    >>> x, y = task.sample(4, generator=torch.Generator().manual_seed(0))
    >>> x.shape, round(task.mutual_information, 4)
    (torch.Size([4, 1]), 0.4133)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "Task",
    "GaussianTask",
    "StudentTask",
    "AdditiveUniformTask",
    "TransformedTask",
    "bivariate_normal",
    "staircase",
    "get_task",
    "list_tasks",
]

_F64 = torch.float64


class Task:
    """A joint distribution of (X, Y) with known mutual information.

    Attributes:
        name: task name (BMI's where BMI has the task).
        dim_x, dim_y: dimensions of X and Y.
        mutual_information: the true I(X; Y) in nats.
    """

    name: str
    dim_x: int
    dim_y: int
    mutual_information: float

    def sample(self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype | None = None):
        """Draw n joint pairs: ``(x [n, dim_x], y [n, dim_y])`` in ``dtype`` (default: torch's default)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"{self.name}.sample expects a positive integer n; got {n!r}")
        x, y = self._sample(n, generator)
        dtype = dtype or torch.get_default_dtype()
        return x.to(dtype), y.to(dtype)

    def _sample(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def log_prob(self, x: Tensor, y: Tensor) -> Tensor:
        """``log p(x, y)``, ``[n]``, in float64."""
        raise NotImplementedError

    def log_prob_x(self, x: Tensor) -> Tensor:
        """``log p(x)``, ``[n]``, in float64."""
        raise NotImplementedError

    def log_prob_y(self, y: Tensor) -> Tensor:
        """``log p(y)``, ``[n]``, in float64."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, I={self.mutual_information:.4f} nats)"


def _gauss_logdet_ll(z: Tensor, chol: Tensor) -> Tensor:
    """Log-density of N(0, L L^T) at the rows of z (float64)."""
    sol = torch.linalg.solve_triangular(chol, z.T, upper=False)  # [d, n]
    d = z.shape[-1]
    return -0.5 * (sol * sol).sum(0) - torch.log(torch.diagonal(chol)).sum() - 0.5 * d * math.log(2 * math.pi)


class GaussianTask(Task):
    """Jointly Gaussian (X, Y) with zero mean and covariance ``cov``, X the first ``dim_x`` coordinates.

    True MI: ``0.5 (log det S_xx + log det S_yy - log det S)``.
    """

    def __init__(self, name: str, cov: Tensor, dim_x: int):
        cov = torch.as_tensor(cov, dtype=_F64)
        self.name, self.dim_x, self.dim_y = name, int(dim_x), cov.shape[0] - int(dim_x)
        self.cov = cov
        self._chol = torch.linalg.cholesky(cov)
        self._chol_x = torch.linalg.cholesky(cov[:dim_x, :dim_x])
        self._chol_y = torch.linalg.cholesky(cov[dim_x:, dim_x:])
        self.mutual_information = float(
            0.5 * (torch.logdet(cov[:dim_x, :dim_x]) + torch.logdet(cov[dim_x:, dim_x:]) - torch.logdet(cov))
        )
        self.entropy_y = float(0.5 * torch.logdet(2 * math.pi * math.e * cov[dim_x:, dim_x:]))

    def _sample(self, n, generator):
        z = torch.randn(n, self.cov.shape[0], generator=generator, dtype=_F64) @ self._chol.T  # [n, dx + dy]
        return z[:, : self.dim_x], z[:, self.dim_x :]

    def log_prob(self, x, y):
        return _gauss_logdet_ll(torch.cat([x, y], -1).to(_F64), self._chol)

    def log_prob_x(self, x):
        return _gauss_logdet_ll(x.to(_F64), self._chol_x)

    def log_prob_y(self, y):
        return _gauss_logdet_ll(y.to(_F64), self._chol_y)


def bivariate_normal(rho: float, name: str | None = None) -> GaussianTask:
    """1-d X and Y, unit variances, correlation rho: I = -0.5 log(1 - rho^2)."""
    if not -1 < rho < 1:
        raise ValueError(f"bivariate_normal expects a correlation in (-1, 1); got {rho}")
    return GaussianTask(name or f"1v1-normal-{rho}", torch.tensor([[1.0, rho], [rho, 1.0]], dtype=_F64), 1)


def _dense(dim_x: int, dim_y: int, off_diag: float) -> GaussianTask:
    d = dim_x + dim_y
    cov = torch.eye(d, dtype=_F64) * (1 - off_diag) + off_diag
    return GaussianTask(f"multinormal-dense-{dim_x}-{dim_y}-{off_diag}", cov, dim_x)


def _sparse(dim_x: int, dim_y: int, k: int, signal: float, noise: float) -> GaussianTask:
    """BMI's sparse correlation matrix: corr(X_i, Y_i) = signal for i < k, noise within X and within Y."""
    d = dim_x + dim_y
    cov = torch.eye(d, dtype=_F64)
    cov[:dim_x, :dim_x] += noise * (1 - torch.eye(dim_x, dtype=_F64))
    cov[dim_x:, dim_x:] += noise * (1 - torch.eye(dim_y, dtype=_F64))
    for i in range(k):
        cov[i, dim_x + i] = cov[dim_x + i, i] = signal
    return GaussianTask(f"multinormal-sparse-{dim_x}-{dim_y}-{k}-{signal}-{noise}", cov, dim_x)


def staircase(mi: float, dim: int = 20) -> GaussianTask:
    """Poole et al. (2019)'s Gaussian task: dim pairs (X_d, Y_d) with correlation rho, I = mi nats in total.

    ``rho = sqrt(1 - exp(-2 mi / dim))`` so that ``-dim/2 log(1 - rho^2) = mi``.
    """
    if not mi >= 0:
        raise ValueError(f"staircase expects mi >= 0; got {mi}")
    rho = math.sqrt(1 - math.exp(-2 * mi / dim))
    eye = torch.eye(dim, dtype=_F64)
    cov = torch.cat([torch.cat([eye, rho * eye], 1), torch.cat([rho * eye, eye], 1)], 0)
    return GaussianTask(f"staircase-{dim}-{float(mi)}", cov, dim)


def _log_t(z: Tensor, df: int) -> Tensor:
    """Log-density of the d-variate Student-t with identity dispersion (float64)."""
    d = z.shape[-1]
    return (
        math.lgamma((df + d) / 2)
        - math.lgamma(df / 2)
        - d / 2 * math.log(df * math.pi)
        - (df + d) / 2 * torch.log1p((z * z).sum(-1) / df)
    )


def _t_entropy(d: int, df: int) -> float:
    """Differential entropy of the d-variate Student-t with identity dispersion."""
    dig = torch.special.digamma(torch.tensor([(df + d) / 2, df / 2], dtype=_F64))
    return (
        -math.lgamma((df + d) / 2)
        + math.lgamma(df / 2)
        + d / 2 * math.log(df * math.pi)
        + (df + d) / 2 * float(dig[0] - dig[1])
    )


class StudentTask(Task):
    """Multivariate Student-t (X, Y) with identity dispersion and integer degrees of freedom ``df``.

    X and Y are uncorrelated but dependent (through the shared scale). True MI:
    ``h_t(dim_x) + h_t(dim_y) - h_t(dim_x + dim_y)``, h_t the entropy of the standard d-variate t.
    """

    def __init__(self, dim_x: int, dim_y: int, df: int):
        if not isinstance(df, int) or df < 1:
            raise ValueError(f"StudentTask expects a positive integer df; got {df!r}")
        self.name = f"student-identity-{dim_x}-{dim_y}-{df}"
        self.dim_x, self.dim_y, self.df = dim_x, dim_y, df
        self.mutual_information = _t_entropy(dim_x, df) + _t_entropy(dim_y, df) - _t_entropy(dim_x + dim_y, df)

    def _sample(self, n, generator):
        z = torch.randn(n, self.dim_x + self.dim_y, generator=generator, dtype=_F64)
        # chi^2_df as a sum of df squared normals keeps every draw on the explicit generator.
        chi2 = torch.randn(n, self.df, generator=generator, dtype=_F64).pow(2).sum(-1, keepdim=True)  # [n, 1]
        t = z / torch.sqrt(chi2 / self.df)
        return t[:, : self.dim_x], t[:, self.dim_x :]

    def log_prob(self, x, y):
        return _log_t(torch.cat([x, y], -1).to(_F64), self.df)

    def log_prob_x(self, x):
        return _log_t(x.to(_F64), self.df)

    def log_prob_y(self, y):
        return _log_t(y.to(_F64), self.df)


class AdditiveUniformTask(Task):
    """X ~ U(0, 1), Y = X + N with N ~ U(-eps, eps) (BMI's ``1v1-additive-eps``).

    True MI = h(Y) - log(2 eps): ``eps - log(2 eps)`` for eps <= 1/2 and ``1 / (4 eps)`` above.
    """

    def __init__(self, eps: float):
        if not eps > 0:
            raise ValueError(f"AdditiveUniformTask expects eps > 0; got {eps}")
        self.name, self.dim_x, self.dim_y, self.eps = f"1v1-additive-{eps}", 1, 1, float(eps)
        self.mutual_information = eps - math.log(2 * eps) if eps <= 0.5 else 1 / (4 * eps)

    def _sample(self, n, generator):
        x = torch.rand(n, 1, generator=generator, dtype=_F64)
        noise = (2 * torch.rand(n, 1, generator=generator, dtype=_F64) - 1) * self.eps
        return x, x + noise

    def log_prob(self, x, y):
        x, y = x.to(_F64)[:, 0], y.to(_F64)[:, 0]
        inside = (x >= 0) & (x <= 1) & ((y - x).abs() <= self.eps)
        return torch.where(inside, torch.full_like(x, -math.log(2 * self.eps)), torch.full_like(x, -math.inf))

    def log_prob_x(self, x):
        x = x.to(_F64)[:, 0]
        return torch.where((x >= 0) & (x <= 1), torch.zeros_like(x), torch.full_like(x, -math.inf))

    def log_prob_y(self, y):
        y = y.to(_F64)[:, 0]
        overlap = (torch.clamp(y + self.eps, max=1.0) - torch.clamp(y - self.eps, min=0.0)).clamp(min=0.0)
        return torch.log(overlap / (2 * self.eps))


def _wiggly_inverse(s: Tensor) -> Tensor:
    # |w(t) - t| <= 0.4, so the root lies in [s - 0.4, s + 0.4]; w is increasing: bisect to float64 precision.
    lo, hi = s - 0.4, s + 0.4
    for _ in range(60):
        mid = (lo + hi) / 2
        below = mid + 0.4 * torch.sin(2 * mid) < s
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (lo + hi) / 2


# name: (forward f, inverse f^-1, log f'(t) at the pre-image t)
_TRANSFORMS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "half_cube": (
        lambda t: torch.sign(t) * t.abs() ** 1.5,
        lambda s: torch.sign(s) * s.abs() ** (2 / 3),
        lambda t: math.log(1.5) + 0.5 * torch.log(t.abs()),
    ),
    "asinh": (torch.asinh, torch.sinh, lambda t: -0.5 * torch.log1p(t * t)),
    "normal_cdf": (
        torch.special.ndtr,
        torch.special.ndtri,
        lambda t: -0.5 * t * t - 0.5 * math.log(2 * math.pi),
    ),
    # vaekit's wiggly map (BMI's differs in its coefficients; MI is the same for any increasing map).
    "wiggly": (lambda t: t + 0.4 * torch.sin(2 * t), _wiggly_inverse, lambda t: torch.log1p(0.8 * torch.cos(2 * t))),
}


class TransformedTask(Task):
    """A base task with the same strictly increasing map applied to every coordinate of X and Y.

    MI is invariant under such maps, so the true MI is the base task's. Densities follow by the
    change of variables ``log p'(s) = log p(f^-1(s)) - sum_d log f'(f^-1(s_d))``.
    """

    def __init__(self, transform: str, base: Task):
        if transform not in _TRANSFORMS:
            raise ValueError(f"unknown transform {transform!r}; expected one of {sorted(_TRANSFORMS)}")
        self.name = f"{transform}-{base.name}"
        self.base, self.transform = base, transform
        self.dim_x, self.dim_y, self.mutual_information = base.dim_x, base.dim_y, base.mutual_information
        self._f, self._inv, self._log_df = _TRANSFORMS[transform]

    def _sample(self, n, generator):
        x, y = self.base._sample(n, generator)
        return self._f(x), self._f(y)

    def _pull(self, s: Tensor) -> tuple[Tensor, Tensor]:
        t = self._inv(s.to(_F64))
        return t, self._log_df(t).sum(-1)

    # Outside the map's range (normal_cdf: s not in (0, 1)) the inverse is NaN: density zero there.
    def log_prob(self, x, y):
        (tx, jx), (ty, jy) = self._pull(x), self._pull(y)
        return torch.nan_to_num(self.base.log_prob(tx, ty) - jx - jy, nan=-math.inf)

    def log_prob_x(self, x):
        tx, jx = self._pull(x)
        return torch.nan_to_num(self.base.log_prob_x(tx) - jx, nan=-math.inf)

    def log_prob_y(self, y):
        ty, jy = self._pull(y)
        return torch.nan_to_num(self.base.log_prob_y(ty) - jy, nan=-math.inf)


_REGISTRY: dict[str, Callable[[], Task]] = {
    "1v1-normal-0.75": lambda: bivariate_normal(0.75),
    "multinormal-dense-2-2-0.5": lambda: _dense(2, 2, 0.5),
    "multinormal-dense-5-5-0.5": lambda: _dense(5, 5, 0.5),
    "multinormal-sparse-3-3-2-0.8-0.1": lambda: _sparse(3, 3, 2, 0.8, 0.1),
    "multinormal-sparse-5-5-2-0.8-0.1": lambda: _sparse(5, 5, 2, 0.8, 0.1),
    "half_cube-1v1-normal-0.75": lambda: TransformedTask("half_cube", bivariate_normal(0.75)),
    "normal_cdf-1v1-normal-0.75": lambda: TransformedTask("normal_cdf", bivariate_normal(0.75)),
    "wiggly-1v1-normal-0.75": lambda: TransformedTask("wiggly", bivariate_normal(0.75)),
    "normal_cdf-multinormal-sparse-3-3-2-0.8-0.1": lambda: TransformedTask("normal_cdf", _sparse(3, 3, 2, 0.8, 0.1)),
    "student-identity-1-1-1": lambda: StudentTask(1, 1, 1),
    "student-identity-2-2-1": lambda: StudentTask(2, 2, 1),
    "student-identity-3-3-2": lambda: StudentTask(3, 3, 2),
    "asinh-student-identity-1-1-1": lambda: TransformedTask("asinh", StudentTask(1, 1, 1)),
    "asinh-student-identity-2-2-1": lambda: TransformedTask("asinh", StudentTask(2, 2, 1)),
    "1v1-additive-0.1": lambda: AdditiveUniformTask(0.1),
    "1v1-additive-0.75": lambda: AdditiveUniformTask(0.75),
}
for _mi in (2.0, 4.0, 6.0, 8.0, 10.0):
    _REGISTRY[f"staircase-20-{_mi}"] = functools.partial(staircase, _mi, 20)


def list_tasks() -> list[str]:
    """Names of every built-in task, in a fixed order."""
    return list(_REGISTRY)


def get_task(name: str) -> Task:
    """The built-in task called ``name`` (see :func:`list_tasks`)."""
    if not isinstance(name, str):
        raise TypeError(f"get_task expects a task name (str); got {type(name).__name__}")
    if name not in _REGISTRY:
        raise ValueError(f"unknown MI task {name!r}; expected one of {list_tasks()}")
    return _REGISTRY[name]()
