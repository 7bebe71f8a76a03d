"""The one CSV writer of the benchmark scripts: a list of dicts in, a table with a header out."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from curriculum_env.files import write_atomic


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] = ()) -> None:
    """Write ``rows`` (dicts, one per line) to ``path`` as CSV with a header line.

    The header is ``columns`` followed by every other key of the rows in first-seen order, so rows
    with differing keys share one table; a row's missing keys are left empty. ``columns`` fixes the
    leading columns (and gives a file with no rows its header); without it and without rows the file
    is empty. Values are written as :mod:`csv` writes them (``str``; floats as ``repr``).

    The file is written atomically (:func:`curriculum_env.files.write_atomic`), so a crash leaves the
    old file or the new one, never half of one.
    """
    rows = list(rows)
    bad = [type(row).__name__ for row in rows if not isinstance(row, Mapping)]
    if bad:
        raise TypeError(f"write_csv takes rows as dicts (column -> value), got {bad[0]} rows; "
                        f"turn a plain row into a dict of its columns first")
    fields = list(dict.fromkeys([*columns, *(key for row in rows for key in row)]))  # union, first-seen order
    text = io.StringIO(newline="")
    if fields:
        writer = csv.DictWriter(text, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    write_atomic(path, text.getvalue().encode())
