"""The growth model, its nadir and event times, and the simulator of lesion series (lesionmap.growth)."""

import numpy as np
import pandas as pd
import pytest

from lesionmap.growth import (
    GrowthParameters,
    diameter_from_volume,
    nadir,
    predict_volume,
    progression_threshold,
    simulate_growth_data,
    time_to_progression,
    time_to_response,
    volume_from_diameter,
)
from lesionmap.tables import DEFAULT_LOQ_MM3, MEASUREMENT_COLUMNS, VOLUME_COEFFICIENT


def random_lesions(n, seed=0):
    """Realistic per-day parameters spanning responders, non-responders and fast regrowers."""
    rng = np.random.default_rng(seed)
    return {
        "V0": np.exp(rng.normal(np.log(2500), 1.0, n)),
        "Kd": np.exp(rng.normal(np.log(0.015), 0.6, n)),
        "F": 1 / (1 + np.exp(-rng.normal(np.log(0.2 / 0.8), 1.0, n))),
        "Kg": np.exp(rng.normal(np.log(0.003), 0.8, n)),
    }


def test_volume_from_diameter_is_the_ellipsoid_of_the_paper():
    diameters = np.array([5.0, 10.0, 23.5])
    assert np.allclose(volume_from_diameter(diameters), VOLUME_COEFFICIENT * diameters**3)
    assert volume_from_diameter(10.0) == pytest.approx(291.4)
    assert np.allclose(diameter_from_volume(volume_from_diameter(diameters)), diameters)


def test_predicted_volume_is_biexponential_and_flat_before_the_first_dose():
    t = np.array([-14.0, 0.0, 56.0, 112.0])
    v = predict_volume(t, 1000.0, 0.02, 0.25, 0.004)
    expected = 1000.0 * (0.25 * np.exp(0.004 * np.maximum(t, 0)) + 0.75 * np.exp(-0.02 * np.maximum(t, 0)))
    assert np.allclose(v, expected)
    assert v[0] == v[1] == 1000.0


def test_nadir_is_the_minimum_of_the_curve():
    p = random_lesions(400, seed=1)
    t_nadir, v_nadir = nadir(p["V0"], p["Kd"], p["F"], p["Kg"])
    grid = np.linspace(0, 3000, 60001)
    curves = predict_volume(grid[:, None], p["V0"], p["Kd"], p["F"], p["Kg"])
    grid_min = curves.min(axis=0)
    assert np.all(v_nadir <= grid_min * (1 + 1e-12))  # the closed form is at or below every grid point
    assert np.allclose(v_nadir, grid_min, rtol=1e-6)
    on_grid = grid[curves.argmin(axis=0)]
    inside = t_nadir < 2990
    assert np.all(np.abs(t_nadir[inside] - on_grid[inside]) <= 0.05 + 1e-9)


def test_nadir_edge_cases():
    t, v = nadir(1000.0, [0.02, 0.02, 0.02, 0.001], [1.0, 0.0, 0.3, 0.9], [0.004, 0.004, 0.0, 0.01])
    assert t[0] == 0 and v[0] == 1000.0  # all cells resistant: grows from day 0
    assert np.isinf(t[1]) and v[1] == 0.0  # no resistant cells: shrinks forever towards 0
    assert np.isinf(t[2]) and v[2] == pytest.approx(300.0)  # no regrowth: tends to V0 F
    assert t[3] == 0 and v[3] == 1000.0  # regrowth outpaces the kill from the start


def test_time_to_response_crosses_80_percent_of_baseline_first():
    p = random_lesions(2000, seed=2)
    t = time_to_response(p["Kd"], p["F"], p["Kg"])
    responds = np.isfinite(t)
    assert 0.2 < responds.mean() < 0.95
    ratio = predict_volume(t[responds], 1.0, p["Kd"][responds], p["F"][responds], p["Kg"][responds])
    assert np.allclose(ratio, 0.8, rtol=1e-9)
    just_before = predict_volume(t[responds] * (1 - 1e-6), 1.0, p["Kd"][responds], p["F"][responds], p["Kg"][responds])
    assert np.all(just_before > 0.8)
    _, v_nadir = nadir(1.0, p["Kd"], p["F"], p["Kg"])
    assert np.array_equal(responds, v_nadir <= 0.8)


def test_time_to_progression_matches_a_brute_force_search():
    p = random_lesions(500, seed=3)
    t = time_to_progression(p["V0"], p["Kd"], p["F"], p["Kg"])
    grid = np.arange(0, 5000.0, 0.25)
    curves = predict_volume(grid[:, None], p["V0"], p["Kd"], p["F"], p["Kg"])
    t_nadir, v_nadir = nadir(p["V0"], p["Kd"], p["F"], p["Kg"])
    threshold = np.minimum(1.3 * v_nadir, v_nadir + 200.0)
    after_nadir = grid[:, None] >= t_nadir
    crossed = after_nadir & (curves >= threshold)
    found = crossed.any(axis=0)
    first = np.where(found, grid[crossed.argmax(axis=0)], np.nan)
    assert np.array_equal(np.isfinite(t) & (t < 5000), found)
    assert np.all(np.abs(t[found] - first[found]) <= 0.25 + 1e-9)
    assert np.allclose(
        predict_volume(t[found], p["V0"][found], p["Kd"][found], p["F"][found], p["Kg"][found]),
        threshold[found],
        rtol=1e-9,
    )


def test_progression_threshold_takes_whichever_comes_first():
    # A small lesion progresses by 30% of its nadir; a large one by 200 mm^3.
    small, large = progression_threshold([100.0, 10000.0], 0.02, 1.0, 0.004)
    assert small == pytest.approx(1.3)
    assert large == pytest.approx(1.0 + 200.0 / 10000.0)


def test_event_times_respect_the_follow_up_horizon():
    p = random_lesions(1000, seed=4)
    t_resp = time_to_response(p["Kd"], p["F"], p["Kg"])
    t_prog = time_to_progression(p["V0"], p["Kd"], p["F"], p["Kg"])
    horizon = np.full(1000, 180.0)
    capped_resp = time_to_response(p["Kd"], p["F"], p["Kg"], horizon=horizon)
    capped_prog = time_to_progression(p["V0"], p["Kd"], p["F"], p["Kg"], horizon=horizon)
    for full, capped in ((t_resp, capped_resp), (t_prog, capped_prog)):
        within = full <= 180.0
        assert np.allclose(capped[within], full[within])
        assert np.all(np.isnan(capped[~within]))
    assert np.isnan(capped_prog).sum() > 0 and np.isfinite(capped_prog).sum() > 0


def test_lesions_that_never_regrow_never_progress():
    assert np.isnan(time_to_progression(1000.0, 0.02, 0.0, 0.004))
    assert np.isnan(time_to_progression(1000.0, 0.02, 0.3, 0.0))
    assert np.isnan(time_to_response(0.02, 1.0, 0.004))


def test_simulated_series_follow_the_design():
    sim = simulate_growth_data(3000, seed=5)
    m = sim.measurements
    assert set(MEASUREMENT_COLUMNS) - {"patient_id"} <= set(m.columns)
    assert list(sim.individual.columns) == ["V0", "Kd", "F", "Kg", "horizon"]
    assert sim.individual.index.is_unique and set(m["lesion_id"]) == set(sim.individual.index)
    per_lesion = m.groupby("lesion_id")
    assert 4.6 < per_lesion.size().mean() < 5.2  # the paper: 94,174 scans of 19,180 lesions, 4.9 each
    first_day = per_lesion["day"].min()
    assert first_day.between(-28, 0).all()
    assert (per_lesion["day"].apply(lambda d: np.all(np.diff(d.to_numpy()) > 0))).all()
    assert np.allclose(m.loc[m["blq"], "volume_mm3"], DEFAULT_LOQ_MM3)
    assert (m.loc[~m["blq"], "volume_mm3"] >= DEFAULT_LOQ_MM3).all()
    assert 0.01 < m["blq"].mean() < 0.2
    # Scans stop at the first observed progression (30% or 200 mm^3 above the smallest volume so far).
    volumes = m["volume_mm3"].to_numpy()
    lesion = m["lesion_id"].to_numpy()
    smallest = m.groupby("lesion_id")["volume_mm3"].cummin().shift(1)
    new_lesion = np.r_[True, lesion[1:] != lesion[:-1]]
    progressed = ~new_lesion & (volumes >= np.minimum(1.3 * smallest, smallest + DEFAULT_LOQ_MM3))
    last = np.r_[lesion[1:] != lesion[:-1], True]
    assert np.all(last[progressed])


def test_simulation_is_reproducible_and_draws_the_truth():
    truth = GrowthParameters()
    a = simulate_growth_data(20000, truth, seed=6)
    b = simulate_growth_data(20000, truth, seed=6)
    pd.testing.assert_frame_equal(a.measurements, b.measurements)
    log_kg = np.log(a.individual["Kg"])
    assert log_kg.mean() == pytest.approx(np.log(truth.population["Kg"]), abs=4 * 0.75 / np.sqrt(20000))
    assert log_kg.std() == pytest.approx(truth.omega["Kg"], rel=0.03)
    other = simulate_growth_data(200, truth, seed=7)
    assert not other.measurements["volume_mm3"].equals(a.measurements["volume_mm3"].iloc[: len(other.measurements)])


def test_simulation_without_baseline_noise_records_v0():
    sim = simulate_growth_data(500, seed=8, baseline_noise=False)
    first = sim.measurements.groupby("lesion_id").first()
    quantified = ~first["blq"]
    assert np.allclose(first.loc[quantified, "volume_mm3"], sim.individual.loc[quantified[quantified].index, "V0"])


def test_exercise_answers_refit_three_ways_beside_the_chapter_fit():
    from lesionmap.growth import SAEM, exercise_answers

    simulation = simulate_growth_data(250, seed=4, baseline_noise=False)
    first_scan_blq = simulation.measurements.groupby("lesion_id")["blq"].first()
    measurable = first_scan_blq.index[~first_scan_blq][:240]  # RECIST target lesions are measurable at baseline
    measurements = simulation.measurements[simulation.measurements["lesion_id"].isin(measurable)]
    lesion_ids = measurements["lesion_id"].unique()
    lesions = pd.DataFrame({"lesion_id": lesion_ids, "patient_id": [f"P{i // 2}" for i in range(len(lesion_ids))]})
    truth = simulation.individual.reset_index().rename(columns={"index": "lesion_id"})
    options = {"n_iter": (60, 30)}
    fit = SAEM(random_state=1, verbose=False, **options).fit(measurements)
    answers = exercise_answers(
        fit, measurements, lesions, truth, seed=1, fit_options=options, short_k1=20, class_patients=40
    )
    assert list(answers["fit"].unique()) == ["this chapter's fit", "K1 = 20", "V0 estimated", "40 patients"]
    assert (answers.groupby("fit", sort=False).size() == 3).all()
    chapter = answers[answers["fit"] == "this chapter's fit"].set_index("parameter")
    assert chapter.loc["Kg", "estimate"] == fit.population["Kg"] and chapter.loc["Kd", "lesions"] == fit.n_lesions
    small = answers[answers["fit"] == "40 patients"].set_index("parameter")
    assert (small["lesions"] == 80).all()
    # a third of the lesions: intervals about sqrt(3) = 1.7 times wider
    assert (small["CI95 width"] > 1.3 * chapter["CI95 width"]).all()
    assert chapter.loc["Kd", "truth (median)"] == pytest.approx(
        truth.set_index("lesion_id").loc[measurable, "Kd"].median()
    )
    # a "subset" as large as the cohort is the chapter's fit, not a refit of the same data
    whole = exercise_answers(
        fit, measurements, lesions, None, seed=1, fit_options=options, short_k1=20, class_patients=500
    )
    same = whole[whole["fit"] == "120 patients"].set_index("parameter")
    assert (same["estimate"] == chapter["estimate"]).all() and (same["lesions"] == fit.n_lesions).all()
