"""Benchmark of the growth-model SAEM (``make bench``): speed, memory and accuracy against its peers.

1. The full simulated cohort (19,180 lesions, about 94,000 scans, as in the paper) fitted with
   ``lesionmap.growth.SAEM`` (K1 = 300, K2 = 100, M3, V0 estimated): wall time, peak memory of the
   fitting process and recovery error against the simulation's truth.
2. Disjoint 1,000-lesion subsets of the same cohort fitted, in the same run, with our SAEM (M3, and M1 for
   a like-for-like comparison, also at pynlme's amount of work), with pynlme's SAEM
   (``pynlme.fit(..., method="SAEM")``; it has no M3, so below-LOQ rows are dropped, which is M1) and
   with naive per-lesion least squares (scipy); times and errors are printed as ratios to ours.

3. The covariate fit at the paper's scale: the same number of lesions in 18 organs and two treatment groups,
   with organ and treatment effects on log Kd, logit F and log Kg (V0 fixed at the baseline, the paper's
   model), fitted with and without the covariates in the same run: wall times, their ratio, and the mean
   absolute error of the estimated organ effects.

Errors are mean absolute relative errors against the truth: over the typical values (V0, Kd, F, Kg) and
over the random-effect SDs. Results go to ``_build/bench/saem.json``. Timings are only comparable within
one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import expit, logit

from lesionmap.config import DEFAULT_SEED
from lesionmap.growth import SAEM, simulate_growth_data
from lesionmap.growth.parameters import GrowthParameters

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("V0", "Kd", "F", "Kg")
PAPER_LESIONS = 19_180


def errors(population: dict, omega: dict | None, truth: GrowthParameters) -> dict:
    """Relative errors of the estimates against the truth, per parameter and on average."""
    fixed = {p: population[p] / truth.population[p] - 1.0 for p in NAMES}
    out = {"fixed": fixed, "fixed_mean_abs": float(np.mean(np.abs(list(fixed.values()))))}
    if omega is not None:
        om = {p: omega[p] / truth.omega[p] - 1.0 for p in NAMES}
        out.update(omega=om, omega_mean_abs=float(np.mean(np.abs(list(om.values())))))
    return out


def _fit_full(n_lesions: int, seed: int, queue) -> None:
    """Child process: simulate and fit the full cohort; report time, peak memory and the estimates."""
    sim = simulate_growth_data(n_lesions, seed=seed)
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    fit = SAEM(estimate_v0=True, random_state=seed, verbose=False).fit(sim.measurements)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put(
        {
            "n_lesions": n_lesions,
            "n_obs": int(len(sim.measurements)),
            "n_blq": int(sim.measurements["blq"].sum()),
            "wall_s": wall,
            "peak_rss_mb": peak / 1024,
            "rss_before_fit_mb": baseline_rss / 1024,
            "population": fit.population,
            "omega": fit.omega,
            "b": fit.error["b"],
            "se": fit.population_se,
            "minus2loglik": fit.minus2loglik,
            "n_chains": fit.n_chains,
            "acceptance": fit.acceptance,
        }
    )


def fit_full_cohort(n_lesions: int, seed: int) -> dict:
    """The full-cohort fit in a fresh process, so that its peak memory is its own."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_fit_full, args=(n_lesions, seed, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


#: Our SAEM doing pynlme's (and saemix's) amount of work: one chain, kernels (2, 2, 2), and no standard
#: errors, conditional modes or log-likelihood afterwards.
SAEMIX_WORK = {"n_chains": 1, "n_mcmc": (2, 2, 2), "n_is_samples": 0}


def fit_ours(m: pd.DataFrame, censoring: str, seed: int, **settings) -> tuple[dict, dict, float]:
    start = time.perf_counter()
    fit = SAEM(estimate_v0=True, censoring=censoring, random_state=seed, verbose=False, **settings).fit(m)
    return fit.population, fit.omega, time.perf_counter() - start


def fit_pynlme(m: pd.DataFrame, seed: int) -> tuple[dict, dict, float]:
    """pynlme's SAEM on the quantified rows (it has no censored-data likelihood: M1)."""
    import pynlme

    kept = m[~m["blq"]]

    def model(p, x):
        t = np.maximum(x["day"], 0.0)
        with np.errstate(over="ignore"):
            return p["V0"] * (p["F"] * np.exp(p["Kg"] * t) + (1 - p["F"]) * np.exp(-p["Kd"] * t))

    data = {
        "day": kept["day"].to_numpy(float),
        "y": kept["volume_mm3"].to_numpy(float),
        "lesion": kept["lesion_id"].to_numpy(),
    }
    start_values = {
        "V0": float(kept.groupby("lesion_id")["volume_mm3"].first().median()),
        "Kd": 0.01,
        "F": 0.1,
        "Kg": 0.01,
    }
    start = time.perf_counter()
    res = pynlme.fit(
        model,
        data,
        response="y",
        group="lesion",
        predictors=["day"],
        start=start_values,
        transform={"V0": "log", "Kd": "log", "F": "logit", "Kg": "log"},
        method="SAEM",
        error_model="proportional",
        random_state=seed,
    )
    wall = time.perf_counter() - start
    omega = {p: float(np.sqrt(v)) for p, v in res["psi"]["variances"].items()}
    return dict(res["typical"]), omega, wall


def fit_least_squares(m: pd.DataFrame) -> tuple[dict, dict, float]:
    """Naive per-lesion fits: least squares on log volumes (BLQ rows at the LOQ), then medians and SDs."""
    start = time.perf_counter()
    estimates = []
    for _, g in m.groupby("lesion_id", sort=False):
        t = np.maximum(g["day"].to_numpy(float), 0.0)
        log_y = np.log(g["volume_mm3"].to_numpy(float))
        v0 = float(np.exp(log_y[0]))
        x0 = np.array([np.log(v0), np.log(0.01), logit(0.1), np.log(0.01)])

        def residuals(x, t=t, log_y=log_y):
            f = np.exp(x[0]) * (
                expit(x[2]) * np.exp(np.minimum(np.exp(x[3]) * t, 300.0))
                + (1 - expit(x[2])) * np.exp(-np.exp(x[1]) * t)
            )
            return np.log(np.maximum(f, 1e-300)) - log_y

        fit = least_squares(residuals, x0, bounds=([-5, -12, -15, -12], [20, 3, 15, 3]), method="trf")
        estimates.append(fit.x)
    wall = time.perf_counter() - start
    phi = np.array(estimates)
    population = {
        "V0": float(np.exp(np.median(phi[:, 0]))),
        "Kd": float(np.exp(np.median(phi[:, 1]))),
        "F": float(expit(np.median(phi[:, 2]))),
        "Kg": float(np.exp(np.median(phi[:, 3]))),
    }
    omega = dict(zip(NAMES, map(float, phi.std(axis=0))))
    return population, omega, wall


def covariate_benchmark(n_lesions: int, seed: int, n_organs: int = 18) -> dict:
    """Organ (18 levels) and treatment on Kd, F and Kg at the paper's scale: the covariate fit against the plain one."""
    rng = np.random.default_rng(seed)
    organs = np.array([f"organ{k:02d}" for k in range(n_organs)])
    weights = rng.dirichlet(np.full(n_organs, 2.0))
    organ = rng.choice(organs, n_lesions, p=weights)
    tar = rng.random(n_lesions) < 0.45
    sizes = {"Kd": 0.4, "F": 0.6, "Kg": 0.5}
    organ_effects = {p: dict(zip(organs, np.r_[0.0, sizes[p] * rng.standard_normal(n_organs - 1)])) for p in sizes}
    treatment = {"Kd": 0.1, "F": -0.5, "Kg": -0.3}
    shift = {p: np.array([organ_effects[p][o] for o in organ]) + treatment[p] * tar for p in sizes}
    sim = simulate_growth_data(n_lesions, seed=seed, phi_shift=shift)
    measurements = sim.measurements
    measurements = measurements[~measurements.groupby("lesion_id", sort=False)["blq"].transform("first")]
    table = pd.DataFrame({"organ": organ, "group": np.where(tar, "TAR", "chemo")}, index=sim.individual.index)
    design = {p: ["organ", "group"] for p in sizes}
    start, cpu = time.perf_counter(), time.process_time()
    plain = SAEM(random_state=seed, verbose=False).fit(measurements)
    plain_s, plain_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    fit = SAEM(
        covariates=design, references={"organ": organs[0], "group": "chemo"}, random_state=seed, verbose=False
    ).fit(measurements, covariate_table=table)
    covariate_s, covariate_cpu = time.perf_counter() - start, time.process_time() - cpu
    coefficients = fit.coefficients[fit.coefficients["covariate"] == "organ"]
    truth = np.array([organ_effects[row.parameter][row.level] for row in coefficients.itertuples()])
    return {
        "n_lesions": n_lesions,
        "n_obs": int(fit.n_obs),
        "n_organs": n_organs,
        "n_coefficients": int(len(fit.coefficients)),
        "plain_wall_s": plain_s,
        "covariate_wall_s": covariate_s,
        "time_ratio": covariate_s / plain_s,
        "plain_cpu_s": plain_cpu,
        "covariate_cpu_s": covariate_cpu,
        "cpu_ratio": covariate_cpu / plain_cpu,
        "plain_loglik": plain.loglik,
        "covariate_loglik": fit.loglik,
        "organ_effect_mean_abs_error": float(np.mean(np.abs(coefficients["estimate"].to_numpy() - truth))),
        "organ_effect_mean_se": float(coefficients["se"].mean()),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-lesions", type=int, default=PAPER_LESIONS)
    parser.add_argument("--subset-size", type=int, default=1000)
    parser.add_argument("--subsets", type=int, default=5)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "bench" / "saem.json")
    parser.add_argument("--covariates-only", action="store_true", help="run only the covariate benchmark (3.)")
    args = parser.parse_args(argv)
    truth = GrowthParameters()

    print(
        f"Covariate fit: {args.n_lesions} lesions, 18 organs and treatment on Kd, F, Kg (V0 at baseline) ...",
        flush=True,
    )
    covariate = covariate_benchmark(args.n_lesions, args.seed)
    print(
        f"  {covariate['n_obs']} observations, {covariate['n_coefficients']} coefficients: covariate fit "
        f"{covariate['covariate_wall_s']:.1f} s, plain fit {covariate['plain_wall_s']:.1f} s "
        f"(ratio {covariate['time_ratio']:.2f}; CPU time {covariate['covariate_cpu_s']:.1f} s against "
        f"{covariate['plain_cpu_s']:.1f} s, ratio {covariate['cpu_ratio']:.2f}); organ effects: mean absolute error "
        f"{covariate['organ_effect_mean_abs_error']:.3f} (mean SE {covariate['organ_effect_mean_se']:.3f})"
    )
    if args.covariates_only:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_name("saem_covariates.json").write_text(json.dumps(covariate, indent=2))
        return {"covariates": covariate}

    print(f"Full cohort: {args.n_lesions} lesions, K = (300, 100), M3, V0 estimated ...", flush=True)
    full = fit_full_cohort(args.n_lesions, args.seed)
    full["errors"] = errors(full["population"], full["omega"], truth)
    print(
        f"  {full['n_obs']} observations ({full['n_blq']} below LOQ): {full['wall_s']:.1f} s, "
        f"peak memory {full['peak_rss_mb']:.0f} MB (process, {full['rss_before_fit_mb']:.0f} MB before the fit)"
    )
    for p in NAMES:
        print(
            f"  {p:3s} estimate {full['population'][p]:.5g} (truth {truth.population[p]:.5g}, "
            f"error {100 * full['errors']['fixed'][p]:+.1f}%), omega {full['omega'][p]:.3f} "
            f"(truth {truth.omega[p]:.3f}, error {100 * full['errors']['omega'][p]:+.1f}%)"
        )
    print(f"  b {full['b']:.4f} (truth {truth.b}), -2LL {full['minus2loglik']:.1f}")

    cohort = simulate_growth_data(args.n_lesions, seed=args.seed).measurements
    lesion_ids = cohort["lesion_id"].unique()
    methods = ("saem_m3", "saem_m1", "saem_m1_saemix_work", "pynlme_m1", "least_squares")
    runs = {k: [] for k in methods}
    pynlme_failure = None
    print(
        f"\n{args.subsets} subsets of {args.subset_size} lesions: ours (M3, M1), pynlme SAEM (M1), "
        "per-lesion least squares",
        flush=True,
    )
    for k in range(args.subsets):
        ids = lesion_ids[k * args.subset_size : (k + 1) * args.subset_size]
        m = cohort[cohort["lesion_id"].isin(ids)]
        seed = args.seed + k
        for method, fitter in (
            ("saem_m3", lambda: fit_ours(m, "M3", seed)),
            ("saem_m1", lambda: fit_ours(m, "M1", seed)),
            ("saem_m1_saemix_work", lambda: fit_ours(m, "M1", seed, **SAEMIX_WORK)),
            ("least_squares", lambda: fit_least_squares(m)),
        ):
            population, omega, wall = fitter()
            runs[method].append({"wall_s": wall, **errors(population, omega, truth)})
        if pynlme_failure is None:
            try:
                population, omega, wall = fit_pynlme(m, seed)
                runs["pynlme_m1"].append({"wall_s": wall, **errors(population, omega, truth)})
            except Exception as exc:  # a peer that cannot fit the model is a result, reported as such
                pynlme_failure = f"{type(exc).__name__}: {exc}"
                print(f"  pynlme FAILED on subset {k}: {pynlme_failure}")
                traceback.print_exc()

    summary = {}
    for method in methods:
        if not runs[method]:
            summary[method] = {"status": "failed", "error": pynlme_failure}
            continue
        summary[method] = {
            "status": "ok",
            "n_fits": len(runs[method]),
            "mean_wall_s": float(np.mean([r["wall_s"] for r in runs[method]])),
            "fixed_mean_abs_error": float(np.mean([r["fixed_mean_abs"] for r in runs[method]])),
            "omega_mean_abs_error": float(np.mean([r["omega_mean_abs"] for r in runs[method]])),
        }
    ours = summary["saem_m1"]
    print(
        f"\n  {'method':20s} {'time (s)':>9s} {'fixed err':>10s} {'omega err':>10s} {'time/ours':>10s} "
        f"{'fixed err/ours':>15s}"
    )
    for method in methods:
        s = summary[method]
        if s["status"] != "ok":
            print(f"  {method:20s} FAILED: {s['error']}")
            continue
        reference = summary["saem_m3"] if method == "least_squares" else ours
        s["time_ratio_to_ours"] = s["mean_wall_s"] / reference["mean_wall_s"]
        s["fixed_error_ratio_to_ours"] = s["fixed_mean_abs_error"] / reference["fixed_mean_abs_error"]
        s["omega_error_ratio_to_ours"] = s["omega_mean_abs_error"] / reference["omega_mean_abs_error"]
        print(
            f"  {method:20s} {s['mean_wall_s']:9.2f} {100 * s['fixed_mean_abs_error']:9.1f}% "
            f"{100 * s['omega_mean_abs_error']:9.1f}% {s['time_ratio_to_ours']:10.2f} "
            f"{s['fixed_error_ratio_to_ours']:15.2f}"
        )
    print(
        "  (ratios: M1 rows against our default M1 fit; least squares against our M3. pynlme has no M3: "
        "its fits drop the rows below the LOQ.\n   Our default fit also computes standard errors, conditional "
        "modes and -2LL, with 2 chains and 4 component sweeps;\n   saem_m1_saemix_work does pynlme's work: "
        "1 chain, kernels (2, 2, 2), estimates only.)"
    )
    if summary["pynlme_m1"]["status"] == "ok":
        same = summary["pynlme_m1"]["mean_wall_s"] / summary["saem_m1_saemix_work"]["mean_wall_s"]
        summary["pynlme_time_ratio_at_equal_work"] = same
        print(f"  pynlme / ours at equal work: {same:.2f}x the time")
    if pynlme_failure:
        print(f"  pynlme could not fit this model: {pynlme_failure}")

    report = {
        "benchmark": "growth-model SAEM",
        "machine": platform.platform(),
        "processor": platform.processor(),
        "truth": {"population": truth.population, "omega": truth.omega, "b": truth.b},
        "full_cohort": full,
        "subsets": {"size": args.subset_size, "count": args.subsets, "runs": runs, "summary": summary},
        "pynlme_failure": pynlme_failure,
        "covariates": covariate,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwritten {args.out}")
    return report


if __name__ == "__main__":
    main()
