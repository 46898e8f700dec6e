"""The house theme and shared scales."""

from __future__ import annotations

import altair as alt

from lesionmap.organs import ORGAN_ORDER

THEME_NAME = "lesionmap"
FONT = "Helvetica Neue, Helvetica, Arial, sans-serif"


TREATMENT_COLORS = {"TAR+Chemo": "#1f6fb4", "Chemo alone": "#d9822b"}

_ORGAN_PALETTE = [
    "#8c2d04",
    "#2b8cbe",
    "#41ab5d",
    "#a1d99b",
    "#807dba",
    "#bcbddc",
    "#fdae6b",
    "#636363",
    "#e7298a",
    "#d95f0e",
    "#c994c7",
    "#fec44f",
    "#1c9099",
    "#9e9ac8",
    "#fa9fb5",
    "#6baed6",
    "#bdbdbd",
    "#74c476",
    "#969696",
]


def organ_color_scale(organs=None) -> alt.Scale:
    """A fixed colour per organ, so an organ keeps its colour across every figure of the book."""
    organs = list(organs if organs is not None else ORGAN_ORDER)
    palette = dict(zip(ORGAN_ORDER, _ORGAN_PALETTE))
    return alt.Scale(domain=organs, range=[palette.get(o, "#969696") for o in organs])


def _theme() -> alt.theme.ThemeConfig:
    return {
        "config": {
            "font": FONT,
            "view": {"continuousWidth": 560, "continuousHeight": 320, "stroke": None},
            "axis": {"labelFontSize": 11, "titleFontSize": 12, "gridColor": "#ececec", "domainColor": "#888"},
            # legends below the chart: to the right they fall outside the book's column on wide charts
            "legend": {"labelFontSize": 11, "titleFontSize": 12, "orient": "bottom", "columns": 2},
            "title": {"fontSize": 14, "anchor": "start", "fontWeight": "bold"},
            "header": {"labelFontSize": 12, "titleFontSize": 12},
            "range": {"category": {"scheme": "tableau10"}},
        }
    }


def setup() -> None:
    """Enable the house theme and the HTML renderer (whose output the offline Vega bundle draws)."""
    if THEME_NAME not in alt.theme.names():
        alt.theme.register(THEME_NAME, enable=False)(_theme)
    alt.theme.enable(THEME_NAME)
    alt.renderers.enable("html")
