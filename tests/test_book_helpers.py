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
    path = book.save_results(
        ctx, "demo", {"a": np.int64(3), "b": np.float64(0.5), "c": float("nan"), "d": {"x": np.array([1, 2])}}
    )
    assert json.loads(path.read_text()) == {
        "cohort": "mcrc",
        "n_patients": 10,
        "seed": 3,
        "a": 3,
        "b": 0.5,
        "c": None,
        "d": {"x": [1, 2]},
    }


def test_results_are_keyed_by_run(tmp_path, monkeypatch):
    monkeypatch.delenv(book.RUN_KEY_ENV, raising=False)
    a = book.Context.from_parameters("mcrc", 300, 7, tmp_path)
    assert a.results_dir == tmp_path / "runs" / a.key / "results" and a.results_dir.is_dir()
    assert book.save_results(a, "x", {"n": 1}).parent == a.results_dir
    monkeypatch.setenv(book.RUN_KEY_ENV, "mcrc-n300-s7-pabc")
    assert a.results_dir == tmp_path / "runs" / "mcrc-n300-s7-pabc" / "results"


def test_run_key_holds_every_parameter():
    plain = book.run_key("mcrc", 300, 7)
    assert plain == "mcrc-n300-s7"
    assert book.run_key("mcrc", 300, 7, {"saem_k1": 50}) != book.run_key("mcrc", 300, 7, {"saem_k1": 60})
    assert book.run_key("mcrc", 300, 7, {"a": 1, "b": 2}) == book.run_key("mcrc", 300, 7, {"b": 2, "a": 1})
    assert book.run_key("mcrc", 300, 7, {"a": 1}).startswith(plain)


def test_book_helpers_do_not_import_the_command_line():
    import subprocess
    import sys

    code = "import sys, lesionmap.book, lesionmap.pipeline; print('lesionmap.cli' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_pickled_cache_is_recomputed_for_another_version(tmp_path, monkeypatch):
    import pickle

    from lesionmap import cache

    calls = []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    path = tmp_path / "stage.pkl"
    assert cache.pickled(path, False, compute) == 1
    assert cache.pickled(path, False, compute) == 1, "same version: read from the cache"
    assert pickle.loads(path.read_bytes())["lesionmap_version"] == cache.package_version()
    monkeypatch.setattr(cache, "package_version", lambda: "0.0.0-other")
    assert cache.pickled(path, False, compute) == 2, "another version: recomputed"
    path.write_bytes(pickle.dumps(41))
    assert cache.pickled(path, False, compute) == 3, "an unstamped pickle is recomputed"


def test_text_columns_get_a_readable_minimum_width_short_codes_none():
    import pandas as pd

    from lesionmap.book import text_column_widths

    frame = pd.DataFrame(
        {"sentence": ["x" * 40] * 3, "pair": ["1,425 vs 1,228"] * 3, "code": ["ok"] * 3, "n": [1, 2, 3]}
    )
    widths = text_column_widths(frame)
    assert set(widths) == {0, 1}
    assert widths[0] > widths[1] >= 6.0
