"""The ledgers of Chapters 1 and 3 on small results files: verdicts follow the numbers, origins follow the spec."""

import json

import numpy as np
import pandas as pd
import pytest

from lesionmap import describe, ledger


def _write(tmp_path, name, results):
    (tmp_path / f"{name}.json").write_text(json.dumps(results))


def _data_results(scale=1.0, cohort="mcrc", requested=300):
    published = describe.published_numbers("mcrc")
    n = 300
    per_patient = {k: published[k] / published["n_patients"] for k in ("n_target", "n_nontarget", "n_new", "n_lesions")}
    results = {k: round(v * n * scale) for k, v in per_patient.items()}
    return {
        "cohort": cohort,
        "n_patients": n,
        "requested_patients": requested,
        "published": published,
        "mean_age": published["mean_age"],
        "measurements_per_target": published["measurements_per_target"],
        **results,
    }


def test_data_ledger_checks_counts_per_patient_within_two_percent(tmp_path):
    _write(tmp_path, "data", _data_results())
    items = {f.key: f for f in ledger.findings(tmp_path, "data")}
    assert {"n_target", "n_nontarget", "n_new", "n_lesions", "mean_age", "measurements_per_target"} <= set(items)
    assert all(f.holds for f in items.values()) and all(f.origin == "input" for f in items.values())
    assert "n_patients" not in items  # the size was a parameter of the build
    _write(tmp_path, "data", _data_results(scale=1.05, requested=0))  # the spec's size: 2% holds strictly
    assert ledger.findings(tmp_path, "data")[1].holds is False
    _write(tmp_path, "data", _data_results(scale=1.05))  # a cohort of 300: the Poisson noise of the counts is allowed
    assert ledger.findings(tmp_path, "data")[0].holds is True
    _write(tmp_path, "data", _data_results(scale=1.3))
    assert ledger.findings(tmp_path, "data")[0].holds is False


def test_data_ledger_on_a_users_data_is_real_data(tmp_path):
    _write(tmp_path, "data", _data_results(cohort="/data/trial"))
    assert {f.origin for f in ledger.findings(tmp_path, "data")} == {"real data"}


def test_published_numbers_come_from_the_spec():
    mcrc, mhnscc = describe.published_numbers("mcrc"), describe.published_numbers("mhnscc")
    assert mcrc["n_lesions"] == mcrc["n_target"] + mcrc["n_nontarget"] + mcrc["n_new"]
    assert mhnscc["n_patients"] > 0 and mhnscc["n_organs"] > 0 and "n_target" not in mhnscc


ORGANS = ["abdomen", "liver", "lung", "bone"]


def _phenotype_results(liver_progression_hr, spec_liver_kg):
    hazard = {
        "response": [
            {"organ": o, "hr": hr, "estimable": True} for o, hr in zip(ORGANS, [1.0, 1.5, 1.3, 0.6], strict=True)
        ],
        "progression": [
            {"organ": o, "hr": hr, "estimable": True}
            for o, hr in zip(ORGANS, [1.0, liver_progression_hr, 0.7, 1.4], strict=True)
        ],
    }
    phenotypes = [
        {
            "organ": o,
            "response_hr": r["hr"],
            "progression_hr": p["hr"],
            "phenotype": "reference"
            if o == "abdomen"
            else ("high" if r["hr"] > 1 else "low") + "-" + ("high" if p["hr"] > 1 else "low"),
            "lesions": 10,
        }
        for o, r, p in zip(ORGANS, hazard["response"], hazard["progression"], strict=True)
    ]
    spec = {
        "Kd": {"abdomen": 0.01, "liver": 0.02, "lung": 0.015, "bone": 0.008},
        "F": {"abdomen": 0.3, "liver": 0.1, "lung": 0.2, "bone": 0.5},
        "Kg": {"abdomen": 0.003, "liver": spec_liver_kg, "lung": 0.002, "bone": 0.004},
        "death_log_hazard": {"abdomen": 1.0, "liver": 2.0, "lung": 0.8, "bone": 3.0},
    }
    return {
        "cohort": "mcrc",
        "mcrc": {"reference": "abdomen", "hazard_ratios": hazard, "phenotypes": phenotypes},
        "spec_organs": {"mcrc": spec},
        "overall_survival": {
            "low_high": {
                "medians": [
                    {"group": "low-high lesions", "median": 400.0},
                    {"group": "no low-high lesions", "median": 600.0},
                ]
            }
        },
        "paper_overall_survival": {"low_high": {"low-high lesions": 378, "no low-high lesions": 561}},
    }


def test_phenotype_ledger_verdicts_follow_the_hazard_ratios(tmp_path):
    _write(tmp_path, "phenotypes", _phenotype_results(1.3, 0.005))
    items = {f.key: f for f in ledger.findings(tmp_path, "phenotypes")}
    assert items["progression_liver"].holds is True and items["phenotype_liver"].holds is True
    assert items["phenotype_bone"].holds is True and items["phenotype_lung"].holds is True
    assert items["os_low_high"].holds is True
    _write(tmp_path, "phenotypes", _phenotype_results(0.8, 0.005))
    items = {f.key: f for f in ledger.findings(tmp_path, "phenotypes")}
    assert items["progression_liver"].holds is False and items["phenotype_liver"].holds is False


def test_phenotype_ledger_origin_is_computed_from_the_spec(tmp_path):
    _write(tmp_path, "phenotypes", _phenotype_results(1.3, 0.005))
    items = {f.key: f for f in ledger.findings(tmp_path, "phenotypes")}
    assert items["progression_liver"].origin == "input" and "Kg" in items["progression_liver"].how
    assert items["phenotype_liver"].origin == "input"
    assert items["os_low_high"].origin == "input"  # bone (low-high) carries the largest death weight
    _write(tmp_path, "phenotypes", _phenotype_results(1.3, 0.001))  # the spec's liver now regrows slower
    items = {f.key: f for f in ledger.findings(tmp_path, "phenotypes")}
    assert items["progression_liver"].origin == "emergent" and items["phenotype_liver"].origin == "emergent"


def test_table_one_reports_survival_medians_and_not_reached():
    rng = np.random.default_rng(1)
    n = 200
    patients = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "treatment_group": np.repeat(["TAR+Chemo", "Chemo alone"], n // 2),
            "age": rng.normal(60, 10, n),
            "sex": "F",
            "race": "WHITE",
            "bmi": 25.0,
            "kras": "unknown",
            "line": 1,
            "prior_surgery": False,
            "trial": "T",
            "recist_bor": "SD",
            "os_days": rng.exponential(500, n),
            "os_event": np.r_[np.ones(n // 2, bool), np.zeros(n // 2, bool)],
            "pfs_days": rng.exponential(200, n),
            "pfs_event": True,
        }
    )
    lesions = pd.DataFrame(
        {"lesion_id": patients["patient_id"] + "/1", "patient_id": patients["patient_id"], "organ": "liver"}
    )
    table = describe.table_one(patients, lesions).set_index("Characteristic")
    os_row = table.loc["Overall survival, median days (95% CI)"]
    assert os_row["Chemo alone"].startswith(describe.NOT_REACHED)  # no death in that group
    assert not os_row["TAR+Chemo"].startswith(describe.NOT_REACHED)
    median = float(os_row["TAR+Chemo"].split(" ")[0].replace(",", ""))
    from lifelines import KaplanMeierFitter

    first = patients.iloc[: n // 2]
    assert median == pytest.approx(
        KaplanMeierFitter().fit(first["os_days"], first["os_event"]).median_survival_time_, abs=0.5
    )
    assert table.loc["Overall survival: died, n (%)", "Chemo alone"].startswith("0 ")
