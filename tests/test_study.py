"""The replicate study's parts: stage selection, the summary statistics, the findings, the output folder,
a replicate's rows against the truth, and a study whose replicates all fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesionmap.study import (
    ROW_COLUMNS,
    StudyDesign,
    StudyError,
    StudyStore,
    finding_shares,
    findings,
    run_replicate,
    stages_to_run,
    summarise,
)


def test_stages_bring_what_they_need_in_pipeline_order():
    assert stages_to_run(["prediction"]) == ("data", "growth", "sequences", "prediction")
    assert stages_to_run(["cox", "data"]) == ("data", "growth", "cox")
    with pytest.raises(ValueError, match="unknown stage.*'survival'"):
        stages_to_run(["survival"])


def _rows(estimates, truth, half_width, quantity="q"):
    estimates = np.asarray(estimates, float)
    return pd.DataFrame(
        {
            "replicate": range(len(estimates)),
            "seed": range(len(estimates)),
            "stage": "growth",
            "quantity": quantity,
            "estimate": estimates,
            "se": half_width / 1.96,
            "lower": estimates - half_width,
            "upper": estimates + half_width,
            "truth": truth,
        }
    )


def test_summary_bias_rmse_and_coverage_by_hand():
    rows = _rows([1.0, 2.0, 4.0, 5.0], truth=2.0, half_width=1.5)
    row = summarise(rows).iloc[0]
    errors = np.array([-1.0, 0.0, 2.0, 3.0])
    assert row["replicates"] == 4
    assert row["bias"] == pytest.approx(errors.mean())
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert row["coverage"] == pytest.approx(0.5)  # intervals of 1 and 2 hold 2; those of 4 and 5 do not
    assert row["bias_mcse"] == pytest.approx(errors.std(ddof=1) / 2)


def test_summary_of_a_simulated_estimator_has_nominal_coverage():
    rng = np.random.default_rng(3)
    estimates = 1.0 + rng.normal(0.0, 0.2, size=4000)
    row = summarise(_rows(estimates, truth=1.0, half_width=1.959964 * 0.2)).iloc[0]
    assert row["coverage"] == pytest.approx(0.95, abs=0.015)
    assert abs(row["bias"]) < 0.02
    assert row["rmse"] == pytest.approx(0.2, rel=0.05)


def test_summary_leaves_out_timing_and_keeps_quantities_without_truth():
    rows = pd.concat(
        [
            _rows([1.0, 3.0], truth=np.nan, half_width=np.nan, quantity="AUC"),
            _rows([5.0, 6.0], truth=np.nan, half_width=np.nan).assign(stage="timing"),
        ]
    )
    table = summarise(rows)
    assert list(table["quantity"]) == ["AUC"]
    assert table.iloc[0]["mean_estimate"] == 2.0 and np.isnan(table.iloc[0]["bias"])
    assert np.isnan(table.iloc[0]["coverage"])


def test_finding_shares_count_only_testable_replicates():
    rows = pd.DataFrame(findings.os_order_findings(pd.Series({"Hetero-Organ": 300.0, "Liver-First": 400.0})) * 2)
    rows = pd.concat([rows, pd.DataFrame([findings._finding("OS Hetero-Organ < Liver-First", False)])])
    shares = finding_shares(rows).set_index("finding")
    assert shares.loc["OS Hetero-Organ < Liver-First", "tested"] == 3
    assert shares.loc["OS Hetero-Organ < Liver-First", "share"] == pytest.approx(2 / 3)
    assert shares.loc["OS shortest: Hetero-Organ", "tested"] == 0  # three groups missing: untestable


def test_os_order_follows_the_paper():
    paper_like = pd.Series(
        {"Hetero-Organ": 385.0, "Liver-First": 450.0, "Other-First": 581.0, "Mono-Organ": 653.0, "Lung-First": 679.0}
    )
    assert all(row["estimate"] == 1.0 for row in findings.os_order_findings(paper_like))
    reversed_order = findings.os_order_findings(pd.Series(paper_like.to_numpy()[::-1], index=paper_like.index))
    assert all(row["estimate"] == 0.0 for row in reversed_order)


def test_phenotype_and_group_findings():
    phenotypes = pd.DataFrame({"organ": ["liver", "bone", "lung"], "phenotype": ["high-high", "high-high", "high-low"]})
    result = {row["quantity"]: row["estimate"] for row in findings.phenotype_findings(phenotypes)}
    assert result["phenotype liver high-high"] == 1.0
    assert result["phenotype bone low-high"] == 0.0
    assert np.isnan(result["phenotype brain/CNS low-high"])
    groups = {row["quantity"]: row["estimate"] for row in findings.group_findings(["Liver-First 2", "Mono-Organ"])}
    assert groups["group Liver-First present"] == 1.0 and groups["group Lung-First present"] == 0.0


def test_store_refuses_another_design(tmp_path):
    StudyStore(tmp_path).open(StudyDesign(n_patients=100, replicates=2))
    StudyStore(tmp_path).open(StudyDesign(n_patients=100, replicates=5))  # more replicates: same study
    with pytest.raises(StudyError, match="differs in n_patients"):
        StudyStore(tmp_path).open(StudyDesign(n_patients=200, replicates=2))


def test_design_checks_its_values():
    with pytest.raises(StudyError, match="unknown study option"):
        StudyDesign(options={"saem_iters": (1, 1)})
    with pytest.raises(StudyError, match="at least one replicate"):
        StudyDesign(replicates=0)
    assert StudyDesign(replicates=3, base_seed=7).seeds == [7, 8, 9]


def test_replicate_rows_recover_the_growth_truth_and_leave_no_folder(tmp_path):
    rows = run_replicate(
        2, 99, "mcrc", 200, stages=("growth",), options={"saem_iterations": (150, 50)}, workdir=str(tmp_path)
    )
    assert list(rows.columns) == list(ROW_COLUMNS)
    assert set(rows["seed"]) == {99} and set(rows["replicate"]) == {2}
    assert list(tmp_path.iterdir()) == []  # the replicate's private folder is gone
    growth = rows[rows["stage"] == "growth"].set_index("quantity")
    for name in ("Kd", "F", "Kg"):
        typical = growth.loc[f"typical {name}"]
        assert typical["lower"] < typical["estimate"] < typical["upper"]
        assert typical["estimate"] == pytest.approx(typical["truth"], rel=0.5)
    assert -1 <= growth.loc["organ r(F,Kg)", "truth"] <= 1
    timing = rows[rows["stage"] == "timing"].set_index("quantity")["estimate"]
    assert timing["growth seconds"] > 0 and timing["peak memory MB"] > 50


def test_a_replicate_that_keeps_failing_is_recorded_and_the_study_finishes(tmp_path):
    from lesionmap.study import run_study

    design = StudyDesign(cohort="no-such-cohort", n_patients=50, replicates=2, stages=("data",))
    messages = []
    result = run_study(design, tmp_path, workers=1, progress=False, log=messages.append)
    assert result.computed == 0 and result.summary.empty
    assert sorted(result.failures["seed"]) == design.seeds
    assert (result.failures["attempts"] == 2).all()
    assert result.failures["error"].str.contains("no-such-cohort").all()
    assert any("2 replicate(s) failed 2 times" in m for m in messages)
    again = run_study(design, tmp_path, workers=1, progress=False, log=lambda *_: None)
    assert len(again.failures) == 2  # tried again, recorded once


def test_cli_study_refuses_an_output_folder_of_another_design(tmp_path, capsys):
    from lesionmap.cli import main

    StudyStore(tmp_path).open(StudyDesign(n_patients=100, replicates=2))
    status = main(["study", "--n-patients", "120", "--replicates", "2", "--out", str(tmp_path), "--no-progress"])
    assert status == 2
    assert "holds a study of another design (differs in n_patients)" in capsys.readouterr().err


def test_cli_study_takes_workers_or_a_scheduler_not_both(capsys):
    from lesionmap.cli import main

    with pytest.raises(SystemExit):
        main(["study", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"])
    assert "not allowed with argument" in capsys.readouterr().err


def _worker_settings():
    import os

    import dask

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get("distributed.worker.profile.enabled")


def _process_id():
    import os

    return os.getpid()


def test_one_embedded_worker_runs_in_this_process_and_more_run_as_processes():
    import os

    from lesionmap.study.runner import embedded_client

    for workers, expect_here in ((1, True), (2, False)):
        client = embedded_client(workers)
        try:
            pids = list(client.run(_process_id).values())
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()
        assert len(pids) == workers
        assert (pids == [os.getpid()]) is expect_here


def _scheduler_durations():
    import dask

    return dask.config.get("distributed.scheduler.default-task-durations")


def test_embedded_workers_keep_glibc_malloc_tuning_and_run_without_the_profiler():
    from lesionmap.study.runner import SCHEDULER_CONFIG, embedded_client

    client = embedded_client(1, processes=True)
    try:
        settings = list(client.run(_worker_settings).values())
        durations = client.run_on_scheduler(_scheduler_durations)
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert settings == [(None, False)]
    # The scheduler expects the study's pieces to be long enough to move to an idle worker.
    expected = SCHEDULER_CONFIG["distributed.scheduler.default-task-durations"]
    assert {name: durations.get(name) for name in expected} == expected
