"""Pooling: two simulated trials written to two folders (as `lesionmap simulate` writes them, with the same study
ids) give one pooled Chapter 1 with CONSORT counts and Table 1 per trial, and ids unique per folder."""

import json

import pytest

from lesionmap.cli import main


@pytest.fixture(scope="module")
def pooled_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("two-trials")
    for name, seed in (("first", 1), ("second", 2)):
        assert (
            main(["simulate", "mcrc", str(root / name), "--n-patients", "60", "--seed", str(seed), "--format", "csv"])
            == 0
        )
    build_dir = tmp_path_factory.mktemp("pooled-build")
    status = main(
        [
            "build",
            "--cohort",
            str(root / "first"),
            str(root / "second"),
            "--chapters",
            "01",
            "--no-html",
            "--build-dir",
            str(build_dir),
        ]
    )
    return root, build_dir, status


def test_two_trial_folders_build_one_pooled_chapter_with_per_trial_consort(pooled_build):
    root, build_dir, status = pooled_build
    assert status == 0
    record = json.loads((build_dir / "results" / "build.json").read_text())
    assert record["parameters"]["cohort"] == [str(root / "first"), str(root / "second")]
    data = json.loads((build_dir / "results" / "data.json").read_text())
    report = data["reader_report"]
    assert report["pooled"] and report["trials_prefixed"]
    assert data["n_patients"] == 120
    per_trial = report["consort_by_trial"]
    assert {row["trial"].split(":")[0] for row in per_trial} == {"first", "second"}
    assert sum(row["analysed"] for row in per_trial) == data["n_patients"]
    assert sum(row["screened"] for row in per_trial) == data["n_screened"]
    notebook = (build_dir / "executed" / "book" / "chapters" / "01_data.ipynb").read_text()
    assert "Table 1 per trial" in notebook and "CONSORT counts per trial" in notebook
    assert "first:" in notebook and "second:" in notebook
