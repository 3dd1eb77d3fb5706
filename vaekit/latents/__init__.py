"""Plug-in latent models: InfNets and GenModels ready to pass to any loss."""
from vaekit.latents.bernoulli import BernoulliEncoder, SigmoidBeliefNet
from vaekit.latents.gaussian import BernoulliDecoder, GaussianEncoder

__all__ = ["BernoulliEncoder", "SigmoidBeliefNet", "GaussianEncoder", "BernoulliDecoder"]
