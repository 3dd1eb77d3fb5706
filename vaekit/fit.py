"""``fit``: the minibatch training loop the examples share, with checkpoint save and resume.

A plain loop over ``optimizer.zero_grad(); loss_fn(x).backward(); optimizer.step()`` with
shuffled minibatches drawn from a ``torch.Generator``, an optional tqdm bar, and a checkpoint that
``torch.load(..., weights_only=True)`` reads back (only tensors, dicts, lists, ints and floats).
It works on a ``DistributedDataParallel``-wrapped loss: every process draws the same shuffled
order and trains on its own slice of each global batch; only rank 0 shows the bar and writes.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["fit"]


def fit(loss_fn: nn.Module, data: Tensor, *, steps: int, batch_size: int = 100,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3, seed: int = 0,
        generator: torch.Generator | None = None, progress: bool = True,
        checkpoint: str | Path | None = None, checkpoint_every: int | None = None,
        resume: str | Path | None = None, callback: Callable[[int, Tensor], None] | None = None,
        log_every: int = 50, desc: str | None = None, show_bound: bool = False) -> list[float]:
    """Train ``loss_fn`` on minibatches of ``data`` until ``steps`` optimizer steps are done.

    Each step draws the next ``batch_size`` rows of a random permutation of ``data`` (a fresh
    permutation when one runs out; the remainder is dropped), calls ``loss_fn(batch)``, back-
    propagates and steps the optimizer. ``steps`` counts from the start of training, so a run
    resumed at step 300 with ``steps=1000`` does 700 more; resuming gives the same parameters
    as a run that was never interrupted (the checkpoint holds both random states).

    Under ``torch.distributed`` (``loss_fn`` wrapped in ``DistributedDataParallel``),
    ``batch_size`` is per process: all ranks draw the same global batch of
    ``batch_size * world_size`` rows and rank r trains on the r-th slice, and latent sampling
    is seeded with ``seed + rank``.

    Shapes:
        data: ``[N, *x_shape]``; every batch ``[batch_size, *x_shape]`` on data's device.

    Args:
        loss_fn: a vaekit ``Loss`` (or any module mapping a batch to a scalar loss), possibly
            wrapped in ``DistributedDataParallel``.
        data: the training set, one example per row.
        steps: total number of optimizer steps (including those done before a resume).
        batch_size: rows per step (per process under DDP).
        optimizer: default ``torch.optim.Adam(loss_fn.parameters(), lr=lr)``.
        lr: learning rate of the default optimizer (ignored when ``optimizer`` is given).
        seed: seeds torch's global RNG (the losses sample latents from it; ``seed + rank``
            under DDP) and the default batch-order generator. Ignored for state a resume restores.
        generator: the batch-order ``torch.Generator`` (default: a new CPU one seeded with ``seed``).
        progress: show a tqdm bar (needs tqdm: ``pip install 'vaekit[examples]'``).
        checkpoint: path to save a checkpoint to at the end (and every ``checkpoint_every`` steps).
        checkpoint_every: save period in steps; None saves at the end only.
        resume: path of a checkpoint written by ``fit`` to continue from.
        callback: ``callback(step, loss)`` after every step; ``step`` counts from 1, ``loss`` is
            the detached scalar (reading it with ``.item()`` costs a device sync).
        log_every: steps between updates of the bar and of the returned history (one sync each).
        desc: label of the bar.
        show_bound: label the bar with the running bound (minus the loss, as for every vaekit
            loss) instead of the loss.

    Returns:
        The loss value of every step since the start of training (a list of floats).

    Example:
        >>> import torch, vaekit
        >>> loss_fn = vaekit.VIMCO(vaekit.BernoulliEncoder(6, 3), vaekit.SigmoidBeliefNet(3, 6), n_samples=4)
        >>> data = torch.bernoulli(torch.full((40, 6), 0.3))
        >>> history = fit(loss_fn, data, steps=20, batch_size=10, progress=False)
        >>> len(history)
        20
    """
    for name, v in (("steps", steps), ("batch_size", batch_size), ("log_every", log_every)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"fit: {name} must be a positive int; got {v!r}")
    if checkpoint_every is not None and (not isinstance(checkpoint_every, int) or checkpoint_every < 1):
        raise ValueError(f"fit: checkpoint_every must be a positive int or None; got {checkpoint_every!r}")
    if checkpoint_every is not None and checkpoint is None:
        raise ValueError("fit: checkpoint_every needs a checkpoint path")
    rank, world = _rank_and_world()
    if not isinstance(data, Tensor) or data.dim() < 1 or data.shape[0] < batch_size * world:
        raise ValueError(
            f"fit: data must be a tensor [N, *x_shape] with N >= batch_size * world_size = "
            f"{batch_size * world}; got {tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__}"
        )
    if progress and rank == 0:
        try:
            from tqdm.auto import tqdm
        except ImportError as err:
            raise ImportError("fit(progress=True) needs tqdm: pip install tqdm (or progress=False)") from err
    model = loss_fn.module if isinstance(loss_fn, nn.parallel.DistributedDataParallel) else loss_fn
    if optimizer is None:
        optimizer = torch.optim.Adam(loss_fn.parameters(), lr=lr)
    if generator is None:
        generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed + rank)

    n, global_batch = data.shape[0], batch_size * world
    step, history, pending = 0, [], []
    perm, pos = torch.randperm(n, generator=generator), 0  # [N]
    if resume is not None:
        state = torch.load(resume, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, history = state["step"], list(state["history"])
        generator.set_state(state["generator"])
        perm, pos = state["perm"], state["pos"]
        rng = state["torch_rng"]
        if len(rng) == world:  # per-rank sampling state; a changed world size just keeps the fresh seeds
            torch.set_rng_state(rng[rank])

    def flush() -> None:
        if pending:
            history.extend(torch.stack(pending).tolist())  # one device sync for many steps
            pending.clear()

    def save() -> None:
        flush()
        rngs = _gather(torch.get_rng_state(), world)
        if rank != 0:
            return
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                 "history": history, "generator": generator.get_state(), "perm": perm, "pos": pos,
                 "torch_rng": rngs}
        tmp = Path(f"{checkpoint}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, checkpoint)  # never leave a half-written checkpoint behind

    bar = tqdm(total=steps, initial=step, desc=desc, dynamic_ncols=True) if progress and rank == 0 else None
    loss_fn.train()
    while step < steps:
        if pos + global_batch > n:
            perm, pos = torch.randperm(n, generator=generator), 0
        idx = perm[pos + rank * batch_size: pos + (rank + 1) * batch_size]  # [batch_size]
        pos += global_batch
        loss = loss_fn(data[idx.to(data.device)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        pending.append(loss.detach())
        if callback is not None:
            callback(step, pending[-1])
        if step % log_every == 0 or step == steps:
            flush()
            if bar is not None:
                bar.update(step - bar.n)
                recent = sum(history[-log_every:]) / len(history[-log_every:])
                bar.set_postfix({"bound": f"{-recent:.3f}"} if show_bound else {"loss": f"{recent:.3f}"})
        if checkpoint is not None and (step == steps or (checkpoint_every and step % checkpoint_every == 0)):
            save()
    flush()
    if bar is not None:
        bar.close()
    return history


def _rank_and_world() -> tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather(t: Tensor, world: int) -> list[Tensor]:
    """Every rank's copy of ``t`` (a list of one on a single process)."""
    if world == 1:
        return [t]
    out: list = [None] * world
    torch.distributed.all_gather_object(out, t)
    return out
