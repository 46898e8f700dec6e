"""Generic figure builders shared by the chapters: forest plots, Kaplan-Meier curves, percentile boxes,
scatter plots with a regression band, heatmaps and ROC curves. Each takes a tidy, already aggregated table."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from lesionmap.charts.theme import organ_color_scale

#: Tick values of the hazard-ratio axis (log scale): readable labels whatever the range.
HR_TICKS = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20]


def forest_chart(
    table: pd.DataFrame,
    title: str,
    label: str = "organ",
    color: str | None = None,
    reference: float = 1.0,
    x_title: str = "hazard ratio (95% CI)",
    colors: dict | None = None,
) -> alt.LayerChart:
    """Hazard ratios with 95% intervals on a log axis; columns ``label``, hr, lower, upper (and p, optional).

    Rows whose ratio or interval is not a finite positive number (a level with no events) cannot be drawn on a
    log axis: they are left out and counted in the subtitle. ``colors`` maps the levels of ``color`` to colours.
    """
    values = table[["hr", "lower", "upper"]].to_numpy(float)
    drawable = np.isfinite(values).all(axis=1) & (values > 0).all(axis=1)
    frame = table.loc[drawable].copy()
    if not len(frame):
        raise ValueError(f"{title}: no row has a finite hazard ratio and interval to draw")
    order = frame.sort_values("hr", ascending=False)[label].drop_duplicates().tolist()
    low, high = float(frame["lower"].min()) * 0.9, float(frame["upper"].max()) * 1.1
    scale = alt.Scale(type="log", nice=False, domain=[low, high])
    ticks = [t for t in HR_TICKS if low <= t <= high] or None
    tooltip = [
        f"{label}:N",
        alt.Tooltip("hr:Q", format=".2f", title="HR"),
        alt.Tooltip("lower:Q", format=".2f"),
        alt.Tooltip("upper:Q", format=".2f"),
    ]
    if "p" in frame:
        tooltip.append(alt.Tooltip("p:Q", format=".2g"))
    if "lesions" in frame:
        tooltip.append(alt.Tooltip("lesions:Q", format=","))
    if color and colors:
        encode_color = alt.Color(f"{color}:N", scale=alt.Scale(domain=list(colors), range=list(colors.values())))
    else:
        encode_color = alt.Color(f"{color}:N") if color else alt.value("#1f3b57")
    offset = {"yOffset": alt.YOffset(f"{color}:N")} if color else {}
    base = alt.Chart(frame).encode(y=alt.Y(f"{label}:N", sort=order, title=None), color=encode_color, **offset)
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("lower:Q", scale=scale, title=x_title, axis=alt.Axis(values=ticks)), x2="upper:Q"
    )
    points = base.mark_point(filled=True, size=60).encode(x="hr:Q", tooltip=tooltip)
    rule = alt.Chart(pd.DataFrame({"x": [reference]})).mark_rule(strokeDash=[4, 3], color="#888").encode(x="x:Q")
    dropped = int((~drawable).sum())
    heading = alt.Title(title, subtitle=f"{dropped} row(s) without a finite interval not drawn") if dropped else title
    return (rule + bars + points).properties(width=420, height=alt.Step(18 if not color else 26), title=heading)


def km_chart(
    curves: pd.DataFrame, title: str, group: str = "group", colors: dict | None = None, x_title: str = "days"
) -> alt.LayerChart:
    """Kaplan-Meier step curves with pointwise 95% bands; columns time, survival, ci_lower, ci_upper, group."""
    scale = alt.Scale(domain=list(colors), range=list(colors.values())) if colors else alt.Undefined
    base = alt.Chart(curves).encode(
        x=alt.X("time:Q", title=x_title), color=alt.Color(f"{group}:N", scale=scale, title=None)
    )
    band = base.mark_area(opacity=0.15, interpolate="step-after").encode(y="ci_lower:Q", y2="ci_upper:Q")
    line = base.mark_line(interpolate="step-after").encode(
        y=alt.Y("survival:Q", title="probability alive", scale=alt.Scale(domain=[0, 1])),
        tooltip=[f"{group}:N", alt.Tooltip("time:Q", format=".0f"), alt.Tooltip("survival:Q", format=".2f")],
    )
    return (band + line).properties(width=460, height=300, title=title)


def percentile_boxes(
    values: pd.DataFrame,
    value: str,
    group: str,
    title: str,
    log: bool = False,
    order: list | None = None,
    y_title: str | None = None,
) -> alt.LayerChart:
    """Boxes 25-75%, whiskers 10-90%, median tick, per group (the paper's Fig. 2b convention)."""
    stats = values.groupby(group, observed=True)[value].describe(percentiles=[0.1, 0.25, 0.5, 0.75, 0.9])
    stats = stats.rename(columns={"10%": "p10", "25%": "p25", "50%": "p50", "75%": "p75", "90%": "p90"}).reset_index()
    order = order or stats.sort_values("p50", ascending=False)[group].tolist()
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    base = alt.Chart(stats).encode(x=alt.X(f"{group}:N", sort=order, title=None))
    whisker = base.mark_rule().encode(y=alt.Y("p10:Q", scale=scale, title=y_title or value), y2="p90:Q")
    color = (
        alt.Color(f"{group}:N", scale=organ_color_scale(order), legend=None)
        if group == "organ"
        else alt.value("#7fa7c9")
    )
    box = base.mark_bar(size=14).encode(
        y="p25:Q",
        y2="p75:Q",
        color=color,
        tooltip=[
            f"{group}:N",
            alt.Tooltip("count:Q", format=",", title="n"),
            alt.Tooltip("p10:Q", format=".3g"),
            alt.Tooltip("p25:Q", format=".3g"),
            alt.Tooltip("p50:Q", format=".3g", title="median"),
            alt.Tooltip("p75:Q", format=".3g"),
            alt.Tooltip("p90:Q", format=".3g"),
        ],
    )
    median = base.mark_tick(color="black", size=14, thickness=2).encode(y="p50:Q")
    return (whisker + box + median).properties(width=alt.Step(24), height=220, title=title)


def scatter_with_fit(
    frame: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    size: str | None = None,
    label: str | None = None,
    log_x: bool = False,
    log_y: bool = False,
) -> alt.LayerChart:
    """Points with an ordinary least-squares line and its 95% confidence band (computed here, not in Vega)."""
    data = frame.dropna(subset=[x, y]).copy()
    xs = np.log10(data[x]) if log_x else data[x].astype(float)
    ys = np.log10(data[y]) if log_y else data[y].astype(float)
    n = len(data)
    slope, intercept = np.polyfit(xs, ys, 1)
    grid = np.linspace(xs.min(), xs.max(), 50)
    residual = ys - (intercept + slope * xs)
    s = np.sqrt(np.sum(residual**2) / max(n - 2, 1))
    se = s * np.sqrt(1 / n + (grid - xs.mean()) ** 2 / np.sum((xs - xs.mean()) ** 2))
    from scipy import stats

    t = stats.t.ppf(0.975, max(n - 2, 1))
    fit = pd.DataFrame(
        {
            x: grid,
            "fit": intercept + slope * grid,
            "lo": intercept + slope * grid - t * se,
            "hi": intercept + slope * grid + t * se,
        }
    )
    if log_x:
        fit[x] = 10 ** fit[x]
    if log_y:
        fit[["fit", "lo", "hi"]] = 10 ** fit[["fit", "lo", "hi"]]
    x_scale = alt.Scale(type="log") if log_x else alt.Scale(zero=False)
    y_scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    tooltip = [c for c in (label, x, y, size) if c]
    points = (
        alt.Chart(data)
        .mark_circle(opacity=0.7)
        .encode(
            x=alt.X(f"{x}:Q", scale=x_scale),
            y=alt.Y(f"{y}:Q", scale=y_scale),
            size=alt.Size(f"{size}:Q", legend=None) if size else alt.value(30),
            color=alt.Color(f"{label}:N", scale=organ_color_scale(sorted(data[label].unique())), legend=None)
            if label == "organ"
            else alt.value("#1f6fb4"),
            tooltip=tooltip,
        )
    )
    band = alt.Chart(fit).mark_area(opacity=0.2, color="#888").encode(x=f"{x}:Q", y=alt.Y("lo:Q", title=y), y2="hi:Q")
    line = alt.Chart(fit).mark_line(color="#333").encode(x=f"{x}:Q", y=alt.Y("fit:Q", title=y))
    return (band + line + points).properties(width=190, height=190, title=title)


def heatmap(
    frame: pd.DataFrame,
    x: str,
    y: str,
    value: str,
    title: str,
    facet: str | None = None,
    x_order: list | None = None,
    y_order: list | None = None,
    value_title: str | None = None,
) -> alt.Chart:
    """A rect heatmap; ``facet`` makes one panel per group."""
    chart = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X(f"{x}:O", sort=x_order, title=x),
            y=alt.Y(f"{y}:N", sort=y_order, title=None),
            color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="blues"), title=value_title or value),
            tooltip=[f"{x}:O", f"{y}:N", alt.Tooltip(f"{value}:Q", format=".2f")],
        )
        .properties(width=alt.Step(22), height=alt.Step(14))
    )
    if facet:
        chart = chart.facet(column=alt.Column(f"{facet}:N", title=None))
    return chart.properties(title=title)


def roc_chart(curves: pd.DataFrame, title: str, color: str = "class") -> alt.LayerChart:
    """ROC curves (columns fpr, tpr, ``color``) with the chance diagonal."""
    diagonal = (
        alt.Chart(pd.DataFrame({"fpr": [0, 1], "tpr": [0, 1]}))
        .mark_line(strokeDash=[4, 3], color="#999")
        .encode(x="fpr:Q", y="tpr:Q")
    )
    lines = (
        alt.Chart(curves)
        .mark_line()
        .encode(
            x=alt.X("fpr:Q", title="false positive rate"),
            y=alt.Y("tpr:Q", title="true positive rate"),
            color=alt.Color(f"{color}:N", title=None),
            tooltip=[f"{color}:N"],
        )
    )
    return (diagonal + lines).properties(width=320, height=300, title=title)


def grouped_bars(
    frame: pd.DataFrame, x: str, y: str, color: str, title: str, y_title: str | None = None, colors: dict | None = None
) -> alt.Chart:
    """Side-by-side bars (e.g. cluster proportions by treatment)."""
    scale = alt.Scale(domain=list(colors), range=list(colors.values())) if colors else alt.Undefined
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:N", title=None),
            xOffset=f"{color}:N",
            y=alt.Y(f"{y}:Q", title=y_title or y),
            color=alt.Color(f"{color}:N", scale=scale, title=None),
            tooltip=[f"{x}:N", f"{color}:N", alt.Tooltip(f"{y}:Q", format=".3g")],
        )
        .properties(width=alt.Step(22), height=240, title=title)
    )
