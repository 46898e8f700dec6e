"""The layout checks of ``lesionmap check`` on small synthetic pages: a squeezed text column and content wider
than the text column are found; a page laid out well passes. Needs headless Chromium (fails on CI without it)."""

import os
import shutil

import pytest

from lesionmap.publish import browser

ARTICLE = """<!DOCTYPE html><html><head><style>
body {{ margin: 0; }} .bd-article {{ width: 600px; }}
</style></head><body><main><article class="bd-article">{body}</article></main></body></html>"""

SQUEEZED = """
<table style="table-layout: fixed; width: 300px"><caption>Encodings compared</caption>
<colgroup><col style="width: 250px"><col style="width: 30px"><col style="width: 20px"></colgroup>
<tr><th>encoding</th><th>what it does</th><th>k</th></tr>
<tr><td>onehot_padded</td><td>pads every sequence to the same length before the one-hot step</td><td>5</td></tr>
</table>"""

WORD_PER_LINE = """
<table><tr><th>encoding</th><th>clusters</th><th>k</th></tr>
<tr><td>onehot_padded</td><td style="width: 80px; max-width: 80px">Mono-Organ (87), Other-First 2 (72), Other-First (50),
Hetero-Organ (36), Mono-Organ 2 (32)</td><td>5</td></tr></table>"""

WIDE = (
    """<p>Some text.</p><table style="width: 1200px"><tr><td>a wide table with a lot of text in it</td></tr></table>"""
)

GOOD = """<p>Some text.</p>
<table><caption>A readable table</caption><tr><th>group</th><th>what it does</th><th>k</th></tr>
<tr><td>Mono-Organ</td><td>one organ progresses, and only that organ</td><td>5</td></tr></table>
<div style="overflow-x: auto; max-width: 600px"><table style="width: 1200px"><tr><td>scrolls in its own box</td></tr></table></div>"""


@pytest.fixture(autouse=True)
def chromium():
    if shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed; CI is set, so the layout test must run")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")


def _page(tmp_path, body):
    path = tmp_path / "page.html"
    path.write_text(ARTICLE.format(body=body), encoding="utf-8")
    return browser.check_page(path)


def test_a_text_column_squeezed_below_the_readable_width_fails(tmp_path):
    report = _page(tmp_path, SQUEEZED)
    assert report.layout_measured
    assert len(report.narrow_columns) == 1 and "column 2" in report.narrow_columns[0], report.narrow_columns
    assert not report.ok


def test_a_text_column_wrapped_to_a_word_per_line_fails_whatever_its_width(tmp_path):
    report = _page(tmp_path, WORD_PER_LINE)
    assert report.layout_measured
    assert len(report.narrow_columns) == 1 and "characters per line" in report.narrow_columns[0], report.narrow_columns
    assert not report.ok


def test_content_wider_than_the_text_column_fails(tmp_path):
    report = _page(tmp_path, WIDE)
    assert report.layout_measured
    assert any("table" in line for line in report.overflows), report.overflows
    assert not report.ok


def test_a_well_laid_out_page_passes(tmp_path):
    report = _page(tmp_path, GOOD)
    assert report.layout_measured and report.narrow_columns == [] and report.overflows == [], report.problems()
    assert report.ok


def test_layout_problems_reads_what_the_script_wrote():
    dom = '<body><pre id="lesionmap-layout">{"narrow": ["table: t | column 2: 30 px"], "overflow": []}</pre></body>'
    assert browser.layout_problems(dom) == (["table: t | column 2: 30 px"], [])
    assert browser.layout_problems("<body></body>") is None
