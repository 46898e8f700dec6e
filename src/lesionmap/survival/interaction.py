"""Organ x treatment interaction in the lesion frailty Cox model: the treatment's effect within each organ.

The paper fits the organ model within each treatment group (Fig. 3e, f) and reads "TAR lowers progression
hazards in most organs but not in brain/CNS, kidney, skin and spleen" off two forest plots whose ratios are
relative to the abdomen within each group, so a treatment that slows every organ alike leaves them unchanged.
Here one model holds both groups:

    log h(t) = log h0(t) + organ main effects + sum_o TAR x [organ = o] * gamma_o + covariates + b_patient,

with no treatment main effect, so each ``gamma_o`` is directly the log hazard ratio of TAR + Chemo against Chemo
alone *within organ o* (``FrailtyCox`` takes main effects only: the interaction columns are built here, 0/1
numbers named ``TAR in <organ>``). Organs where one arm has no event cannot have an estimate; their lesions are
left out of the model and listed (``excluded``). Beside it:

- ``heterogeneity``: the likelihood-ratio test of organ-specific effects against one common treatment effect
  (the same rows, the common model ``organ + TAR + covariates``);
- ``grouped_treatment_effects``: the treatment effect within sets of organs (e.g. the four the paper names and
  all the others) and the Wald test of the difference between the first two sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from lesionmap.survival.frailty import FrailtyCox, likelihood_ratio
from lesionmap.survival.phenotypes import hazard_ratio_columns

#: Name of the interaction column of one organ (or one set of organs).
TREATED_IN = "TAR in {}"


@dataclass
class OrganTreatmentInteraction:
    """The treatment effect within each organ (``effects``), the organs left out (``excluded``), the
    likelihood-ratio test against a common effect (``heterogeneity``), the common effect (``common``: hr, lower,
    upper, p) and the two fits."""

    effects: pd.DataFrame
    excluded: pd.DataFrame
    heterogeneity: pd.Series
    common: dict
    fit: FrailtyCox
    common_fit: FrailtyCox


def _arm_counts(table: pd.DataFrame, organ: str, treatment: str, treated: str, event: str) -> pd.DataFrame:
    """Per organ: lesions, and events in the treated and in the control arm."""
    arm = np.where(table[treatment] == treated, "events_treated", "events_control")
    counts = table.assign(_arm=arm).pivot_table(index=organ, columns="_arm", values=event, aggfunc="sum", fill_value=0)
    counts = counts.reindex(columns=["events_treated", "events_control"], fill_value=0).astype(int)
    return table.groupby(organ).size().rename("lesions").to_frame().join(counts)


def interaction_design(
    table: pd.DataFrame,
    organ: str = "organ",
    treatment: str = "treatment_group",
    treated: str = "TAR+Chemo",
    event: str = "event",
) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    """The rows and interaction columns of the model: (data with one ``TAR in <organ>`` column per kept organ,
    the column names, the organs left out with their counts and why).

    An organ is kept when each arm has at least one event among its lesions; a treatment column with other
    values than ``treated`` and one control level is an error naming them.
    """
    missing = [c for c in (organ, treatment, event) if c not in table.columns]
    if missing:
        raise ValueError(f"the event table lacks column(s) {missing}")
    levels = sorted(pd.unique(table[treatment].dropna()), key=str)
    if treated not in levels or len(levels) != 2:
        raise ValueError(f"column {treatment!r} must hold {treated!r} and one control level; found {levels}")
    counts = _arm_counts(table, organ, treatment, treated, event)
    estimable = (counts["events_treated"] > 0) & (counts["events_control"] > 0)
    excluded = counts[~estimable].assign(why="no event in one arm").rename_axis(organ).reset_index()
    kept = table[table[organ].isin(counts.index[estimable])].reset_index(drop=True)
    is_treated = (kept[treatment] == treated).to_numpy(float)
    columns = []
    for name in counts.index[estimable]:
        column = TREATED_IN.format(name)
        kept[column] = is_treated * (kept[organ] == name).to_numpy(float)
        columns.append(column)
    return kept, columns, excluded


def _verdict(lower: float, upper: float) -> str:
    if upper < 1:
        return "lower under TAR"
    if lower > 1:
        return "higher under TAR"
    return "no clear difference"


def organ_treatment_interaction(
    table: pd.DataFrame,
    duration: str = "day",
    event: str = "event",
    group: str = "patient_id",
    organ: str = "organ",
    treatment: str = "treatment_group",
    treated: str = "TAR+Chemo",
    covariates: Sequence[str] = (),
    references: dict | None = None,
    model: FrailtyCox | None = None,
) -> OrganTreatmentInteraction:
    """Fit the interaction model of the module text; ``covariates`` are other terms (treatment excluded).

    ``effects``: one row per kept organ: organ, lesions, events_treated, events_control, hr (TAR + Chemo against
    Chemo alone within the organ), lower, upper (95%), p, verdict ('lower under TAR', 'higher under TAR' or 'no
    clear difference', from the interval).
    """
    data, columns, excluded = interaction_design(table, organ, treatment, treated, event)
    if not columns:
        raise ValueError("no organ has events in both treatment arms: the interaction cannot be estimated")
    others = [c for c in covariates if c not in (organ, treatment)]
    refs = {k: v for k, v in (references or {}).items() if k in (organ, *others)}
    if organ in refs and refs[organ] not in set(data[organ]):
        refs.pop(organ)
    fitter = FrailtyCox(**model.get_params()) if model is not None else FrailtyCox()
    fit = fitter.fit(data, duration, event, group, covariates=[organ, *columns, *others], references=refs)
    common_data = data.assign(**{TREATED_IN.format("every organ"): (data[treatment] == treated).astype(float)})
    common_fit = FrailtyCox(**fit.get_params()).fit(
        common_data,
        duration,
        event,
        group,
        covariates=[organ, TREATED_IN.format("every organ"), *others],
        references=refs,
    )

    summary = fit.summary.loc[columns]
    ratios = hazard_ratio_columns(summary)
    counts = _arm_counts(data, organ, treatment, treated, event)
    organs = [c[len(TREATED_IN.format("")) :] for c in columns]
    effects = counts.loc[organs].rename_axis(organ).reset_index()
    effects[["hr", "lower", "upper", "p"]] = ratios.to_numpy()
    effects["verdict"] = [_verdict(lo, up) for lo, up in zip(effects["lower"], effects["upper"], strict=True)]
    common_row = hazard_ratio_columns(common_fit.summary.loc[[TREATED_IN.format("every organ")]]).iloc[0]
    return OrganTreatmentInteraction(
        effects=effects,
        excluded=excluded,
        heterogeneity=likelihood_ratio(fit, common_fit, "organ x treatment"),
        common={k: float(common_row[k]) for k in ("hr", "lower", "upper", "p")},
        fit=fit,
        common_fit=common_fit,
    )


def grouped_treatment_effects(
    table: pd.DataFrame,
    organ_sets: dict[str, Sequence[str]],
    duration: str = "day",
    event: str = "event",
    group: str = "patient_id",
    organ: str = "organ",
    treatment: str = "treatment_group",
    treated: str = "TAR+Chemo",
    covariates: Sequence[str] = (),
    references: dict | None = None,
    model: FrailtyCox | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The treatment effect within each set of organs (organ main effects kept), and the first two sets compared.

    ``organ_sets`` maps a name to its organs; every organ of the table must be in exactly one set (use a set
    "other organs" for the rest). Returns (one row per set: set, organs, lesions, events_treated, events_control,
    hr, lower, upper, p; the comparison of the first two sets: ratio of their hazard ratios, lower, upper, z, p).
    """
    membership = {o: name for name, members in organ_sets.items() for o in members}
    unassigned = sorted(set(table[organ].dropna()) - set(membership), key=str)
    if unassigned:
        raise ValueError(f"organ(s) {unassigned} are in no set of organ_sets")
    names = list(organ_sets)
    if len(names) < 2:
        raise ValueError("organ_sets needs at least two sets")
    sets = table[organ].map(membership)
    is_treated = (table[treatment] == treated).to_numpy(float)
    data = table.assign(**{TREATED_IN.format(n): is_treated * (sets == n).to_numpy(float) for n in names})
    columns = [TREATED_IN.format(n) for n in names]
    others = [c for c in covariates if c not in (organ, treatment)]
    refs = {k: v for k, v in (references or {}).items() if k in (organ, *others)}
    fitter = FrailtyCox(**model.get_params()) if model is not None else FrailtyCox()
    fit = fitter.fit(data, duration, event, group, covariates=[organ, *columns, *others], references=refs)
    ratios = hazard_ratio_columns(fit.summary.loc[columns])
    counts = _arm_counts(table.assign(_set=sets), "_set", treatment, treated, event).reindex(names, fill_value=0)
    rows = pd.DataFrame({"set": names, "organs": [", ".join(sorted(organ_sets[n], key=str)) for n in names]})
    rows = rows.join(counts.reset_index(drop=True))
    rows[["hr", "lower", "upper", "p"]] = ratios.to_numpy()
    first, second = columns[:2]
    difference = fit.params_[first] - fit.params_[second]
    covariance = fit.variance_matrix_
    se = float(
        np.sqrt(covariance.loc[first, first] + covariance.loc[second, second] - 2 * covariance.loc[first, second])
    )
    z = float(difference / se)
    half = stats.norm.ppf(0.975) * se
    comparison = {
        "sets": (names[0], names[1]),
        "ratio": float(np.exp(difference)),
        "lower": float(np.exp(difference - half)),
        "upper": float(np.exp(difference + half)),
        "z": z,
        "p": float(2 * stats.norm.sf(abs(z))),
    }
    return rows, comparison
