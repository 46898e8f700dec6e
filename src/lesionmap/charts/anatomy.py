"""Fig. 3c/3d: the anatomical chart — a body outline with each organ drawn where it is, coloured by phenotype.

The outline is a polygon drawn with Vega-Lite's geoshape in an identity projection, so the chart is plain
Vega-Lite (no image, no network). Organ positions are in the outline's own coordinates (x to the right of
the page, y upwards; the body faces the reader, so the liver is on the reader's left).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from lesionmap.survival.phenotypes import PHENOTYPES, REFERENCE_PHENOTYPE

#: Colours of the phenotypes: red where lesions progress readily, green where they respond and stay small.
PHENOTYPE_COLORS = {
    PHENOTYPES["high-high"]: "#d7301f",
    PHENOTYPES["low-high"]: "#6a3d9a",
    PHENOTYPES["high-low"]: "#1a9850",
    PHENOTYPES["low-low"]: "#9e9e9e",
}
REFERENCE_COLOR = "#ffffff"

#: Organ positions on the outline (x, y) and the side their label goes; the body faces the reader, so the
#: liver is on the reader's left. Organs not listed are drawn in a row under the feet.
ORGAN_POSITIONS = {
    "brain/CNS": (0.0, 9.35, "right"),
    "head and neck": (0.0, 8.3, "right"),
    "distal LN": (0.85, 7.75, "right"),
    "lung": (-0.7, 6.95, "left"),
    "pleura": (0.75, 6.75, "right"),
    "liver": (-0.65, 5.85, "left"),
    "spleen": (0.8, 5.85, "right"),
    "adrenal": (-0.75, 5.15, "left"),
    "pancreas": (0.2, 5.3, "right"),
    "kidney": (0.85, 4.75, "right"),
    "GI tract": (0.2, 4.35, "right"),
    "abdomen": (-0.7, 4.4, "left"),
    "peritoneum": (0.8, 3.75, "right"),
    "regional LN": (-0.6, 3.6, "left"),
    "GR": (0.0, 2.95, "right"),
    "skin": (2.0, 5.0, "right"),
    "bone": (-0.85, 1.6, "left"),
    "soft tissue": (0.85, 1.3, "right"),
}


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 40) -> list[list[float]]:
    angle = np.linspace(0, 2 * np.pi, n)
    return [[float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))] for a in angle]


def body_outline() -> dict:
    """A simple human silhouette (head, neck, torso with arms, legs) as a GeoJSON FeatureCollection."""
    right_half = [
        [0.0, 8.7],
        [0.32, 8.65],
        [0.38, 8.2],
        [1.3, 7.95],
        [1.75, 7.6],
        [2.1, 5.9],
        [2.35, 3.9],
        [2.05, 3.85],
        [1.75, 5.5],
        [1.5, 6.4],
        [1.35, 4.4],
        [1.45, 2.6],
        [1.3, 0.3],
        [1.45, 0.0],
        [0.55, 0.0],
        [0.6, 0.3],
        [0.3, 2.5],
        [0.0, 2.7],
    ]
    left_half = [[-x, y] for x, y in reversed(right_half[1:-1])]
    torso = right_half + left_half + [right_half[0]]
    head = _ellipse(0.0, 9.3, 0.55, 0.68)
    features = [
        {"type": "Feature", "properties": {"part": "body"}, "geometry": {"type": "Polygon", "coordinates": [torso]}},
        {"type": "Feature", "properties": {"part": "head"}, "geometry": {"type": "Polygon", "coordinates": [head]}},
    ]
    return {"type": "FeatureCollection", "features": features}


def organ_layout(organs) -> pd.DataFrame:
    """x, y and label side of each organ; organs without a place on the body go in a row under the feet."""
    rows, spare = [], 0
    for organ in organs:
        if organ in ORGAN_POSITIONS:
            x, y, side = ORGAN_POSITIONS[organ]
        else:
            x, y, side = -1.6 + 1.3 * spare, -0.6, "right"
            spare += 1
        rows.append({"organ": organ, "x": x, "y": y, "side": side})
    return pd.DataFrame(rows)


def anatomy_chart(phenotypes: pd.DataFrame, title: str, subtitle: str | None = None) -> alt.LayerChart:
    """The body outline with one circle per organ, coloured by phenotype and sized by lesion count.

    ``phenotypes`` comes from ``lesionmap.survival.phenotypes.classify_phenotypes`` (columns organ, phenotype,
    description, response_hr, progression_hr; ``lesions`` optional). The reference organ is an open circle.
    """
    frame = phenotypes.merge(organ_layout(phenotypes["organ"]), on="organ", how="left")
    if "lesions" not in frame:
        frame["lesions"] = 1
    frame["label"] = np.where(
        frame["phenotype"] == REFERENCE_PHENOTYPE, frame["organ"] + " (reference)", frame["organ"]
    )
    projection = dict(type="identity", reflectY=True)
    outline = (
        alt.Chart(alt.Data(values=body_outline()["features"]))
        .mark_geoshape(fill="#f6efe8", stroke="#9c8f84", strokeWidth=1.5)
        .project(**projection)
    )
    domain = (
        list(PHENOTYPE_COLORS) + [frame.loc[frame["phenotype"] == REFERENCE_PHENOTYPE, "description"].iat[0]]
        if (frame["phenotype"] == REFERENCE_PHENOTYPE).any()
        else list(PHENOTYPE_COLORS)
    )
    colors = list(PHENOTYPE_COLORS.values()) + [REFERENCE_COLOR]
    color = alt.Color(
        "description:N",
        scale=alt.Scale(domain=domain, range=colors[: len(domain)]),
        legend=alt.Legend(
            orient="bottom",
            direction="vertical",
            title="phenotype (hazard ratio against the reference organ above or below 1)",
            symbolStrokeColor="#333",
            symbolSize=150,
            labelLimit=400,
            titleLimit=500,
        ),
    )
    tooltip = [
        alt.Tooltip("organ:N"),
        alt.Tooltip("description:N", title="phenotype"),
        alt.Tooltip("response_hr:Q", format=".2f", title="response HR"),
        alt.Tooltip("progression_hr:Q", format=".2f", title="progression HR"),
        alt.Tooltip("lesions:Q", format=","),
    ]
    dots = (
        alt.Chart(frame)
        .mark_circle(opacity=0.95, stroke="#333", strokeWidth=1)
        .encode(
            longitude="x:Q",
            latitude="y:Q",
            color=color,
            size=alt.Size("lesions:Q", scale=alt.Scale(range=[100, 900]), legend=None),
            tooltip=tooltip,
        )
        .project(**projection)
    )
    labels = [
        alt.Chart(frame[frame["side"] == side])
        .mark_text(align="right" if side == "left" else "left", dx=-14 if side == "left" else 14, fontSize=12)
        .encode(longitude="x:Q", latitude="y:Q", text="label:N", tooltip=tooltip)
        .project(**projection)
        for side in ("left", "right")
        if (frame["side"] == side).any()
    ]
    properties = {
        "width": 420,
        "height": 520,
        "title": alt.TitleParams(title, subtitle=subtitle) if subtitle else title,
    }
    return alt.layer(outline, dots, *labels).properties(**properties)
