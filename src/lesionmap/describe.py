"""Descriptive tables: Table 1 (patient characteristics and survival by treatment group; the same table for the
mHNSCC cohort is Supplementary Table 2)."""

from __future__ import annotations

import math

import pandas as pd

from lesionmap.stats import km_medians

NOT_REACHED = "not reached"


def _mean_sd(values: pd.Series) -> str:
    values = values.dropna()
    return f"{values.mean():.1f} ({values.std():.1f})" if len(values) else "n/a"


def _count_pct(mask: pd.Series) -> str:
    """Count and share of True; 'n/a' where every value is missing (a covariate the trial did not record)."""
    if len(mask) and mask.isna().all():
        return "n/a"
    n = int(mask.fillna(False).sum())
    return f"{n:,} ({100 * n / max(len(mask), 1):.1f}%)"


def format_days(value: float) -> str:
    """A survival time in days; an infinite (or missing) median or bound is "not reached"."""
    return f"{value:,.0f}" if math.isfinite(value) else NOT_REACHED


def format_median(row: pd.Series | dict) -> str:
    """A Kaplan-Meier median with its 95% interval, "not reached" where the curve never falls to a half."""
    if not math.isfinite(row["median"]):
        return f"{NOT_REACHED} (lower bound {format_days(row['ci_lower'])})"
    return f"{format_days(row['median'])} ({format_days(row['ci_lower'])}–{format_days(row['ci_upper'])})"


def _survival_cells(group: pd.DataFrame, duration: str, event: str) -> tuple[str, str]:
    """``(median (95% CI), events n (%))`` of one group, from lifelines' Kaplan-Meier fit."""
    data = group[[duration, event]].dropna()
    if not len(data):
        return "n/a", "n/a"
    row = km_medians(data, duration, event).iloc[0]
    return format_median(row), _count_pct(data[event].astype(bool))


def table_one(patients: pd.DataFrame, lesions: pd.DataFrame, by: str = "treatment_group") -> pd.DataFrame:
    """Table 1: demographics, disease and survival by treatment group and overall.

    Mean (SD) or n (%); progression-free and overall survival as Kaplan-Meier medians in days with their 95%
    interval (lifelines; "not reached" where fewer than half the patients had the event) and the event count.
    """
    per_patient = lesions.groupby("patient_id").agg(
        n_lesions=("lesion_id", "size"),
        n_organs=("organ", "nunique"),
        liver=("organ", lambda o: (o == "liver").any()),
    )
    frame = patients.set_index("patient_id").join(per_patient, how="left")
    groups = [(str(name), part) for name, part in frame.groupby(by, sort=True)] + [("All patients", frame)]
    rows: list[tuple[str, list[str]]] = [("Patients, n", [f"{len(g):,}" for _, g in groups])]
    rows.append(("Age, years, mean (SD)", [_mean_sd(g["age"]) for _, g in groups]))
    rows.append(("Female, n (%)", [_count_pct(g["sex"] == "F") for _, g in groups]))
    for race in frame["race"].value_counts().index[:4]:
        rows.append((f"Race: {race.title()}, n (%)", [_count_pct(g["race"] == race) for _, g in groups]))
    rows.append(("BMI, kg/m², mean (SD)", [_mean_sd(g["bmi"]) for _, g in groups]))
    for status in ("wild-type", "mutant", "unknown"):
        rows.append((f"KRAS {status}, n (%)", [_count_pct(g["kras"] == status) for _, g in groups]))
    rows.append(("Second line of therapy, n (%)", [_count_pct(g["line"] == 2) for _, g in groups]))
    rows.append(("Prior surgery, n (%)", [_count_pct(g["prior_surgery"] == True) for _, g in groups]))  # noqa: E712
    rows.append(("Trials, n", [f"{g['trial'].nunique()}" for _, g in groups]))
    rows.append(("Lesions per patient, mean (SD)", [_mean_sd(g["n_lesions"]) for _, g in groups]))
    rows.append(("Organs involved per patient, mean (SD)", [_mean_sd(g["n_organs"]) for _, g in groups]))
    rows.append(("Liver metastases, n (%)", [_count_pct(g["liver"].fillna(False).astype(bool)) for _, g in groups]))
    for response in ("CR", "PR", "SD", "PD", "NE"):
        rows.append((f"Best response {response}, n (%)", [_count_pct(g["recist_bor"] == response) for _, g in groups]))
    for label, duration, event, events in (
        ("Progression-free survival", "pfs_days", "pfs_event", "progressed or died"),
        ("Overall survival", "os_days", "os_event", "died"),
    ):
        cells = [_survival_cells(g, duration, event) for _, g in groups]
        rows.append((f"{label}, median days (95% CI)", [c[0] for c in cells]))
        rows.append((f"{label}: {events}, n (%)", [c[1] for c in cells]))
    table = pd.DataFrame([values for _, values in rows], columns=[name for name, _ in groups])
    table.insert(0, "Characteristic", [name for name, _ in rows])
    return table


#: Chapter 1's result keys and the cohort spec's ``published`` entries they are compared with.
PUBLISHED_KEYS = {
    "n_target": "target_lesions",
    "n_nontarget": "nontarget_lesions",
    "n_new": "new_lesions",
    "n_lesions": "lesions",
    "n_measurements": "target_measurements",
    "mean_age": "mean_age",
    "n_organs": "organs",
}


def published_numbers(cohort: str) -> dict:
    """The paper's numbers for a simulated cohort, keyed like Chapter 1's results, read from the cohort spec.

    ``n_patients`` comes from the spec's cohort size (the paper's); the lesion total is the sum of the three
    kinds where the paper gives the kinds; ``measurements_per_target`` is measurements over target lesions.
    """
    from lesionmap.cohort import load_spec

    spec = load_spec(cohort)
    published = spec.values.get("published", {})
    numbers = {"n_patients": spec.n_patients}
    numbers |= {key: published[name] for key, name in PUBLISHED_KEYS.items() if name in published}
    kinds = ("n_target", "n_nontarget", "n_new")
    if "n_lesions" not in numbers and all(k in numbers for k in kinds):
        numbers["n_lesions"] = sum(numbers[k] for k in kinds)
    if "n_measurements" in numbers and "n_target" in numbers:
        numbers["measurements_per_target"] = numbers["n_measurements"] / numbers["n_target"]
    return numbers
