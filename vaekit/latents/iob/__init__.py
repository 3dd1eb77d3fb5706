"""Information-ordered bottleneck (IOB): the layer, its width distributions, its ordered loss and the ordered InfNet."""

from vaekit.latents.iob.infnet import OrderedInfNet
from vaekit.latents.iob.layer import IOBLayer, chi2_1_critical_value, intrinsic_dimension, ordered_loss, place_mask
from vaekit.latents.iob.widths import GeometricWidths, PoissonWidths, UniformWidths

__all__ = [
    "IOBLayer",
    "OrderedInfNet",
    "chi2_1_critical_value",
    "intrinsic_dimension",
    "ordered_loss",
    "place_mask",
    "UniformWidths",
    "GeometricWidths",
    "PoissonWidths",
]
