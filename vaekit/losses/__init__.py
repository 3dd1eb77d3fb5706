"""Losses: one estimator per file, each a pure function on [B, K] tensors plus a thin Module."""
from vaekit.losses.base import Loss
from vaekit.losses.elbo import ELBO, elbo_estimate
from vaekit.losses.iwae import IWAE, iwae_estimate
from vaekit.losses.vimco import VIMCO, vimco_estimate

__all__ = ["Loss", "ELBO", "IWAE", "VIMCO", "elbo_estimate", "iwae_estimate", "vimco_estimate"]
