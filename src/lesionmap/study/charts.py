"""Altair figures of the recovery appendix: each replicate's estimate against the truth, per quantity.

Every chart takes the study's tidy rows (``run_replicate``'s columns) and draws one point per replicate
and quantity, so that a reader sees the spread behind each bias and coverage of the summary table.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd


def _identity_line(low: float, high: float) -> alt.Chart:
    line = pd.DataFrame({"x": [low, high], "y": [low, high]})
    return alt.Chart(line).mark_line(strokeDash=[4, 4], color="#888").encode(x="x:Q", y="y:Q")


def relative_errors(rows: pd.DataFrame, title: str) -> alt.LayerChart:
    """Relative error (estimate / truth - 1) of each replicate per quantity, with the mean as a tick."""
    table = rows.dropna(subset=["truth"]).assign(relative_error=lambda t: t["estimate"] / t["truth"] - 1.0)
    table["covered"] = np.where(
        (table["lower"] <= table["truth"]) & (table["truth"] <= table["upper"]),
        "95% CI holds the truth",
        "95% CI misses the truth",
    )
    order = list(dict.fromkeys(table["quantity"]))
    points = (
        alt.Chart(table)
        .mark_circle(size=60, opacity=0.7)
        .encode(
            y=alt.Y("quantity:N", sort=order, title=None, axis=alt.Axis(labelLimit=300)),
            x=alt.X("relative_error:Q", title="estimate / truth - 1", axis=alt.Axis(format="%")),
            color=alt.Color(
                "covered:N",
                title=None,
                scale=alt.Scale(
                    domain=["95% CI holds the truth", "95% CI misses the truth"], range=["#4c78a8", "#e45756"]
                ),
            ),
            tooltip=[
                "quantity",
                "seed",
                alt.Tooltip("estimate:Q", format=".4g"),
                alt.Tooltip("truth:Q", format=".4g"),
                alt.Tooltip("relative_error:Q", format=".1%"),
            ],
        )
    )
    means = (
        alt.Chart(table)
        .mark_tick(color="black", thickness=2, size=18)
        .encode(y=alt.Y("quantity:N", sort=order), x="mean(relative_error):Q")
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="#888").encode(x="x:Q")
    return (zero + points + means).properties(width=420, title=title)


def estimate_against_truth(
    rows: pd.DataFrame, title: str, facet: str, x_title: str, y_title: str, width: int = 260
) -> alt.FacetChart:
    """Estimate (y) against truth (x) of every replicate, one panel per value of ``facet``; dashed: y = x."""
    table = rows.dropna(subset=["truth", "estimate"])
    low = float(min(table["truth"].min(), table["estimate"].min()))
    high = float(max(table["truth"].max(), table["estimate"].max()))
    points = (
        alt.Chart()
        .mark_circle(size=45, opacity=0.6)
        .encode(
            x=alt.X("truth:Q", title=x_title, scale=alt.Scale(domain=[low, high], zero=False)),
            y=alt.Y("estimate:Q", title=y_title, scale=alt.Scale(domain=[low, high], zero=False)),
            tooltip=["quantity", "seed", alt.Tooltip("estimate:Q", format=".3f"), alt.Tooltip("truth:Q", format=".3f")],
        )
    )
    return (
        alt.layer(_identity_line(low, high), points, data=table)
        .properties(width=width, height=width)
        .facet(column=alt.Column(f"{facet}:N", title=None))
        .properties(title=title)
    )


def replicate_strip(rows: pd.DataFrame, title: str, x_title: str, domain=(0.0, 1.0)) -> alt.LayerChart:
    """One dot per replicate of a quantity without truth (e.g. the ARI), with the mean as a tick."""
    order = list(dict.fromkeys(rows["quantity"]))
    points = (
        alt.Chart(rows)
        .mark_circle(size=60, opacity=0.7)
        .encode(
            x=alt.X("estimate:Q", title=x_title, scale=alt.Scale(domain=list(domain))),
            y=alt.Y("quantity:N", sort=order, title=None),
            tooltip=["quantity", "seed", alt.Tooltip("estimate:Q", format=".3f")],
        )
    )
    means = (
        alt.Chart(rows)
        .mark_tick(color="black", thickness=2, size=18)
        .encode(x="mean(estimate):Q", y=alt.Y("quantity:N", sort=order))
    )
    return (points + means).properties(width=420, title=title)


def finding_bars(shares: pd.DataFrame, title: str) -> alt.Chart:
    """The share of replicates in which each finding holds (among those where it could be tested)."""
    table = shares.assign(label=shares["finding"] + " (" + shares["tested"].astype(int).astype(str) + " tested)")
    return (
        alt.Chart(table)
        .mark_bar()
        .encode(
            x=alt.X(
                "share:Q",
                title="share of replicates in which it holds",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("label:N", sort=list(table["label"]), title=None, axis=alt.Axis(labelLimit=360)),
            tooltip=["finding", "tested", "holds", alt.Tooltip("share:Q", format=".0%")],
        )
        .properties(width=360, title=title)
    )
