"""Every contender as a trainer with ``step(x)``, ``state()`` and ``info()``; built inside its worker.

A contender is ``<lib>:<estimator>``; libs: ``floor``, ``vaekit``, ``vaekit_compiled``
(``vaekit.make_train_step``: loss, backward and Adam compiled together), ``pyro``, ``storch``.
(``vaekit_noval``, vaekit with torch's global distribution validation off, can still be named
with ``--contenders``; the built-in latents now build no distributions, so it is not run by
default.) Libraries are imported lazily, so a worker process only ever imports the one library it
runs (Storchastic patches torch on import).
"""

from __future__ import annotations

import copy

import torch
from common import DATA_DIM, LATENT_DIM, hidden_of, plain_models

# Which contenders exist, and which vaekit estimator each peer is compared with.
VAEKIT_ESTIMATORS = ["vimco", "iwae", "reinforce_ma", "reinforce_nvil", "reinforce_loo", "rws", "wake_sleep"]
PEERS = {
    "pyro:tracegraph_avg": "reinforce_ma",  # TraceGraph_ELBO, decaying-average baseline
    "pyro:tracegraph_nn": "reinforce_nvil",  # TraceGraph_ELBO, neural baseline
    "pyro:rws_batch": "rws",  # ReweightedWakeSleep on the minibatch (weights summed over it)
    "pyro:rws_point": "rws",  # ReweightedWakeSleep, one call per data point
    "pyro:renyi0": "iwae",  # RenyiELBO(alpha=0): the IWAE objective
    "storch:score_batch_average": "reinforce_loo",  # ScoreFunction, batch_average (leave-one-out) baseline
}


def all_contenders(compiled: bool = True) -> list[str]:
    names = [f"floor:{e}" for e in VAEKIT_ESTIMATORS] + [f"vaekit:{e}" for e in VAEKIT_ESTIMATORS]
    if compiled:
        names += [f"vaekit_compiled:{e}" for e in VAEKIT_ESTIMATORS]
    return names + list(PEERS)


def build(name: str, model: str, state: dict, k: int, lr: float):
    lib, est = name.split(":")
    enc, dec = plain_models(model, state)
    if lib == "floor":
        from floor import FloorTrainer

        return _Wrap(FloorTrainer(est, enc, dec, k, lr), enc, dec)
    if lib in ("vaekit", "vaekit_compiled", "vaekit_noval"):
        if lib == "vaekit_noval":
            # The same loss with torch.distributions' argument validation off in this process
            # (as in the Pyro runs): measures what validation costs inside vaekit's models.
            torch.distributions.Distribution.set_default_validate_args(False)
        return VaekitTrainer(est, model, state, k, lr, compiled=lib == "vaekit_compiled")
    if lib == "pyro":
        from peers_pyro import PyroTrainer

        return PyroTrainer(est, enc, dec, k, lr)
    if lib == "storch":
        from peers_storch import StorchTrainer

        return StorchTrainer(est, enc, dec, k, lr)
    raise ValueError(f"unknown contender library {lib!r} in {name!r}")


class _Wrap:
    def __init__(self, trainer, enc, dec):
        self.trainer, self.enc, self.dec = trainer, enc, dec

    def step(self, x):
        self.trainer.step(x)

    def state(self):
        return {"enc": copy.deepcopy(self.enc.state_dict()), "dec": copy.deepcopy(self.dec.state_dict())}

    def info(self):
        return {}


def vaekit_loss(est: str, inf, gen, k: int):
    """The vaekit loss for an estimator name, built as a user would build it."""
    import vaekit

    if est == "vimco":
        return vaekit.VIMCO(inf, gen, n_samples=k)
    if est == "iwae":
        return vaekit.IWAE(inf, gen, n_samples=k)  # BernoulliEncoder has no rsample: score function
    if est == "reinforce_ma":
        return vaekit.Reinforce(inf, gen, n_samples=k, baselines=[vaekit.MovingAverage(decay=0.9)])
    if est == "reinforce_nvil":
        from floor import nvil_net

        return vaekit.Reinforce(inf, gen, n_samples=k, baselines=vaekit.nvil_baselines(nvil_net(), decay=0.9))
    if est == "reinforce_loo":
        return vaekit.Reinforce(inf, gen, n_samples=k, baselines=[vaekit.LeaveOneOut()])
    if est == "rws":
        return vaekit.RWS(inf, gen, n_samples=k)
    if est == "wake_sleep":
        return vaekit.WakeSleep(inf, gen, n_samples=k)
    raise ValueError(f"unknown estimator {est!r}")


class VaekitTrainer:
    """vaekit's loss module on vaekit's latent models, loaded from the common initial state."""

    def __init__(self, est, model, state, k, lr, compiled=False):
        from vaekit.latents import BernoulliEncoder, SigmoidBeliefNet

        h = hidden_of(model)
        self.inf = BernoulliEncoder(DATA_DIM, LATENT_DIM, hidden=h)
        self.gen = SigmoidBeliefNet(LATENT_DIM, DATA_DIM, hidden=h)
        self.inf.load_state_dict(state["enc"])
        self.gen.load_state_dict(state["dec"])
        self.loss_fn = vaekit_loss(est, self.inf, self.gen, k)
        self.opt = torch.optim.Adam(self.loss_fn.parameters(), lr=lr)
        self.train_step = None
        if compiled:
            import vaekit

            self.train_step = vaekit.make_train_step(self.loss_fn, self.opt)

    def step(self, x):
        if self.train_step is not None:
            self.train_step(x)
            return
        self.opt.zero_grad(set_to_none=True)
        self.loss_fn(x).backward()
        self.opt.step()

    def state(self):
        return {"enc": copy.deepcopy(self.inf.state_dict()), "dec": copy.deepcopy(self.gen.state_dict())}

    def info(self):
        return {}
