"""Filtering by the typed prefix and the final ordering of candidates.

Matching works like editors do: exact-case prefix matches first, then case-insensitive prefix matches, then
"fuzzy" subsequence matches (every typed character in order, the first one at the start of the word or of a
camelCase/snake_case part).  Within a tier the score decides.
"""
from __future__ import annotations

EXACT, PREFIX, SUBSEQUENCE = 0, 1, 2


def match_tier(label: str, prefix: str) -> int | None:
    """EXACT/PREFIX/SUBSEQUENCE for a label that matches the typed prefix, None when it does not match."""
    if not prefix:
        return EXACT
    if label.startswith(prefix):
        return EXACT
    low_label, low_prefix = label.lower(), prefix.lower()
    if low_label.startswith(low_prefix):
        return PREFIX
    if low_label[:1] != low_prefix[:1] or len(prefix) > len(label):
        return None
    i = 0
    for ch in low_label:
        if i < len(low_prefix) and ch == low_prefix[i]:
            i += 1
    return SUBSEQUENCE if i == len(low_prefix) else None


def order_key(tier: int, score: float, label: str) -> tuple[int, float, int, str]:
    """Sort key: tier, then score (descending), then shorter and alphabetical labels for stable ties."""
    return tier, -score, len(label), label
