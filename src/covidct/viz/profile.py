"""Plot of the lesion share of the lung along the craniocaudal axis (one value per slice)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from covidct.errors import InvalidInputError
from covidct.viz.overlays import LESION_COLOURS

__all__ = ["save_lesion_profile"]


def save_lesion_profile(
    profile: Mapping[str, Sequence[float]], path: str | Path, *, title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Save a PNG of GGO and consolidation share (% of the slice's lung) per axial slice.

    Args:
        profile: ``position_mm`` (LPS z, superior positive), ``ggo_fraction`` and
            ``consolidation_fraction`` (0..1) per slice, as made by
            :func:`covidct.report.lesion_profile`.
        path: output PNG.
        title: optional title.
    """
    z = np.asarray(profile["position_mm"], float)
    ggo = 100 * np.asarray(profile["ggo_fraction"], float)
    cons = 100 * np.asarray(profile["consolidation_fraction"], float)
    if not (z.shape == ggo.shape == cons.shape) or z.size == 0:
        raise InvalidInputError("profile needs position_mm, ggo_fraction and "
                                "consolidation_fraction of the same non-zero length")
    fig = Figure(figsize=(4.2, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.fill_betweenx(z, 0, cons, color=LESION_COLOURS[2][0], alpha=0.8,
                     label="consolidation")
    ax.fill_betweenx(z, cons, cons + ggo, color=LESION_COLOURS[1][0], alpha=0.8,
                     label="GGO")
    ax.plot(cons + ggo, z, color="black", lw=0.8)
    ax.set_xlim(0, max(5.0, float(np.max(cons + ggo)) * 1.1))
    ax.set_ylim(z.min(), z.max())
    ax.set_xlabel("lesion share of the slice's lung (%)")
    ax.set_ylabel("position (mm, head up)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=dpi)
    return path
