"""The stages of the analysis, each cached in the run's artifacts folder (Parquet and JSON).

A chapter calls the stage it needs; a stage computes what is missing from the stages before it, so any
chapter can be re-executed alone. The chapter that owns a stage calls it with ``refresh=True`` so that a
build always recomputes it once. Simulated cohorts are written as SDTM first and read back: the pipeline
always starts from SDTM files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lesionmap.book import Context
from lesionmap.io import AnalysisData, read_sdtm

_TABLES = ("patients", "lesions", "measurements", "lesion_status", "exclusions")


def sdtm_folder(ctx: Context, refresh: bool = False) -> Path:
    """The SDTM files of the run: a user's folder, or the simulated cohort written as SDTM (XPT)."""
    if not ctx.simulated:
        return Path(ctx.cohort)
    from lesionmap.cohort import load_spec, simulate, write_sdtm

    folder = ctx.artifacts / "sdtm"
    done = folder / ".complete"
    if refresh or not done.exists():
        cohort = simulate(load_spec(ctx.cohort), n_patients=ctx.n_patients or None, seed=ctx.seed)
        write_sdtm(cohort, folder, fmt="xpt")
        cohort.save_truth(ctx.artifacts / "truth")
        done.write_text("written by lesionmap.pipeline.sdtm_folder\n")
    return folder


def analysis_data(ctx: Context, refresh: bool = False) -> AnalysisData:
    """The analysis tables read from SDTM (Chapter 1 refreshes them; later chapters read the cache)."""
    cache = ctx.artifacts / "tables"
    if not refresh and (cache / "report.json").exists():
        tables = {name: pd.read_parquet(cache / f"{name}.parquet") for name in _TABLES}
        report = json.loads((cache / "report.json").read_text())
        return AnalysisData(**tables, report=report)
    data = read_sdtm(sdtm_folder(ctx, refresh=refresh))
    cache.mkdir(parents=True, exist_ok=True)
    for name in _TABLES:
        getattr(data, name).to_parquet(cache / f"{name}.parquet", index=False)
    (cache / "report.json").write_text(json.dumps(data.report, indent=2, default=str))
    return data


def truth_folder(ctx: Context) -> Path | None:
    """Where the simulation's truth lies (None for a user's SDTM data, whose truth is unknown)."""
    if not ctx.simulated:
        return None
    sdtm_folder(ctx)
    return ctx.artifacts / "truth"


def target_measurements(data: AnalysisData) -> pd.DataFrame:
    """Target-lesion measurements with the lesion's organ and the patient's treatment group."""
    lesions = data.lesions[["lesion_id", "organ"]]
    groups = data.patients[["patient_id", "treatment_group"]]
    return data.measurements.merge(lesions, on="lesion_id", how="left").merge(groups, on="patient_id", how="left")


def growth_fit(ctx: Context, refresh: bool = False, **saem_options):
    """The SAEM fit of the growth model to every target lesion (Chapter 2 refreshes it; cached as a pickle)."""
    import pickle

    from lesionmap.growth import SAEM

    path = ctx.artifacts / "growth" / "saem.pkl"
    if not refresh and path.exists():
        return pickle.loads(path.read_bytes())
    data = analysis_data(ctx)
    options = {"random_state": ctx.seed, "verbose": False, **saem_options}
    fit = SAEM(**options).fit(data.measurements)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(fit))
    return fit


def lesion_parameters(ctx: Context, fit=None) -> pd.DataFrame:
    """Each target lesion's estimated parameters (conditional modes) with its organ, patient and treatment."""
    fit = fit if fit is not None else growth_fit(ctx)
    data = analysis_data(ctx)
    individual = fit.individual.reset_index().rename(columns={"index": "lesion_id"})
    lesions = data.lesions[["lesion_id", "patient_id", "organ"]]
    groups = data.patients[["patient_id", "treatment_group"]]
    return individual.merge(lesions, on="lesion_id", how="left").merge(groups, on="patient_id", how="left")


def true_lesion_parameters(ctx: Context) -> pd.DataFrame | None:
    """The simulation's true parameters of every lesion (None for a user's data)."""
    folder = truth_folder(ctx)
    if folder is None:
        return None
    return pd.read_parquet(folder / "lesions.parquet")


def lesion_events(ctx: Context, refresh: bool = False) -> pd.DataFrame:
    """The ``lesion_events`` table (target events from the growth fit's individual predictions)."""
    from lesionmap.events import lesion_events as derive_events

    path = ctx.artifacts / "events" / "lesion_events.parquet"
    if not refresh and path.exists():
        return pd.read_parquet(path)
    data = analysis_data(ctx)
    fit = growth_fit(ctx)
    events = derive_events(fit.individual, data.lesions, data.lesion_status, data.patients)
    path.parent.mkdir(parents=True, exist_ok=True)
    events.to_parquet(path, index=False)
    return events
