"""Errors of the SDTM reader: each names the file, the column, the rows and the rule that was broken."""

from __future__ import annotations

from collections.abc import Iterable

#: Rows and values listed in a message before the rest are summarised as "... (N in all)".
MAX_LISTED = 10


def _listing(items: list, render) -> str:
    shown = ", ".join(render(item) for item in items[:MAX_LISTED])
    return shown if len(items) <= MAX_LISTED else f"{shown}, ... ({len(items)} in all)"


def _render_value(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return repr(value) if isinstance(value, str) else str(value)


class SDTMError(ValueError):
    """Bad SDTM input: ``file``, ``column`` and 1-based ``rows`` (data records, header excluded) break ``rule``.

    The message reads like "tr.xpt, column TRSTRESN, rows 12, 40: a target-lesion diameter must be a
    non-negative number (got -3.0)". ``got`` lists the offending values (each once, in order of appearance).
    """

    def __init__(self, file: str, column: str | None, rows: Iterable[int] | None, rule: str, got: Iterable = ()):
        self.file = file
        self.column = column
        self.rows = [int(row) for row in rows] if rows is not None else []
        self.rule = rule
        self.got = list(dict.fromkeys(got))
        where = [file]
        if column:
            where.append(f"column {column}")
        if self.rows:
            where.append(("row " if len(self.rows) == 1 else "rows ") + _listing(self.rows, str))
        message = f"{', '.join(where)}: {rule}"
        if self.got:
            message += f" (got {_listing(self.got, _render_value)})"
        super().__init__(message)


class MappingError(ValueError):
    """A malformed site map (``data/sdtm_map.yaml`` or a user's copy): names the file and the key."""

    def __init__(self, file: str, key: str, rule: str):
        self.file, self.key, self.rule = file, key, rule
        super().__init__(f"{file}, key {key}: {rule}")
