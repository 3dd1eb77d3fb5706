"""Plug-in latent models: InfNets and GenModels ready to pass to any loss."""
from vaekit.latents.bernoulli import BernoulliEncoder, SigmoidBeliefNet
from vaekit.latents.gaussian import BernoulliDecoder, GaussianEncoder
from vaekit.latents.iob import IOBLayer, intrinsic_dimension, ordered_loss
from vaekit.latents.iob_infnet import OrderedInfNet
from vaekit.latents.nvib import NVIB, NVIBLatent, nvib_log_prob
from vaekit.latents.nvib_infnet import NVIBInfNet
from vaekit.latents.nvib_kl import kl_dirichlet, kl_gaussian
from vaekit.latents.denoising_attention import DenoisingAttention
from vaekit.latents.vib import VIBDecoder, VIBEncoder

__all__ = ["BernoulliEncoder", "SigmoidBeliefNet", "GaussianEncoder", "BernoulliDecoder",
           "VIBEncoder", "VIBDecoder", "IOBLayer", "OrderedInfNet", "ordered_loss", "intrinsic_dimension",
           "NVIB", "NVIBLatent", "NVIBInfNet", "DenoisingAttention", "kl_gaussian", "kl_dirichlet", "nvib_log_prob"]
