"""Open the built book in headless Chromium with the network off: did every page load and every chart draw?

Chromium runs as a subprocess (Debian's ``chromium``): ``--dump-dom`` gives the page after its scripts ran,
``--enable-logging=stderr`` gives its console, and a proxy on a closed port plus a resolver that finds no
host keep every request off the network, so a page that needs a CDN fails here as it would offline.
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


@dataclass
class PageReport:
    """What Chromium saw on one page."""

    path: Path
    charts: int = 0
    charts_drawn: int = 0
    console_errors: list[str] = field(default_factory=list)
    remote_resources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.charts == self.charts_drawn and not self.console_errors and not self.remote_resources


def chromium_executable() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("headless Chromium not found: install Debian's 'chromium' package")


def _chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        command = [
            chromium_executable(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0",
            "--allow-file-access-from-files", "--virtual-time-budget=20000", *args,
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
    inner = dom[start:end if end > 0 else len(dom)]
    return ('class="marks"' in inner or "<canvas" in inner) and 'class="error"' not in inner


def check_page(path: Path, screenshot: Path | None = None, timeout: float = 90) -> PageReport:
    """Load one built page offline; count its charts and the ones drawn; collect console errors."""
    path = Path(path).resolve()
    report = PageReport(path)
    report.remote_resources = remote_resources(path.read_text(encoding="utf-8"))
    result = _chromium(["--dump-dom", path.as_uri()], timeout)
    dom = result.stdout
    chart_ids = set(_CHART_ID.findall(path.read_text(encoding="utf-8")))
    report.charts = len(chart_ids)
    report.charts_drawn = sum(1 for chart_id in chart_ids if _chart_drawn(dom, chart_id))
    for match in _CONSOLE.finditer(result.stderr):
        message = match.group("message")
        if _ERROR_WORDS.search(message):
            report.console_errors.append(f"{message} ({match.group('source')})")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        _chromium(["--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={screenshot}", path.as_uri()], timeout)
    return report


def check_book(html_dir: Path, screenshots: Path | None = None) -> list[PageReport]:
    """Check every content page of a built book; save a screenshot of each when ``screenshots`` is given."""
    html_dir = Path(html_dir)
    pages = sorted(p for p in html_dir.rglob("*.html") if not p.relative_to(html_dir).parts[0].startswith("_")
                   and p.name not in {"genindex.html", "search.html", "index.html"})
    reports = []
    for page in pages:
        shot = None
        if screenshots is not None:
            shot = Path(screenshots) / (page.relative_to(html_dir).with_suffix("").as_posix().replace("/", "__") + ".png")
        reports.append(check_page(page, shot))
    return reports
