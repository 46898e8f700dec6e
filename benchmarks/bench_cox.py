"""Benchmark: the frailty Cox fit at the paper's scale, against lifelines' CoxPHFitter with ``cluster_col``.

One progression model as the book fits it: about 40,600 lesions of 4,308 patients (simulated with known truth
by ``simulate_frailty_cox``), organ (18 levels, reference abdomen) + treatment group + line + prior surgery +
age, and a Gaussian patient frailty. Printed and written to ``_build/bench/cox.json``:

- wall time (median of ``--repeats``) and peak traced memory of ``FrailtyCox`` (coxme's search, and Brent's);
- the same for lifelines' ``CoxPHFitter(...).fit(..., cluster_col="patient_id")``, the usual Python stand-in
  (no frailty, sandwich errors clustered on patient), and the time ratio lifelines / ours;
- how far each model's log hazard ratios are from the truth (the frailty-free model is attenuated);
- agreement with coxme on the shipped 5,000-row reference set (coxme's own time there was measured on
  another machine: quoted, not compared).

    .venv/bin/python benchmarks/bench_cox.py [--n-patients 4308] [--repeats 3] [--out _build/bench/cox.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter

from lesionmap.config import DEFAULT_SEED
from lesionmap.survival import FrailtyCox, simulate_frailty_cox
from lesionmap.survival.simulate import REFERENCES

ROOT = Path(__file__).resolve().parents[1]
TERMS = ["organ", "treatment_group", "line", "prior_surgery", "age_z"]
PATIENT_COVARIATES = ["treatment_group[TAR+Chemo]", "line", "prior_surgery", "age_z"]
GOLDEN = ROOT / "tests" / "reference" / "coxme"


def fit_frailty(data: pd.DataFrame, search: str) -> FrailtyCox:
    return FrailtyCox(search=search).fit(data, "day", "event", "patient_id", covariates=TERMS, references=REFERENCES)


def fit_lifelines(data: pd.DataFrame) -> tuple[CoxPHFitter, pd.Series]:
    """lifelines on the same design (treatment dummies, same reference levels), clustered on patient."""
    design = pd.get_dummies(
        data[["day", "event", "patient_id"] + TERMS], columns=["organ", "treatment_group"], dtype=float
    )
    design = design.drop(columns=["organ_abdomen", "treatment_group_Chemo alone"])
    model = CoxPHFitter().fit(design, "day", "event", cluster_col="patient_id")
    names = {
        col: (
            f"organ[{col[6:]}]"
            if col.startswith("organ_")
            else "treatment_group[TAR+Chemo]"
            if col.startswith("treatment_group_")
            else col
        )
        for col in model.params_.index
    }
    return model, model.params_.rename(names)


def timed(function, repeats: int):
    """Median wall time over ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def peak_memory(function) -> float:
    """Peak memory (MiB) allocated during one call, as traced by tracemalloc (numpy arrays included)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def errors(params: pd.Series, truth: pd.Series) -> dict:
    diff = params[truth.index] - truth
    patient = diff[[c for c in PATIENT_COVARIATES if c in diff.index]]
    return {
        "max_abs_log_hr_error": float(diff.abs().max()),
        "rmse_log_hr": float(np.sqrt(np.mean(diff**2))),
        "patient_covariates_mean_abs_error": float(patient.abs().mean()),
    }


def golden_agreement() -> dict:
    reference = json.loads((GOLDEN / "coxme_5000.json").read_text())
    data = pd.read_csv(GOLDEN / "cox_5000.csv")
    seconds, _, fit = timed(
        lambda: FrailtyCox().fit(
            data,
            "time",
            "event",
            "patient_id",
            covariates=["organ", "treatment", "line", "age_z"],
            references={"organ": "abdominal"},
        ),
        3,
    )
    coef = pd.Series({(f"organ[{k[5:]}]" if k.startswith("organ") else k): v for k, v in reference["coef"].items()})
    se = pd.Series({(f"organ[{k[5:]}]" if k.startswith("organ") else k): v for k, v in reference["se"].items()})
    return {
        "rows": len(data),
        "seconds": seconds,
        "coxme_seconds_other_machine": reference["elapsed_s"],
        "max_abs_coef_diff": float((fit.params_[coef.index] - coef).abs().max()),
        "max_rel_se_diff": float((fit.standard_errors_[se.index] / se - 1).abs().max()),
        "rel_variance_diff": fit.frailty_variance_ / reference["frailty_variance"] - 1,
        "loglik_integrated_diff": fit.loglik_integrated_ - reference["loglik_integrated"],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=4308)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "bench" / "cox.json")
    args = parser.parse_args(argv)

    data, truth = simulate_frailty_cox(n_patients=args.n_patients, seed=args.seed)
    truth_hr = truth.log_hazard_ratios.drop(["sex[M]", "bmi_z"])
    fit_frailty(data.head(2000), "coxme")  # warm-up: imports and first-call overheads

    ours = {}
    for search in ("coxme", "brent"):
        seconds, all_times, fit = timed(lambda s=search: fit_frailty(data, s), args.repeats)
        ours[search] = {
            "seconds": seconds,
            "all_seconds": all_times,
            "peak_mib": peak_memory(lambda s=search: fit_frailty(data, s)),
            "frailty_variance": fit.frailty_variance_,
            "variances_solved": fit.evaluations_,
            **errors(fit.params_, truth_hr),
        }
    # lifelines takes tens of seconds here: one timed run (and one traced run for memory)
    lifelines_seconds, lifelines_times, (_, lifelines_params) = timed(lambda: fit_lifelines(data), 1)
    lifelines = {
        "seconds": lifelines_seconds,
        "all_seconds": lifelines_times,
        "peak_mib": peak_memory(lambda: fit_lifelines(data)),
        **errors(lifelines_params, truth_hr),
    }
    result = {
        "rows": len(data),
        "patients": int(data["patient_id"].nunique()),
        "events": int(data["event"].sum()),
        "coefficients": len(truth_hr),
        "true_frailty_variance": truth.variance,
        "frailty_cox": ours,
        "lifelines_cluster": lifelines,
        "time_ratio_lifelines_over_frailty_cox": lifelines_seconds / ours["coxme"]["seconds"],
        "golden_coxme_5000": golden_agreement(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    print(
        f"frailty Cox at the paper's scale: {result['rows']} lesions, {result['patients']} patients, "
        f"{result['events']} events, {result['coefficients']} coefficients + frailty variance"
    )
    for search, row in ours.items():
        print(
            f"  FrailtyCox(search={search!r}): {row['seconds']:.3f} s (median of {args.repeats}), "
            f"peak {row['peak_mib']:.0f} MiB, variance {row['frailty_variance']:.4f} (truth {truth.variance}), "
            f"max |log HR error| {row['max_abs_log_hr_error']:.3f}, patient covariates "
            f"{row['patient_covariates_mean_abs_error']:.3f}"
        )
    print(
        f"  lifelines CoxPHFitter(cluster_col): {lifelines['seconds']:.3f} s, peak {lifelines['peak_mib']:.0f} MiB, "
        f"max |log HR error| {lifelines['max_abs_log_hr_error']:.3f}, patient covariates "
        f"{lifelines['patient_covariates_mean_abs_error']:.3f} (no frailty: attenuated)"
    )
    print(f"  time ratio lifelines / FrailtyCox: {result['time_ratio_lifelines_over_frailty_cox']:.1f}x")
    golden = result["golden_coxme_5000"]
    print(
        f"  coxme 5,000-row reference: {golden['seconds']:.3f} s here (coxme "
        f"{golden['coxme_seconds_other_machine']} s elsewhere), max |coef diff| {golden['max_abs_coef_diff']:.1e}, "
        f"variance rel diff {golden['rel_variance_diff']:.1e}, L_int diff {golden['loglik_integrated_diff']:.1e}"
    )
    print(f"  written to {args.out}")
    return result


if __name__ == "__main__":
    main()
