"""Figures of Chapter 6 (predicting the progression group at baseline): Supplementary Fig. 11a/b (ROC curves),
the metrics of each outer fold, permutation importance, calibration and the confusion matrix.

Every builder takes the tidy tables of a ``lesionmap.predict.PredictionResult`` (ROC curves are already thinned
to at most a few hundred points each) and draws one model or a few; class names come from the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from lesionmap.predict import MODEL_LABELS, PredictionResult

_DIAGONAL = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})

#: Colours of the models, in the order the chapter lists them (the first is the model shown in detail).
_MODEL_COLOURS = ["#1f6fb4", "#d9822b", "#7f7f7f", "#41ab5d", "#807dba"]


def _diagonal(x: str = "x", y: str = "y") -> alt.Chart:
    frame = _DIAGONAL.rename(columns={"x": x, "y": y})
    return alt.Chart(frame).mark_line(strokeDash=[4, 3], color="#999").encode(x=f"{x}:Q", y=f"{y}:Q")


def _check_models(result: PredictionResult, models: Sequence[str]) -> None:
    missing = [m for m in models if m not in set(result.roc["model"])]
    if missing:
        raise ValueError(f"model(s) {missing} were not evaluated (evaluated: {sorted(set(result.roc['model']))})")


def _pooled_auc(result: PredictionResult, model: str, average: str) -> float:
    table = result.metrics_summary
    row = table[(table["model"] == model) & (table["metric"] == "auc") & (table["average"] == average)]
    return float(row["pooled"].iloc[0])


def _roc_axes() -> dict:
    return {
        "x": alt.X("fpr:Q", title="false positive rate", scale=alt.Scale(domain=[0, 1], nice=False)),
        "y": alt.Y("tpr:Q", title="true positive rate", scale=alt.Scale(domain=[0, 1], nice=False)),
    }


def roc_averages_chart(result: PredictionResult, models: Sequence[str], title: str) -> alt.LayerChart:
    """Supplementary Fig. 11a: the macro- and micro-average ROC curves of each model (pooled out-of-fold
    probabilities; colour: model, dashes: micro average); the legend gives each curve's AUC."""
    _check_models(result, models)
    frames, colours = [], []
    for index, model in enumerate(models):
        for average in ("macro", "micro"):
            curve = result.roc[(result.roc["model"] == model) & (result.roc["class"] == average)]
            auc = _pooled_auc(result, model, average)
            frames.append(curve.assign(average=average, curve=f"{MODEL_LABELS[model]}, {average} (AUC {auc:.2f})"))
            colours.append(_MODEL_COLOURS[index % len(_MODEL_COLOURS)])
    curves = pd.concat(frames, ignore_index=True)[["average", "curve", "fpr", "tpr"]]
    names = list(dict.fromkeys(curves["curve"]))
    lines = (
        alt.Chart(curves)
        .mark_line(strokeWidth=2)
        .encode(
            **_roc_axes(),
            color=alt.Color(
                "curve:N",
                title=None,
                scale=alt.Scale(domain=names, range=colours),
                legend=alt.Legend(symbolStrokeWidth=3, labelLimit=320),
            ),
            strokeDash=alt.StrokeDash(
                "average:N", title=None, legend=None, scale=alt.Scale(domain=["macro", "micro"], range=[[1, 0], [5, 3]])
            ),
            tooltip=["curve:N", alt.Tooltip("fpr:Q", format=".2f"), alt.Tooltip("tpr:Q", format=".2f")],
        )
    )
    return (_diagonal("fpr", "tpr") + lines).properties(width=280, height=280, title=title)


def roc_classes_chart(result: PredictionResult, model: str, title: str) -> alt.LayerChart:
    """Supplementary Fig. 11b: one-vs-rest ROC curve of each class for one model, AUC in the legend."""
    _check_models(result, [model])
    frames = []
    for name in result.classes:
        curve = result.roc[(result.roc["model"] == model) & (result.roc["class"] == name)]
        frames.append(curve.assign(curve=f"{name} (AUC {_pooled_auc(result, model, name):.2f})"))
    curves = pd.concat(frames, ignore_index=True)[["curve", "fpr", "tpr"]]
    lines = (
        alt.Chart(curves)
        .mark_line(strokeWidth=2)
        .encode(
            **_roc_axes(),
            color=alt.Color(
                "curve:N", title=None, sort=list(dict.fromkeys(curves["curve"])), legend=alt.Legend(labelLimit=320)
            ),
            tooltip=["curve:N", alt.Tooltip("fpr:Q", format=".2f"), alt.Tooltip("tpr:Q", format=".2f")],
        )
    )
    return (_diagonal("fpr", "tpr") + lines).properties(width=280, height=280, title=title)


def fold_metrics_chart(
    result: PredictionResult,
    models: Sequence[str],
    title: str,
    metrics: Sequence[tuple[str, str]] = (("auc", "macro"), ("auc", "micro"), ("accuracy", "overall"), ("f1", "macro")),
) -> alt.FacetChart:
    """Each outer fold's value (dots) and the mean over folds (tick) of a few metrics, one panel per metric (two
    panels a row)."""
    _check_models(result, models)
    names = {
        (metric, average): metric.replace("auc", "AUC").replace("f1", "F1")
        + ("" if average == "overall" else f", {average}")
        for metric, average in metrics
    }
    wanted = pd.DataFrame([(m, a, name) for (m, a), name in names.items()], columns=["metric", "average", "panel"])
    table = result.metrics.merge(wanted, on=["metric", "average"])
    table = table[table["model"].isin(models)].assign(model=lambda f: f["model"].map(MODEL_LABELS))
    table = table[["model", "fold", "panel", "value"]]
    order = [MODEL_LABELS[m] for m in models]
    colour = alt.Color(
        "model:N",
        legend=None,
        scale=alt.Scale(domain=order, range=[_MODEL_COLOURS[i % len(_MODEL_COLOURS)] for i in range(len(order))]),
    )
    base = alt.Chart().encode(y=alt.Y("model:N", sort=order, title=None))
    dots = base.mark_circle(size=45, opacity=0.75).encode(
        x=alt.X("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=colour,
        tooltip=["model:N", "fold:O", alt.Tooltip("value:Q", format=".3f")],
    )
    means = base.mark_tick(thickness=2, size=18, color="#222").encode(
        x="mean(value):Q", tooltip=["model:N", alt.Tooltip("mean(value):Q", format=".3f", title="mean over folds")]
    )
    return (
        alt.layer(dots, means, data=table)
        .properties(width=200, height=alt.Step(22))
        .facet(
            facet=alt.Facet("panel:N", sort=list(names.values()), title=None),
            columns=2,
        )
        .resolve_scale(x="independent")
        .properties(title=title)
    )


def importance_chart(result: PredictionResult, model: str, title: str, top: int = 15) -> alt.LayerChart:
    """Permutation importance of the ``top`` inputs of one model: mean drop in macro F1 when the input is shuffled
    in the held-out fold (bar), ± one sd over folds and repeats (rule)."""
    _check_models(result, [model])
    table = result.importance[result.importance["model"] == model].nlargest(top, "mean")
    table = table.assign(lower=table["mean"] - table["sd"], upper=table["mean"] + table["sd"])
    table = table[["feature", "mean", "sd", "lower", "upper"]]
    order = table["feature"].tolist()
    base = alt.Chart(table).encode(y=alt.Y("feature:N", sort=order, title=None))
    bars = base.mark_bar(color="#1f6fb4").encode(
        x=alt.X("mean:Q", title="drop in macro F1 when shuffled"),
        tooltip=["feature:N", alt.Tooltip("mean:Q", format=".3f"), alt.Tooltip("sd:Q", format=".3f")],
    )
    rules = base.mark_rule(color="#333").encode(x="lower:Q", x2="upper:Q")
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="#888").encode(x="x:Q")
    return (bars + rules + zero).properties(width=380, height=alt.Step(16), title=title)


def calibration_chart(result: PredictionResult, model: str, title: str, min_patients: int = 1) -> alt.LayerChart:
    """Reliability diagram of one model: per class and probability bin, the observed share of the class against
    the mean predicted probability (dot size: patients in the bin); the diagonal is perfect calibration."""
    _check_models(result, [model])
    table = result.calibration[(result.calibration["model"] == model) & (result.calibration["n"] >= min_patients)]
    table = table[["class", "bin_lower", "bin_upper", "predicted", "observed", "n"]]
    order = list(result.classes)
    base = alt.Chart(table).encode(
        x=alt.X("predicted:Q", title="mean predicted probability", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("observed:Q", title="observed share", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("class:N", sort=order, title=None),
    )
    lines = base.mark_line(opacity=0.6)
    dots = base.mark_circle(opacity=0.85).encode(
        size=alt.Size("n:Q", title="patients", scale=alt.Scale(range=[15, 300])),
        tooltip=[
            "class:N",
            alt.Tooltip("bin_lower:Q", format=".1f", title="bin from"),
            alt.Tooltip("bin_upper:Q", format=".1f", title="bin to"),
            alt.Tooltip("predicted:Q", format=".3f"),
            alt.Tooltip("observed:Q", format=".3f"),
            "n:Q",
        ],
    )
    return (_diagonal("predicted", "observed") + lines + dots).properties(width=340, height=320, title=title)


def confusion_chart(result: PredictionResult, model: str, title: str) -> alt.LayerChart:
    """Confusion matrix of one model summed over the outer folds: counts in the cells, colour by the share of the
    observed class (row) predicted as each class, so the diagonal reads as each class's recall."""
    _check_models(result, [model])
    table = result.confusion[result.confusion["model"] == model][["observed", "predicted", "n"]].copy()
    totals = table.groupby("observed")["n"].transform("sum")
    table["share"] = (table["n"] / totals.where(totals > 0)).fillna(0.0)
    order = list(result.classes)
    base = alt.Chart(table).encode(
        x=alt.X("predicted:N", sort=order, title="predicted", axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("observed:N", sort=order, title="observed"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="share of row"),
        tooltip=["observed:N", "predicted:N", "n:Q", alt.Tooltip("share:Q", format=".2f")],
    )
    text = base.mark_text(fontSize=11).encode(
        text="n:Q", color=alt.condition(alt.datum.share > 0.5, alt.value("white"), alt.value("#222"))
    )
    return (cells + text).properties(width=alt.Step(56), height=alt.Step(34), title=title)
