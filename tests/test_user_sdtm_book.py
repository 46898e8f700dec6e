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
from lesionmap.runner import chapter_notebooks

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
