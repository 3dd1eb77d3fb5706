"""Training and evaluation of MI estimators, and the one-call :func:`estimate_mi`."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vaekit.mi.critics import JointCritic
from vaekit.mi.estimators import ESTIMATOR_NAMES, MIEstimator, make_estimator

Pairs = tuple[Tensor, Tensor]


@dataclass
class MIResult:
    """What :func:`estimate_mi` returns.

    Attributes:
        estimate: the test-set estimate (units of ``base``; nats by default).
        stderr: its standard error over the evaluation batches.
        log_n_cap: log N of the evaluation batch size where the bound is capped there (InfoNCE),
            else None; an estimate near it says "at least this much", not "this much".
        kind: ``"lower"``, ``"upper"`` or ``"neither"``.
        history: ``{"step": [...], "train": [...], "valid": [...]}`` (train: the training
            batches' estimates averaged since the previous validation).
        best_step: the step whose state was kept.
        estimator: the trained :class:`vaekit.mi.MIEstimator` (best validation state loaded).
        base: the logarithm base of the reported numbers.
    """

    estimate: float
    stderr: float
    log_n_cap: float | None
    kind: str
    history: dict[str, list[float]] = field(default_factory=dict)
    best_step: int = 0
    estimator: Any = None
    base: float = math.e

    def __repr__(self) -> str:
        cap = "" if self.log_n_cap is None else f", log N cap {self.log_n_cap:.3f}"
        unit = "nats" if self.base == math.e else ("bits" if self.base == 2 else f"log base {self.base}")
        return f"MIResult({self.estimate:.4f} +- {self.stderr:.4f} {unit}, {self.kind} bound{cap})"


def _as_pairs(x: Any, y: Any, who: str) -> Pairs:
    def conv(a: Any, label: str) -> Tensor:
        if isinstance(a, np.ndarray):
            a = torch.from_numpy(a).to(torch.get_default_dtype())  # NumPy's float64 would not match the networks
        if not isinstance(a, Tensor):
            raise TypeError(f"{who} expects {label} as a torch.Tensor or a NumPy array; got {type(a).__name__}")
        if not a.is_floating_point():
            a = a.to(torch.get_default_dtype())
        if a.dim() == 1:
            a = a[:, None]  # [N] -> [N, 1]
        if a.dim() != 2:
            raise ValueError(f"{who} expects {label} of shape [N] or [N, dim]; got shape {tuple(a.shape)}")
        return a

    xt, yt = conv(x, "x"), conv(y, "y")
    if xt.shape[0] != yt.shape[0]:
        raise ValueError(f"{who} expects x and y with the same number of pairs N; got {xt.shape[0]} and {yt.shape[0]}")
    if xt.shape[0] < 2:
        raise ValueError(f"{who} needs N >= 2 pairs; got N = {xt.shape[0]}")
    if not (torch.isfinite(xt).all() and torch.isfinite(yt).all()):
        raise ValueError(f"{who} expects finite x and y; got NaN or inf entries")
    return xt, yt.to(xt.dtype)


def _is_loader(data: Any) -> bool:
    return isinstance(data, torch.utils.data.DataLoader)


def _eval_batches(data: Any, batch_size: int) -> Iterator[Pairs]:
    if _is_loader(data):
        for batch in data:
            yield batch[0], batch[1]
        return
    x, y = data
    for start in range(0, x.shape[0], batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]


def _train_batches(data: Any, batch_size: int, generator: torch.Generator | None) -> Iterator[Pairs]:
    while True:
        if _is_loader(data):
            for batch in data:
                yield batch[0], batch[1]
            continue
        x, y = data
        n = x.shape[0]
        perm = torch.randperm(n, generator=generator).to(x.device)
        for start in range(0, n - batch_size + 1, batch_size):  # full batches only: N sets log N
            idx = perm[start : start + batch_size]
            yield x[idx], y[idx]


@torch.no_grad()
def _weighted(
    fn: Callable[[Tensor, Tensor], Tensor], module: nn.Module, data: Any, batch_size: int
) -> tuple[float, float]:
    was_training = module.training
    module.eval()
    values, sizes = [], []
    try:
        for xb, yb in _eval_batches(data, batch_size):
            if xb.shape[0] < 2:
                continue
            values.append(float(fn(xb, yb)))
            sizes.append(xb.shape[0])
    finally:
        module.train(was_training)
    if not values:
        raise ValueError("evaluate_mi got no batch with at least 2 pairs")
    v, w = np.array(values), np.array(sizes, dtype=float)
    w = w / w.sum()
    mean = float((w * v).sum())
    b = len(v)
    se = float(math.sqrt(b / (b - 1) * float((w**2 * (v - mean) ** 2).sum()))) if b > 1 else 0.0
    return mean, se


def evaluate_mi(estimator: nn.Module, data: Any, *, batch_size: int = 256) -> tuple[float, float]:
    """Mean estimate over evaluation batches, weighted by batch size, and its standard error.

    Runs under ``torch.no_grad()`` in eval mode (MINE's moving average is left unchanged). A
    trailing batch with fewer than 2 pairs is skipped (no marginal pair). The standard error is
    ``sqrt(B/(B-1) sum_b w_b^2 (v_b - mean)^2)`` with weights ``w_b = n_b / sum n``; it is 0 for
    a single batch (no spread to measure).

    Shapes:
        data: a pair ``(x [N, x_dim], y [N, y_dim])`` or a DataLoader yielding such pairs.

    Returns:
        ``(estimate, stderr)`` in nats.
    """
    return _weighted(estimator, estimator, data, batch_size)


def train_mi_estimator(
    estimator: MIEstimator,
    train: Any,
    valid: Any = None,
    *,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 5e-4,
    eval_every: int = 100,
    patience: int = 5,
    valid_batch_size: int | None = None,
    generator: torch.Generator | None = None,
    verbose: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, Any]:
    """Train ``estimator`` by gradient ascent on its objective, with early stopping on ``valid``.

    Every ``eval_every`` steps the validation estimate is recorded and the estimator's
    ``selection_score`` computed on the validation data (the estimate for a discriminative bound,
    minus the estimate for a user's upper bound, q's held-out log-likelihood for the generative
    estimators: see :class:`vaekit.mi.MIEstimator`); the state with the best score is kept, and
    training stops after ``patience`` evaluations without improvement. The best state is loaded
    back before returning.

    Args:
        estimator: the module; its parameters are trained by Adam unless ``optimizer`` is given.
        train, valid: pairs ``(x, y)`` of tensors or DataLoaders yielding pairs; ``valid=None``
            trains for ``steps`` steps without early stopping.
        steps: the maximum number of optimiser steps.
        batch_size: training batch size N (the log N cap of InfoNCE).
        lr: Adam's learning rate.
        eval_every: steps between validations.
        patience: evaluations without improvement before stopping.
        valid_batch_size: evaluation batch size (default: ``batch_size``).
        generator: the RNG of the shuffling.
        verbose: show a tqdm progress bar.
        optimizer: an optimiser over the estimator's parameters, instead of Adam(lr).

    Returns:
        The history ``{"step", "train", "valid", "best_step"}``.
    """
    if not isinstance(estimator, nn.Module):
        raise TypeError(f"train_mi_estimator expects an nn.Module estimator; got {type(estimator).__name__}")
    for label, value in (("steps", steps), ("batch_size", batch_size), ("eval_every", eval_every)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"train_mi_estimator expects a positive integer {label}; got {value!r}")
    if batch_size < 2:
        raise ValueError(f"train_mi_estimator needs batch_size >= 2; got {batch_size}")
    if not _is_loader(train) and train[0].shape[0] < batch_size:
        batch_size = train[0].shape[0]
    opt = optimizer or torch.optim.Adam(estimator.parameters(), lr=lr)
    select = getattr(estimator, "selection_score", estimator)
    vbs = valid_batch_size or batch_size
    history: dict[str, Any] = {"step": [], "train": [], "valid": []}
    best, best_state, best_step, bad = -math.inf, None, 0, 0
    bar = _progress(steps, verbose)
    running, count = 0.0, 0
    estimator.train()
    batches = _train_batches(train, batch_size, generator)
    for step in range(1, steps + 1):
        xb, yb = next(batches)
        value = estimator(xb, yb)
        opt.zero_grad(set_to_none=True)
        (-value).backward()
        opt.step()
        running += value.detach()
        count += 1
        if step % eval_every == 0 or step == steps:
            train_avg = float(running) / count
            running, count = 0.0, 0
            history["step"].append(step)
            history["train"].append(train_avg)
            if valid is not None:
                v, _ = evaluate_mi(estimator, valid, batch_size=vbs)
                score = v if select is estimator else _weighted(select, estimator, valid, vbs)[0]
                history["valid"].append(v)
                if score > best:
                    best, best_step, bad = score, step, 0
                    best_state = copy.deepcopy(estimator.state_dict())
                else:
                    bad += 1
                if bar is not None:
                    bar.set_postfix(train=f"{train_avg:.3f}", valid=f"{v:.3f}")
                if bad >= patience:
                    if bar is not None:
                        bar.update(steps - bar.n)
                    break
            elif bar is not None:
                bar.set_postfix(train=f"{train_avg:.3f}")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if best_state is not None:
        estimator.load_state_dict(best_state)
    history["best_step"] = best_step if valid is not None else steps
    return history


def _progress(total: int, verbose: bool) -> Any:
    if not verbose:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is an optional dependency (the examples extra)
        return None
    return tqdm(total=total, desc="MI", leave=False)


def estimate_mi(
    x: Any,
    y: Any = None,
    estimator: str | MIEstimator | Callable[[Tensor], Tensor] = "smile",
    *,
    critic: nn.Module | None = None,
    valid: Any = None,
    test: Any = None,
    valid_fraction: float = 0.2,
    test_fraction: float = 0.2,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 5e-4,
    eval_every: int = 100,
    patience: int = 5,
    standardize: bool = True,
    base: float = math.e,
    verbose: bool = True,
    seed: int = 0,
    **estimator_options: Any,
) -> MIResult:
    """Estimate I(X; Y) from samples: train an estimator, early-stop on validation, report on test.

    Tensors or NumPy arrays are split at random into train / validation / test parts
    (``valid_fraction`` and ``test_fraction``), standardised with the training part's mean and
    standard deviation (MI is invariant to per-coordinate affine maps) unless
    ``standardize=False``. A DataLoader (yielding ``(x, y)`` batches) is used as is for
    training, with ``valid`` and ``test`` DataLoaders given alongside.

    Args:
        x: samples of X ``[N, x_dim]`` (or ``[N]``), or a DataLoader of pairs (then ``y=None``).
        y: samples of Y ``[N, y_dim]``, paired with x row by row.
        estimator: a name from ``vaekit.mi.ESTIMATOR_NAMES``, an :class:`MIEstimator`, or a bound
            function ``scores [N, N] -> scalar`` (used with ``critic``, default a JointCritic).
        critic: the critic (or conditional density) for a named estimator or a bound function.
        valid, test: DataLoaders of held-out pairs, required when ``x`` is a DataLoader.
        valid_fraction, test_fraction: held-out fractions for tensor or array input.
        steps, batch_size, lr, eval_every, patience: see :func:`train_mi_estimator`.
        standardize: standardise tensor input with the training statistics.
        base: logarithm base of the reported numbers (``math.e``: nats, 2: bits).
        verbose: show a progress bar.
        seed: seeds the split, the shuffling and the networks' initialisation.
        **estimator_options: passed to :func:`vaekit.mi.make_estimator` (``tau``, ``alpha``,
            ``hidden``, ``entropy_y``, ...).

    Returns:
        An :class:`MIResult`.

    Example:
        >>> import torch
        >>> from vaekit.mi import estimate_mi
        >>> from vaekit.mi.tasks import bivariate_normal
        >>> x, y = bivariate_normal(0.9).sample(2000, generator=torch.Generator().manual_seed(0))
        >>> r = estimate_mi(x, y, "infonce", steps=50, verbose=False)
        >>> r.kind
        'lower'
    """
    if not (isinstance(base, (int, float)) and base > 0 and base != 1):
        raise ValueError(f"estimate_mi expects a logarithm base > 0 and != 1; got {base!r}")
    for label, frac in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0 < frac < 1:
            raise ValueError(f"estimate_mi expects {label} in (0, 1); got {frac}")
    if valid_fraction + test_fraction >= 1:
        raise ValueError(f"estimate_mi needs valid_fraction + test_fraction < 1; got {valid_fraction + test_fraction}")
    if isinstance(estimator, str) and estimator not in ESTIMATOR_NAMES:
        raise ValueError(f"unknown MI estimator {estimator!r}; expected one of {list(ESTIMATOR_NAMES)}")
    gen = torch.Generator().manual_seed(seed)
    if _is_loader(x):
        if y is not None:
            raise ValueError("estimate_mi got a DataLoader for x and also y; pass y=None (the loader yields pairs)")
        if valid is None or test is None:
            raise ValueError("estimate_mi with a DataLoader needs valid= and test= DataLoaders of held-out pairs")
        train_data: Any = x
        valid_data: Any = valid
        test_data: Any = test
        first = next(iter(x))
        x_dim, y_dim = first[0].shape[-1], first[1].shape[-1]
    else:
        if y is None:
            raise ValueError("estimate_mi needs y (samples paired with x) unless x is a DataLoader")
        xt, yt = _as_pairs(x, y, "estimate_mi")
        n = xt.shape[0]
        n_valid, n_test = max(2, int(round(valid_fraction * n))), max(2, int(round(test_fraction * n)))
        n_train = n - n_valid - n_test
        if n_train < 2:
            raise ValueError(f"estimate_mi needs at least 2 training pairs after the split; got N = {n}")
        perm = torch.randperm(n, generator=gen).to(xt.device)
        tr, va, te = perm[:n_train], perm[n_train : n_train + n_valid], perm[n_train + n_valid :]
        if standardize:
            mx, sx = xt[tr].mean(0), xt[tr].std(0).clamp_min(1e-12)
            my, sy = yt[tr].mean(0), yt[tr].std(0).clamp_min(1e-12)
            xt, yt = (xt - mx) / sx, (yt - my) / sy
        train_data, valid_data, test_data = (xt[tr], yt[tr]), (xt[va], yt[va]), (xt[te], yt[te])
        x_dim, y_dim = xt.shape[1], yt.shape[1]
    torch.manual_seed(seed)  # the networks' initialisation
    if isinstance(estimator, str):
        est: MIEstimator = make_estimator(estimator, x_dim, y_dim, critic=critic, **estimator_options)
        if not _is_loader(x):
            est = est.to(device=xt.device, dtype=xt.dtype)  # the networks follow the data
    elif isinstance(estimator, nn.Module):
        est = estimator  # type: ignore[assignment]
    elif callable(estimator):
        est = MIEstimator(estimator, critic if critic is not None else JointCritic(x_dim, y_dim), kind="lower")
    else:
        raise TypeError(
            f"estimate_mi expects an estimator name, an MIEstimator or a bound function; got {type(estimator).__name__}"
        )
    history = train_mi_estimator(
        est,
        train_data,
        valid_data,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        eval_every=eval_every,
        patience=patience,
        generator=gen,
        verbose=verbose,
    )
    value, se = evaluate_mi(est, test_data, batch_size=batch_size)
    scale = math.log(base)
    cap_fn = getattr(est, "log_n_cap", None)
    cap = cap_fn(batch_size) if cap_fn is not None else None
    hist = {k: [float(v) / scale for v in history[k]] if k in ("train", "valid") else history[k] for k in history}
    return MIResult(
        estimate=value / scale,
        stderr=se / scale,
        log_n_cap=None if cap is None else cap / scale,
        kind=getattr(est, "kind", "lower"),
        history=hist,
        best_step=int(history["best_step"]),
        estimator=est,
        base=float(base),
    )
