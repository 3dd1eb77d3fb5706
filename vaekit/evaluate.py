"""Evaluation: the K-sample importance-weighted bound on held-out data, in bounded memory.

``iwae_bound`` returns the per-example bound; ``evaluate_iwae`` scores a whole split (or a seeded
random subset that its result names) and reports the mean with its standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from vaekit.models import GenModel, InfNet

__all__ = ["iwae_bound", "evaluate_iwae", "IWAEEvaluation"]


@torch.no_grad()
def iwae_bound(
    inf_net: InfNet,
    gen_model: GenModel,
    x: Tensor,
    *,
    n_samples: int = 1000,
    batch_size: int = 100,
    chunk_samples: int = 100,
    target: Tensor | None = None,
    progress: bool = False,
) -> Tensor:
    """Per-example IWAE_K bound, log (1/K) sum_k p(x, z_k) / q(z_k|x), for evaluation.

    Objective:   IWAE_K(x) = log (1/K) sum_{k=1..K} exp(log p(x, z_k) - log q(z_k|x)),  z_k ~ q(z|x).
    It lower-bounds log p(x) in expectation and tightens as K grows, so with K = 1000 it is the
    usual test-set estimate of log-likelihood for these models. The data are processed in batches
    of ``batch_size`` and the K samples in chunks of ``chunk_samples`` (combined by log-sum-exp),
    so memory is O(batch_size * chunk_samples) whatever K is. Runs under ``no_grad``; latents are
    drawn from torch's global generator.

    Shapes:
        x: ``[N, *x_shape]``; target (default x): ``[N, *y_shape]``; returns ``[N]`` on x's device
        and in the models' dtype.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z) (or p(target, z)).
        x: held-out data.
        n_samples: K.
        batch_size: data points per forward pass.
        chunk_samples: latent samples per forward pass.
        target: what p scores, for supervised models (default: x itself).
        progress: show a tqdm bar over the data points.

    References:
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016, section 5.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> q, p = BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6)
        >>> iwae_bound(q, p, torch.ones(4, 6), n_samples=50).shape
        torch.Size([4])
    """
    for name, v in (("n_samples", n_samples), ("batch_size", batch_size), ("chunk_samples", chunk_samples)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"iwae_bound: {name} must be a positive int; got {v!r}")
    if not isinstance(x, Tensor) or x.dim() < 1:
        raise TypeError(f"iwae_bound: x must be a tensor [N, *x_shape]; got {type(x).__name__}")
    if target is not None and (not isinstance(target, Tensor) or target.shape[:1] != x.shape[:1]):
        raise ValueError(
            f"iwae_bound: target must be a tensor with x's {x.shape[0]} rows; got "
            f"{tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__}"
        )
    targets = x if target is None else target
    bar = _bar(x.shape[0], f"IWAE_{n_samples}") if progress else None
    out = []
    for xb, yb in zip(x.split(batch_size), targets.split(batch_size)):
        inf = inf_net(xb)
        parts = []
        for start in range(0, n_samples, chunk_samples):
            k = min(chunk_samples, n_samples - start)
            z = inf.sample(k)  # [b, k, *z_shape]
            log_w = gen_model(yb, z).log_prob(yb, z) - inf.log_prob(z)  # [b, k]
            parts.append(torch.logsumexp(log_w, dim=-1))  # [b]
        out.append(torch.logsumexp(torch.stack(parts, dim=-1), dim=-1) - math.log(n_samples))  # [b]
        if bar is not None:
            bar.update(xb.shape[0])
    if bar is not None:
        bar.close()
    return torch.cat(out)  # [N]


@dataclass(frozen=True)
class IWAEEvaluation:
    """A mean IWAE_K bound over a data set, with what it was computed on.

    Attributes:
        mean: the bound averaged over the evaluated points (nats per data point).
        stderr: its standard error over data points (the sample standard deviation of the
            per-point bounds over the square root of their number).
        n_samples: K.
        n_points: how many points were evaluated.
        n_total: how many points the data set has.
        subset_seed: the seed of the random subset, or None when every point was evaluated.
        name: what the data set is called in ``str()`` (e.g. ``"test"``).
    """

    mean: float
    stderr: float
    n_samples: int
    n_points: int
    n_total: int
    subset_seed: int | None
    name: str = "test"

    @property
    def scope(self) -> str:
        """Which points were evaluated, in words."""
        if self.subset_seed is None:
            return f"the whole {self.name} split ({self.n_total} points)"
        return f"a random subset of {self.n_points} of the {self.n_total} {self.name} points (seed {self.subset_seed})"

    def __str__(self) -> str:
        return f"IWAE_{self.n_samples} = {self.mean:.2f} +- {self.stderr:.2f} nats on {self.scope}"


def evaluate_iwae(
    inf_net: InfNet,
    gen_model: GenModel,
    data: Tensor,
    *,
    n_samples: int = 1000,
    subset: int | None = None,
    seed: int = 0,
    batch_size: int = 100,
    chunk_samples: int = 100,
    target: Tensor | None = None,
    progress: bool = True,
    name: str = "test",
) -> IWAEEvaluation:
    """The mean IWAE_K bound over a whole split (the default) or over a seeded random subset.

    Every point is evaluated unless ``subset`` is given; then ``subset`` points drawn without
    replacement by ``torch.randperm`` from a generator seeded with ``seed`` are, and the result
    says so (``str(result)`` names the subset and its seed). Memory stays bounded as in
    :func:`iwae_bound`, which this calls. The models are put in evaluation mode for the call and
    restored afterwards.

    Shapes:
        data: ``[N, *x_shape]``; target: ``[N, *y_shape]``.

    Args:
        inf_net: q(z|x).
        gen_model: p(x, z).
        data: the split to evaluate, one point per row.
        n_samples: K (1000 is the usual choice for test-set log-likelihood estimates).
        subset: evaluate this many random points instead of all of them.
        seed: seed of the subset (unused without ``subset``).
        batch_size: data points per forward pass.
        chunk_samples: latent samples per forward pass.
        target: what p scores, for supervised models (default: the data itself).
        progress: show a tqdm bar.
        name: the split's name in the description.

    Returns:
        An ``IWAEEvaluation`` with the mean, its standard error and the evaluated scope.

    Example:
        >>> import torch
        >>> from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet
        >>> q, p = BernoulliEncoder(6, 3), SigmoidBeliefNet(3, 6)
        >>> data = torch.bernoulli(torch.full((30, 6), 0.5))
        >>> evaluate_iwae(q, p, data, n_samples=20, subset=10, seed=1, progress=False).scope
        'a random subset of 10 of the 30 test points (seed 1)'
    """
    if not isinstance(data, Tensor) or data.dim() < 1:
        raise TypeError(f"evaluate_iwae: data must be a tensor [N, *x_shape]; got {type(data).__name__}")
    n = data.shape[0]
    if subset is not None:
        if isinstance(subset, bool) or not isinstance(subset, int) or not 1 <= subset <= n:
            raise ValueError(f"evaluate_iwae: subset must be an int in [1, {n}] or None; got {subset!r}")
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:subset]  # [subset]
        data = data[idx.to(data.device)]
        target = None if target is None else target[idx.to(target.device)]
    modes = [(m, m.training) for m in (inf_net, gen_model)]
    for m, _ in modes:
        m.eval()
    try:
        bounds = iwae_bound(
            inf_net,
            gen_model,
            data,
            n_samples=n_samples,
            batch_size=batch_size,
            chunk_samples=chunk_samples,
            target=target,
            progress=progress,
        ).double()  # [n]
    finally:
        for m, mode in modes:
            m.train(mode)
    count = bounds.shape[0]
    stderr = (bounds.std() / math.sqrt(count)).item() if count > 1 else float("nan")
    return IWAEEvaluation(
        mean=bounds.mean().item(),
        stderr=stderr,
        n_samples=n_samples,
        n_points=count,
        n_total=n,
        subset_seed=None if subset is None else seed,
        name=name,
    )


def _bar(total: int, desc: str) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # a dependency of vaekit; without it, no bar
        return None
    return tqdm(total=total, desc=desc, dynamic_ncols=True, leave=False)
