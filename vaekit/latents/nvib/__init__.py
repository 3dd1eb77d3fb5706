"""Nonparametric variational information bottleneck (NVIB): layer, KL terms, InfNet, attention."""

from vaekit.latents.nvib.attention import DenoisingAttention
from vaekit.latents.nvib.infnet import NVIBInfNet
from vaekit.latents.nvib.kl import kl_dirichlet, kl_gaussian
from vaekit.latents.nvib.layer import NVIB, NVIBLatent, nvib_log_prob

__all__ = ["NVIB", "NVIBLatent", "NVIBInfNet", "DenoisingAttention", "kl_gaussian", "kl_dirichlet", "nvib_log_prob"]
