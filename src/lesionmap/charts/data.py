"""Figures of Chapter 1 (Data): the CONSORT flow, lesions per organ, lesion trajectories."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from lesionmap.charts.theme import ORGAN_ORDER, organ_color_scale


def consort_chart(
    screened: int, exclusions: dict[str, int], analysed: int, lesions: dict[str, int], measurements: int
) -> alt.LayerChart:
    """Fig. 1a: patients screened, excluded by each rule, analysed; lesions and measurements of those analysed."""
    main = [
        ("Patients in the SDTM files", screened, 0.5, 0.92),
        ("Patients analysed", analysed, 0.5, 0.56),
        ("Lesions analysed", sum(lesions.values()), 0.5, 0.30),
    ]
    boxes = [dict(label=f"{label}: {count:,}", x=x, y=y, width=0.42, kind="flow") for label, count, x, y in main]
    side_y = np.linspace(0.80, 0.68, num=max(len(exclusions), 1))
    for (rule, count), y in zip(exclusions.items(), side_y):
        boxes.append(dict(label=f"Excluded: {count:,}\n{rule}", x=0.78, y=y, width=0.40, kind="excluded"))
    kinds = list(lesions.items())
    for i, (kind, count) in enumerate(kinds):
        x = (i + 0.5) / len(kinds)
        boxes.append(dict(label=f"{kind} lesions: {count:,}", x=x, y=0.12, width=0.28, kind="lesions"))
    boxes.append(
        dict(label=f"measured {measurements:,} times", x=1 / (2 * len(kinds)), y=-0.04, width=0.28, kind="lesions")
    )
    frame = pd.DataFrame(boxes)
    frame["x1"] = frame["x"] - frame["width"] / 2
    frame["x2"] = frame["x"] + frame["width"] / 2
    frame["y1"] = frame["y"] - 0.045
    frame["y2"] = frame["y"] + 0.045
    frame["text_y"] = frame["y"] + 0.02 * frame["label"].str.count("\n")  # centre two-line labels

    arrows = pd.DataFrame(
        [dict(x=0.5, y=0.92 - 0.045, x2=0.5, y2=0.56 + 0.045), dict(x=0.5, y=0.56 - 0.045, x2=0.5, y2=0.30 + 0.045)]
        + [dict(x=0.5, y=y, x2=0.58, y2=y) for y in side_y[: len(exclusions)]]
        + [dict(x=0.5, y=0.30 - 0.045, x2=(i + 0.5) / len(kinds), y2=0.12 + 0.045) for i in range(len(kinds))]
        + [dict(x=1 / (2 * len(kinds)), y=0.12 - 0.045, x2=1 / (2 * len(kinds)), y2=-0.04 + 0.045)]
    )
    x_scale = alt.Scale(domain=[0, 1.0])
    y_scale = alt.Scale(domain=[-0.1, 1.0])
    no_axis = dict(axis=None)
    colours = alt.Scale(domain=["flow", "excluded", "lesions"], range=["#e8f1fa", "#fbeee6", "#eef6ec"])
    rects = (
        alt.Chart(frame)
        .mark_rect(stroke="#555", cornerRadius=4)
        .encode(
            x=alt.X("x1:Q", scale=x_scale, **no_axis),
            x2="x2:Q",
            y=alt.Y("y1:Q", scale=y_scale, **no_axis),
            y2="y2:Q",
            color=alt.Color("kind:N", scale=colours, legend=None),
            tooltip=["label:N"],
        )
    )
    texts = (
        alt.Chart(frame)
        .mark_text(fontSize=12, lineBreak="\n")
        .encode(x=alt.X("x:Q", scale=x_scale, **no_axis), y=alt.Y("text_y:Q", scale=y_scale, **no_axis), text="label:N")
    )
    lines = (
        alt.Chart(arrows)
        .mark_rule(color="#555", strokeWidth=1.2)
        .encode(
            x=alt.X("x:Q", scale=x_scale, **no_axis), y=alt.Y("y:Q", scale=y_scale, **no_axis), x2="x2:Q", y2="y2:Q"
        )
    )
    return (lines + rects + texts).properties(width=720, height=420, title="Fig. 1a: patients and lesions analysed")


def lesions_by_organ_chart(
    lesions: pd.DataFrame,
    title: str = "Fig. 1b: lesions per organ",
    panels: tuple[str, str] = ("all lesions", "target lesions"),
) -> alt.Chart:
    """Fig. 1b (or Supplementary Fig. 6a-b for mHNSCC): lesions per organ, all lesions beside target lesions;
    ``panels`` names the two panels."""
    counts = (
        pd.concat([lesions.assign(group=panels[0]), lesions[lesions["kind"] == "target"].assign(group=panels[1])])
        .groupby(["organ", "group"], observed=True)
        .size()
        .rename("lesions")
        .reset_index()
    )
    order = [o for o in ORGAN_ORDER if o in set(counts["organ"])] + sorted(set(counts["organ"]) - set(ORGAN_ORDER))
    return (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            y=alt.Y("organ:N", sort=order, title=None),
            x=alt.X("lesions:Q", title="lesions"),
            color=alt.Color("organ:N", scale=organ_color_scale(order), legend=None),
            column=alt.Column("group:N", title=None, sort=list(panels)),
            tooltip=["organ:N", "group:N", alt.Tooltip("lesions:Q", format=",")],
        )
        .properties(width=300, height=alt.Step(16), title=title)
    )


def trajectories_chart(measurements: pd.DataFrame, lesions: pd.DataFrame, patient_ids: list[str]) -> alt.Chart:
    """A sample of target-lesion trajectories: diameter over time, one panel per patient, one line per lesion."""
    sample = measurements[measurements["patient_id"].isin(patient_ids)].merge(
        lesions[["lesion_id", "organ"]], on="lesion_id", how="left"
    )
    sample = sample.assign(week=sample["day"] / 7.0, measured=np.where(sample["blq"], "below LOQ", "measured"))
    return (
        alt.Chart(sample)
        .mark_line(point=True)
        .encode(
            x=alt.X("week:Q", title="weeks since first dose"),
            y=alt.Y("volume_mm3:Q", title="volume (mm³)", scale=alt.Scale(type="symlog")),
            color=alt.Color("organ:N", scale=organ_color_scale(sorted(sample["organ"].unique())), title="organ"),
            detail="lesion_id:N",
            shape=alt.Shape("measured:N", title=None),
            facet=alt.Facet("patient_id:N", columns=3, title=None),
            tooltip=[
                "lesion_id:N",
                "organ:N",
                "day:Q",
                alt.Tooltip("diameter_mm:Q", format=".1f"),
                alt.Tooltip("volume_mm3:Q", format=",.0f"),
                "measured:N",
            ],
        )
        .properties(width=200, height=140, title="Target-lesion volumes over time (a random sample of patients)")
    )
