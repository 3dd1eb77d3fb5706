"""Shared pieces of the benchmark: data, batch order, the common model format, the one evaluator.

Nothing here imports vaekit or a peer library, so the evaluator and the initial weights are the
same for every contender.

Common model format: ``{"enc": state_dict, "dec": state_dict}`` with the parameter names of
``vaekit.latents.BernoulliEncoder`` (``net.*``) and ``vaekit.latents.SigmoidBeliefNet``
(``prior_logits``, ``net.*``). The plain modules below have exactly those names, so every
contender (vaekit, the hand-written floor, Pyro, Storchastic) trains a copy of the same modules
from the same initial state.
"""

from __future__ import annotations

import math
import os
import resource
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))  # the checkout's vaekit when it is not installed
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "binarized_mnist.npz"
DATA_DIM = 784
LATENT_DIM = 200
HIDDEN = 200


# -- data -----------------------------------------------------------------------------------------
def load_packed(path: str | os.PathLike, split: str) -> np.ndarray:
    """The packed uint8 rows of one split (``[N, 98]``); unpack per batch with :func:`unpack`."""
    with np.load(path) as f:
        return np.ascontiguousarray(f[split])


def unpack(packed: np.ndarray) -> torch.Tensor:
    """Packed rows ``[N, 98]`` -> float32 images ``[N, 784]`` of 0/1."""
    return torch.from_numpy(np.unpackbits(packed, axis=1)[:, :DATA_DIM].astype(np.float32))


def subset_rows(n_total: int, n: int, *, seed: int) -> np.ndarray:
    """Row indices of a seeded random subset of ``n`` of ``n_total`` rows (sorted; ``n`` 0 or
    >= ``n_total``: every row). Benchmarks never score "the first N" rows of a split."""
    if n <= 0 or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.RandomState(seed).choice(n_total, n, replace=False))


def batch_order(n_train: int, batch_size: int, n_steps: int, seed: int) -> np.ndarray:
    """Row indices of every step's batch ``[n_steps, batch_size]``: epochs of seeded permutations."""
    rng = np.random.RandomState(seed)
    per_epoch = n_train // batch_size
    rows = []
    while len(rows) * per_epoch < n_steps:
        rows.append(rng.permutation(n_train)[: per_epoch * batch_size].reshape(per_epoch, batch_size))
    return np.concatenate(rows)[:n_steps]


# -- the common model format ----------------------------------------------------------------------
def _mlp(n_in: int, n_out: int, hidden: int | None) -> nn.Module:
    if hidden is None:
        return nn.Linear(n_in, n_out)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out))


class PlainEncoder(nn.Module):
    """q(z|x) logits; same parameter names as ``vaekit.latents.BernoulliEncoder``."""

    def __init__(self, hidden: int | None):
        super().__init__()
        self.net = _mlp(DATA_DIM, LATENT_DIM, hidden)

    def forward(self, x):
        return self.net(x)


class PlainSBN(nn.Module):
    """p(z) logits and p(x|z) logits; same parameter names as ``vaekit.latents.SigmoidBeliefNet``."""

    def __init__(self, hidden: int | None):
        super().__init__()
        self.prior_logits = nn.Parameter(torch.zeros(LATENT_DIM))
        self.net = _mlp(LATENT_DIM, DATA_DIM, hidden)

    def forward(self, z):
        return self.net(z)


def hidden_of(model: str) -> int | None:
    if model == "linear":
        return None
    if model == "nonlinear":
        return HIDDEN
    raise ValueError(f"model must be 'linear' or 'nonlinear'; got {model!r}")


def initial_state(model: str, seed: int, train_mean: np.ndarray | None = None) -> dict:
    """The common initial weights of a model (torch default init under ``seed``)."""
    torch.manual_seed(seed)
    enc, dec = PlainEncoder(hidden_of(model)), PlainSBN(hidden_of(model))
    return {"enc": enc.state_dict(), "dec": dec.state_dict()}


def plain_models(model: str, state: dict) -> tuple[PlainEncoder, PlainSBN]:
    enc, dec = PlainEncoder(hidden_of(model)), PlainSBN(hidden_of(model))
    enc.load_state_dict(state["enc"])
    dec.load_state_dict(state["dec"])
    return enc, dec


# -- the one evaluator ----------------------------------------------------------------------------
@torch.no_grad()
def iwae_bound(
    model: str, state: dict, x: torch.Tensor, *, k: int, seed: int, data_chunk: int = 25, sample_chunk: int = 200
) -> float:
    """Mean over ``x`` of the K-sample importance-weighted bound on log p(x), in nats.

    log p(x) >= E[ log (1/K) sum_k p(x, z_k) / q(z_k|x) ],  z_k ~ q(z|x). Plain torch; a fixed
    generator so every contender is scored with the same random stream; float64 across chunks.
    For binary x and Bernoulli logits l: log Bern(x; l) = x.l - softplus(l), and x.l of the last
    layer l = W h + c is h.(W^T x) + c.x, which saves a pass over the [b, K, 784] logits.
    """
    enc, dec = plain_models(model, state)
    gen = torch.Generator().manual_seed(seed)
    prior = dec.prior_logits
    log_norm_prior = F.softplus(prior).sum()
    last = dec.net if isinstance(dec.net, nn.Linear) else dec.net[-1]
    body = (lambda z: z) if isinstance(dec.net, nn.Linear) else dec.net[:-1]
    total = 0.0
    for i in range(0, x.shape[0], data_chunk):
        xb = x[i : i + data_chunk]  # [b, D]
        logits_q = enc(xb)  # [b, H]
        probs_q = torch.sigmoid(logits_q)
        log_norm_q = F.softplus(logits_q).sum(-1, keepdim=True)  # [b, 1]
        wx = (xb @ last.weight).unsqueeze(-1)  # [b, Hh, 1]
        cx = (xb @ last.bias).unsqueeze(-1)  # [b, 1]
        parts = []
        for j in range(0, k, sample_chunk):
            kk = min(sample_chunk, k - j)
            z = torch.bernoulli(probs_q.unsqueeze(1).expand(-1, kk, -1), generator=gen)  # [b, kk, H]
            log_q = (z @ logits_q.unsqueeze(-1)).squeeze(-1) - log_norm_q  # [b, kk]
            h = body(z)  # [b, kk, Hh]
            log_px = (h @ wx).squeeze(-1) + cx - F.softplus(last(h)).sum(-1)  # [b, kk]
            parts.append((z @ prior - log_norm_prior + log_px - log_q).double())
        log_w = torch.cat(parts, dim=1)  # [b, K]
        total += (torch.logsumexp(log_w, dim=1) - math.log(k)).sum().item()
    return total / x.shape[0]


# -- memory ---------------------------------------------------------------------------------------
def max_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mib() -> float:
    """Current resident set size of this process, from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def steady_heap() -> bool:
    """Fix glibc malloc's thresholds for a timing process: no heap trimming, no per-call mmap.

    By default glibc returns the top of the heap to the OS when more than a (dynamic) threshold is
    free, and serves large blocks by mmap. A training step frees and re-allocates its ``[B, K, D]``
    buffers every step, so depending on which contender ran just before, a step may shrink and
    regrow the heap and pay hundreds of page faults (measured: 0 to 300 minor faults, up to 0.7 ms
    of system time per 6 ms step, landing on floor and vaekit alike and changing with the order of
    the turns). With the thresholds fixed (trim at 1 GiB, mmap from 256 MiB) no step faults, and
    the CPU time measures the code. Returns False where glibc's ``mallopt`` is not available.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
        ok = libc.mallopt(m_trim_threshold, 1 << 30) == 1 and libc.mallopt(m_mmap_threshold, 1 << 28) == 1
    except (OSError, AttributeError):
        return False
    return ok
