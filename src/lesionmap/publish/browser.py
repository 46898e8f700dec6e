"""Open the built book in headless Chromium with the network off: did every page load and every chart draw?

Chromium runs as a subprocess (Debian's ``chromium``): ``--dump-dom`` gives the page after its scripts ran,
``--enable-logging=stderr`` gives its console, and a proxy on a closed port plus a resolver that finds no
host keep every request off the network, so a page that needs a CDN fails here as it would offline.

The layout is checked too, at the width of a laptop screen: a copy of the page with a small measuring script
reports every table column that holds text yet is narrower than ``MIN_TEXT_COLUMN_PX``, or whose long cells
wrap to fewer than ``MIN_CHARS_PER_LINE`` characters per line (a column squeezed to a word per line), and every table, figure or paragraph that sticks out to the right of the text
column without a scroll container of its own (the page would scroll sideways).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_CONSOLE = re.compile(r'CONSOLE[^\]]*\]\s+"(?P<message>.*)", source: (?P<source>\S*)')
_ERROR_WORDS = re.compile(r"uncaught|error|failed|refused|ERR_|cannot|undefined is not", re.IGNORECASE)
_CHART_ID = re.compile(r'<div[^>]*\sid="(altair-viz-[^"]+)"')


#: Narrowest readable width of a table column that holds text (CSS pixels).
MIN_TEXT_COLUMN_PX = 60
#: Fewest characters per line of a long text cell that wraps onto three lines or more: fewer is a column
#: squeezed to a word per line, whatever its width in pixels.
MIN_CHARS_PER_LINE = 10
#: The window the layout is measured in (a laptop screen).
WINDOW_SIZE = "1280,2400"
_LAYOUT_ID = "lesionmap-layout"

#: Measures the page once its scripts ran and writes the findings as JSON into a <pre> that --dump-dom returns.
LAYOUT_SCRIPT = """
<script>
window.addEventListener("load", function () { setTimeout(function () {
  var article = document.querySelector(".bd-article") || document.querySelector("main") || document.body;
  var right = article.getBoundingClientRect().right + 2;
  var found = {narrow: [], overflow: []};
  function scrolled(element) {
    for (var node = element.parentElement; node && node !== article.parentElement; node = node.parentElement) {
      var style = getComputedStyle(node);
      if (["auto", "scroll", "hidden"].indexOf(style.overflowX) >= 0 && node.getBoundingClientRect().right <= right) return true;
    }
    return false;
  }
  function describe(element) {
    var caption = element.querySelector && element.querySelector("caption");
    var text = (caption ? caption.textContent : element.textContent || "").trim().replace(/\\s+/g, " ");
    return element.tagName.toLowerCase() + ": " + text.slice(0, 80);
  }
  article.querySelectorAll("table").forEach(function (table) {
    var columns = {};
    Array.prototype.forEach.call(table.rows, function (row) {
      Array.prototype.forEach.call(row.cells, function (cell, index) {
        var text = cell.textContent.trim();
        var column = columns[index] || (columns[index] = {width: Infinity, text: false, perLine: Infinity});
        column.width = Math.min(column.width, cell.getBoundingClientRect().width);
        if (cell.tagName === "TD" && text.length >= 8 && /[A-Za-z]{3}/.test(text)) column.text = true;
        if (cell.tagName === "TD" && text.length >= MIN_CHARS * 3) {
          var range = document.createRange();
          range.selectNodeContents(cell);
          var style = getComputedStyle(cell);
          var lineHeight = parseFloat(style.lineHeight) || 1.5 * parseFloat(style.fontSize);
          var middles = Array.prototype.filter.call(range.getClientRects(), function (box) { return box.width > 0; })
            .map(function (box) { return (box.top + box.bottom) / 2; }).sort(function (a, b) { return a - b; });
          var lines = 0, last = -Infinity;
          middles.forEach(function (middle) { if (middle - last > lineHeight / 2) { lines += 1; last = middle; } });
          lines = Math.max(1, lines);
          if (lines >= 3) column.perLine = Math.min(column.perLine, text.length / lines);
        }
      });
    });
    Object.keys(columns).forEach(function (index) {
      var column = columns[index];
      if (column.text && column.width < MIN_WIDTH) found.narrow.push(describe(table) + " | column " + (Number(index) + 1) + ": " + Math.round(column.width) + " px");
      else if (column.perLine < MIN_CHARS) found.narrow.push(describe(table) + " | column " + (Number(index) + 1) + ": " + Math.round(column.perLine) + " characters per line");
    });
  });
  article.querySelectorAll("table, .vega-embed, img, p, pre").forEach(function (element) {
    if (element.getBoundingClientRect().right > right && !scrolled(element)) found.overflow.push(describe(element) + " | right edge " + Math.round(element.getBoundingClientRect().right) + " px > " + Math.round(right) + " px");
  });
  if (document.documentElement.scrollWidth > window.innerWidth + 2) found.overflow.push("page: scrolls sideways (" + document.documentElement.scrollWidth + " px > " + window.innerWidth + " px)");
  var out = document.createElement("pre"); out.id = "LAYOUT_ID"; out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
}, 1500); });
</script>
"""


@dataclass
class PageReport:
    """What Chromium saw on one page."""

    path: Path
    charts: int = 0
    charts_drawn: int = 0
    console_errors: list[str] = field(default_factory=list)
    remote_resources: list[str] = field(default_factory=list)
    narrow_columns: list[str] = field(default_factory=list)
    overflows: list[str] = field(default_factory=list)
    layout_measured: bool = False
    expected_charts: int | None = None

    @property
    def ok(self) -> bool:
        return (
            self.charts == self.charts_drawn
            and not self.console_errors
            and not self.remote_resources
            and self.layout_measured
            and not self.narrow_columns
            and not self.overflows
            and (self.expected_charts is None or self.charts == self.expected_charts)
        )

    def problems(self) -> list[str]:
        """Each reason this page fails, one line each."""
        lines = [f"console: {m}" for m in self.console_errors] + [f"remote: {m}" for m in self.remote_resources]
        lines += [
            f"squeezed text column (under {MIN_TEXT_COLUMN_PX} px or {MIN_CHARS_PER_LINE} characters a line): {m}"
            for m in self.narrow_columns
        ]
        lines += [f"wider than the text column: {m}" for m in self.overflows]
        if not self.layout_measured:
            lines.append("layout not measured (the measuring script did not run)")
        if self.expected_charts is not None and self.charts != self.expected_charts:
            lines.append(f"{self.charts} charts on the page, {self.expected_charts} in the executed notebook")
        return lines


def chromium_executable() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("headless Chromium not found: install Debian's 'chromium' package")


def _chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        command = [
            chromium_executable(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--allow-file-access-from-files",
            "--virtual-time-budget=20000",
            f"--window-size={WINDOW_SIZE}",
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def remote_resources(html: str) -> list[str]:
    """Scripts and stylesheets that a page would load from http(s):// addresses."""
    scripts = re.findall(r'<script[^>]*\ssrc="(https?://[^"]+)"', html)
    styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="(https?://[^"]+)"', html)
    styles += re.findall(r'<link[^>]*href="(https?://[^"]+)"[^>]*rel="stylesheet"', html)
    return scripts + styles


def _chart_drawn(dom: str, chart_id: str) -> bool:
    """True when the chart's div holds Vega's drawing (an SVG of marks or a canvas) and no error message."""
    start = dom.find(f'id="{chart_id}"')
    if start < 0:
        return False
    end = dom.find("<script", start)
    inner = dom[start : end if end > 0 else len(dom)]
    return ('class="marks"' in inner or "<canvas" in inner) and 'class="error"' not in inner


def layout_problems(dom: str) -> tuple[list[str], list[str]] | None:
    """``(narrow text columns, overflows)`` written by ``LAYOUT_SCRIPT`` into a dumped DOM; None if absent."""
    import html
    import json

    match = re.search(rf'<pre id="{_LAYOUT_ID}">(.*?)</pre>', dom, re.DOTALL)
    if not match:
        return None
    found = json.loads(html.unescape(match.group(1)))
    return found["narrow"], found["overflow"]


def _measured_dom(path: Path, timeout: float) -> subprocess.CompletedProcess:
    """Dump the DOM of a copy of the page (same folder, so relative assets resolve) with the layout script."""
    text = path.read_text(encoding="utf-8")
    script = (
        LAYOUT_SCRIPT.replace("MIN_WIDTH", str(MIN_TEXT_COLUMN_PX))
        .replace("MIN_CHARS", str(MIN_CHARS_PER_LINE))
        .replace("LAYOUT_ID", _LAYOUT_ID)
    )
    text = text.replace("</body>", script + "</body>") if "</body>" in text else text + script
    with tempfile.NamedTemporaryFile(
        "w", suffix=".html", prefix=".layout-", dir=path.parent, delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text)
        copy = Path(handle.name)
    try:
        return _chromium(["--dump-dom", copy.as_uri()], timeout)
    finally:
        copy.unlink(missing_ok=True)


def check_page(path: Path, screenshot: Path | None = None, timeout: float = 90) -> PageReport:
    """Load one built page offline; count its charts and the ones drawn; collect console errors and layout
    problems (text columns narrower than ``MIN_TEXT_COLUMN_PX``, content wider than the text column)."""
    path = Path(path).resolve()
    report = PageReport(path)
    report.remote_resources = remote_resources(path.read_text(encoding="utf-8"))
    result = _measured_dom(path, timeout)
    dom = result.stdout
    layout = layout_problems(dom)
    if layout is not None:
        report.layout_measured = True
        report.narrow_columns, report.overflows = layout
    chart_ids = set(_CHART_ID.findall(path.read_text(encoding="utf-8")))
    report.charts = len(chart_ids)
    report.charts_drawn = sum(1 for chart_id in chart_ids if _chart_drawn(dom, chart_id))
    for match in _CONSOLE.finditer(result.stderr):
        message = match.group("message")
        if _ERROR_WORDS.search(message):
            report.console_errors.append(f"{message} ({match.group('source')})")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        _chromium(["--hide-scrollbars", f"--screenshot={screenshot}", path.as_uri()], timeout)
    return report


def expected_charts(notebook_path: Path) -> int:
    """Charts an executed notebook produced (outputs holding an Altair chart): what its page must draw."""
    import json

    notebook = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    count = 0
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            count += len(set(re.findall(r'id="(altair-viz-[^"]+)"', html)))
    return count


def check_book(html_dir: Path, screenshots: Path | None = None, executed_dir: Path | None = None) -> list[PageReport]:
    """Check every content page of a built book; save a screenshot of each when ``screenshots`` is given.

    With ``executed_dir`` (the build's ``executed/`` folder), a page made from a notebook must show as many
    charts as the executed notebook produced.
    """
    html_dir = Path(html_dir)
    pages = sorted(
        p
        for p in html_dir.rglob("*.html")
        if not p.relative_to(html_dir).parts[0].startswith("_")
        and p.name not in {"genindex.html", "search.html", "index.html"}
    )
    reports = []
    for page in pages:
        shot = None
        if screenshots is not None:
            shot = Path(screenshots) / (
                page.relative_to(html_dir).with_suffix("").as_posix().replace("/", "__") + ".png"
            )
        report = check_page(page, shot)
        notebook = Path(executed_dir) / page.relative_to(html_dir).with_suffix(".ipynb") if executed_dir else None
        if notebook is not None and notebook.exists():
            report.expected_charts = expected_charts(notebook)
        reports.append(report)
    return reports
