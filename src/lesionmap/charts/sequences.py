"""Figures of the progression-sequence chapters (Fig. 4, Fig. 5, Supplementary Figs. 7-10).

Every builder takes a table already aggregated by ``lesionmap.sequence`` (criteria per k, patients per group,
rank and organ, interval percentiles, thinned Kaplan-Meier steps). Group names are shown as they are: a
numbered name ("Other-First 2", a second cluster claiming a group) stays visible, never merged with its namesake.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from lesionmap.charts.theme import ORGAN_ORDER, TREATMENT_COLORS

#: The criteria of Supplementary Fig. 7 and their axis titles.
K_CRITERIA = {
    "inertia": "inertia (elbow)",
    "silhouette": "silhouette",
    "aic": "AIC / BIC",
    "concordance": "OS concordance (C)",
}


def k_selection(metrics: pd.DataFrame, chosen_k: int, title: str) -> alt.HConcatChart:
    """Supplementary Fig. 7: inertia, silhouette, AIC and BIC, concordance against k; the chosen k ruled."""
    if "k" not in metrics:
        raise ValueError("metrics needs a column 'k'")
    long = metrics.melt(
        id_vars="k",
        value_vars=["inertia", "silhouette", "aic", "bic", "concordance"],
        var_name="criterion",
        value_name="value",
    ).dropna(subset=["value"])
    rule = alt.Chart(pd.DataFrame({"k": [chosen_k]})).mark_rule(strokeDash=[4, 3], color="#888").encode(x="k:Q")
    panels = []
    for criterion, axis in K_CRITERIA.items():
        names = ["aic", "bic"] if criterion == "aic" else [criterion]
        data = long[long["criterion"].isin(names)]
        line = (
            alt.Chart(data)
            .mark_line(point=True)
            .encode(
                x=alt.X("k:Q", axis=alt.Axis(tickMinStep=1), scale=alt.Scale(domain=[1, int(metrics["k"].max())])),
                y=alt.Y("value:Q", scale=alt.Scale(zero=False), title=axis),
                color=alt.Color(
                    "criterion:N", title=None, legend=alt.Legend(orient="bottom") if len(names) > 1 else None
                ),
                tooltip=["criterion:N", "k:Q", alt.Tooltip("value:Q", format=".4g")],
            )
        )
        panels.append((line + rule).properties(width=140, height=140))
    return alt.hconcat(*panels).resolve_scale(color="independent").properties(title=title)


def _organs_present(counts: pd.DataFrame) -> list[str]:
    present = set(counts.loc[counts["n"] > 0, "organ"])
    return [o for o in ORGAN_ORDER if o in present] + sorted(present - set(ORGAN_ORDER), key=str)


def sequence_heatmap(
    counts: pd.DataFrame,
    title: str,
    column: str = "group",
    row: str | None = None,
    column_order: list | None = None,
    width_step: int = 16,
) -> alt.FacetChart:
    """Fig. 4a / 5c-e: organ (rows) x progression rank (columns) per group, colour log10(patients + 1).

    ``counts`` is ``sequence_counts`` (group, rank, organ, n, log10_n_plus_1), with a ``row`` column (e.g.
    treatment_group) when given; organs that never progress are dropped."""
    organs = _organs_present(counts)
    data = counts[counts["organ"].isin(organs)]
    chart = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("rank:O", title="progression rank"),
            y=alt.Y("organ:N", sort=organs, title=None),
            color=alt.Color("log10_n_plus_1:Q", scale=alt.Scale(scheme="blues"), title="log10(patients + 1)"),
            tooltip=[f"{column}:N", "organ:N", "rank:O", alt.Tooltip("n:Q", format=",", title="patients")],
        )
        .properties(width=alt.Step(width_step), height=alt.Step(12))
    )
    facet = {"column": alt.Column(f"{column}:N", title=None, sort=column_order)}
    if row is not None:
        facet["row"] = alt.Row(f"{row}:N", title=None)
    return chart.facet(**facet).properties(title=title)


def km_panels(
    curves: pd.DataFrame,
    title: str,
    panel: str = "group",
    color: str = "treatment_group",
    colors: dict | None = None,
    columns: int = 3,
    panel_order: list | None = None,
) -> alt.FacetChart:
    """Kaplan-Meier curves coloured by ``color`` in one panel per ``panel`` (Fig. 5a, Supplementary Fig. 10a).

    ``curves``: thinned ``km_curve`` tables with ``panel`` and ``color`` columns (time, survival, ci bounds)."""
    colors = colors if colors is not None else TREATMENT_COLORS
    present = [c for c in colors if c in set(curves[color])]
    scale = alt.Scale(domain=present, range=[colors[c] for c in present])
    base = alt.Chart().encode(x=alt.X("time:Q", title="days"), color=alt.Color(f"{color}:N", scale=scale, title=None))
    band = base.mark_area(opacity=0.15, interpolate="step-after").encode(y="ci_lower:Q", y2="ci_upper:Q")
    line = base.mark_line(interpolate="step-after").encode(
        y=alt.Y("survival:Q", title="probability alive", scale=alt.Scale(domain=[0, 1])),
        tooltip=[
            f"{panel}:N",
            f"{color}:N",
            alt.Tooltip("time:Q", format=".0f"),
            alt.Tooltip("survival:Q", format=".2f"),
        ],
    )
    layered = alt.layer(band, line, data=curves).properties(width=220, height=170)
    return layered.facet(facet=alt.Facet(f"{panel}:N", title=None, sort=panel_order), columns=columns).properties(
        title=title
    )


def group_km(curves: pd.DataFrame, title: str, order: list | None = None) -> alt.LayerChart:
    """Fig. 4b: Kaplan-Meier curves of overall survival, one colour per group (thinned ``km_curve`` table)."""
    order = order or list(pd.unique(curves["group"]))
    base = alt.Chart(curves).encode(
        x=alt.X("time:Q", title="days"),
        color=alt.Color("group:N", sort=order, scale=alt.Scale(domain=order), title=None),
    )
    line = base.mark_line(interpolate="step-after").encode(
        y=alt.Y("survival:Q", title="probability alive", scale=alt.Scale(domain=[0, 1])),
        tooltip=[
            "group:N",
            alt.Tooltip("time:Q", format=".0f"),
            alt.Tooltip("survival:Q", format=".2f"),
            alt.Tooltip("at_risk:Q", title="at risk"),
        ],
    )
    return line.properties(width=460, height=300, title=title)


def interval_boxes(
    quantiles: pd.DataFrame,
    title: str,
    color: str = "group",
    colors: dict | None = None,
    color_order: list | None = None,
    column: str | None = None,
) -> alt.Chart:
    """Fig. 4c / 5f-h: boxes 25-75%, whiskers 10-90%, median tick, per interval, side by side per ``color``.

    ``quantiles`` is ``interval_quantiles`` (interval, ``color``, n, p10, p25, median, p75, p90)."""
    domain = color_order or list(pd.unique(quantiles[color]))
    scale = (
        alt.Scale(domain=[c for c in colors if c in domain], range=[colors[c] for c in colors if c in domain])
        if colors
        else alt.Scale(domain=domain)
    )
    order = list(pd.unique(quantiles["interval"].astype(str)))
    data = quantiles.assign(interval=quantiles["interval"].astype(str))
    base = alt.Chart().encode(
        x=alt.X("interval:N", sort=order, title=None), xOffset=alt.XOffset(f"{color}:N", sort=domain)
    )
    whisker = base.mark_rule().encode(
        y=alt.Y("p10:Q", title="days"), y2="p90:Q", color=alt.Color(f"{color}:N", scale=scale, title=None)
    )
    box = base.mark_bar(size=10).encode(
        y="p25:Q",
        y2="p75:Q",
        color=alt.Color(f"{color}:N", scale=scale, title=None),
        tooltip=[
            f"{color}:N",
            "interval:N",
            alt.Tooltip("n:Q", format=","),
            alt.Tooltip("p10:Q", format=".0f"),
            alt.Tooltip("p25:Q", format=".0f"),
            alt.Tooltip("median:Q", format=".0f"),
            alt.Tooltip("p75:Q", format=".0f"),
            alt.Tooltip("p90:Q", format=".0f"),
        ],
    )
    median = base.mark_tick(color="black", size=10, thickness=2).encode(y="median:Q")
    layered = alt.layer(whisker, box, median, data=data).properties(width=alt.Step(14), height=200)
    if column is not None:
        return layered.facet(column=alt.Column(f"{column}:N", title=None)).properties(title=title)
    return layered.properties(title=title)


def proportion_bars(
    sizes: pd.DataFrame, title: str, by: str = "treatment_group", colors: dict | None = None, order: list | None = None
) -> alt.Chart:
    """Fig. 5b: share of each treatment group's patients in each progression group (``group_sizes`` by ``by``)."""
    colors = colors if colors is not None else TREATMENT_COLORS
    present = [c for c in colors if c in set(sizes[by])]
    data = sizes.assign(group=sizes["group"].astype(str))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("group:N", sort=order, title=None),
            xOffset=alt.XOffset(f"{by}:N"),
            y=alt.Y("share:Q", title="share of the treatment group", axis=alt.Axis(format="%")),
            color=alt.Color(f"{by}:N", scale=alt.Scale(domain=present, range=[colors[c] for c in present]), title=None),
            tooltip=["group:N", f"{by}:N", alt.Tooltip("n:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(width=alt.Step(18), height=220, title=title)
    )
