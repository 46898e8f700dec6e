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
from lesionmap.sequence.sequences import DEFAULT_TIES

_TABLES = ("patients", "lesions", "measurements", "lesion_status", "exclusions")


def sdtm_folder(ctx: Context, refresh: bool = False) -> Path | list[Path]:
    """The SDTM files of the run: a user's folder (a list of folders when pooled), or the simulated cohort
    written as SDTM (XPT)."""
    if not ctx.simulated:
        return ctx.folders[0] if len(ctx.folders) == 1 else ctx.folders
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
    """The analysis tables read from SDTM with the run's reader options (Chapter 1 refreshes them; later chapters
    read the cache)."""
    cache = ctx.artifacts / "tables"
    if not refresh and (cache / "report.json").exists():
        tables = {name: pd.read_parquet(cache / f"{name}.parquet") for name in _TABLES}
        report = json.loads((cache / "report.json").read_text())
        return AnalysisData(**tables, report=report)
    data = read_sdtm(sdtm_folder(ctx, refresh=refresh), **ctx.reader_options())
    clear_downstream(ctx)
    cache.mkdir(parents=True, exist_ok=True)
    for name in _TABLES:
        getattr(data, name).to_parquet(cache / f"{name}.parquet", index=False)
    (cache / "report.json").write_text(json.dumps(data.report, indent=2, default=str))
    return data


def _pickled(path: Path, refresh: bool, compute):
    """``compute()``, cached as a version-stamped pickle at ``path`` (see ``lesionmap.cache.pickled``)."""
    from lesionmap.cache import pickled

    return pickled(path, refresh, compute)


#: Cached stages in the order they are computed; each depends on the ones before it.
CACHED_STAGES = ("tables", "growth", "events", "cox", "sequences")


def clear_downstream(ctx: Context, stage: str = "tables") -> None:
    """Remove the cached stages computed from ``stage`` (recomputing a stage makes the later ones stale)."""
    import shutil

    for later in CACHED_STAGES[CACHED_STAGES.index(stage) + 1 :]:
        shutil.rmtree(ctx.artifacts / later, ignore_errors=True)


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


def _options_key(options: dict) -> str:
    """A short hash of every SAEM option (defaults filled in) and the package version: the name of a cached fit."""
    import hashlib
    import inspect

    from lesionmap import __version__
    from lesionmap.growth import SAEM

    defaults = {name: p.default for name, p in inspect.signature(SAEM).parameters.items()}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"unknown SAEM option(s) {unknown}")
    resolved = {**defaults, **options, "__version__": __version__}
    text = json.dumps(resolved, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def growth_fit(ctx: Context, refresh: bool = False, **saem_options):
    """The SAEM fit of the growth model to every target lesion (Chapter 2 refreshes it; cached as a pickle).

    The cache is keyed by every SAEM option (defaults included) and the package version. Called without
    options, it returns the fit last made for this run (the one Chapter 2 chose), or the default fit.
    """
    from lesionmap.growth import SAEM

    options = {"random_state": ctx.seed, "verbose": False, **saem_options}
    folder = ctx.artifacts / "growth"
    pointer = folder / "current.txt"
    use_current = not saem_options and not refresh and pointer.exists()
    key = pointer.read_text().strip() if use_current else _options_key(options)
    if use_current and not (folder / f"saem-{key}.pkl").exists():
        key = _options_key(options)

    def compute():
        fit = SAEM(**options).fit(analysis_data(ctx).measurements)
        clear_downstream(ctx, "growth")
        return fit

    fit = _pickled(folder / f"saem-{key}.pkl", refresh, compute)
    pointer.write_text(key + "\n")
    return fit


#: Covariates of the growth model's covariate fit: organ and treatment group on each of Kd, F and Kg.
GROWTH_COVARIATES = {
    "Kd": ["organ", "treatment_group"],
    "F": ["organ", "treatment_group"],
    "Kg": ["organ", "treatment_group"],
}


def growth_covariate_fit(
    ctx: Context, refresh: bool = False, covariates: dict | None = None, references: dict | None = None, **saem_options
):
    """The SAEM fit with covariates on the typical values (default: organ and treatment group on Kd, F, Kg).

    Each lesion's organ and its patient's treatment group come from the analysis tables; the reference
    levels default to each covariate's most frequent level. Cached as a pickle keyed by every option.
    """
    from lesionmap.growth import SAEM

    covariates = GROWTH_COVARIATES if covariates is None else covariates
    options = {
        "random_state": ctx.seed,
        "verbose": False,
        **saem_options,
        "covariates": covariates,
        "references": references,
    }

    def compute():
        data = analysis_data(ctx)
        table = target_measurements(data).drop_duplicates("lesion_id").set_index("lesion_id")
        return SAEM(**options).fit(data.measurements, covariate_table=table)

    return _pickled(ctx.artifacts / "growth" / f"saem-covariates-{_options_key(options)}.pkl", refresh, compute)


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
    clear_downstream(ctx, "events")
    path.parent.mkdir(parents=True, exist_ok=True)
    events.to_parquet(path, index=False)
    return events


#: Patient covariates the paper tested for the lesion Cox models (likelihood ratio, kept at p < 0.05).
CANDIDATE_COVARIATES = ("treatment_group", "age", "bmi", "sex", "race", "prior_surgery", "line")

#: Reference levels of the categorical terms of the lesion Cox models (the paper's reference organ: abdomen).
COX_REFERENCES = {"organ": "abdomen", "treatment_group": "Chemo alone", "sex": "F", "race": "WHITE"}

ENDPOINTS = ("response", "progression")


def event_table(ctx: Context, endpoint: str) -> pd.DataFrame:
    """One endpoint's lesion events joined with the patient covariates, ready for ``FrailtyCox``.

    Covariates with a single level in the cohort (e.g. one line of therapy), or missing for every patient (a
    trial without SUPPDM), are dropped from the candidates by ``organ_model``; ``prior_surgery`` is coded 0/1 and
    ``line`` stays numeric (NaN where missing). ``trial`` comes along for chapters that stratify by it.
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {endpoint!r}")
    data = analysis_data(ctx)
    events = lesion_events(ctx)
    covariates = data.patients[["patient_id", "trial", *CANDIDATE_COVARIATES]].assign(
        prior_surgery=lambda p: p["prior_surgery"].astype(float), line=lambda p: p["line"].astype(float)
    )
    table = events[events["endpoint"] == endpoint].merge(covariates, on="patient_id", how="left")
    return table.assign(event=table["event"].astype(int)).reset_index(drop=True)


def _references_for(table: pd.DataFrame, terms) -> dict:
    """The reference level of each categorical term present, falling back to its most frequent level."""
    refs = {}
    for term in terms:
        if term in COX_REFERENCES:
            levels = set(table[term].dropna().unique())
            refs[term] = COX_REFERENCES[term] if COX_REFERENCES[term] in levels else table[term].mode().iat[0]
    return refs


def organ_model(
    ctx: Context, endpoint: str, refresh: bool = False, strata: str | None = None, by: str | None = None
) -> dict:
    """The frailty Cox model of one endpoint by organ (reference abdomen) with the covariates the paper's rule keeps
    (``organ_model_of``, on ``event_table``), cached as a pickle in the artifacts folder.

    With ``by``, the model without ``by`` (its covariate selection and final fit, cached on their own) gains the
    fits within each level of ``by`` (``with_fits_by``): a chapter asking for the by-treatment fits after another
    chapter fitted the plain model in the same build does not repeat the selection. ``refresh`` recomputes the
    fits within levels; the plain model is recomputed whenever its events are (``clear_downstream``).
    """
    name = f"{endpoint}" + (f"-strata-{strata}" if strata else "")
    if by is None:
        return _pickled(
            ctx.artifacts / "cox" / f"{name}.pkl",
            refresh,
            lambda: organ_model_of(event_table(ctx, endpoint), endpoint, strata=strata),
        )
    return _pickled(
        ctx.artifacts / "cox" / f"{name}-by-{by}.pkl",
        refresh,
        lambda: with_fits_by(organ_model(ctx, endpoint, strata=strata), event_table(ctx, endpoint), by),
    )


def organ_model_of(table: pd.DataFrame, endpoint: str, strata: str | None = None, by: str | None = None) -> dict:
    """The frailty Cox model by organ (reference abdomen) of one endpoint's ``event_table``.

    Candidate covariates are tested one at a time against ``organ`` by likelihood ratio and kept at p < 0.05
    (``lesionmap.survival.select_covariates``); the final model is organ + the kept covariates. With ``by``
    (e.g. ``"treatment_group"``, Fig. 3e/f) the final model is also fitted separately within each level of that
    column (``with_fits_by``). Returns a dict with ``endpoint``, ``selection`` (the test table), ``covariates``
    (kept), ``fit`` (the final ``FrailtyCox``), ``references``, ``strata`` and, with ``by``, ``fits_by``
    ({level: fit}).
    """
    from lesionmap.survival import select_covariates
    from lesionmap.survival.phenotypes import fit_organ_model

    candidates = [c for c in CANDIDATE_COVARIATES if table[c].dropna().nunique() > 1]
    selection = select_covariates(
        table,
        "day",
        "event",
        "patient_id",
        candidates=candidates,
        base_terms=["organ"],
        references=_references_for(table, ["organ", *candidates]),
        strata=strata,
    )
    terms = selection.kept
    complete = table.dropna(subset=terms)
    references = _references_for(complete, terms)
    model = {
        "endpoint": endpoint,
        "selection": selection.table,
        "covariates": terms[1:],
        "fit": fit_organ_model(complete, terms[1:], references, strata=strata),
        "references": references,
        "strata": strata,
    }
    return model if by is None else with_fits_by(model, table, by)


def with_fits_by(model: dict, table: pd.DataFrame, by: str) -> dict:
    """``model`` (from ``organ_model_of`` on ``table``) with ``fits_by``: its final model fitted separately within
    each level of ``by`` (Fig. 3e/f), on the same complete rows; ``by`` itself is left out of those fits' terms."""
    from lesionmap.survival import fit_by

    terms = ["organ", *model["covariates"]]
    within = [term for term in terms if term != by]
    fits = fit_by(
        table.dropna(subset=terms),
        by,
        "day",
        "event",
        "patient_id",
        covariates=within,
        references={k: v for k, v in model["references"].items() if k in within},
        strata=model.get("strata"),
    )
    return {**model, "fits_by": fits}


def sequence_clustering(
    ctx: Context, refresh: bool = False, n_clusters: int = 5, encoding: str = "onehot_padded", ties: str = DEFAULT_TIES
):
    """Each patient's organ progression sequence and its k-means cluster (Chapter 4 refreshes it).

    Returns ``(sequences, clustering)``: a ``ProgressionSequences`` and a fitted ``SequenceClustering``
    (``clustering.labels_``: every patient -> group name, "No progression" included). k-means starts from the
    run's seed (``ctx.seed``, whose artifacts folder holds the cache), which also orders same-day organs. Cached as a pickle, keyed by the options.
    """
    from lesionmap.sequence import SequenceClustering, progression_sequences

    def compute():
        sequences = progression_sequences(
            lesion_events(ctx), analysis_data(ctx).patients, ties=ties, random_state=ctx.seed
        )
        clustering = SequenceClustering(n_clusters=n_clusters, encoding=encoding, random_state=ctx.seed).fit(sequences)
        return sequences, clustering

    return _pickled(ctx.artifacts / "sequences" / f"k{n_clusters}-{encoding}-{ties}.pkl", refresh, compute)


def true_organ_sequences(ctx: Context) -> pd.DataFrame | None:
    """The simulation's complete true organ progression sequences, one row per patient and progressing organ
    (``truth/organ_sequences.parquet``: patient_id, organ, day, rank, ...; see ``lesionmap.sequence.truth``).

    None for a user's data (no truth) and for a truth folder written without the table.
    """
    folder = truth_folder(ctx)
    path = folder / "organ_sequences.parquet" if folder is not None else None
    return pd.read_parquet(path) if path is not None and path.exists() else None


def oracle_events(ctx: Context, endpoint: str) -> pd.DataFrame | None:
    """``event_table`` with the target lesions' times replaced by the simulation's true times (None for a
    user's data): the data of the oracle fit, which tells the growth model's error apart from the Cox model's."""
    from lesionmap.survival.phenotypes import oracle_event_table

    truth = true_lesion_parameters(ctx)
    if truth is None:
        return None
    return oracle_event_table(event_table(ctx, endpoint), truth, analysis_data(ctx).patients, endpoint)
