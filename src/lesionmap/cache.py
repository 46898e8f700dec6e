"""Pickled caches stamped with the package version: a cache written by another version is recomputed.

A pickle of a fitted object is only as good as the code that made it; after an upgrade, a stale cache would
silently bring back the old code's results (or fail to unpickle). Every cached value is stored with the
version that wrote it.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lesionmap.config import package_version

log = logging.getLogger(__name__)


def pickled(path: str | Path, refresh: bool, compute: Callable[[], Any]) -> Any:
    """``compute()``, cached as a pickle at ``path``; recomputed when ``refresh``, missing, or written by
    another version of lesionmap."""
    path = Path(path)
    version = package_version()
    if not refresh and path.exists():
        try:
            stored = pickle.loads(path.read_bytes())
        except (pickle.UnpicklingError, AttributeError, ImportError, EOFError) as error:
            log.info("cache %s unreadable (%s): recomputing", path, error)
        else:
            if isinstance(stored, dict) and stored.get("lesionmap_version") == version:
                log.debug("cache hit: %s", path)
                return stored["value"]
            log.info("cache %s written by another lesionmap version: recomputing", path)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"lesionmap_version": version, "value": value}))
    return value
