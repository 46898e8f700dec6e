"""A user's own SDTM folder, built end to end as the README tells a user to: the real-data path.

The files are written by the simulator to a temporary folder as CSV (not the XPT the book's default path
uses), the simulation's truth is removed (a sponsor's data have none), and the whole book is built from the
folder with the command line. Every chapter must run without the truth and say so.
"""

import json
import shutil

import pytest

from conftest import ROOT
from lesionmap.cli import main
from lesionmap.cohort import load_spec, simulate, write_sdtm
from lesionmap.publish.runner import chapter_notebooks

PATIENTS = 150


@pytest.fixture(scope="module")
def user_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("my-trial-sdtm")
    write_sdtm(simulate(load_spec("mcrc"), n_patients=PATIENTS, seed=11), folder, fmt="csv")
    assert not (folder / "truth").exists()
    build_dir = tmp_path_factory.mktemp("user-build")
    status = main(["build", "--cohort", str(folder), "--seed", "5", "--build-dir", str(build_dir)])
    return folder, build_dir, status


def test_a_users_sdtm_folder_builds_the_whole_book(user_build):
    folder, build_dir, status = user_build
    assert status == 0
    record = json.loads((build_dir / "results" / "build.json").read_text())
    assert record["parameters"]["cohort"] == str(folder.resolve())
    assert set(record["chapter_seconds"]) == set(chapter_notebooks(ROOT))
    data = json.loads((build_dir / "results" / "data.json").read_text())
    assert data["n_patients"] == PATIENTS
    html = build_dir / "book" / "_build" / "html"
    for doc in chapter_notebooks(ROOT):
        assert (html / f"{doc}.html").exists(), doc


def test_user_data_pages_say_there_is_no_truth_to_compare(user_build):
    _, build_dir, _ = user_build
    page = (build_dir / "book" / "_build" / "html" / "book" / "chapters" / "01_data.html").read_text()
    assert "my-trial-sdtm" in page
    assert "simulated mCRC" not in page
    shutil.rmtree(build_dir / "artifacts")


@pytest.fixture(scope="module")
def sponsor_build(tmp_path_factory):
    """Another sponsor's SDTM-only package (DM, TU, TR, RS, SUPPTR; see tests/sdtm_sponsor.py), built whole."""
    import sdtm_sponsor

    root = tmp_path_factory.mktemp("sponsor-sdtm")
    write_sdtm(simulate(load_spec("mcrc"), n_patients=PATIENTS, seed=11), root / "original", fmt="csv")
    expected = sdtm_sponsor.another_sponsor(root / "original", root / "their-trial", n_conflicts=3)
    build_dir = tmp_path_factory.mktemp("sponsor-build")
    status = main(
        [
            "build",
            "--cohort",
            str(root / "their-trial"),
            "--seed",
            "5",
            "--unknown-location",
            "other",
            "--build-dir",
            str(build_dir),
        ]
    )
    return expected, build_dir, status


def test_an_sdtm_only_package_in_another_sponsors_style_builds_the_whole_book(sponsor_build):
    expected, build_dir, status = sponsor_build
    assert status == 0
    record = json.loads((build_dir / "results" / "build.json").read_text())
    assert record["parameters"]["unknown_location"] == "other"
    report = json.loads((build_dir / "results" / "data.json").read_text())["reader_report"]
    assert sorted(report["files"]) == ["dm", "rs", "supptr", "tr", "tu"]
    assert report["derivations"]["os"]["source"].startswith("derived")
    assert report["derivations"]["pfs"]["source"].startswith("derived")
    conflicts = report["notes"]["lesions whose recorded locations disagree (the identification record's location kept)"]
    assert conflicts == len(expected["conflicts"])
    html = build_dir / "book" / "_build" / "html"
    for doc in chapter_notebooks(ROOT):
        assert (html / f"{doc}.html").exists(), doc
    page = (html / "book" / "chapters" / "01_data.html").read_text()
    assert "were derived from the SDTM domains" in page
    assert f"{conflicts:,} lesions had records naming two different locations" in page
    assert "Missing for every patient: bmi, kras, line, prior_surgery" in page
    shutil.rmtree(build_dir / "artifacts")
