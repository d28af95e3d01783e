"""Identifier names as words: sub-tokens and naming style, shared by the engine, the evaluation and training.

``parseHTTPResponse_v2`` -> ``["parse", "http", "response", "v2"]``; its style is ``camel``.
"""
from __future__ import annotations

import re

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+")
_SPLIT = re.compile(r"[_$\W]+")

STYLES = ("lower", "camel", "pascal", "snake", "upper", "other")


def split_subtokens(name: str) -> list[str]:
    """Lower-cased sub-tokens of an identifier, split at ``_``, ``$`` and camelCase humps (digits stay with the
    letters before them).  An empty name has no sub-tokens."""
    parts: list[str] = []
    for chunk in _SPLIT.split(name):
        if chunk:
            parts.extend(m.group(0).lower() for m in _CAMEL.finditer(chunk))
    return parts


def naming_style(name: str) -> str:
    """One of `STYLES`: ``count`` lower, ``itemCount`` camel, ``ItemCount`` pascal, ``item_count`` snake,
    ``MAX_COUNT`` upper; anything else (``_M_x``, ``$el``, mixed) is "other"."""
    core = name.strip("_$")
    if not core or not core[0].isalpha():
        return "other"
    has_us = "_" in core
    if core.isupper() or (has_us and core.replace("_", "").isupper()):
        return "upper" if (has_us or len(core) > 1) else "pascal"
    if has_us:
        return "snake" if core.islower() or core.replace("_", "").isdigit() else "other"
    if core.islower() or core.isdigit():
        return "lower"
    return "pascal" if core[0].isupper() else "camel"
