"""The book machinery: what turns the chapters into the HTML book, apart from the analysis package.

- ``runner``: executes the chapters with papermill (side by side where their stages allow), then renders the
  book with Jupyter Book; the teaching profile; the build record and its time table;
- ``offline``: the Vega, Vega-Lite, Vega-Embed and MathJax bundles copied into the book's static files;
- ``sphinx``: the Sphinx extension the book's ``_config.yml`` loads (offline assets, the ``{paper}`` role);
- ``browser``: the check of the built pages in headless Chromium.

The analysis (``lesionmap.cohort``, ``io``, ``growth``, ``events``, ``survival``, ``sequence``, ``predict``,
``study``, ``ledger``) never imports from here; the chapters call the analysis through ``lesionmap.pipeline``
and ``lesionmap.book``.
"""
