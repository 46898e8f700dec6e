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
