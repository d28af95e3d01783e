"""Positions given on the command line: ``FILE:LINE:COL``, 1-based, the way compilers and editors print them.

Shared by `codecomp complete` and `codecomp name`; each command says how it counts COL (characters of the line).
"""
from __future__ import annotations

import re
from pathlib import Path

_NUMBER = re.compile(r"[0-9]+")
EXAMPLE = "src/main.cpp:12:8"


class LocationError(ValueError):
    """FILE:LINE:COL cannot be used; the message says why."""


def parse_location(spec: str) -> tuple[Path, int, int]:
    """Split ``FILE:LINE:COL`` into (path, line, col), both numbers 1-based; the file name may itself contain
    colons (only the last two separate the numbers)."""
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise LocationError(f"expected FILE:LINE:COL (1-based, e.g. {EXAMPLE}), got {spec!r}")
    path, line, col = parts
    if not (_NUMBER.fullmatch(line) and _NUMBER.fullmatch(col)):
        raise LocationError(f"LINE and COL must be whole numbers in {spec!r} (FILE:LINE:COL, e.g. {EXAMPLE})")
    line_no, col_no = int(line), int(col)
    if line_no < 1 or col_no < 1:
        raise LocationError(f"LINE and COL are 1-based: the first character of a file is 1:1 (got {line_no}:{col_no})")
    return Path(path), line_no, col_no
