"""A Sphinx extension for the book: it keeps the built book offline and marks the paper's own numbers.

Offline: it drops sphinx-thebe's scripts from every page.

Jupyter Book 1.x always loads sphinx-thebe, which declares a CDN address (unpkg) for live code and, on
these versions, declares it twice per page (a console SyntaxError). The book has no live-code button, so
its scripts are removed before each page is written.
"""

from __future__ import annotations


def _is_thebe(script) -> bool:
    filename = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return "thebe" in filename or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]
    if "css_files" in context:
        context["css_files"] = [s for s in context["css_files"] if "thebe" not in str(getattr(s, "filename", s))]


def paper_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{paper}`653 days``: a value quoted from the article, shown as "653 days (paper)".

    The prose test accepts digits inside this role only: every other number in a chapter is computed and glued.
    """
    from docutils import nodes

    node = nodes.inline(rawtext, f"{text} (paper)", classes=["paper-quote"])
    return [node], []


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.add_role("paper", paper_role)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
