"""Chapter 2's ledger rules: verdicts computed from the results file, judged on the per-lesion medians."""

import json

from lesionmap import ledger

ORGANS = {
    "liver": (0.020, 0.10, 0.0045),
    "lung": (0.016, 0.17, 0.0024),
    "regional LN": (0.018, 0.15, 0.0020),
    "bone": (0.010, 0.58, 0.0048),
    "GR": (0.017, 0.33, 0.0080),
    "kidney": (0.006, 0.40, 0.0050),
}


def results(cohort="mcrc", kidney_kd=0.006, r_f_kg=0.5):
    organs = dict(ORGANS, kidney=(kidney_kd, 0.40, 0.0050))
    values = [
        {"organ": o, "parameter": p, "lesions": 50, "per-lesion median": v[i], "covariate model": v[i], "truth": v[i]}
        for o, v in organs.items()
        for i, p in enumerate(("Kd", "F", "Kg"))
    ]
    correlations = [
        {"source": s, "x": x, "y": y, "r": r, "p": p}
        for s in ("per-lesion median", "truth")
        for x, y, r, p in (("F", "Kd", -0.7, 0.001), ("F", "Kg", r_f_kg, 0.01), ("Kg", "Kd", 0.1, 0.6))
    ]
    return {
        "cohort": cohort,
        "organ_values": values,
        "organ_correlations": correlations,
        "kruskal_wallis": [{"parameter": p, "p": 1e-9} for p in ("Kd", "F", "Kg")],
        "baseline_volume_by_organ": [
            {"source": "per-lesion median", "parameter": p, "r": 0.2, "p": 0.4} for p in ("Kd", "F", "Kg")
        ],
        "treatment_effects": [
            {"parameter": "1-F", "effect_size": 0.4, "p": 1e-5},
            {"parameter": "Kg", "effect_size": 0.2, "p": 0.01},
            {"parameter": "Kd", "effect_size": 0.05, "p": 0.3},
        ],
    }


def findings(tmp_path, **kwargs):
    (tmp_path / "growth.json").write_text(json.dumps(results(**kwargs)))
    return {f.key: f for f in ledger.findings(tmp_path, "growth")}


def test_the_papers_findings_hold_when_the_numbers_say_so(tmp_path):
    items = findings(tmp_path)
    assert all(f.holds for f in items.values()), {k: f.value for k, f in items.items() if not f.holds}
    assert items["kidney_lowest_Kd"].origin == "input"


def test_a_finding_fails_when_its_number_does(tmp_path):
    items = findings(tmp_path, kidney_kd=0.03, r_f_kg=-0.3)
    assert items["kidney_lowest_Kd"].holds is False
    assert items["r_F_Kg"].holds is False
    assert items["kidney_lowest_Kd"].value.startswith("per-lesion medians: bone")


def test_user_data_is_real_data(tmp_path):
    assert findings(tmp_path, cohort="/data/trial")["organs_differ"].origin == "real data"
