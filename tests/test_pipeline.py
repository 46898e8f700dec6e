"""The cached stages of the pipeline: recomputing a stage makes every later cache stale, and it goes."""

from lesionmap import book, pipeline


def test_recomputing_a_stage_removes_the_caches_computed_from_it(tmp_path):
    ctx = book.Context.from_parameters("mcrc", 50, 1, tmp_path)
    for stage in pipeline.CACHED_STAGES:
        (ctx.artifacts / stage).mkdir()
        (ctx.artifacts / stage / "cached").write_text("x")
    pipeline.clear_downstream(ctx, "events")
    assert [s for s in pipeline.CACHED_STAGES if (ctx.artifacts / s).exists()] == ["tables", "growth", "events"]
    pipeline.clear_downstream(ctx)
    assert [s for s in pipeline.CACHED_STAGES if (ctx.artifacts / s).exists()] == ["tables"]


def test_rereading_the_tables_invalidates_the_growth_fit(tmp_path):
    ctx = book.Context.from_parameters("mcrc", 40, 2, tmp_path)
    pipeline.analysis_data(ctx, refresh=True)
    stale = ctx.artifacts / "growth" / "saem.pkl"
    stale.parent.mkdir()
    stale.write_bytes(b"a fit of other tables")
    pipeline.analysis_data(ctx)  # from the cache: nothing changes
    assert stale.exists()
    pipeline.analysis_data(ctx, refresh=True)
    assert not stale.exists()


def test_reading_cached_stages_does_not_import_pandera():
    """Chapters after the first read cached tables and never validate: they must not pay pandera's import."""
    import subprocess
    import sys

    code = "import sys; from lesionmap import book, pipeline, charts, sequence; print('pandera' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "False"
    from lesionmap import io

    assert set(io.SCHEMAS) == {"patients", "lesions", "measurements", "lesion_status", "exclusions"}


def test_the_by_treatment_model_reuses_the_plain_models_selection(tmp_path, monkeypatch):
    """Chapter 3 asks for the by-treatment fits after Chapter 2 cached the plain model: the covariate selection and
    the final fit are not repeated, and the result is what one uncached ``organ_model_of(..., by=...)`` gives."""
    import numpy as np

    ctx = book.Context.from_parameters("mcrc", 150, 3, tmp_path)
    pipeline.growth_fit(ctx, refresh=True, n_iter=(60, 30))
    plain = pipeline.organ_model(ctx, "progression")
    direct = pipeline.organ_model_of(pipeline.event_table(ctx, "progression"), "progression", by="treatment_group")

    def no_selection(*args, **kwargs):
        raise AssertionError("the covariate selection ran again")

    monkeypatch.setattr(pipeline, "organ_model_of", no_selection)
    by = pipeline.organ_model(ctx, "progression", refresh=True, by="treatment_group")
    assert by["covariates"] == plain["covariates"] == direct["covariates"]
    np.testing.assert_allclose(by["fit"].params_, plain["fit"].params_)
    assert set(by["fits_by"]) == set(direct["fits_by"]) and len(by["fits_by"]) == 2
    for level, fit in by["fits_by"].items():
        np.testing.assert_allclose(fit.params_, direct["fits_by"][level].params_, rtol=1e-8)
