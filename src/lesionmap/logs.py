"""Logging and progress bars for the whole package.

Modules log through ``logging.getLogger(__name__)``; the command line calls ``setup(verbosity)`` once
(``-v`` for debug messages, ``-q`` for warnings only). Progress bars come from ``progress(...)``: a tqdm bar
on a terminal, nothing in an executed notebook (the book runner sets ``LESIONMAP_IN_NOTEBOOK`` in every
chapter's kernel), in a pipe or a log file, or when logging is quiet.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable

from lesionmap.config import NOTEBOOK_ENV

LOGGER_NAME = "lesionmap"
_FORMAT = "[%(name)s] %(message)s"
_quiet = False


def setup(verbosity: int = 0) -> logging.Logger:
    """Send the package's log records to stderr: ``verbosity`` -1 warnings only, 0 progress (info), 1+ debug."""
    global _quiet
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    _quiet = verbosity < 0
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(getattr(h, "_lesionmap", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._lesionmap = True
        logger.addHandler(handler)
    logger.propagate = False
    return logger


def progress_enabled(stream=None) -> bool:
    """Whether a progress bar would help: on a terminal, outside a book kernel, unless logging is quiet."""
    stream = stream if stream is not None else sys.stderr
    if _quiet or os.environ.get(NOTEBOOK_ENV):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    leave: bool = False,
):
    """A tqdm progress bar over ``iterable`` (or a manual one with ``total``), disabled where it would be noise."""
    from tqdm import tqdm

    return tqdm(
        iterable, total=total, desc=desc, unit=unit, leave=leave, disable=not progress_enabled(), dynamic_ncols=True
    )
