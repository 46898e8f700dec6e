"""Figures of Chapter 2 (tumour growth dynamics): Fig. 2a, Supplementary Figs. 1 and 2, estimates vs truth."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from lesionmap.charts.theme import TREATMENT_COLORS, organ_color_scale
from lesionmap.growth import predict_volume

_MAX_POINTS = 4000


def model_schematic(V0: float, Kd: float, F: float, Kg: float, days: float = 730) -> alt.LayerChart:
    """Fig. 2a: the two cell populations and the total volume of a typical lesion."""
    t = np.linspace(0, days, 200)
    frame = pd.concat(
        [
            pd.DataFrame(
                {"day": t, "relative volume": (1 - F) * np.exp(-Kd * t), "curve": "sensitive cells (1 - F) e^(-Kd t)"}
            ),
            pd.DataFrame({"day": t, "relative volume": F * np.exp(Kg * t), "curve": "resistant cells F e^(Kg t)"}),
            pd.DataFrame(
                {"day": t, "relative volume": predict_volume(t, V0, Kd, F, Kg) / V0, "curve": "total V(t) / V0"}
            ),
        ]
    )
    dash = alt.condition(alt.datum.curve == "total V(t) / V0", alt.value([1, 0]), alt.value([5, 4]))
    return (
        alt.Chart(frame)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=alt.X("day:Q", title="days since the first dose"),
            y=alt.Y("relative volume:Q", title="volume relative to baseline"),
            color=alt.Color("curve:N", title=None, scale=alt.Scale(range=["#c0392b", "#2471a3", "#222222"])),
            strokeDash=dash,
            tooltip=["curve:N", alt.Tooltip("day:Q", format=".0f"), alt.Tooltip("relative volume:Q", format=".2f")],
        )
        .properties(width=480, height=260, title="Fig. 2a: the biexponential model at this cohort's typical values")
    )


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=min(n, len(frame)), random_state=seed) if len(frame) > n else frame


def goodness_of_fit(
    predictions: pd.DataFrame, seed: int = 0, value_col: str = "volume_mm3", time_col: str = "day"
) -> alt.VConcatChart:
    """Supplementary Fig. 1: observed vs population/individual predictions; residuals vs time and prediction."""
    quantified = predictions[predictions["in_likelihood"] & ~predictions["blq"]]
    sample = _sample(quantified, _MAX_POINTS, seed).assign(iwres=lambda f: (f[value_col] - f["ipred"]) / f["ipred"])
    limits = [
        float(sample[[value_col, "pred", "ipred"]].min().min()) * 0.8,
        float(sample[[value_col, "pred", "ipred"]].max().max()) * 1.2,
    ]
    scale = alt.Scale(type="log", domain=limits)

    def observed_vs(column, title):
        points = (
            alt.Chart(sample)
            .mark_circle(size=8, opacity=0.35)
            .encode(
                x=alt.X(f"{column}:Q", scale=scale, title=title),
                y=alt.Y(f"{value_col}:Q", scale=scale, title="observed (mm³)"),
            )
        )
        line = alt.Chart(pd.DataFrame({"a": limits, "b": limits})).mark_line(color="#c0392b").encode(x="a:Q", y="b:Q")
        return (points + line).properties(width=250, height=250)

    residual_time = (
        alt.Chart(sample)
        .mark_circle(size=8, opacity=0.35)
        .encode(
            x=alt.X(f"{time_col}:Q", title="days"),
            y=alt.Y("iwres:Q", title="(observed - IPRED) / IPRED"),
        )
        .properties(width=250, height=200)
    )
    residual_pred = (
        alt.Chart(sample)
        .mark_circle(size=8, opacity=0.35)
        .encode(
            x=alt.X("ipred:Q", scale=alt.Scale(type="log"), title="individual prediction (mm³)"),
            y=alt.Y("iwres:Q", title="(observed - IPRED) / IPRED"),
        )
        .properties(width=250, height=200)
    )
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color="#c0392b").encode(y="y:Q")
    return alt.vconcat(
        alt.hconcat(
            observed_vs("pred", "population prediction (mm³)"), observed_vs("ipred", "individual prediction (mm³)")
        ),
        alt.hconcat(residual_time + zero, residual_pred + zero),
    ).properties(title=f"Supplementary Fig. 1: goodness of fit ({len(sample):,} measurements drawn at random)")


def vpc_chart(vpc: pd.DataFrame) -> alt.LayerChart:
    """Visual predictive check: observed percentiles (lines) within simulated 90% intervals (bands)."""
    frame = vpc.assign(percentile=lambda f: (100 * f["quantile"]).round().astype(int).astype(str) + "th")
    base = alt.Chart(frame).encode(
        x=alt.X("time_mid:Q", title="days since the first dose"), color=alt.Color("percentile:N", title="percentile")
    )
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y("simulated_lower:Q", scale=alt.Scale(type="log"), title="volume (mm³)"), y2="simulated_upper:Q"
    )
    line = base.mark_line(point=True).encode(
        y="observed:Q",
        tooltip=[
            "percentile:N",
            alt.Tooltip("time_mid:Q", format=".0f"),
            alt.Tooltip("observed:Q", format=",.0f"),
            alt.Tooltip("simulated_median:Q", format=",.0f"),
        ],
    )
    return (band + line).properties(width=480, height=280, title="Visual predictive check (Supplementary Fig. 1)")


def individual_fits(
    fit, measurements: pd.DataFrame, estimates: pd.DataFrame, n_lesions: int = 12, seed: int = 0
) -> alt.FacetChart:
    """Measured volumes and each lesion's fitted curve for a random sample of lesions."""
    rng = np.random.default_rng(seed)
    counts = measurements.groupby("lesion_id").size()
    candidates = counts[counts >= 4].index.intersection(estimates["lesion_id"])
    chosen = sorted(rng.choice(np.asarray(candidates), size=min(n_lesions, len(candidates)), replace=False))
    params = estimates.set_index("lesion_id").loc[chosen]
    points = measurements[measurements["lesion_id"].isin(chosen)].assign(
        measured=lambda f: np.where(f["blq"], "below LOQ", "measured")
    )
    curves = []
    for lesion_id, row in params.iterrows():
        last = points.loc[points["lesion_id"] == lesion_id, "day"].max()
        t = np.linspace(0, max(last, 1), 60)
        curves.append(
            pd.DataFrame(
                {
                    "lesion_id": lesion_id,
                    "day": t,
                    "volume_mm3": predict_volume(t, row["V0"], row["Kd"], row["F"], row["Kg"]),
                    "organ": row["organ"],
                }
            )
        )
    curve = pd.concat(curves)
    points = points.merge(params[["organ"]], left_on="lesion_id", right_index=True)
    y = alt.Y("volume_mm3:Q", scale=alt.Scale(type="log"), title="volume (mm³)")
    line = alt.Chart().mark_line(color="#2471a3").encode(x=alt.X("day:Q", title="days"), y=y)
    dots = (
        alt.Chart()
        .mark_point(size=40, filled=True)
        .encode(
            x="day:Q",
            y=y,
            shape=alt.Shape("measured:N", title=None),
            tooltip=["lesion_id:N", "organ:N", "day:Q", alt.Tooltip("volume_mm3:Q", format=",.0f")],
        )
    )
    data = pd.concat([curve.assign(layer="fit"), points.assign(layer="data")])
    return (
        alt.layer(
            line.transform_filter(alt.datum.layer == "fit"), dots.transform_filter(alt.datum.layer == "data"), data=data
        )
        .properties(width=140, height=110)
        .facet(facet=alt.Facet("lesion_id:N", title=None), columns=4)
        .properties(title="Individual fits (lesions drawn at random)")
    )


def treatment_boxes(estimates: pd.DataFrame, effects: pd.DataFrame) -> alt.HConcatChart:
    """Supplementary Fig. 2: Kd, 1 - F and Kg by treatment group, with the effect size in each title."""
    frame = estimates.assign(**{"1-F": 1 - estimates["F"]})
    charts = []
    for _, row in effects.iterrows():
        name = row["parameter"]
        stats = frame.groupby("treatment_group")[name].describe(percentiles=[0.1, 0.25, 0.5, 0.75, 0.9]).reset_index()
        stats.columns = [str(c).replace("%", "") if c != "treatment_group" else c for c in stats.columns]
        base = alt.Chart(stats).encode(x=alt.X("treatment_group:N", title=None))
        scale = alt.Scale(type="log") if name != "1-F" else alt.Scale(zero=False)
        color = alt.Color(
            "treatment_group:N",
            scale=alt.Scale(domain=list(TREATMENT_COLORS), range=list(TREATMENT_COLORS.values())),
            legend=None,
        )
        charts.append(
            (
                base.mark_rule().encode(y=alt.Y("10:Q", scale=scale, title=name), y2="90:Q")
                + base.mark_bar(size=30).encode(
                    y="25:Q",
                    y2="75:Q",
                    color=color,
                    tooltip=["treatment_group:N", alt.Tooltip("50:Q", format=".4g", title="median")],
                )
                + base.mark_tick(color="black", size=30, thickness=2).encode(y="50:Q")
            ).properties(width=140, height=220, title=f"{name}: effect size {row['effect_size']:.2f}")
        )
    return alt.hconcat(*charts).properties(title="Supplementary Fig. 2: TAR + Chemo vs Chemo alone")


def estimated_vs_true(estimates: pd.DataFrame, truth: pd.DataFrame, seed: int = 0) -> alt.HConcatChart:
    """Each lesion's estimated parameter against its true value (a random sample of lesions)."""
    merged = estimates.merge(truth[["lesion_id", "Kd", "F", "Kg"]], on="lesion_id", suffixes=("", "_true"))
    sample = _sample(merged, 3000, seed)
    panels = []
    for name in ("Kd", "F", "Kg"):
        lo = float(min(sample[name].min(), sample[f"{name}_true"].min()))
        hi = float(max(sample[name].max(), sample[f"{name}_true"].max()))
        scale = alt.Scale(type="log", domain=[lo, hi]) if name != "F" else alt.Scale(domain=[0, 1])
        points = (
            alt.Chart(sample)
            .mark_circle(size=10, opacity=0.4)
            .encode(
                x=alt.X(f"{name}_true:Q", scale=scale, title=f"true {name}"),
                y=alt.Y(f"{name}:Q", scale=scale, title=f"estimated {name}"),
                color=alt.Color("organ:N", scale=organ_color_scale(sorted(sample["organ"].unique())), legend=None),
                tooltip=[
                    "lesion_id:N",
                    "organ:N",
                    alt.Tooltip(f"{name}_true:Q", format=".4g"),
                    alt.Tooltip(f"{name}:Q", format=".4g"),
                ],
            )
        )
        line = alt.Chart(pd.DataFrame({"a": [lo, hi]})).mark_line(color="#c0392b").encode(x="a:Q", y="a:Q")
        panels.append((points + line).properties(width=180, height=180))
    return alt.hconcat(*panels).properties(title="Estimated (conditional mode) against true lesion parameters")


def organ_effects_chart(values: pd.DataFrame, order: list | None = None, title: str = "") -> alt.HConcatChart:
    """Each organ's Kd, F and Kg from every source (per-lesion medians, covariate model, truth), side by side."""
    long = values.melt(id_vars=["organ", "parameter", "lesions"], var_name="source", value_name="value")
    long = long.dropna(subset=["value"])
    order = order or values.sort_values("lesions", ascending=False)["organ"].drop_duplicates().tolist()
    sources = [s for s in ("per-lesion median", "covariate model", "truth") if s in long["source"].unique()]
    colors = {"per-lesion median": "#e67e22", "covariate model": "#2471a3", "truth": "#222222"}
    panels = []
    for p in ("Kd", "F", "Kg"):
        part = long[long["parameter"] == p]
        panels.append(
            alt.Chart(part)
            .mark_point(filled=True, size=60, opacity=0.85)
            .encode(
                x=alt.X(
                    "value:Q",
                    title=f"{p}" + (" per day (log scale)" if p != "F" else ""),
                    scale=alt.Scale(type="log" if p != "F" else "linear", zero=False),
                ),
                y=alt.Y("organ:N", sort=order, title=None),
                color=alt.Color(
                    "source:N",
                    title="source",
                    sort=sources,
                    scale=alt.Scale(domain=sources, range=[colors[s] for s in sources]),
                ),
                shape=alt.Shape("source:N", title="source", sort=sources, scale=alt.Scale(domain=sources)),
                tooltip=["organ:N", "source:N", alt.Tooltip("value:Q", format=".4g"), "lesions:Q"],
            )
            .properties(width=200, height=16 * len(order), title=p)
        )
    return alt.hconcat(*panels).properties(title=title)
