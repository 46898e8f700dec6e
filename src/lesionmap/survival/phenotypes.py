"""Organ phenotypes from the lesion Cox models (Chapter 3: Fig. 3a-d, Supplementary Figs. 3-6).

- ``organ_hazard_ratios`` / ``covariate_effects``: tidy hazard-ratio tables from a fitted ``FrailtyCox``;
- ``classify_phenotypes``: each organ high or low on response and on progression, by the rule
  *high when its hazard ratio against the reference organ is above 1*;
- ``patient_phenotype_groups``: the patient groups of Supplementary Fig. 5 from the organs of their
  baseline lesions;
- ``oracle_event_table``: the same event table with the target lesions' derived times replaced by the
  simulation's true times (the oracle fit), and ``event_time_agreement`` / ``compare_hazard_ratios`` to
  compare derived with true;
- ``fit_organ_model``: organ + given covariates, for refits (oracle, strata) without a new covariate selection;
- ``km_on_grid``: Kaplan-Meier curves read on a grid of days (``lesionmap.stats.km_on_grid``, imported here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from lesionmap.stats import km_on_grid as km_on_grid  # the book's one Kaplan-Meier thinning, kept importable here
from lesionmap.survival.frailty import FrailtyCox

#: The four phenotypes (response level - progression level) and the words the charts use for them.
PHENOTYPES = {
    "high-high": "high response, high progression",
    "low-high": "low response, high progression",
    "high-low": "high response, low progression",
    "low-low": "low response, low progression",
}
REFERENCE_PHENOTYPE = "reference"

#: Patient RECIST best overall responses grouped as in Supplementary Fig. 3.
BOR_GROUPS = {"CR/PR": ("CR", "PR"), "SD": ("SD",)}


def hazard_ratio_columns(summary: pd.DataFrame) -> pd.DataFrame:
    """hr, lower, upper (95% CI) and p of rows of a ``FrailtyCox.summary``, same index."""
    lower = [c for c in summary.columns if c.startswith("exp(coef) lower")][0]
    upper = [c for c in summary.columns if c.startswith("exp(coef) upper")][0]
    return pd.DataFrame(
        {"hr": summary["exp(coef)"], "lower": summary[lower], "upper": summary[upper], "p": summary["p"]}
    )


def organ_hazard_ratios(
    fit: FrailtyCox, events: pd.DataFrame, term: str = "organ", event_col: str = "event"
) -> pd.DataFrame:
    """One row per level of ``term`` (reference included, HR 1): hr, 95% CI, Wald p, lesions, events.

    ``events`` is the table the model was fitted to (it gives the lesion and event counts per level).
    ``estimable`` is False for a level without events or with an infinite interval: its HR means nothing.
    """
    summary = fit.summary
    rows = summary[summary["term"] == term]
    if rows.empty:
        raise KeyError(f"{term!r} is not a categorical term of this model; terms are {sorted(set(summary['term']))}")
    table = hazard_ratio_columns(rows).assign(**{term: rows["level"].to_numpy()}).reset_index(drop=True)
    reference = fit.references_[term]
    table = pd.concat(
        [pd.DataFrame({term: [reference], "hr": [1.0], "lower": [1.0], "upper": [1.0], "p": [np.nan]}), table],
        ignore_index=True,
    )
    counts = events.groupby(term, observed=True)[event_col].agg(lesions="size", events="sum")
    table = table.join(counts, on=term)
    table["reference"] = table[term] == reference
    table["estimable"] = (table["events"] > 0) & np.isfinite(table[["lower", "upper"]]).all(axis=1)
    return table[[term, "hr", "lower", "upper", "p", "lesions", "events", "reference", "estimable"]]


def covariate_effects(fit: FrailtyCox, exclude: tuple[str, ...] = ("organ",)) -> pd.DataFrame:
    """Hazard ratios of the model's other terms (Supplementary Fig. 4): term, level, label, hr, CI, p."""
    summary = fit.summary
    rows = summary[~summary["term"].isin(exclude)]
    table = hazard_ratio_columns(rows).reset_index(drop=True)
    table.insert(0, "level", rows["level"].to_numpy())
    table.insert(0, "term", rows["term"].to_numpy())
    table.insert(
        2,
        "label",
        [f"{t}: {lv}" if lv is not None else f"{t} (per unit)" for t, lv in zip(table["term"], table["level"])],
    )
    return table


def classify_phenotypes(
    response: pd.DataFrame, progression: pd.DataFrame, reference: str, organ: str = "organ", threshold: float = 1.0
) -> pd.DataFrame:
    """Each organ's phenotype from its response and progression hazard ratios (columns organ, hr).

    Rule: an organ is *high* on an endpoint when its hazard ratio against the reference organ is above
    ``threshold`` (1: events more likely than in the reference organ) and *low* otherwise; the reference
    organ, whose ratio is 1 by construction, is labelled ``"reference"``. Organs present in only one table
    are left out.
    """
    for name, table in (("response", response), ("progression", progression)):
        missing = {organ, "hr"} - set(table.columns)
        if missing:
            raise KeyError(f"the {name} table lacks column(s) {sorted(missing)}")
    merged = (
        response[[organ, "hr"]]
        .rename(columns={"hr": "response_hr"})
        .merge(progression[[organ, "hr"]].rename(columns={"hr": "progression_hr"}), on=organ, how="inner")
    )
    response_level = np.where(merged["response_hr"] > threshold, "high", "low")
    progression_level = np.where(merged["progression_hr"] > threshold, "high", "low")
    merged["phenotype"] = pd.Series(response_level) + "-" + pd.Series(progression_level)
    merged.loc[merged[organ] == reference, "phenotype"] = REFERENCE_PHENOTYPE
    merged["description"] = merged["phenotype"].map(
        {**PHENOTYPES, REFERENCE_PHENOTYPE: f"reference organ ({reference})"}
    )
    return merged


def patient_phenotype_groups(
    lesions: pd.DataFrame, patients: pd.DataFrame, phenotypes: pd.DataFrame, organ: str = "organ"
) -> pd.DataFrame:
    """The groups of Supplementary Fig. 5, from the organs of each patient's baseline lesions.

    Baseline lesions are the target and non-target lesions (new lesions appear later: grouping on them would
    use the future). ``low_high``: "low-high lesions" when any baseline lesion lies in a low-high organ, else
    "no low-high lesions". ``high_low``: "only high-low organs" when every baseline lesion lies in a
    high-low organ, else "other organs". Patients without baseline lesions are left out.
    """
    baseline = lesions[lesions["kind"] != "new"][["patient_id", organ]]
    phenotype = baseline[organ].map(phenotypes.set_index(organ)["phenotype"])
    flags = pd.DataFrame(
        {
            "patient_id": baseline["patient_id"].to_numpy(),
            "low_high": (phenotype == "low-high").to_numpy(),
            "high_low": (phenotype == "high-low").to_numpy(),
        }
    )
    per_patient = flags.groupby("patient_id").agg(any_low_high=("low_high", "any"), all_high_low=("high_low", "all"))
    out = patients.merge(per_patient, left_on="patient_id", right_index=True, how="inner")
    out["low_high"] = np.where(out["any_low_high"], "low-high lesions", "no low-high lesions")
    out["high_low"] = np.where(out["all_high_low"], "only high-low organs", "other organs")
    return out.drop(columns=["any_low_high", "all_high_low"]).reset_index(drop=True)


def oracle_event_table(
    table: pd.DataFrame, true_lesions: pd.DataFrame, patients: pd.DataFrame, endpoint: str
) -> pd.DataFrame:
    """``table`` with each target lesion's day and event taken from the simulation's true event time.

    The true time (``t_response`` or ``t_progression`` of ``true_lesions``, days since the first dose) is
    censored at the patient's last day as the derived times are: an event when it falls on or before the last
    day, else censored there. Non-target and new lesions keep their rows (their events are read, not derived).
    """
    column = {"response": "t_response", "progression": "t_progression"}.get(endpoint)
    if column is None:
        raise ValueError(f"endpoint must be 'response' or 'progression', got {endpoint!r}")
    target = (table["kind"] == "target").to_numpy()
    ids = table.loc[target, "lesion_id"]
    unknown = ids[~ids.isin(true_lesions["lesion_id"])]
    if len(unknown):
        raise KeyError(f"{len(unknown)} target lesion(s) are not in the truth table, e.g. {unknown.iat[0]!r}")
    truth = ids.map(true_lesions.set_index("lesion_id")[column])
    last_day = table.loc[target, "patient_id"].map(patients.set_index("patient_id")["last_day"]).to_numpy(float)
    times = truth.to_numpy(float)
    event = np.isfinite(times) & (times <= last_day)
    oracle = table.copy()
    oracle.loc[target, "day"] = np.where(event, np.maximum(times, 0.0), last_day)
    oracle.loc[target, "event"] = event.astype(oracle["event"].dtype)
    return oracle


def event_time_agreement(derived: pd.DataFrame, oracle: pd.DataFrame) -> dict:
    """How the derived target-lesion events match the true ones (same rows, same order as the oracle table).

    Returns target lesions, the share whose event status (event or censored) agrees, the lesions with an
    event in both, the median absolute difference of their days, and the Spearman correlation of those days.
    """
    if len(derived) != len(oracle) or not (derived["lesion_id"].to_numpy() == oracle["lesion_id"].to_numpy()).all():
        raise ValueError("the derived and oracle tables must hold the same lesions in the same order")
    target = (derived["kind"] == "target").to_numpy()
    d_event, o_event = derived["event"].to_numpy(bool)[target], oracle["event"].to_numpy(bool)[target]
    both = d_event & o_event
    d_day, o_day = derived["day"].to_numpy(float)[target][both], oracle["day"].to_numpy(float)[target][both]
    rho = float(stats.spearmanr(d_day, o_day).statistic) if both.sum() > 2 else float("nan")
    return {
        "target_lesions": int(target.sum()),
        "status_agreement": float(np.mean(d_event == o_event)),
        "derived_events": int(d_event.sum()),
        "true_events": int(o_event.sum()),
        "both_events": int(both.sum()),
        "median_abs_difference_days": float(np.median(np.abs(d_day - o_day))) if both.any() else float("nan"),
        "spearman_days": rho,
    }


def compare_hazard_ratios(estimated: pd.DataFrame, oracle: pd.DataFrame, organ: str = "organ") -> pd.DataFrame:
    """Estimated against oracle hazard ratios per organ (reference row dropped): both with CIs, the ratio,
    and whether the oracle HR lies inside the estimated 95% interval."""
    keep = ["hr", "lower", "upper"]
    left = estimated[~estimated["reference"]].set_index(organ)[keep]
    right = oracle[~oracle["reference"]].set_index(organ)[keep]
    table = left.add_prefix("estimated_").join(right.add_prefix("oracle_"), how="inner").reset_index()
    table["ratio"] = table["estimated_hr"] / table["oracle_hr"]
    table["oracle_in_ci"] = (table["oracle_hr"] >= table["estimated_lower"]) & (
        table["oracle_hr"] <= table["estimated_upper"]
    )
    return table


def fit_organ_model(
    table: pd.DataFrame,
    covariates: list[str],
    references: dict,
    strata: str | None = None,
    model: FrailtyCox | None = None,
) -> FrailtyCox:
    """The frailty Cox model organ + ``covariates`` (patient random effect), e.g. refitted to oracle events."""
    terms = ["organ", *covariates]
    refs = {name: ref for name, ref in references.items() if name in terms}
    fitter = FrailtyCox(**model.get_params()) if model is not None else FrailtyCox()
    return fitter.fit(table, "day", "event", "patient_id", covariates=terms, references=refs, strata=strata)


def bor_groups(patients: pd.DataFrame, groups: dict = BOR_GROUPS) -> pd.Series:
    """Each patient's best-response group (Supplementary Fig. 3), indexed by patient_id; others left out."""
    mapping = {bor: name for name, members in groups.items() for bor in members}
    labels = patients.set_index("patient_id")["recist_bor"].map(mapping)
    return labels.dropna().rename("bor_group")


def organ_phenotype_summary(models: dict, tables: dict, test_organ: bool = True) -> dict:
    """Everything Fig. 3a-d needs from the two endpoint models of one cohort.

    ``models`` maps endpoint -> ``lesionmap.pipeline.organ_model`` result; ``tables`` maps endpoint -> the
    event table it was fitted to. Returns ``hazard_ratios`` and ``covariate_effects`` (endpoint -> table),
    ``organ_lrt`` (endpoint -> likelihood-ratio test of the organ term, one drop-term refit each, when
    ``test_organ``), ``covariates`` (endpoint -> kept covariates), ``reference`` (the reference organ) and
    ``phenotypes`` (``classify_phenotypes`` with the lesion count of each organ).
    """
    endpoints = ("response", "progression")
    missing = [e for e in endpoints if e not in models or e not in tables]
    if missing:
        raise KeyError(f"models and tables need both endpoints; missing {missing}")
    hazard_ratios = {e: organ_hazard_ratios(models[e]["fit"], tables[e]) for e in endpoints}
    reference = models["progression"]["fit"].references_["organ"]
    phenotypes = classify_phenotypes(hazard_ratios["response"], hazard_ratios["progression"], reference)
    lesions = tables["progression"].groupby("organ")["lesion_id"].nunique().rename("lesions")
    phenotypes = phenotypes.join(lesions, on="organ")
    return {
        "hazard_ratios": hazard_ratios,
        "covariate_effects": {e: covariate_effects(models[e]["fit"]) for e in endpoints},
        "organ_lrt": {e: models[e]["fit"].lrt("organ") for e in endpoints} if test_organ else {},
        "covariates": {e: list(models[e]["covariates"]) for e in endpoints},
        "reference": reference,
        "phenotypes": phenotypes,
    }


def kind_composition(table: pd.DataFrame, organ: str = "organ") -> pd.DataFrame:
    """Per organ of one endpoint's event table: lesions, the share of each lesion kind, and the share of
    lesions with an event within each kind (the mix that a model pooling the kinds averages over)."""
    counts = pd.crosstab(table[organ], table["kind"])
    shares = counts.div(counts.sum(axis=1), axis=0).add_prefix("share ")
    rates = table.pivot_table(index=organ, columns="kind", values="event", aggfunc="mean").add_prefix("events among ")
    out = pd.concat([counts.sum(axis=1).rename("lesions"), shares, rates], axis=1).reset_index()
    return out.rename(columns={"index": organ})


def numbers_at_risk(
    frame: pd.DataFrame, duration: str, event: str, group: str, times: list[float] | np.ndarray
) -> pd.DataFrame:
    """The risk table under a Kaplan-Meier plot: per group and time, patients still at risk and events so far.

    Columns: group, day, at risk (duration >= day), events (event observed at or before day). Every group of
    ``group`` is listed, so a group whose median is not reached still shows how many events it had.
    """
    rows = []
    data = frame.dropna(subset=[duration, event, group])
    for level, part in data.groupby(group, sort=True):
        days = part[duration].to_numpy(float)
        observed = part[event].astype(bool).to_numpy()
        for day in times:
            rows.append(
                {
                    "group": level,
                    "day": float(day),
                    "at risk": int((days >= day).sum()),
                    "events": int((observed & (days <= day)).sum()),
                }
            )
    return pd.DataFrame(rows, columns=["group", "day", "at risk", "events"])
