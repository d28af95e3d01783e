"""FILE:LINE:COL as `codecomp complete` and `codecomp name` read it (one parser for both)."""
from __future__ import annotations

from pathlib import Path

import pytest

from codecomp.engine.location import LocationError, parse_location


def test_file_line_col_is_split_from_the_right() -> None:
    assert parse_location("src/main.cpp:12:8") == (Path("src/main.cpp"), 12, 8)
    assert parse_location("C:/work/a:b.js:1:1") == (Path("C:/work/a:b.js"), 1, 1)


@pytest.mark.parametrize("spec,message", [
    ("src/main.cpp", "FILE:LINE:COL"),
    ("src/main.cpp:12", "FILE:LINE:COL"),
    (":3:4", "FILE:LINE:COL"),
    ("a.cpp:x:1", "whole numbers"),
    ("a.cpp:1:-2", "whole numbers"),
    ("a.cpp: 1:2", "whole numbers"),
    ("a.cpp:0:1", "1-based"),
    ("a.cpp:3:0", "1-based"),
])
def test_bad_locations_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(LocationError, match=message):
        parse_location(spec)
    assert issubclass(LocationError, ValueError)
