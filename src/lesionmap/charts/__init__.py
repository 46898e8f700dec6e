"""Altair figures of the book: one house theme, readable at book width, with tooltips.

Charts take tables that ``src`` has already aggregated (Altair inlines its data into the page).
``setup()`` enables the theme and the HTML renderer, whose output the offline Vega bundle draws.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt

from lesionmap.charts.theme import ORGAN_ORDER, TREATMENT_COLORS, organ_color_scale, setup

__all__ = ["setup", "save_png", "ORGAN_ORDER", "TREATMENT_COLORS", "organ_color_scale"]


def save_png(chart: alt.TopLevelMixin, path: str | Path, scale: float = 1.5) -> Path:
    """Render a chart to PNG with vl-convert (no browser, no network), e.g. to look at it."""
    import vl_convert

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(vl_convert.vegalite_to_png(chart.to_dict(), scale=scale))
    return path
