"""Fig. 3c/3d: the anatomical chart — a body outline with each organ drawn where it is, coloured by phenotype.

The outline is a polygon drawn with Vega-Lite's geoshape in an identity projection, so the chart is plain
Vega-Lite (no image, no network). Organ positions are in the outline's own coordinates (x to the right of
the page, y upwards; the body faces the reader, so the liver is on the reader's left).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

PHENOTYPE_COLORS = {
    "high response, high progression": "#c0392b",
    "low response, high progression": "#7d3c98",
    "high response, low progression": "#27ae60",
    "low response, low progression": "#95a5a6",
}

#: Organ positions on the outline (x, y); organs not listed are drawn in a row under the feet.
ORGAN_POSITIONS = {
    "brain/CNS": (0.0, 9.35),
    "head and neck": (0.0, 8.35),
    "distal LN": (0.95, 7.85),
    "lung": (-0.75, 6.9),
    "pleura": (0.95, 6.55),
    "liver": (-0.65, 5.65),
    "spleen": (0.85, 5.55),
    "adrenal": (-0.35, 5.05),
    "pancreas": (0.35, 5.15),
    "kidney": (0.75, 4.75),
    "GI tract": (0.0, 4.55),
    "abdomen": (-0.55, 4.2),
    "peritoneum": (0.5, 3.95),
    "regional LN": (-0.2, 3.55),
    "GR": (0.0, 2.95),
    "bone": (-0.95, 2.1),
    "soft tissue": (0.75, 1.6),
    "skin": (-2.05, 4.0),
}


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 40) -> list[list[float]]:
    angle = np.linspace(0, 2 * np.pi, n)
    return [[float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))] for a in angle]


def body_outline() -> dict:
    """A simple human silhouette (head, neck, torso with arms, legs) as a GeoJSON FeatureCollection."""
    right_half = [
        [0.0, 8.7], [0.32, 8.65], [0.38, 8.2], [1.3, 7.95], [1.75, 7.6], [2.1, 5.9], [2.35, 3.9], [2.05, 3.85],
        [1.75, 5.5], [1.5, 6.4], [1.35, 4.4], [1.45, 2.6], [1.3, 0.3], [1.45, 0.0], [0.55, 0.0], [0.6, 0.3],
        [0.3, 2.5], [0.0, 2.7],
    ]
    left_half = [[-x, y] for x, y in reversed(right_half[1:-1])]
    torso = right_half + left_half + [right_half[0]]
    head = _ellipse(0.0, 9.3, 0.55, 0.68)
    features = [
        {"type": "Feature", "properties": {"part": "body"}, "geometry": {"type": "Polygon", "coordinates": [torso]}},
        {"type": "Feature", "properties": {"part": "head"}, "geometry": {"type": "Polygon", "coordinates": [head]}},
    ]
    return {"type": "FeatureCollection", "features": features}


def classify_phenotypes(hazard_ratios: pd.DataFrame, reference: str = "abdomen") -> pd.DataFrame:
    """Phenotype of each organ from its response and progression hazard ratios against the reference organ.

    Rule: an organ is *high* on an endpoint when its hazard ratio is above 1 (events more likely than in
    the reference organ, abdomen) and *low* otherwise; the reference organ itself is low on both.
    ``hazard_ratios`` has columns organ, response_hr, progression_hr (and optionally lesions).
    """
    frame = hazard_ratios.copy()
    response = np.where(frame["response_hr"] > 1.0, "high response", "low response")
    progression = np.where(frame["progression_hr"] > 1.0, "high progression", "low progression")
    frame["phenotype"] = pd.Series(response, index=frame.index) + ", " + pd.Series(progression, index=frame.index)
    frame.loc[frame["organ"] == reference, "phenotype"] = "low response, low progression"
    return frame


def anatomy_chart(phenotypes: pd.DataFrame, title: str) -> alt.LayerChart:
    """The body outline with one circle per organ, coloured by phenotype, sized by lesion count."""
    frame = phenotypes.copy()
    unplaced = [o for o in frame["organ"] if o not in ORGAN_POSITIONS]
    positions = dict(ORGAN_POSITIONS)
    for i, organ in enumerate(unplaced):
        positions[organ] = (-1.8 + 1.2 * i, -0.6)
    frame["x"] = frame["organ"].map(lambda o: positions[o][0])
    frame["y"] = frame["organ"].map(lambda o: positions[o][1])
    if "lesions" not in frame:
        frame["lesions"] = 1
    projection = dict(type="identity", reflectY=True)
    outline = alt.Chart(alt.Data(values=body_outline()["features"])).mark_geoshape(
        fill="#f6efe8", stroke="#9c8f84", strokeWidth=1.5
    ).project(**projection)
    color = alt.Color(
        "phenotype:N",
        scale=alt.Scale(domain=list(PHENOTYPE_COLORS), range=list(PHENOTYPE_COLORS.values())),
        legend=alt.Legend(orient="right", title="phenotype"),
    )
    tooltip = ["organ:N", "phenotype:N", alt.Tooltip("response_hr:Q", format=".2f", title="response HR"),
               alt.Tooltip("progression_hr:Q", format=".2f", title="progression HR"),
               alt.Tooltip("lesions:Q", format=",")]
    dots = alt.Chart(frame).mark_circle(opacity=0.9, stroke="white", strokeWidth=1).encode(
        longitude="x:Q", latitude="y:Q", color=color,
        size=alt.Size("lesions:Q", scale=alt.Scale(range=[60, 600]), legend=None),
        tooltip=tooltip,
    ).project(**projection)
    labels = alt.Chart(frame).mark_text(align="left", dx=12, fontSize=11).encode(
        longitude="x:Q", latitude="y:Q", text="organ:N"
    ).project(**projection)
    return (outline + dots + labels).properties(width=360, height=460, title=title)
