"""Plug-in latent models: InfNets and GenModels ready to pass to any loss."""
from vaekit.latents.bernoulli import BernoulliEncoder, SigmoidBeliefNet
from vaekit.latents.gaussian import BernoulliDecoder, GaussianEncoder
from vaekit.latents.iob import IOBLayer, intrinsic_dimension, ordered_loss
from vaekit.latents.iob_infnet import OrderedInfNet
from vaekit.latents.vib import VIBDecoder, VIBEncoder

__all__ = ["BernoulliEncoder", "SigmoidBeliefNet", "GaussianEncoder", "BernoulliDecoder",
           "VIBEncoder", "VIBDecoder", "IOBLayer", "OrderedInfNet", "ordered_loss", "intrinsic_dimension"]
