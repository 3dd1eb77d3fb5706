"""Pyro contenders: the same SBN as a Pyro model/guide pair, trained with ``SVI`` and Pyro's Adam.

Argument validation is switched off (``pyro.enable_validation(False)``, which also switches off
torch.distributions' checks in this process): the faster of Pyro's two settings.

- ``tracegraph_avg``: ``TraceGraph_ELBO`` with the decaying-average baseline (beta 0.9) on ``z``.
- ``tracegraph_nn``: ``TraceGraph_ELBO`` with a neural baseline (the NVIL net 784-100-1 on x).
- ``rws_batch``: ``ReweightedWakeSleep`` called on the minibatch. Pyro sums the log-weights over
  the batch, so it forms K weights for the whole minibatch, not K per data point.
- ``rws_point``: ``ReweightedWakeSleep`` called once per data point (gradients accumulated, one
  optimizer step per minibatch): the per-data-point algorithm that vaekit's RWS implements.
- ``renyi0``: ``RenyiELBO(alpha=0)``, the IWAE objective. For Bernoulli latents the guide gets
  no gradient from it (its score term is scaled by alpha / (1 - alpha)); the guide's parameter
  change is recorded in ``info()``.
"""

from __future__ import annotations

import copy

import pyro
import pyro.distributions as dist
import pyro.optim
import torch
from floor import nvil_net
from pyro import poutine
from pyro.infer import SVI, RenyiELBO, ReweightedWakeSleep, TraceGraph_ELBO
from pyro.infer.util import zero_grads


class PyroTrainer:
    def __init__(self, est, enc, dec, k, lr):
        pyro.enable_validation(False)
        pyro.clear_param_store()
        self.est, self.enc, self.dec, self.k = est, enc, dec, k
        self.baseline_net = nvil_net() if est == "tracegraph_nn" else None
        self.enc0 = copy.deepcopy(enc.state_dict())
        if est.startswith("tracegraph"):
            loss = TraceGraph_ELBO(num_particles=k, vectorize_particles=True, max_plate_nesting=1)
        elif est.startswith("rws"):
            loss = ReweightedWakeSleep(num_particles=k, vectorize_particles=True, max_plate_nesting=1)
        elif est == "renyi0":
            loss = RenyiELBO(alpha=0.0, num_particles=k, vectorize_particles=True, max_plate_nesting=1)
        else:
            raise ValueError(f"unknown Pyro contender {est!r}")
        self.loss = loss
        self.optim = pyro.optim.Adam({"lr": lr})
        self.svi = SVI(self.model, self.guide, self.optim, loss=loss)

    def model(self, x):
        pyro.module("dec", self.dec)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Bernoulli(logits=self.dec.prior_logits.expand(x.shape[0], -1)).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.dec(z)).to_event(1), obs=x)

    def guide(self, x):
        pyro.module("enc", self.enc)
        infer = {}
        if self.est == "tracegraph_avg":
            infer = {"baseline": {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}}
        elif self.est == "tracegraph_nn":
            pyro.module("baseline", self.baseline_net)
            infer = {"baseline": {"nn_baseline": _Squeeze(self.baseline_net, self.k), "nn_baseline_input": x}}
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Bernoulli(logits=self.enc(x)).to_event(1), infer=infer)

    def step(self, x):
        if self.est != "rws_point":
            self.svi.step(x)
            return
        # One RWS call per data point (per-data-point weights), as SVI.step does for one call.
        with poutine.trace(param_only=True) as capture:
            for i in range(x.shape[0]):
                self.loss.loss_and_grads(self.model, self.guide, x[i : i + 1])
        params = set(site["value"].unconstrained() for site in capture.trace.nodes.values())
        self.optim(params)
        zero_grads(params)

    def state(self):
        return {"enc": copy.deepcopy(self.enc.state_dict()), "dec": copy.deepcopy(self.dec.state_dict())}

    def info(self):
        change = sum(float((v - self.enc0[n]).norm() ** 2) for n, v in self.enc.state_dict().items()) ** 0.5
        return {"guide_param_change_l2": change, "param_store_size": len(pyro.get_param_store().keys())}


class _Squeeze(torch.nn.Module):
    """Wraps the baseline net so its output is [K, B]: the shape of the vectorised cost at ``z``."""

    def __init__(self, net, k):
        super().__init__()
        self.net, self.k = net, k

    def forward(self, x):
        return self.net(x).squeeze(-1).expand(self.k, -1)
