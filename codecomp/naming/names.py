"""Names as the naming model sees them: lower-cased sub-tokens and a spelling style.

``maxRetries`` is the sub-tokens ``max``, ``retries`` in the style camel; the model predicts both and
`render_name` spells them again.  This tokenisation is the naming model's own: its sub-token vocabulary
(naming_vocab.json) was built with `split_name`, which keeps digits apart (``v2`` -> ``v``, ``2``).  The general
splitter of the engine and the evaluation, `codecomp.syntax.names.split_subtokens`, keeps them together; the
two must stay as they are, since each is part of a trained model (this vocabulary; the ranker's features).
"""
from __future__ import annotations

import re
from typing import Sequence

# Kinds of symbols the model names (the corpus stores these three in `sym_kind`).
NAMING_KINDS: tuple[str, ...] = ("variable", "parameter", "function")

BASE_STYLES: tuple[str, ...] = ("camel", "pascal", "snake", "upper")
# A style may carry a prefix the sub-tokens cannot spell: `_count`, `__first` (library code), `$el` (jQuery).
PREFIXES: tuple[str, ...] = ("", "_", "__", "$")
STYLES: tuple[str, ...] = tuple(p + s for p in PREFIXES for s in BASE_STYLES)

_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Names the model learns: ordinary identifiers of a sane length (not operator names, not generated blobs).
_NAME_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]{0,63}$")


def split_name(name: str) -> list[str]:
    """Lower-cased sub-tokens of an identifier: ``parseHTTPHeader_v2`` -> ``parse http header v 2``."""
    parts: list[str] = []
    for word in _WORD_SPLIT.split(name):
        parts.extend(p.lower() for p in _CAMEL_PART.findall(word))
    return parts


def name_style(name: str) -> str:
    """The spelling convention of a name, one of `STYLES`: an optional prefix (`_`, `__`, `$`) and camel, pascal,
    snake or upper (single lower-case words count as camel)."""
    lead = len(name) - len(name.lstrip("_$"))
    prefix = name[:lead] if name[:lead] in PREFIXES else ""
    core = name.strip("_$")
    if "_" in core:
        base = "upper" if core.upper() == core and any(ch.isalpha() for ch in core) else "snake"
    elif core[:1].isupper():
        upper = len(core) > 1 and core.upper() == core and any(ch.isalpha() for ch in core[1:])
        base = "upper" if upper else "pascal"
    else:
        base = "camel"
    return prefix + base


def render_name(subtokens: Sequence[str], style: str) -> str:
    """Spell lower-case sub-tokens in a style: (["max", "retries"], "camel") -> ``maxRetries``, "_snake" ->
    ``_max_retries``."""
    parts = [p for p in subtokens if p]
    if not parts:
        return ""
    base = next((b for b in BASE_STYLES if style.endswith(b)), "camel")
    prefix = style[: len(style) - len(base)]
    if base == "snake":
        body = "_".join(parts)
    elif base == "upper":
        body = "_".join(p.upper() for p in parts)
    elif base == "pascal":
        body = "".join(p[:1].upper() + p[1:] for p in parts)
    else:
        body = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    return prefix + body


def usable_name(name: str) -> bool:
    """Whether a symbol name is an ordinary identifier the model should learn."""
    return bool(_NAME_RE.match(name)) and bool(split_name(name))
