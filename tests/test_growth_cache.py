"""The growth stage's cache: keyed by every SAEM option and the package version; no options = the last fit."""

import lesionmap
from lesionmap import book, pipeline

FAST = {"n_iter": (6, 3), "n_burn_in": 1, "n_is_samples": 0}


def test_each_option_set_has_its_own_cached_fit(tmp_path):
    ctx = book.Context.from_parameters("mcrc", 40, 3, tmp_path)
    first = pipeline.growth_fit(ctx, **FAST)
    again = pipeline.growth_fit(ctx, **FAST)
    assert again.elapsed_s == first.elapsed_s  # read back, not refitted
    other = pipeline.growth_fit(ctx, **{**FAST, "n_mcmc": (1, 1, 1)})
    assert other.settings["n_mcmc"] == [1, 1, 1] and first.settings["n_mcmc"] == [2, 4, 2]
    assert len(list((ctx.artifacts / "growth").glob("saem-*.pkl"))) == 2
    # without options: the fit last made for this run (the one the growth chapter chose)
    assert pipeline.growth_fit(ctx).settings["n_mcmc"] == [1, 1, 1]


def test_the_key_covers_defaults_and_the_version(monkeypatch):
    assert pipeline._options_key({"n_iter": (300, 100)}) == pipeline._options_key({})  # the default, spelt out
    assert pipeline._options_key({"n_iter": (300, 99)}) != pipeline._options_key({})
    before = pipeline._options_key({})
    monkeypatch.setattr(lesionmap, "__version__", "999")
    assert pipeline._options_key({}) != before
