"""Drawing the information plane from the tracker's rows (needs matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["plot_information_plane"]


def plot_information_plane(
    rows: Sequence[dict[str, Any]],
    *,
    estimator: str | None = None,
    split: str | None = None,
    ax: Any = None,
    title: str | None = None,
    colorbar: bool = True,
    log_epochs: bool = False,
) -> Any:
    """Draw I(T;Y) against I(X;T): one trajectory per layer, points coloured by epoch.

    Each layer's records are joined in step order by a thin grey line, its points coloured by
    epoch (viridis) and its last point labelled with the layer's name.

    Args:
        rows: ``InformationPlaneTracker.rows`` (dicts with step, epoch, layer, estimator, ixt, ity,
            units, settings).
        estimator: which estimator's rows to draw; may be omitted when the rows hold only one.
        split: which split's rows; may be omitted when the rows hold only one.
        ax: a matplotlib Axes to draw on (default: a new figure).
        title: the title (default: the estimator and its settings).
        colorbar: add a colour bar for the epoch.
        log_epochs: colour by epoch on a log scale (for records at log-spaced epochs).

    Returns:
        The matplotlib Axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> rows = [{"step": s, "epoch": s, "layer": "1", "estimator": "kde", "split": "train", "ixt": 1.0 + s,
        ...          "ity": 0.5, "units": "bits", "settings": "noise variance 0.001"} for s in range(3)]
        >>> plot_information_plane(rows).get_xlabel()
        'I(X;T) [bits]'
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("plot_information_plane: no rows to draw")
    for key, value in (("estimator", estimator), ("split", split)):
        present = sorted({r[key] for r in rows})
        if value is None and len(present) > 1:
            raise ValueError(f"plot_information_plane: the rows hold several {key}s {present}; pass {key}=...")
        if value is not None and value not in present:
            raise ValueError(f"plot_information_plane: no rows with {key}={value!r}; present: {present}")
    rows = [
        r for r in rows if (estimator is None or r["estimator"] == estimator) and (split is None or r["split"] == split)
    ]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    epochs = [r["epoch"] for r in rows]
    vmin, vmax = min(epochs), max(max(epochs), min(epochs) + 1)
    from matplotlib.colors import LogNorm, Normalize

    norm: Normalize
    if log_epochs:
        norm = LogNorm(vmin=max(vmin, 1), vmax=max(vmax, 2))
        shown = [max(e, 1) for e in epochs]  # epoch 0 is drawn with the colour of epoch 1
    else:
        norm, shown = Normalize(vmin=vmin, vmax=vmax), epochs
    colour = dict(zip(map(id, rows), shown))
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    scatter = None
    for layer in layers:
        pts = sorted((r for r in rows if r["layer"] == layer), key=lambda r: r["step"])
        xs, ys = [r["ixt"] for r in pts], [r["ity"] for r in pts]
        ax.plot(xs, ys, color="0.7", lw=0.8, zorder=1)
        scatter = ax.scatter(xs, ys, c=[colour[id(r)] for r in pts], cmap="viridis", norm=norm, s=14, zorder=2)
        ax.annotate(layer, (xs[-1], ys[-1]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    units = rows[0]["units"]
    if units == "hsic":
        name = rows[0]["estimator"].upper() if rows[0]["estimator"] == "hsic" else "nHSIC"
        ax.set_xlabel(f"{name}(X;T)")
        ax.set_ylabel(f"{name}(T;Y)")
    else:
        ax.set_xlabel(f"I(X;T) [{units}]")
        ax.set_ylabel(f"I(T;Y) [{units}]")
    ax.set_title(title if title is not None else f"{rows[0]['estimator']}: {rows[0]['settings']}", fontsize=9)
    if colorbar and scatter is not None:
        ax.figure.colorbar(scatter, ax=ax, label="epoch")
    return ax
