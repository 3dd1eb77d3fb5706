"""Storchastic contender: ``ScoreFunction`` with its ``batch_average`` (leave-one-out) baseline.

The cost is the sampled negative ELBO, ``log q(z|x) - log p(x, z)`` with z drawn by Storchastic
(K samples per data point); Storchastic adds the score-function term with the baseline formed
across the K samples. Importing ``storch`` patches torch, so this runs in its own process.
"""

from __future__ import annotations

import copy

import storch
import torch
from storch.method import ScoreFunction
from torch.distributions import Bernoulli


class StorchTrainer:
    def __init__(self, est, enc, dec, k, lr):
        if est != "score_batch_average":
            raise ValueError(f"unknown Storchastic contender {est!r}")
        self.enc, self.dec = enc, dec
        self.method = ScoreFunction("z", n_samples=k, baseline_factory="batch_average")
        self.opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=lr)

    def step(self, x):
        self.opt.zero_grad(set_to_none=True)
        storch.reset()
        xs = storch.denote_independent(x, 0, "data")
        q = Bernoulli(logits=self.enc(xs))
        z = self.method(q)
        log_q = q.log_prob(z).sum(-1)
        log_p = Bernoulli(logits=self.dec.prior_logits).log_prob(z).sum(-1) + Bernoulli(logits=self.dec(z)).log_prob(
            xs
        ).sum(-1)
        storch.add_cost(log_q - log_p, "neg_elbo")
        storch.backward()
        self.opt.step()

    def state(self):
        return {"enc": copy.deepcopy(self.enc.state_dict()), "dec": copy.deepcopy(self.dec.state_dict())}

    def info(self):
        return {}
