"""A small MLP builder shared by the example latent models."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(
    n_in: int, n_out: int, hidden: int | Sequence[int] | None = None, activation: type[nn.Module] = nn.Tanh
) -> nn.Module:
    """``Linear`` if ``hidden`` is None, else Linear-activation blocks then a Linear to ``n_out``."""
    for name, v in (("n_in", n_in), ("n_out", n_out)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"mlp: {name} must be a positive int; got {v!r}")
    sizes = [] if hidden is None else ([hidden] if isinstance(hidden, int) else list(hidden))
    layers: list[nn.Module] = []
    prev = n_in
    for h in sizes:
        layers += [nn.Linear(prev, h), activation()]
        prev = h
    layers.append(nn.Linear(prev, n_out))
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)
