"""The information plane: I(X;T) and I(T;Y) of a network's layers while it trains.

Estimators (``binned_mi``, ``kde_mi`` and their tracker wrappers ``Binning``, ``KDE``, the HSIC
measures ``HSICMeasure``), the tracker that runs a fixed probe set through chosen layers
(``InformationPlaneTracker``) and the plot (``plot_information_plane``, needs matplotlib).
Imports torch, ``vaekit._math`` and ``vaekit.hsic`` only.
"""

from vaekit.infoplane.estimators import KDE, Binning, HSICMeasure, binned_mi, discrete_entropy, kde_mi
from vaekit.infoplane.plot import plot_information_plane
from vaekit.infoplane.tracker import InformationPlaneTracker

__all__ = [
    "discrete_entropy",
    "binned_mi",
    "kde_mi",
    "Binning",
    "KDE",
    "HSICMeasure",
    "InformationPlaneTracker",
    "plot_information_plane",
]
