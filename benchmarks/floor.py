"""The floor: every benchmarked estimator as a minimal hand-written PyTorch loop, no library.

Each function takes the plain modules of ``common.py`` (encoder logits, SBN prior logits and
decoder) and a batch, and returns a scalar whose gradient is the estimator's (its value is not
used). This is the fastest plain PyTorch we know for each piece, i.e. what a careful user who
profiled their loop would write by hand; vaekit's losses should cost no more:

- sampling: ``(torch.rand(B, K, H) < probs)`` -- 3x faster than ``torch.bernoulli`` on CPU, and
  contiguous ``[B, K, H]``, so the decoder's Linear is one ``addmm`` (forward and backward);
- log q(z|x) = z . l - softplus(l): the softplus on the ``[B, H]`` logits once, not K times;
- log p(x|z): one fused ``binary_cross_entropy_with_logits`` on ``[B, K, D]``; log p(z) by a
  matrix-vector product;
- VIMCO's leave-one-out baseline in its dense ``[B, K, K]`` form (fastest at small K).

Estimators (z_k ~ q(z|x) Bernoulli, K per data point, w_k = p(x, z_k) / q(z_k|x), l_k = log w_k):
    vimco:          sum_j (L - L_{-j}) grad log q(z_j) + sum_j wt_j grad log w_j   (Mnih & Rezende 2016)
    iwae:           score-function IWAE: sum_j wt_j grad log w_j + L sum_j grad log q(z_j)  (Burda et al.)
    reinforce_ma:   (1/K) sum_k [grad l_k + (l_k - c) grad log q(z_k)], c an exponential moving average
    reinforce_nvil: (1/K) sum_k [grad l_k + (l_k - c - C(x))/s grad log q(z_k)], C a learned net,
                    s a running std of the centred signal; C fitted by squared error (Mnih & Gregor 2014)
    reinforce_loo:  (1/K) sum_k [grad l_k + (l_k - mean_{j!=k} l_j) grad log q(z_k)]  (Kool et al. 2019)
    rws:            theta: sum_k wt_k grad log p(x, z_k); phi (wake): sum_k wt_k grad log q(z_k|x)
    wake_sleep:     theta: (1/K) sum_k grad log p(x, z_k); phi (sleep): grad log q(z'|x'), (x', z') ~ p
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _log_q(logits_q, z):
    # z . l - softplus(l), the softplus on [B, H] (equal to -BCE-with-logits for any z)
    return (z * logits_q.unsqueeze(1)).sum(-1) - F.softplus(logits_q).sum(-1, keepdim=True)  # [B, K]


def _sample(probs, shape):
    return (torch.rand(shape, dtype=probs.dtype, device=probs.device) < probs).to(probs.dtype)


def _log_p(dec, x, z):
    log_pz = z @ dec.prior_logits - F.softplus(dec.prior_logits).sum()  # [B, K]
    logits_x = dec(z)  # [B, K, D]
    log_px = -F.binary_cross_entropy_with_logits(logits_x, x.unsqueeze(1).expand_as(logits_x), reduction="none").sum(
        -1
    )  # [B, K]
    return log_pz + log_px


def draw(enc, dec, x, k):
    """z ~ q(z|x) with no gradient path; returns (log p(x, z), log q(z|x)), both [B, K]."""
    logits_q = enc(x)  # [B, H]
    with torch.no_grad():
        b, h = logits_q.shape
        z = _sample(torch.sigmoid(logits_q).unsqueeze(1), (b, k, h))  # [B, K, H], contiguous
    return _log_p(dec, x, z), _log_q(logits_q, z)


def vimco(enc, dec, x, k, st):
    log_p, log_q = draw(enc, dec, x, k)
    log_w = log_p - log_q  # [B, K]
    bound = torch.logsumexp(log_w, -1) - math.log(k)  # [B]
    lw = log_w.detach()
    geo = (lw.sum(-1, keepdim=True) - lw) / (k - 1)  # [B, K]
    eye = torch.eye(k, dtype=torch.bool, device=lw.device)
    swapped = torch.where(eye, geo.unsqueeze(-1), lw.unsqueeze(1))  # [B, K, K]: row j has w_j -> geo mean
    loo = torch.logsumexp(swapped, -1) - math.log(k)  # [B, K]
    signal = bound.detach().unsqueeze(-1) - loo
    return -(bound + (signal * log_q).sum(-1)).mean()


def iwae(enc, dec, x, k, st):
    log_p, log_q = draw(enc, dec, x, k)
    bound = torch.logsumexp(log_p - log_q, -1) - math.log(k)  # [B]
    return -(bound + bound.detach() * log_q.sum(-1)).mean()


def _reinforce(log_p, log_q, centred):
    return -((log_p - log_q) + centred.detach() * log_q).mean()


def reinforce_loo(enc, dec, x, k, st):
    log_p, log_q = draw(enc, dec, x, k)
    signal = (log_p - log_q).detach()
    return _reinforce(log_p, log_q, signal - (signal.sum(-1, keepdim=True) - signal) / (k - 1))


def _running(st, key, value, decay):
    """Exponential moving average, updated after use; the first update sets it."""
    st[key] = value if st["n"] == 0 else decay * st[key] + (1 - decay) * value


def reinforce_ma(enc, dec, x, k, st, decay=0.9):
    log_p, log_q = draw(enc, dec, x, k)
    signal = (log_p - log_q).detach()
    loss = _reinforce(log_p, log_q, signal - st["c"])
    _running(st, "c", signal.mean(), decay)
    st["n"] += 1
    return loss


def reinforce_nvil(enc, dec, x, k, st, decay=0.9):
    log_p, log_q = draw(enc, dec, x, k)
    signal = (log_p - log_q).detach()
    centred = signal - st["c"] - st["net"](x)  # [B, K]; carries the baseline net's gradient
    scale = st["var"].sqrt().clamp(min=1.0)
    loss = _reinforce(log_p, log_q, centred / scale) + centred.pow(2).mean()
    centred = centred.detach()
    _running(st, "c", signal.mean(), decay)
    _running(st, "var", centred.var(unbiased=False), decay)
    st["n"] += 1
    return loss


def rws(enc, dec, x, k, st):
    log_p, log_q = draw(enc, dec, x, k)
    wt = torch.softmax((log_p - log_q).detach(), -1)  # [B, K]
    return -(wt * (log_p + log_q)).sum(-1).mean()


def wake_sleep(enc, dec, x, k, st):
    log_p, _ = draw(enc, dec, x, k)
    with torch.no_grad():
        n = x.shape[0]
        prior = dec.prior_logits
        z = _sample(torch.sigmoid(prior), (n, prior.shape[0]))  # [n, H]
        logits_x = dec(z)
        xs = _sample(torch.sigmoid(logits_x), logits_x.shape)  # [n, D]
    sleep = _log_q(enc(xs), z.unsqueeze(1))  # [n, 1]
    return -(log_p.mean() + sleep.mean())


ESTIMATORS = {f.__name__: f for f in (vimco, iwae, reinforce_ma, reinforce_nvil, reinforce_loo, rws, wake_sleep)}


def nvil_net(hidden: int = 100, seed: int = 1234) -> nn.Module:
    """The input-dependent baseline C(x) of NVIL: one tanh layer (Mnih & Gregor 2014), [B, 1].

    Initialised from its own seed, so every contender that uses it starts from the same weights.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(784, hidden), nn.Tanh(), nn.Linear(hidden, 1))


# Estimators whose hand-written step keeps no Python-side state (compilable once, capturable).
STATELESS = ("vimco", "iwae", "reinforce_loo", "rws")


class FloorTrainer:
    """A hand-written training step: zero_grad, the estimator, backward, Adam.

    ``compile=True`` compiles the loss, its backward and Adam's step as one function with
    ``torch.compile`` (``mode="reduce-overhead"``, i.e. CUDA graphs, on a GPU): the best a user
    could write by hand. Only for the estimators in ``STATELESS`` (the others keep Python counters
    that would recompile every step).
    """

    def __init__(self, estimator, enc, dec, k, lr, compile=False):
        self.fn = ESTIMATORS[estimator]
        self.enc, self.dec, self.k = enc, dec, k
        dev = dec.prior_logits.device
        self.st = {"c": torch.zeros((), device=dev), "var": torch.zeros((), device=dev), "n": 0}
        params = list(enc.parameters()) + list(dec.parameters())
        if estimator == "reinforce_nvil":
            self.st["net"] = nvil_net().to(dev)
            params += list(self.st["net"].parameters())
        self.opt = torch.optim.Adam(params, lr=lr)
        self.captured = compile and dev.type == "cuda"
        self._compiled = None
        if compile:
            if estimator not in STATELESS:
                raise ValueError(f"floor: compile=True is for {STATELESS}; got {estimator!r}")
            self._compiled = torch.compile(self._body, mode="reduce-overhead" if self.captured else None)
        self._n = 0

    def _body(self, x):
        loss = self.fn(self.enc, self.dec, x, self.k, self.st)
        loss.backward()
        self.opt.step()
        return loss.detach()

    def step(self, x):
        self.opt.zero_grad(set_to_none=True)
        if self._compiled is None or self._n == 0:  # the first step eagerly: it creates Adam's state
            self._n += 1
            return self._body(x)
        if self.captured:
            torch.compiler.cudagraph_mark_step_begin()
            return self._compiled(x).clone()
        return self._compiled(x)
