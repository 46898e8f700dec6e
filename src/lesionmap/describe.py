"""Descriptive tables: Table 1 (patient characteristics by treatment group)."""

from __future__ import annotations

import pandas as pd


def _mean_sd(values: pd.Series) -> str:
    values = values.dropna()
    return f"{values.mean():.1f} ({values.std():.1f})" if len(values) else "n/a"


def _count_pct(mask: pd.Series) -> str:
    """Count and share of True; 'n/a' where every value is missing (a covariate the trial did not record)."""
    if len(mask) and mask.isna().all():
        return "n/a"
    n = int(mask.fillna(False).sum())
    return f"{n:,} ({100 * n / max(len(mask), 1):.1f}%)"


def table_one(patients: pd.DataFrame, lesions: pd.DataFrame, by: str = "treatment_group") -> pd.DataFrame:
    """Table 1: demographics and disease by treatment group and overall (mean (SD) or n (%))."""
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
    table = pd.DataFrame([values for _, values in rows], columns=[name for name, _ in groups])
    table.insert(0, "Characteristic", [name for name, _ in rows])
    return table
