"""``fit``: the small minibatch training loop the examples share, with validation and checkpoints.

A plain loop over ``optimizer.zero_grad(); loss_fn(x).backward(); optimizer.step()`` on batches
of a tensor, a map-style ``Dataset`` or a ``DataLoader`` (with or without targets), with an
optional validation IWAE bound, gradient clipping, device placement, a logger hook (anything with
``add_scalar(tag, value, step)``, e.g. TensorBoard's ``SummaryWriter``), a tqdm bar, and
checkpoints that ``torch.load(..., weights_only=True)`` reads back and that know what they hold
(estimator, settings, parameter shapes, optimiser settings, vaekit version), so a resume into a
different run fails loudly. It works on a ``DistributedDataParallel``-wrapped loss. Where
Lightning does a thing better (many loggers, mixed precision, many devices), use
``vaekit.lightning``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

__all__ = ["fit", "FitResult", "ScalarLogger", "CheckpointMismatchError", "describe_run"]


class ScalarLogger(Protocol):
    """What ``fit(logger=...)`` calls: the ``add_scalar`` method of TensorBoard's ``SummaryWriter``."""

    def add_scalar(self, tag: str, scalar_value: float, global_step: int) -> Any: ...


class CheckpointMismatchError(ValueError):
    """A checkpoint was resumed into a run that differs from the one that wrote it."""


@dataclass
class FitResult:
    """What ``fit`` returns.

    Attributes:
        history: the loss of every optimizer step since the start of training (floats; minus the
            training bound for a vaekit loss), including the steps before a resume.
        val_history: ``(step, bound)`` pairs: the validation IWAE bound (mean over the whole
            validation set, nats) at every ``val_every`` steps and at the end.
        step: the number of optimizer steps done since the start of training.
    """

    history: list[float] = field(default_factory=list)
    val_history: list[tuple[int, float]] = field(default_factory=list)
    step: int = 0


def fit(
    loss_fn: nn.Module,
    data: Tensor | Dataset | DataLoader,
    *,
    steps: int,
    batch_size: int = 100,
    target: Tensor | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    clip_grad_norm: float | None = None,
    val_data: Tensor | Dataset | DataLoader | None = None,
    val_every: int | None = None,
    val_samples: int = 100,
    logger: ScalarLogger | None = None,
    callback: Callable[[int, Tensor], None] | None = None,
    log_every: int = 50,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    desc: str | None = None,
    show_bound: bool = False,
    train_step: Callable[[Tensor, Tensor | None], Tensor] | None = None,
) -> FitResult:
    """Train ``loss_fn`` on minibatches of ``data`` until ``steps`` optimizer steps are done.

    With a tensor or a map-style ``Dataset``, each step takes the next ``batch_size`` items of a
    random permutation (a fresh one when it runs out; the remainder is dropped) drawn from
    ``generator``, so a resumed run continues exactly as if it had not stopped. A ``DataLoader``
    is iterated as it is, epoch after epoch (its own sampler decides the order; a resume then
    restores everything but the position inside the epoch). A batch that is a pair ``(x, y)``
    calls ``loss_fn(x, target=y)``; ``target`` gives the pairs for a tensor ``data``.

    Randomness: ``fit`` never re-seeds torch's global generator (from which the losses draw
    their latents) unless ``seed`` is given; then it seeds it once, at the start of this call,
    with ``seed + rank``. The batch order comes from ``generator``, by default a CPU generator
    seeded with ``seed`` (or, without a seed, with a number drawn from torch's global generator;
    rank 0's under ``torch.distributed``). ``steps`` counts from the start of training, so a run
    resumed at step 300 with ``steps=1000`` does 700 more.

    Under ``torch.distributed`` (``loss_fn`` wrapped in ``DistributedDataParallel``),
    ``batch_size`` is per process: all ranks draw the same global batch of
    ``batch_size * world_size`` items and rank r trains on the r-th slice; rank 0 alone
    validates, logs, shows the bar and writes checkpoints.

    A checkpoint records the estimator's class, its settings (the loss module's public int, float,
    bool and str attributes, e.g. ``n_samples``), the class of every submodule, the shape of every
    tensor of its state, the optimizer's class and hyperparameters and the vaekit version.
    Resuming into a run that differs in any of these raises ``CheckpointMismatchError`` (a
    ``ValueError``), except the learning rate, which takes the new value with a warning, and the
    vaekit version, which only warns.

    Shapes:
        data: ``[N, *x_shape]`` (or a Dataset/DataLoader of such items, or of ``(x, y)`` pairs);
        target: ``[N, *y_shape]``; every batch ``[batch_size, *x_shape]``, moved to ``device``.

    Args:
        loss_fn: a vaekit ``Loss`` (or any module mapping a batch to a scalar loss), possibly
            wrapped in ``DistributedDataParallel``.
        data: the training set: a tensor with one example per row, a map-style ``Dataset`` or a
            ``DataLoader``.
        steps: total number of optimizer steps (including those done before a resume).
        batch_size: items per step (per process under DDP); unused with a ``DataLoader``.
        target: per-example targets for a tensor ``data`` (supervised losses such as VIB).
        optimizer: default ``torch.optim.Adam(loss_fn.parameters(), lr=lr)``.
        lr: learning rate of the default optimizer (ignored when ``optimizer`` is given).
        seed: if given, seeds torch's global generator once (``seed + rank``) and the default
            batch-order generator. Ignored for the state a resume restores.
        generator: the batch-order ``torch.Generator``.
        device: move ``loss_fn`` there and every batch to it (default: leave both where they are).
        clip_grad_norm: clip the gradients' total 2-norm to this value before each step.
        val_data: a validation set (tensor, Dataset or DataLoader of ``x``); its mean IWAE bound
            is computed every ``val_every`` steps and at the end. Needs ``loss_fn.inf_net`` and
            ``loss_fn.gen_model``.
        val_every: validation period in steps (default: at the end only).
        val_samples: K of the validation IWAE bound.
        logger: anything with ``add_scalar(tag, value, step)`` (TensorBoard's ``SummaryWriter``);
            gets ``train/loss`` every ``log_every`` steps and ``val/iwae_bound`` at each validation.
        callback: ``callback(step, loss)`` after every step; ``step`` counts from 1, ``loss`` is
            the detached scalar (reading it with ``.item()`` costs a device sync).
        log_every: steps between updates of the bar and the logger (one device sync each).
        checkpoint: path to save a checkpoint to at the end (and every ``checkpoint_every`` steps).
        checkpoint_every: save period in steps; None saves at the end only.
        resume: path of a checkpoint written by ``fit`` to continue from; a missing file is an error.
        progress: show a tqdm bar (without tqdm installed: a warning, and no bar).
        desc: label of the bar.
        show_bound: label the bar with the running bound (minus the loss) instead of the loss.
        train_step: replaces the eager step: ``train_step(x, target)`` does zero_grad, forward,
            backward and the optimizer step (and any clipping) itself and returns the detached
            loss, e.g. a captured or compiled step. ``optimizer`` must be the one it steps.

    Returns:
        A ``FitResult``: the per-step loss history, the validation history and the step count.

    Example:
        >>> import torch, vaekit
        >>> loss_fn = vaekit.VIMCO(vaekit.BernoulliEncoder(6, 3), vaekit.SigmoidBeliefNet(3, 6), n_samples=4)
        >>> data = torch.bernoulli(torch.full((40, 6), 0.3))
        >>> result = fit(loss_fn, data, steps=20, batch_size=10, val_data=data[:8], progress=False)
        >>> len(result.history), result.val_history[-1][0]
        (20, 20)
    """
    for name, v in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("log_every", log_every),
        ("val_samples", val_samples),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"fit: {name} must be a positive int; got {v!r}")
    for name, opt in (("checkpoint_every", checkpoint_every), ("val_every", val_every)):
        if opt is not None and (isinstance(opt, bool) or not isinstance(opt, int) or opt < 1):
            raise ValueError(f"fit: {name} must be a positive int or None; got {opt!r}")
    if checkpoint_every is not None and checkpoint is None:
        raise ValueError("fit: checkpoint_every needs a checkpoint path")
    if clip_grad_norm is not None and not clip_grad_norm > 0:
        raise ValueError(f"fit: clip_grad_norm must be a positive float or None; got {clip_grad_norm!r}")
    if train_step is not None and clip_grad_norm is not None:
        raise ValueError("fit: clip_grad_norm applies to the eager step; clip inside train_step instead")
    if resume is not None and not Path(resume).is_file():
        raise FileNotFoundError(f"fit: resume={str(resume)!r} is not a file; no checkpoint to continue from")
    rank, world = _rank_and_world()
    model = loss_fn.module if isinstance(loss_fn, nn.parallel.DistributedDataParallel) else loss_fn
    if val_data is not None and not (hasattr(model, "inf_net") and hasattr(model, "gen_model")):
        raise TypeError(f"fit: val_data needs a loss with inf_net and gen_model; got {type(model).__name__}")
    if device is not None:
        loss_fn.to(device)
    batches = _Batches(data, target, batch_size * world, rank, batch_size)
    if optimizer is None:
        optimizer = torch.optim.Adam(loss_fn.parameters(), lr=lr)
    if generator is None:
        order_seed = seed if seed is not None else int(torch.randint(2**62, ()).item())
        if world > 1:
            order_seed = _gather(order_seed, world)[0]  # every rank must draw the same batch order
        generator = torch.Generator().manual_seed(order_seed)
    if seed is not None:
        torch.manual_seed(seed + rank)

    recorder = _Recorder(model, own=train_step is not None)
    result = FitResult()
    batches.start(generator)
    if resume is not None:
        state = torch.load(resume, map_location="cpu", weights_only=True)
        _check_resume(state, model, optimizer, resume)
        model.load_state_dict(state["model"])
        new_lrs = [g["lr"] for g in optimizer.param_groups]
        optimizer.load_state_dict(state["optimizer"])
        for group, new in zip(optimizer.param_groups, new_lrs):
            group["lr"] = new  # the mismatch check already warned if it differs from the checkpoint's
        result.step, result.history = state["step"], list(state["history"])
        result.val_history = [(int(s), float(b)) for s, b in state["val_history"]]
        generator.set_state(state["generator"])
        batches.restore(state["perm"], state["pos"])
        rng = state["torch_rng"]
        if len(rng) == world:  # per-rank sampling state; a changed world size just keeps the fresh seeds
            torch.set_rng_state(rng[rank])
    done_before = len(result.history)

    def history() -> list[float]:
        return result.history[:done_before] + recorder.read()

    def validate() -> None:
        if val_data is None or rank != 0 or (result.val_history and result.val_history[-1][0] == result.step):
            return
        bound = _validation_bound(model, val_data, val_samples, batch_size, device)
        result.val_history.append((result.step, bound))
        if logger is not None:
            logger.add_scalar("val/iwae_bound", bound, result.step)

    def save() -> None:
        rngs = _gather(torch.get_rng_state(), world)
        if rank != 0:
            return
        perm, pos = batches.position()
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": result.step,
            "history": history(),
            "val_history": [list(v) for v in result.val_history],
            "generator": generator.get_state(),
            "perm": perm,
            "pos": pos,
            "torch_rng": rngs,
            "meta": describe_run(model, optimizer),
        }
        tmp = Path(f"{checkpoint}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, str(checkpoint))  # never leave a half-written checkpoint behind

    bar = _progress_bar(steps, result.step, desc) if progress and rank == 0 else None
    loss_fn.train()
    while result.step < steps:
        x, y = batches.next(generator, device)
        if train_step is not None:
            loss = train_step(x, y).detach()
        else:
            loss = loss_fn(x) if y is None else loss_fn(x, target=y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(loss_fn.parameters(), clip_grad_norm)
            optimizer.step()
            loss = loss.detach()
        result.step += 1
        recorder.add(loss)
        if callback is not None:
            callback(result.step, loss)
        if result.step % log_every == 0 or result.step == steps:
            recent = recorder.recent(log_every)
            mean = sum(recent) / len(recent)
            if bar is not None:
                bar.update(result.step - bar.n)
                bar.set_postfix({"bound": f"{-mean:.3f}"} if show_bound else {"loss": f"{mean:.3f}"})
            if logger is not None and rank == 0:
                logger.add_scalar("train/loss", mean, result.step)
        if val_every is not None and result.step % val_every == 0:
            validate()
        if checkpoint is not None and (
            result.step == steps or (checkpoint_every and result.step % checkpoint_every == 0)
        ):
            save()
    if bar is not None:
        bar.close()
    validate()
    # Reading the loss's history also raises any error its deferred finiteness check has recorded.
    result.history = history()
    return result


def describe_run(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """What a checkpoint records about the run that wrote it (only str, int, float, bool, lists, dicts).

    Args:
        model: the loss module (not a DDP wrapper).
        optimizer: its optimizer.

    Returns:
        ``{"vaekit_version", "estimator", "settings", "modules", "shapes", "optimizer"}``.

    Example:
        >>> import torch, vaekit
        >>> loss_fn = vaekit.IWAE(vaekit.BernoulliEncoder(6, 3), vaekit.SigmoidBeliefNet(3, 6), n_samples=4)
        >>> meta = describe_run(loss_fn, torch.optim.Adam(loss_fn.parameters()))
        >>> meta["estimator"], meta["settings"]["n_samples"], meta["optimizer"]["class"]
        ('vaekit.losses.iwae.IWAE', 4, 'torch.optim.adam.Adam')
    """
    from vaekit._version import __version__

    # Options, not state: public attributes of plain types; `x_` names are results of a call (sklearn style).
    settings = {
        k: v
        for k, v in vars(model).items()
        if not k.startswith("_") and not k.endswith("_") and k != "training" and isinstance(v, (bool, int, float, str))
    }
    groups = [
        {k: _plain(v) for k, v in g.items() if k not in ("params", "initial_lr") and k not in _OPT_FLAGS}
        for g in optimizer.param_groups
    ]
    return {
        "vaekit_version": __version__,
        "estimator": _qualname(model),
        "settings": settings,
        "modules": {name or "<loss>": _qualname(m) for name, m in model.named_modules()},
        "shapes": {name: list(t.shape) for name, t in model.state_dict().items()},
        "optimizer": {"class": _qualname(optimizer), "param_groups": groups},
    }


# Implementation switches of torch optimizers: they change speed, not the update.
_OPT_FLAGS = ("foreach", "fused", "capturable", "differentiable")


def _check_resume(state: dict, model: nn.Module, optimizer: torch.optim.Optimizer, path: str | Path) -> None:
    """Raise ``CheckpointMismatchError`` naming every difference between the checkpoint and this run."""
    if "meta" not in state:
        raise CheckpointMismatchError(
            f"fit: {path} has no run description ('meta'): it was not written by this version of vaekit.fit"
        )
    saved, now = state["meta"], describe_run(model, optimizer)
    problems = []
    if saved["estimator"] != now["estimator"]:
        problems.append(f"estimator: checkpoint {saved['estimator']}, now {now['estimator']}")
    problems += _diff("setting", saved["settings"], now["settings"])
    problems += _diff("module", saved["modules"], now["modules"])
    problems += _diff("tensor shape", saved["shapes"], now["shapes"])
    if saved["optimizer"]["class"] != now["optimizer"]["class"]:
        problems.append(f"optimizer: checkpoint {saved['optimizer']['class']}, now {now['optimizer']['class']}")
    elif len(saved["optimizer"]["param_groups"]) != len(now["optimizer"]["param_groups"]):
        problems.append(
            f"optimizer parameter groups: checkpoint {len(saved['optimizer']['param_groups'])}, "
            f"now {len(now['optimizer']['param_groups'])}"
        )
    else:
        for i, (old, new) in enumerate(zip(saved["optimizer"]["param_groups"], now["optimizer"]["param_groups"])):
            if old.get("lr") != new.get("lr"):
                warnings.warn(
                    f"fit: resuming {path} with learning rate {new.get('lr')} in parameter group {i} "
                    f"(the checkpoint's was {old.get('lr')}); the new value applies from here on",
                    stacklevel=3,
                )
            problems += _diff(
                f"optimizer group {i} setting",
                {k: v for k, v in old.items() if k != "lr"},
                {k: v for k, v in new.items() if k != "lr"},
            )
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise CheckpointMismatchError(
            f"fit: {path} was written by a different run ({shown}). Build the loss and optimizer as in that "
            "run to resume it, or start a new run without resume."
        )
    if saved["vaekit_version"] != now["vaekit_version"]:
        warnings.warn(
            f"fit: {path} was written by vaekit {saved['vaekit_version']}; this is vaekit {now['vaekit_version']}",
            stacklevel=3,
        )


def _diff(what: str, saved: dict, now: dict) -> list[str]:
    missing = object()
    return [
        f"{what} {k!r}: checkpoint {saved.get(k, '<absent>')!r}, now {now.get(k, '<absent>')!r}"
        for k in sorted(set(saved) | set(now), key=str)
        if saved.get(k, missing) != now.get(k, missing)
    ]


def _plain(v: Any) -> Any:
    """Optimizer hyperparameters as weights_only-loadable values (tensors -> floats, tuples -> lists)."""
    if isinstance(v, Tensor):
        return v.tolist()
    if isinstance(v, (tuple, list)):
        return [_plain(u) for u in v]
    return v


def _qualname(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


class _Recorder:
    """The per-step losses of this call: read from the loss's own ``loss_history_`` when it has one
    (a vaekit ``Loss``; reading it also surfaces its deferred finiteness errors), else kept here."""

    def __init__(self, model: nn.Module, *, own: bool):
        self.model = model
        self.own = own or not hasattr(model, "loss_history_")
        self.start = 0 if self.own else len(model.loss_history_)  # type: ignore[arg-type]
        self.pending: list[Tensor] = []
        self.floats: list[float] = []

    def add(self, loss: Tensor) -> None:
        if self.own:
            self.pending.append(loss)

    def _floats(self) -> tuple[list[float], int]:
        """The list holding this call's floats and where they start in it."""
        if not self.own:
            history = self.model.loss_history_
            return (history if isinstance(history, list) else list(history)), self.start  # type: ignore[arg-type]
        if self.pending:
            self.floats.extend(torch.stack(self.pending).tolist())  # one device sync for many steps
            self.pending.clear()
        return self.floats, 0

    def read(self) -> list[float]:
        floats, start = self._floats()
        return floats[start:]

    def recent(self, n: int) -> list[float]:
        """The last ``n`` losses of this call, without copying the whole history."""
        floats, start = self._floats()
        return floats[max(start, len(floats) - n) :]


class _Batches:
    """Batches of a tensor or map-style Dataset (a seeded permutation, exactly resumable) or a DataLoader."""

    def __init__(self, data: Any, target: Tensor | None, global_batch: int, rank: int, batch_size: int):
        if target is not None and not isinstance(data, Tensor):
            raise TypeError(
                f"fit: target goes with a tensor data; got data of type {type(data).__name__} "
                "(put the targets in the Dataset or DataLoader instead)"
            )
        if isinstance(data, Tensor):
            if data.dim() < 1:
                raise ValueError(f"fit: data must be a tensor [N, *x_shape]; got shape {tuple(data.shape)}")
            if target is not None and (not isinstance(target, Tensor) or target.shape[:1] != data.shape[:1]):
                raise ValueError(
                    f"fit: target must be a tensor with data's {data.shape[0]} rows; got "
                    f"{tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__}"
                )
            data = TensorDataset(data) if target is None else TensorDataset(data, target)
        if not isinstance(data, (Dataset, DataLoader)) or isinstance(data, torch.utils.data.IterableDataset):
            raise TypeError(
                f"fit: data must be a tensor, a map-style Dataset or a DataLoader; got {type(data).__name__}"
            )
        self.loader = data if isinstance(data, DataLoader) else None
        self.data = data
        self.rank, self.batch_size, self.global_batch = rank, batch_size, global_batch
        if self.loader is None:
            self.n = len(data)  # type: ignore[arg-type]
            if self.n < global_batch:
                raise ValueError(
                    f"fit: data must have N >= batch_size * world_size = {global_batch} items; got {self.n}"
                )
        self.perm: Tensor = torch.empty(0, dtype=torch.long)
        self.pos = 0
        self.it: Any = None

    def start(self, generator: torch.Generator) -> None:
        if self.loader is None:
            self.perm = torch.randperm(self.n, generator=generator)  # [N]

    def restore(self, perm: Tensor, pos: int) -> None:
        if self.loader is None:
            self.perm, self.pos = perm, pos
        else:
            self.pos = 0  # a DataLoader restarts its epoch: its sampler's position is not saved

    def position(self) -> tuple[Tensor, int]:
        return self.perm, self.pos

    def next(self, generator: torch.Generator, device: Any) -> tuple[Tensor, Tensor | None]:
        if self.loader is not None:
            if self.it is None:
                self.it = iter(self.loader)
            try:
                batch = next(self.it)
            except StopIteration:
                self.it = iter(self.loader)
                batch = next(self.it)
            self.pos += 1
        else:
            if self.pos + self.global_batch > self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=generator), 0
            start = self.pos + self.rank * self.batch_size
            idx = self.perm[start : start + self.batch_size]  # [batch_size]
            self.pos += self.global_batch
            if isinstance(self.data, TensorDataset):
                batch = tuple(t[idx.to(t.device)] for t in self.data.tensors)
            else:
                items = [self.data[i] for i in idx.tolist()]  # type: ignore[index]
                batch = torch.utils.data.default_collate(items)
        return _split(batch, device)


def _split(batch: Any, device: Any) -> tuple[Tensor, Tensor | None]:
    """A batch as ``(x, target or None)`` on ``device``."""
    if isinstance(batch, (tuple, list)) and len(batch) in (1, 2):
        x, y = batch[0], (batch[1] if len(batch) == 2 else None)
    else:
        x, y = batch, None
    if not isinstance(x, Tensor) or (y is not None and not isinstance(y, Tensor)):
        raise TypeError(f"fit: a batch must be a tensor x or a pair (x, target) of tensors; got {_kind(batch)}")
    if device is not None:
        x = x.to(device, non_blocking=True)
        y = None if y is None else y.to(device, non_blocking=True)
    return x, y


def _kind(batch: Any) -> str:
    if isinstance(batch, (tuple, list)):
        return f"{type(batch).__name__} of {len(batch)} ({', '.join(type(b).__name__ for b in batch)})"
    return type(batch).__name__


def _validation_bound(model: nn.Module, val_data: Any, n_samples: int, batch_size: int, device: Any) -> float:
    """Mean IWAE_K bound over the whole validation set, without disturbing the training random stream."""
    from vaekit.evaluate import iwae_bound

    if isinstance(val_data, Tensor):
        parts: Any = [val_data]  # iwae_bound batches it
    else:
        loader = val_data if isinstance(val_data, DataLoader) else DataLoader(val_data, batch_size=batch_size)
        parts = (_split(b, None)[0] for b in loader)
    was_training = model.training
    model.eval()
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            total, count = 0.0, 0
            for x in parts:
                x = x.to(dev)
                b = iwae_bound(
                    model.inf_net,  # type: ignore[arg-type]
                    model.gen_model,  # type: ignore[arg-type]
                    x,
                    n_samples=n_samples,
                    batch_size=batch_size,
                )  # [b]
                total += b.sum().item()
                count += b.shape[0]
    finally:
        model.train(was_training)
    return total / count


def _progress_bar(total: int, initial: int, desc: str | None) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency of vaekit, but an install without dependencies may lack it
        warnings.warn("fit: tqdm is not installed (pip install tqdm); training without a progress bar", stacklevel=3)
        return None
    return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True)


def _rank_and_world() -> tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather(t: Any, world: int) -> list[Any]:
    """Every rank's copy of ``t`` (a list of one on a single process)."""
    if world == 1:
        return [t]
    out: list = [None] * world
    torch.distributed.all_gather_object(out, t)
    return out
