"""Hypothesis strategies for random tiny models (needs the ``test`` extra: ``pip install vaekit[test]``).

Import this module explicitly (``from vaekit.testing.strategies import tiny_models``);
``import vaekit.testing`` does not import hypothesis.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from vaekit.testing.toys import TinyModel

__all__ = ["tiny_models"]


def tiny_models(
    *,
    min_k: int = 1,
    max_k: int = 3,
    kinds: Sequence[str] = ("sbn",),
    max_data_dim: int = 3,
    max_latent_dim: int = 2,
    max_batch: int = 2,
    scales: Sequence[float] = (0.5, 1.0, 1.5),
) -> st.SearchStrategy[TinyModel]:
    """A strategy drawing :class:`~vaekit.testing.toys.TinyModel` recipes.

    Sizes: data_dim in 1..max_data_dim, latent_dim in 1..max_latent_dim, batch in 1..max_batch,
    n_samples (K) in min_k..max_k, a seed in 0..2**16, a parameter scale from ``scales`` and a
    kind from ``kinds`` ("sbn", "gaussian" or "gaussian_score"). ``spec.build()`` gives
    ``(inf_net, gen_model, x)``. Gaussian kinds draw parameters at half the scale (their
    score-function gradients have heavy tails at large scale).

    Example:
        >>> from hypothesis import find
        >>> spec = find(tiny_models(min_k=2), lambda s: s.latent_dim == 2)  # the simplest such recipe
        >>> q, p, x = spec.build()
        >>> spec.n_samples, tuple(x.shape)
        (2, (1, 1))
    """
    if not 1 <= min_k <= max_k:
        raise ValueError(f"tiny_models: need 1 <= min_k <= max_k; got min_k={min_k}, max_k={max_k}")

    @st.composite
    def draw(draw_fn):  # type: ignore[no-untyped-def]
        kind = draw_fn(st.sampled_from(list(kinds)))
        scale = draw_fn(st.sampled_from(list(scales)))
        return TinyModel(
            data_dim=draw_fn(st.integers(1, max_data_dim)),
            latent_dim=draw_fn(st.integers(1, max_latent_dim)),
            batch=draw_fn(st.integers(1, max_batch)),
            n_samples=draw_fn(st.integers(min_k, max_k)),
            seed=draw_fn(st.integers(0, 2**16)),
            scale=scale if kind == "sbn" else scale / 2,
            kind=kind,
        )

    return draw()
