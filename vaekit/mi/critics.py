"""Critics: modules mapping a batch of pairs to the ``[N, N]`` score matrix ``f(x_i, y_j)``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """A ReLU multilayer perceptron ``in_dim -> hidden... -> out_dim`` built from torch.nn."""
    dims = [int(in_dim), *[int(h) for h in hidden]]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(dims[-1], int(out_dim)))
    return nn.Sequential(*layers)


def _check_pair(x: object, y: object, who: str) -> None:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"{who} expects x and y as torch.Tensors; got {type(x).__name__} and {type(y).__name__}")
    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"{who} expects x [N, x_dim] and y [N, y_dim]; got shapes {tuple(x.shape)}, {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{who} expects x and y with the same N; got {x.shape[0]} and {y.shape[0]}")


class SeparableCritic(nn.Module):
    """Separable critic ``f(x, y) = g(x) . h(y) / T``: all N^2 scores from one matmul.

    Shapes:
        forward: x ``[N, x_dim]``, y ``[N, y_dim]`` -> ``[N, N]`` with entry ``[i, j] = f(x_i, y_j)``.

    Args:
        x_dim, y_dim: input dimensions.
        hidden: hidden widths of the two MLPs g and h.
        embed_dim: dimension of the embeddings g(x), h(y).
        temperature: T > 0.

    Example:
        >>> import torch
        >>> SeparableCritic(2, 3)(torch.randn(5, 2), torch.randn(5, 3)).shape
        torch.Size([5, 5])
    """

    def __init__(
        self, x_dim: int, y_dim: int, *, hidden: Sequence[int] = (64,), embed_dim: int = 32, temperature: float = 1.0
    ):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"SeparableCritic expects temperature > 0; got {temperature}")
        self.g = mlp(x_dim, hidden, embed_dim)
        self.h = mlp(y_dim, hidden, embed_dim)
        self.temperature = float(temperature)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_pair(x, y, "SeparableCritic")
        return self.g(x) @ self.h(y).T / self.temperature  # [N, N]

    def diagonal(self, x: Tensor, y: Tensor) -> Tensor:
        """``f(x_i, y_i)`` for the N joint pairs only, ``[N]``."""
        _check_pair(x, y, "SeparableCritic")
        return (self.g(x) * self.h(y)).sum(-1) / self.temperature  # [N]


class JointCritic(nn.Module):
    """Joint critic ``f(x, y) = MLP([x, y])`` evaluated on all N^2 pairs at once.

    The first layer of an MLP on the concatenation is ``W_x x + W_y y + b``, so it is computed as
    ``[N, H]`` and ``[N, H]`` halves broadcast to ``[N, N, H]``: the N^2 concatenated inputs are
    never built, and the first layer costs O(N H) instead of O(N^2 H).

    Shapes:
        forward: x ``[N, x_dim]``, y ``[N, y_dim]`` -> ``[N, N]``; diagonal(x, y) -> ``[N]``.

    Args:
        x_dim, y_dim: input dimensions.
        hidden: hidden widths (at least one layer).

    Example:
        >>> import torch
        >>> JointCritic(2, 3)(torch.randn(5, 2), torch.randn(5, 3)).shape
        torch.Size([5, 5])
    """

    def __init__(self, x_dim: int, y_dim: int, *, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        if len(hidden) < 1:
            raise ValueError(f"JointCritic needs at least one hidden layer; got hidden={tuple(hidden)}")
        self.first_x = nn.Linear(x_dim, hidden[0])
        self.first_y = nn.Linear(y_dim, hidden[0], bias=False)
        self.rest = nn.Sequential(nn.ReLU(), mlp(hidden[0], hidden[1:], 1))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_pair(x, y, "JointCritic")
        pre = self.first_x(x)[:, None, :] + self.first_y(y)[None, :, :]  # [N, N, H]
        return self.rest(pre).squeeze(-1)  # [N, N]

    def diagonal(self, x: Tensor, y: Tensor) -> Tensor:
        """``f(x_i, y_i)`` for the N joint pairs only, ``[N]``."""
        _check_pair(x, y, "JointCritic")
        return self.rest(self.first_x(x) + self.first_y(y)).squeeze(-1)  # [N]


class BilinearCritic(nn.Module):
    """Bilinear critic ``f(x, y) = x^T W y + b``: the optimal critic of a Gaussian pair up to c(x), c(y).

    Shapes:
        forward: x ``[N, x_dim]``, y ``[N, y_dim]`` -> ``[N, N]``; diagonal(x, y) -> ``[N]``.

    Example:
        >>> import torch
        >>> BilinearCritic(2, 3)(torch.randn(5, 2), torch.randn(5, 3)).shape
        torch.Size([5, 5])
    """

    def __init__(self, x_dim: int, y_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(x_dim, y_dim))
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_pair(x, y, "BilinearCritic")
        return x @ self.weight @ y.T + self.bias  # [N, N]

    def diagonal(self, x: Tensor, y: Tensor) -> Tensor:
        """``f(x_i, y_i)`` for the N joint pairs only, ``[N]``."""
        _check_pair(x, y, "BilinearCritic")
        return ((x @ self.weight) * y).sum(-1) + self.bias  # [N]
