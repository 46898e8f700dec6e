"""Static assets that make the built book work with no network: Vega and MathJax from installed packages.

Altair's HTML renderer loads Vega, Vega-Lite and Vega-Embed from a CDN unless ``window.VEGA_DEBUG`` already
records the versions it asks for. We ship the bundle that ``vl-convert-python`` carries, wrapped in an IIFE
(its top-level names would otherwise collide with Sphinx's ``_``), and stamp ``VEGA_DEBUG`` with Altair's
own version constants, so every chart draws from the local bundle. MathJax 3 comes from the
``django-static-mathjax`` package.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

VEGA_BUNDLE = "vega-offline.js"
VEGA_DEBUG = "vega-debug.js"
MATHJAX_DIR = "mathjax"
MATHJAX_ENTRY = f"{MATHJAX_DIR}/tex-chtml.js"

#: Parts of MathJax's es5 distribution that tex-chtml.js loads (fonts, TeX extensions, menu, a11y).
_MATHJAX_PARTS = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y")


def altair_versions() -> dict[str, str]:
    """The versions Altair's HTML template asks for, keyed as it keys ``VEGA_DEBUG``."""
    import altair as alt

    return {
        "vega_version": alt.VEGA_VERSION,
        "vegalite_version": alt.VEGALITE_VERSION,
        "vegaembed_version": alt.VEGAEMBED_VERSION,
    }


def _vegalite_version() -> str:
    """The Vega-Lite version of the bundle: Altair's (major.minor) where vl-convert has it, else vl-convert's newest."""
    import altair as alt
    import vl_convert

    available = vl_convert.get_vegalite_versions()
    wanted = ".".join(alt.VEGALITE_VERSION.split(".")[:2])
    return wanted if wanted in available else available[-1]


def vega_bundle_header() -> str:
    """The bundle's first line: what it holds and which vl-convert made it (a bundle with this line is current)."""
    import vl_convert

    return (
        f"/* Vega, Vega-Lite {_vegalite_version()}, Vega-Embed: bundled by vl-convert-python "
        f"{getattr(vl_convert, '__version__', 'unknown')} */"
    )


def vega_bundle_source() -> str:
    """Vega + Vega-Lite + Vega-Embed from vl-convert, as a classic script that only sets window globals."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=_vegalite_version())
    if "window.vegaEmbed" not in bundle:
        raise RuntimeError("vl-convert's JavaScript bundle no longer sets window.vegaEmbed; update offline.py")
    return f"{vega_bundle_header()}\n(function(){{\n{bundle}\n}})();\n"


def _is_current_bundle(path: Path) -> bool:
    if not path.exists():
        return False
    with path.open(encoding="utf-8") as handle:
        return handle.readline().rstrip("\n") == vega_bundle_header()


def vega_debug_source() -> str:
    """The stamp that tells Altair's template its libraries are already loaded."""
    return f"window.VEGA_DEBUG = {json.dumps(altair_versions(), sort_keys=True)};\n"


def mathjax_root() -> Path:
    """MathJax 3's es5 folder inside the django-static-mathjax package."""
    import mathjax

    root = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (root / "tex-chtml.js").exists():
        raise FileNotFoundError(f"MathJax not found at {root}: is django-static-mathjax installed?")
    return root


#: The book's stylesheet (listed in ``_config.yml``'s ``html_css_files``).
BOOK_CSS = "lesionmap.css"

#: Figures use the page's width and never overflow it: the article takes the room the theme leaves, and a
#: chart wider than that scales down (Vega's SVG carries a viewBox) instead of hiding behind a scroll bar.
#: Tables wrap their text at word boundaries, every column keeps a readable minimum width (the first, usually
#: the labels, more), and a table wider than the column scrolls inside its own box rather than pushing the page sideways.
#: A parameter block (the cell papermill injected) is set off from the prose.
BOOK_CSS_SOURCE = """\
.bd-main .bd-content .bd-article-container { max-width: 100%; }
.cell_output .vega-embed { max-width: 100%; }
.cell_output .vega-embed svg.marks { max-width: 100%; height: auto; }
.cell_output .output.text_html { max-width: 100%; overflow-x: auto; }
.bd-article table { table-layout: auto; width: auto; max-width: none; border-collapse: collapse; }
.bd-article table caption { caption-side: top; text-align: left; white-space: normal; }
.bd-article table th, .bd-article table td {
  white-space: normal; overflow-wrap: normal; word-break: normal; hyphens: manual;
  min-width: 6rem; max-width: 32rem; vertical-align: top; padding: 0.2rem 0.5rem;
}
.bd-article table td:first-child, .bd-article table th:first-child { min-width: 10rem; }
.bd-article .pst-scrollable-table-container { overflow-x: auto; max-width: 100%; }
.bd-article section > table td, .bd-article .pst-scrollable-table-container > table td { min-width: 10rem; }
.tag_injected-parameters .cell_input { border-left: 3px solid #2471a3; }
"""


def write_static_assets(static_dir: Path) -> list[Path]:
    """Write the Vega bundle (unless ``static_dir`` holds one from the same vl-convert), the VEGA_DEBUG stamp, the
    stylesheet and MathJax into ``static_dir``."""
    static_dir = Path(static_dir)
    static_dir.mkdir(parents=True, exist_ok=True)
    css_path = static_dir / BOOK_CSS
    css_path.write_text(BOOK_CSS_SOURCE, encoding="utf-8")
    written = [css_path]
    bundle_path = static_dir / VEGA_BUNDLE
    if not _is_current_bundle(bundle_path):  # vl-convert bundles for about 2 s; a run's last bundle is reused
        bundle_path.write_text(vega_bundle_source(), encoding="utf-8")
    debug_path = static_dir / VEGA_DEBUG
    debug_path.write_text(vega_debug_source(), encoding="utf-8")
    written += [bundle_path, debug_path]
    source = mathjax_root()
    target = static_dir / MATHJAX_DIR
    for part in _MATHJAX_PARTS:
        src, dst = source / part, target / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
        written.append(dst)
    log.debug("offline assets (Vega %s, MathJax) written to %s", altair_versions()["vega_version"], static_dir)
    return written
