"""The built book needs no network: Vega and MathJax are bundled, and Altair is told they are loaded."""

import json

import altair as alt

from lesionmap.publish import offline


def test_vega_debug_stamp_matches_altair_constants():
    stamp = offline.vega_debug_source()
    assert stamp.startswith("window.VEGA_DEBUG = ")
    versions = json.loads(stamp.split("=", 1)[1].rstrip().rstrip(";"))
    assert versions == {
        "vega_version": alt.VEGA_VERSION,
        "vegalite_version": alt.VEGALITE_VERSION,
        "vegaembed_version": alt.VEGAEMBED_VERSION,
    }


def test_vega_bundle_is_wrapped_in_an_iife_that_sets_globals():
    source = offline.vega_bundle_source()
    body = source.split("\n", 1)[1]
    assert body.startswith("(function(){") and body.rstrip().endswith("})();")
    for name in ("window.vegaEmbed", "window.vega", "window.vegaLite"):
        assert name in source
    assert "https://cdn" not in source


def test_static_assets_written(tmp_path):
    written = offline.write_static_assets(tmp_path)
    assert (tmp_path / offline.VEGA_BUNDLE).stat().st_size > 500_000
    assert (tmp_path / offline.MATHJAX_ENTRY).exists()
    assert (tmp_path / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert len(written) >= 3
    bundle = tmp_path / offline.VEGA_BUNDLE
    assert bundle.read_text().splitlines()[0] == offline.vega_bundle_header()
    bundle.write_text(offline.vega_bundle_header() + "\nkept\n")
    offline.write_static_assets(tmp_path)
    assert bundle.read_text().endswith("kept\n"), "a bundle made by the same vl-convert is reused"
    bundle.write_text("/* an older bundle */\nstale\n")
    offline.write_static_assets(tmp_path)
    assert bundle.stat().st_size > 500_000, "a bundle from another vl-convert is made anew"
