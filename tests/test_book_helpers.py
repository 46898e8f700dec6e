"""Chapter helpers: the run context, number formatting, results files."""

import json

import numpy as np
import pytest

from lesionmap import book


def test_context_keys_runs_by_cohort_size_and_seed(tmp_path):
    a = book.Context.from_parameters("mcrc", 300, 7, tmp_path)
    b = book.Context.from_parameters("mcrc", 300, 8, tmp_path)
    assert a.key != b.key and a.artifacts.is_dir() and a.simulated
    assert a.with_cohort("mhnscc").key.startswith("mhnscc-nspec-s7")


def test_context_rejects_bad_parameters(tmp_path):
    with pytest.raises(ValueError, match="neither a simulated cohort"):
        book.Context.from_parameters("nope", 0, 1, tmp_path)
    with pytest.raises(ValueError, match="n_patients"):
        book.Context.from_parameters("mcrc", -1, 1, tmp_path)


def test_user_folder_context(tmp_path):
    folder = tmp_path / "my-sdtm"
    folder.mkdir()
    ctx = book.Context.from_parameters(str(folder), 0, 1, tmp_path)
    assert not ctx.simulated and ctx.key.startswith("sdtm-my-sdtm-")


def test_format_number_and_p():
    assert book.format_number(4308) == "4,308"
    assert book.format_number(np.int64(19180)) == "19,180"
    assert book.format_number(60.23) == "60.2"
    assert book.format_number(0.01234) == "0.012"
    assert book.format_number(float("nan")) == "n/a"
    assert book.format_p(1e-7) == "< 0.0001" and book.format_p(0.0312) == "0.031"


def test_save_results_writes_plain_json(tmp_path):
    ctx = book.Context.from_parameters("mcrc", 10, 3, tmp_path)
    path = book.save_results(ctx, "demo", {"a": np.int64(3), "b": np.float64(0.5), "c": float("nan"),
                                           "d": {"x": np.array([1, 2])}})
    assert json.loads(path.read_text()) == {"cohort": "mcrc", "n_patients": 10, "seed": 3, "a": 3, "b": 0.5,
                                            "c": None, "d": {"x": [1, 2]}}
